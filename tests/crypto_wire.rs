//! Body encryption over a real microweb server on loopback: the Rust client and the Python
//! client against routes wrapped by `Crypto::protect`, and raw clients that tamper, replay and
//! send malformed requests.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge: loopback sockets, clock
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "support/http_client.rs"]
mod http_client;
#[path = "interop/python.rs"]
#[allow(unreachable_pub)]
mod python;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_client::{RawClient, RawResponse, wait_until};
use microweb::mods::crypto::{
    Client, ClientError, Crypto, CryptoConfig, CryptoError, Identity, SealedRequest,
};
use microweb::{Json, Method, Response, StatusCode, WebServer};
use serde_json::{Value, json};

/// A server with protected routes, stopped on drop.
struct TestServer {
    server: WebServer,
    crypto: Crypto,
    addr: SocketAddr,
    /// How many times a protected handler ran.
    calls: Arc<AtomicUsize>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.stop();
    }
}

impl TestServer {
    fn start() -> TestServer {
        let crypto = Crypto::new(Identity::random().unwrap(), CryptoConfig::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut server = WebServer::new();
        server.set_bind_address("127.0.0.1:0".parse().unwrap());

        let counted = Arc::clone(&calls);
        let echo = crypto.protect(move |req, msg, _resp| {
            counted.fetch_add(1, Ordering::SeqCst);
            Json(json!({
                "method": req.method().as_str(),
                "target": req.raw_target(),
                "plaintext": msg.text().unwrap_or("<binary>"),
                "sender": msg.sender_public_key.to_b64(),
            }))
        });
        let echo = Arc::new(echo);
        for method in [Method::GET, Method::POST, Method::PUT] {
            let echo = Arc::clone(&echo);
            server
                .route(method, "/api/echo", move |req, resp| echo(req, resp))
                .unwrap();
        }
        server
            .route(
                Method::GET,
                "/api/users/<name>",
                crypto.protect(|req, _msg, _resp| {
                    format!("user {}", req.args().str("name").unwrap_or("?"))
                }),
            )
            .unwrap();
        server
            .route(
                Method::POST,
                "/api/fail",
                crypto.protect(|_req, msg, _resp| {
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("cannot use {}", msg.text().unwrap_or("")),
                    )
                }),
            )
            .unwrap();
        server
            .route(
                Method::POST,
                "/api/nothing",
                crypto.protect(|_req, _msg, _resp| ()),
            )
            .unwrap();
        server
            .route(
                Method::GET,
                "/api/file",
                crypto.protect(|_req, _msg, resp: &mut Response| {
                    resp.return_file(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"), None);
                }),
            )
            .unwrap();
        server
            .route(Method::GET, "/plain", |_req, _resp| "hello in clear")
            .unwrap();
        server
            .route(Method::GET, "/guarded/page", |_req, _resp| "guarded page")
            .unwrap();
        crypto.require_encryption("/guarded/");
        server.add_module(Arc::new(crypto.clone()));
        server.start_managed(2, None).unwrap();
        let addr = server.local_addrs()[0];
        TestServer {
            server,
            crypto,
            addr,
            calls,
        }
    }

    fn client(&self) -> Client {
        Client::new(
            format!("http://{}", self.addr),
            self.crypto.public_key(),
            Identity::random().unwrap(),
        )
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn slots_all_free(&self) -> bool {
        wait_until(Duration::from_secs(5), || {
            let (free, total) = self.server.slots().unwrap();
            free == total
        })
    }
}

/// The bytes of a request: `method target`, the given headers, and the body.
fn raw_request(method: &str, target: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn raw_sealed(sealed: &SealedRequest) -> Vec<u8> {
    raw_request(
        &sealed.method,
        &sealed.target,
        &sealed
            .headers
            .iter()
            .map(|(n, v)| (*n, v.clone()))
            .collect::<Vec<_>>(),
        &sealed.body,
    )
}

/// `sealed`'s headers with one replaced.
fn with_header(sealed: &SealedRequest, name: &str, value: String) -> Vec<(&'static str, String)> {
    sealed
        .headers
        .iter()
        .map(|(n, v)| {
            if n.eq_ignore_ascii_case(name) {
                (*n, value.clone())
            } else {
                (*n, v.clone())
            }
        })
        .collect()
}

/// Changes one character in the middle of a header value to another character of its kind, so
/// the value stays well-formed (base64 stays base64, digits stay digits).
fn tweak(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let i = chars
        .iter()
        .enumerate()
        .skip(chars.len() / 2)
        .find(|(_, c)| c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .unwrap();
    chars[i] = match chars[i] {
        '0' => '1',
        c if c.is_ascii_digit() => '0',
        'A' => 'B',
        _ => 'A',
    };
    chars.into_iter().collect()
}

/// Opens a sealed answer from the wire with the request's keys.
fn open(sealed: &SealedRequest, resp: &RawResponse) -> Result<(u16, Vec<u8>), ClientError> {
    sealed
        .open_response(resp.status, |h| resp.header(h), &resp.body)
        .map(|r| (r.status(), r.into_body()))
}

fn plain_get(client: &mut RawClient, path: &str) -> RawResponse {
    client.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    client.read_response().expect("the server answers")
}

#[test]
fn rust_client_posts_json_and_reads_the_verified_decrypted_echo() {
    let t = TestServer::start();
    let client = t.client();
    let me = Identity::random().unwrap();
    let client_key = me.public_key_b64();
    let client2 = Client::new(format!("http://{}", t.addr), t.crypto.public_key(), me);

    let resp = client2
        .post(["api", "echo"])
        .json(&json!({"name": "ada"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["target"], "/api/echo");
    assert_eq!(v["plaintext"], r#"{"name":"ada"}"#);
    assert_eq!(
        v["sender"], client_key,
        "the handler sees the authenticated sender"
    );

    let resp = client
        .get(["api", "echo"])
        .query("page", "2")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().unwrap();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["target"], "/api/echo?page=2");
    assert_eq!(v["plaintext"], "");
    assert_eq!(t.calls(), 2);
}

#[test]
fn encoded_segments_and_queries_reach_the_route_as_signed() {
    let t = TestServer::start();
    let resp = t
        .client()
        .get(["api", "users", "a b/c"])
        .query("k", "v&w")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), b"user a b/c");
}

#[test]
fn handler_errors_empty_answers_and_unsealable_bodies_come_back_sealed() {
    let t = TestServer::start();
    let client = t.client();
    let resp = client.post(["api", "fail"]).body("this").send().unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.body(), b"cannot use this");

    // `()` answers 204, which cannot carry a sealed body: it goes out as 200, empty.
    let resp = client.post(["api", "nothing"]).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), b"");

    // A streamed file cannot be sealed: a sealed 500 instead, never the file in clear.
    let resp = client.get(["api", "file"]).send().unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.body(), b"response cannot be sealed");

    // Unknown routes are not protected: the client refuses the answer in clear.
    let err = client.get(["plain"]).send().unwrap_err();
    assert!(
        matches!(err, ClientError::Unsealed { status: 200 }),
        "{err}"
    );
}

#[test]
fn refused_requests_are_answered_sealed_to_the_client() {
    let t = TestServer::start();
    let client = t.client();
    // A timestamp two minutes old: 401, sealed, and bound to this request.
    let stale = client
        .post(["api", "echo"])
        .body("late")
        .seal(SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    let mut raw = RawClient::connect(t.addr);
    raw.send(&raw_sealed(&stale));
    let resp = raw.read_response().unwrap();
    assert_eq!(resp.status, 401);
    assert!(
        !resp.body.windows(4).any(|w| w == b"time"),
        "the error is not in clear"
    );
    let (status, body) = open(&stale, &resp).unwrap();
    assert_eq!(status, 401);
    assert_eq!(body, b"timestamp outside the accepted window");

    // Pinned to a key the server does not hold: the server cannot decrypt (400, sealed), and the
    // client refuses the answer because the pinned key did not sign it.
    let wrong = Client::new(
        format!("http://{}", t.addr),
        Identity::random().unwrap().public_key(),
        Identity::random().unwrap(),
    );
    let err = wrong.post(["api", "echo"]).body("x").send().unwrap_err();
    assert!(
        matches!(err, ClientError::Crypto(CryptoError::BadResponse)),
        "{err}"
    );
    assert_eq!(t.calls(), 0);
}

#[test]
fn tampering_with_the_body_or_any_header_on_the_wire_is_refused() {
    let t = TestServer::start();
    let sealed = t
        .client()
        .post(["api", "echo"])
        .query("id", "7")
        .body("transfer 10 to alice")
        .seal(SystemTime::now())
        .unwrap();
    let mut raw = RawClient::connect(t.addr);

    let mut body = sealed.body.clone();
    let mid = body.len() / 2;
    body[mid] ^= 0x01;
    let mut attempts = vec![(
        "body".to_owned(),
        raw_request(
            &sealed.method,
            &sealed.target,
            &with_header(&sealed, "Nonce", sealed.header("Nonce").unwrap().to_owned()),
            &body,
        ),
    )];
    for name in [
        "Sender-Signature",
        "Nonce",
        "Ephemeral-Public-Key",
        "Sender-Public-Key",
        "Response-Public-Key",
    ] {
        let value = tweak(sealed.header(name).unwrap());
        attempts.push((
            name.to_owned(),
            raw_request(
                &sealed.method,
                &sealed.target,
                &with_header(&sealed, name, value),
                &sealed.body,
            ),
        ));
    }
    let headers: Vec<(&str, String)> = sealed
        .headers
        .iter()
        .map(|(n, v)| (*n, v.clone()))
        .collect();
    attempts.push((
        "query".to_owned(),
        raw_request(&sealed.method, "/api/echo?id=8", &headers, &sealed.body),
    ));
    attempts.push((
        "method".to_owned(),
        raw_request("PUT", &sealed.target, &headers, &sealed.body),
    ));

    for (what, bytes) in &attempts {
        raw.send(bytes);
        let resp = raw
            .read_response()
            .unwrap_or_else(|| panic!("{what}: no answer"));
        assert!(
            [400, 401].contains(&resp.status),
            "{what}: status {}",
            resp.status
        );
    }
    assert_eq!(t.calls(), 0, "no tampered request reached the handler");

    // The untouched request still goes through once: the tampered copies did not burn it.
    raw.send(&raw_sealed(&sealed));
    let resp = raw.read_response().unwrap();
    let (status, body) = open(&sealed, &resp).unwrap();
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["plaintext"], "transfer 10 to alice");
    assert_eq!(v["target"], "/api/echo?id=7");
}

#[test]
fn a_replayed_request_is_refused_with_409_on_any_protected_route() {
    let t = TestServer::start();
    let sealed = t
        .client()
        .post(["api", "echo"])
        .body("once")
        .seal(SystemTime::now())
        .unwrap();
    let bytes = raw_sealed(&sealed);
    let first = http_client::roundtrip(t.addr, &bytes).unwrap();
    assert_eq!(open(&sealed, &first).unwrap().0, 200);

    // The same bytes again, on another connection.
    let again = http_client::roundtrip(t.addr, &bytes).unwrap();
    assert_eq!(again.status, 409);
    let (status, body) = open(&sealed, &again).unwrap();
    assert_eq!(
        (status, body.as_slice()),
        (409, b"replayed request".as_slice())
    );

    // Captured and sent as a PUT to the same path: the signature covers the method, so 401.
    let mut put = bytes.clone();
    put.splice(0..4, b"PUT".iter().copied());
    let moved = http_client::roundtrip(t.addr, &put).unwrap();
    assert_eq!(moved.status, 401);
    assert_eq!(t.calls(), 1);
}

#[test]
fn malformed_requests_get_400_and_the_connection_goes_on() {
    let t = TestServer::start();
    let sealed = t
        .client()
        .post(["api", "echo"])
        .body("hello")
        .seal(SystemTime::now())
        .unwrap();
    let off_curve = B64.encode([0x01u8; 64]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "bad base64 key",
            raw_request(
                "POST",
                &sealed.target,
                &with_header(&sealed, "Ephemeral-Public-Key", "!!not base64!!".into()),
                &sealed.body,
            ),
        ),
        (
            "key of the wrong length",
            raw_request(
                "POST",
                &sealed.target,
                &with_header(&sealed, "Sender-Public-Key", B64.encode([7u8; 33])),
                &sealed.body,
            ),
        ),
        (
            "point off the curve",
            raw_request(
                "POST",
                &sealed.target,
                &with_header(&sealed, "Ephemeral-Public-Key", off_curve.clone()),
                &sealed.body,
            ),
        ),
        (
            "sender off the curve",
            raw_request(
                "POST",
                &sealed.target,
                &with_header(&sealed, "Sender-Public-Key", off_curve),
                &sealed.body,
            ),
        ),
        (
            "bad base64 signature",
            raw_request(
                "POST",
                &sealed.target,
                &with_header(&sealed, "Sender-Signature", "%%%%".into()),
                &sealed.body,
            ),
        ),
        (
            "short body",
            raw_request(
                "POST",
                &sealed.target,
                &with_header(&sealed, "Nonce", sealed.header("Nonce").unwrap().to_owned()),
                &sealed.body[..10],
            ),
        ),
        (
            "unknown scheme",
            raw_request(
                "POST",
                &sealed.target,
                &with_header(&sealed, "Encryption-Scheme", "rot13".into()),
                &sealed.body,
            ),
        ),
        (
            "garbage timestamp",
            raw_request(
                "POST",
                &sealed.target,
                &with_header(&sealed, "Nonce", "yesterday".into()),
                &sealed.body,
            ),
        ),
    ];
    let mut raw = RawClient::connect(t.addr);
    for (what, bytes) in &cases {
        raw.send(bytes);
        let resp = raw
            .read_response()
            .unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(resp.status, 400, "{what}: {}", resp.text());
        let next = plain_get(&mut raw, "/plain");
        assert_eq!(next.status, 200, "after {what}");
        assert_eq!(next.text(), "hello in clear");
    }
    assert_eq!(t.calls(), 0);
    // A 400 for a malformed Response-Public-Key cannot be sealed: it is answered in clear.
    raw.send(&raw_request(
        "POST",
        &sealed.target,
        &with_header(&sealed, "Response-Public-Key", "x".into()),
        &sealed.body,
    ));
    let resp = raw.read_response().unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.text(), "malformed header Response-Public-Key");
    assert!(raw.is_open_after(Duration::from_millis(50)));
    drop(raw);
    assert!(t.slots_all_free(), "every slot is free again");
}

#[test]
fn plain_requests_to_protected_routes_and_prefixes_are_refused() {
    let t = TestServer::start();
    let mut raw = RawClient::connect(t.addr);
    raw.send(&raw_request(
        "POST",
        "/api/echo",
        &[],
        b"{\"name\":\"ada\"}",
    ));
    let resp = raw.read_response().unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.text(), "request is not encrypted");
    assert!(resp.header("Sender-Signature").is_none());
    assert_eq!(t.calls(), 0);

    // The module refuses plain requests under /guarded/ before the (unprotected) route runs.
    let resp = plain_get(&mut raw, "/guarded/page");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.text(), "request is not encrypted");
    let resp = plain_get(&mut raw, "/plain");
    assert_eq!(resp.status, 200);
}

#[test]
fn load_module_by_name_gives_a_crypto_with_its_own_key() {
    let mut server = WebServer::new();
    let handle = server.load_module("Crypto").unwrap();
    assert_eq!(handle.name(), "Crypto");
    let crypto = handle.downcast::<Crypto>().unwrap();
    server.set_bind_address("127.0.0.1:0".parse().unwrap());
    server
        .route(
            Method::POST,
            "/api/hello",
            crypto.protect(|_req, msg, _resp| format!("hello {}", msg.text().unwrap_or(""))),
        )
        .unwrap();
    server.start_managed(2, None).unwrap();
    let client = Client::new(
        format!("http://{}", server.local_addrs()[0]),
        crypto.public_key(),
        Identity::random().unwrap(),
    );
    let resp = client.post(["api", "hello"]).body("module").send();
    server.stop();
    assert_eq!(resp.unwrap().body(), b"hello module");
}

#[test]
fn python_client_talks_to_the_real_server() {
    if !python::interop_available() {
        return;
    }
    let t = TestServer::start();
    let mut child = Command::new("python3")
        .arg(python::GCM_CLIENT)
        .args(["--url", &format!("http://{}", t.addr)])
        .args(["--server-key", &t.crypto.public_key().to_b64()])
        .args([
            "--target",
            "/api/echo?from=python",
            "--body",
            "hi from python",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("python client timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["status"], 200);
    let plain = B64.decode(v["plaintext_b64"].as_str().unwrap()).unwrap();
    let echo: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["target"], "/api/echo?from=python");
    assert_eq!(echo["plaintext"], "hi from python");
    assert_eq!(t.calls(), 1);
}

#[test]
fn bodies_larger_than_a_buffer_slot_round_trip() {
    let t = TestServer::start();
    let big: String = (0..50_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let resp = t
        .client()
        .put(["api", "echo"])
        .json(&json!({ "blob": big }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().unwrap();
    let inner: Value = serde_json::from_str(v["plaintext"].as_str().unwrap()).unwrap();
    assert_eq!(inner["blob"].as_str().unwrap().len(), 50_000);
}

#[test]
fn concurrent_clients_share_one_replay_store_without_false_replays() {
    let t = TestServer::start();
    let addr = t.addr;
    let key = t.crypto.public_key();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|n| {
                scope.spawn(move || {
                    let client =
                        Client::new(format!("http://{addr}"), key, Identity::random().unwrap());
                    for i in 0..5 {
                        let resp = client
                            .post(["api", "echo"])
                            .body(format!("{n}-{i}"))
                            .send()
                            .unwrap();
                        assert_eq!(resp.status(), 200);
                        let v: Value = resp.json().unwrap();
                        assert_eq!(v["plaintext"], format!("{n}-{i}"));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    });
    assert_eq!(t.calls(), 20);
}

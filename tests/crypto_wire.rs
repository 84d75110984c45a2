//! The Rust client and the Python client over a real loopback socket, against a stand-in
//! responder (a few lines of std + httparse) that runs the server core around an echo handler.
//! The server's own HTTP wiring will replace the stand-in; the exchanges stay the same.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge: loopback sockets, clock
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use microweb::mods::crypto::{
    Client, ClientError, CryptoConfig, CryptoError, Identity, ServerCrypto,
};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `count` connections, one request each, then stops. Paths under `/plain` answer 404 in
/// clear (as a layer before the crypto module would); everything else goes through the core and
/// the handler echoes `method target plaintext`.
fn serve(server: Arc<ServerCrypto>, count: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..count {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let _ = handle(&server, stream);
        }
    });
    addr
}

fn handle(server: &ServerCrypto, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (method, target, headers, head_len) = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut hs = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut hs);
        if let httparse::Status::Complete(len) = req.parse(&buf).unwrap() {
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            break (
                req.method.unwrap().to_owned(),
                req.path.unwrap().to_owned(),
                headers,
                len,
            );
        }
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    while buf.len() < head_len + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[head_len..head_len + length];

    let (status, extra, out) = if target.starts_with("/plain") {
        (404, Vec::new(), b"not found".to_vec())
    } else {
        let now = SystemTime::now();
        let (status, plain, reply) = match server.open_request(&method, &target, header, body, now)
        {
            Ok(opened) => {
                let mut echo = format!("{method} {target} ").into_bytes();
                echo.extend_from_slice(&opened.plaintext);
                (200, echo, opened.reply_to)
            }
            Err(e) => (
                e.status().as_u16(),
                e.to_string().into_bytes(),
                server.reply_to(header),
            ),
        };
        match reply {
            Some(reply) => {
                let sealed = server.seal_response(status, &plain, &reply).unwrap();
                (status, sealed.headers, sealed.body)
            }
            None => (status, Vec::new(), plain),
        }
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        out.len()
    );
    for (n, v) in extra {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&out)?;
    stream.flush()
}

fn setup(count: usize) -> (Arc<ServerCrypto>, SocketAddr) {
    let server = Arc::new(ServerCrypto::new(
        Identity::random().unwrap(),
        CryptoConfig::default(),
    ));
    let addr = serve(Arc::clone(&server), count);
    (server, addr)
}

#[test]
fn rust_client_posts_json_and_reads_the_verified_decrypted_echo() {
    let (server, addr) = setup(1);
    let client = Client::new(
        format!("http://{addr}"),
        server.identity().public_key(),
        Identity::random().unwrap(),
    );
    let resp = client
        .post(["api", "echo"])
        .json(&serde_json::json!({"name": "ada"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), br#"POST /api/echo {"name":"ada"}"#);
}

#[test]
fn rust_client_get_with_query_and_encoded_segments() {
    let (server, addr) = setup(1);
    let client = Client::new(
        format!("http://{addr}/prefix/"),
        server.identity().public_key(),
        Identity::random().unwrap(),
    );
    let resp = client
        .get(["api", "users", "a b/c"])
        .query("k", "v&w")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), b"GET /prefix/api/users/a%20b%2Fc?k=v%26w ");
}

#[test]
fn rust_client_refuses_an_unsealed_answer_and_a_server_with_another_key() {
    let (server, addr) = setup(2);
    let client = Client::new(
        format!("http://{addr}"),
        server.identity().public_key(),
        Identity::random().unwrap(),
    );
    let err = client.get(["plain"]).send().unwrap_err();
    assert!(
        matches!(err, ClientError::Unsealed { status: 404 }),
        "{err}"
    );

    // Pinned to a key the server does not hold: the server cannot decrypt (400, sealed to the
    // client), and the client refuses the answer because it is not signed by the pinned key.
    let wrong = Client::new(
        format!("http://{addr}"),
        Identity::random().unwrap().public_key(),
        Identity::random().unwrap(),
    );
    let err = wrong.post(["api"]).body("x").send().unwrap_err();
    assert!(
        matches!(err, ClientError::Crypto(CryptoError::BadResponse)),
        "{err}"
    );
}

#[test]
fn python_client_over_the_wire() {
    let ready = Command::new("python3")
        .args(["-c", "import cryptography, coincurve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        || (Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "cryptography",
                "coincurve",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()));
    if !ready {
        let msg = "skipping wire interop: python3 with cryptography and coincurve not available";
        assert!(
            std::env::var_os("MICROWEB_REQUIRE_INTEROP").is_none(),
            "{msg}"
        );
        eprintln!("{msg}");
        return;
    }
    let (server, addr) = setup(1);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/gcm_client.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--url", &format!("http://{addr}")])
        .args(["--server-key", &server.identity().public_key_b64()])
        .args([
            "--target",
            "/api/echo?from=python",
            "--body",
            "hi from python",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "python client timed out"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["status"], 200);
    let plain = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        v["plaintext_b64"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(plain, b"POST /api/echo?from=python hi from python");
}

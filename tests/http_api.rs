//! The request and response API of MicroWebSrv2, in Rust spelling, seen from a client.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/server.rs"]
mod server_support;

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_client::{RawClient, roundtrip, wait_until};
use microweb::{Method, StatusCode, TestRequest};
use server_support::start;

#[test]
fn the_request_exposes_what_the_client_sent() {
    let (_server, addr) = start(|s| {
        s.route(Method::POST, "/inspect", |req, _resp| {
            let params: Vec<String> = req.query_params().map(|(k, v)| format!("{k}={v}")).collect();
            let cookies: Vec<String> = req.cookies().map(|(k, v)| format!("{k}={v}")).collect();
            let langs: Vec<&str> = req.accept_languages().map(|q| q.value).collect();
            let encs: Vec<&str> = req.accept_encodings().map(|q| q.value).collect();
            microweb::Json(serde_json::json!({
                "method": req.method().as_str(),
                "http_ver": req.http_ver(),
                "path": req.path(),
                "query_string": req.query_string(),
                "params": params,
                "host": req.host(),
                "cookies": cookies,
                "langs": langs,
                "encodings": encs,
                "ua": req.user_agent(),
                "referer": req.referer(),
                "origin": req.origin(),
                "cache": req.cache_control(),
                "ct": req.content_type(),
                "len": req.content_length(),
                "keep_alive": req.is_keep_alive(),
                "upgrade": req.is_upgrade(),
                "x_custom": req.get_header("X-CUSTOM"),
                "form": req.get_posted_url_encoded_form().map(|f| f.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()),
                "peer_is_loopback": req.user_address().ip().is_some_and(|ip| ip.is_loopback()),
                "is_ssl": req.is_tls(),
            }))
        })
        .unwrap();
    });
    let body = "name=J%C3%BCrgen+M&x=1";
    let request = format!(
        "POST /in%20spect?a=1&b=two+words&c=%26 HTTP/1.1\r\nHost: example.test\r\n\
         Cookie: sid=abc; theme=dark\r\nAccept-Language: fr-CH, fr;q=0.9, en;q=0.8\r\n\
         Accept-Encoding: gzip, br;q=0.5\r\nUser-Agent: test-agent\r\nReferer: http://r.example/\r\n\
         Origin: http://o.example\r\nCache-Control: no-cache\r\nX-Custom: yes\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // The route is /inspect; the client asked for /in%20spect: a 404 proves the path is decoded.
    let r = roundtrip(addr, request.as_bytes()).unwrap();
    assert_eq!(r.status, 404);
    let request = request.replacen("/in%20spect", "/inspect", 1);
    let r = roundtrip(addr, request.as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["http_ver"], "1.1");
    assert_eq!(v["path"], "/inspect");
    assert_eq!(v["query_string"], "a=1&b=two+words&c=%26");
    assert_eq!(
        v["params"],
        serde_json::json!(["a=1", "b=two words", "c=&"])
    );
    assert_eq!(v["host"], "example.test");
    assert_eq!(v["cookies"], serde_json::json!(["sid=abc", "theme=dark"]));
    assert_eq!(v["langs"], serde_json::json!(["fr-CH", "fr", "en"]));
    assert_eq!(v["encodings"], serde_json::json!(["gzip", "br"]));
    assert_eq!(v["ua"], "test-agent");
    assert_eq!(v["referer"], "http://r.example/");
    assert_eq!(v["origin"], "http://o.example");
    assert_eq!(v["cache"], "no-cache");
    assert_eq!(v["len"], body.len());
    assert_eq!(v["keep_alive"], true);
    assert_eq!(v["upgrade"], false);
    assert_eq!(v["x_custom"], "yes");
    assert_eq!(v["form"], serde_json::json!(["name=Jürgen M", "x=1"]));
    assert_eq!(v["peer_is_loopback"], true);
    assert_eq!(v["is_ssl"], false);
}

#[test]
fn json_multipart_and_auth_helpers_work_on_the_wire() {
    let (_server, addr) = start(|s| {
        s.route(Method::POST, "/json", |req, _resp| match req
            .get_posted_json_object::<serde_json::Value>()
        {
            Some(v) => Ok(microweb::Json(serde_json::json!({ "got": v }))),
            None => Err(StatusCode::BAD_REQUEST),
        })
        .unwrap();
        s.route(Method::POST, "/upload", |req, _resp| {
            match req.multipart_parts() {
                Ok(parts) => Ok(parts
                    .iter()
                    .map(|p| {
                        format!(
                            "{}:{}:{}:{}",
                            p.name,
                            p.filename.unwrap_or("-"),
                            p.content_type.unwrap_or("-"),
                            p.data.len()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",")),
                Err(_) => Err(StatusCode::BAD_REQUEST),
            }
        })
        .unwrap();
        s.route(Method::GET, "/basic", |req, resp| {
            if req.check_basic_auth("admin", "s3cret") {
                resp.return_ok("welcome");
            } else {
                resp.return_basic_auth_required();
            }
        })
        .unwrap();
        s.route(Method::GET, "/bearer", |req, resp| {
            if req.check_bearer_auth("tok-123") {
                resp.return_ok("welcome");
            } else {
                resp.return_bearer_auth_required();
            }
        })
        .unwrap();
    });
    let client = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let base = format!("http://{addr}");
    assert_eq!(
        client(&[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"a":[1,2]}"#,
            &format!("{base}/json")
        ]),
        "{\"got\":{\"a\":[1,2]}}\n200"
    );
    assert_eq!(
        client(&[
            "-H",
            "Content-Type: text/plain",
            "-d",
            "{}",
            &format!("{base}/json")
        ])
        .lines()
        .last(),
        Some("400")
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("photo.png");
    std::fs::write(&f, vec![1u8; 3000]).unwrap();
    assert_eq!(
        client(&[
            "-F",
            "title=Hello",
            "-F",
            &format!("file=@{};type=image/png", f.display()),
            &format!("{base}/upload")
        ]),
        "title:-:-:5,file:photo.png:image/png:3000\n200"
    );
    assert_eq!(
        client(&["-u", "admin:s3cret", &format!("{base}/basic")]),
        "welcome\n200"
    );
    assert!(client(&["-u", "admin:wrong", &format!("{base}/basic")]).ends_with("401"));
    assert_eq!(
        client(&[
            "-H",
            "Authorization: Bearer tok-123",
            &format!("{base}/bearer")
        ]),
        "welcome\n200"
    );
    assert!(
        client(&[
            "-H",
            "Authorization: Bearer tok-124",
            &format!("{base}/bearer")
        ])
        .ends_with("401")
    );
    let r = roundtrip(addr, b"GET /basic HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"microweb\"")
    );
}

#[test]
fn the_response_api_sets_what_the_client_sees() {
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = sent.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.csv");
    std::fs::write(&file, "a,b\n1,2\n").unwrap();
    let file2 = file.clone();
    let (_server, addr) = start(move |s| {
        s.route(Method::GET, "/headers", |_req, resp| {
            resp.set_header("X-Frame-Options", "DENY").unwrap();
            assert!(resp.set_header("X-Evil", "a\r\nInjected: yes").is_err());
            resp.set_content_type("text/plain").unwrap();
            resp.set_content_charset("iso-8859-1").unwrap();
            resp.set_cookie(
                &microweb::http::SetCookie::new("sid", "xyz")
                    .path("/")
                    .http_only(true),
            )
            .unwrap();
            resp.return_(StatusCode::CREATED, "made");
        })
        .unwrap();
        s.route(Method::GET, "/redirect", |_req, resp| {
            resp.return_redirect("/elsewhere")
        })
        .unwrap();
        s.route(Method::GET, "/download", move |_req, resp| {
            resp.return_file(&file2, Some("report.csv"));
        })
        .unwrap();
        s.route(Method::GET, "/stream-known", |_req, resp| {
            resp.return_stream(
                StatusCode::OK,
                Cursor::new(vec![b'k'; 50_000]),
                Some(50_000),
            );
        })
        .unwrap();
        s.route(Method::GET, "/stream-chunked", |_req, resp| {
            resp.return_stream(StatusCode::OK, Cursor::new(vec![b'c'; 20_000]), None);
        })
        .unwrap();
        s.route(Method::GET, "/sent", move |_req, resp| {
            let sent = sent2.clone();
            resp.on_sent(move || {
                sent.fetch_add(1, Ordering::SeqCst);
            });
            resp.return_ok("tracked");
        })
        .unwrap();
    });
    let r = roundtrip(addr, b"GET /headers HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(r.header("injected").is_none() && r.header("x-evil").is_none());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=iso-8859-1")
    );
    assert_eq!(r.header("set-cookie"), Some("sid=xyz; Path=/; HttpOnly"));

    let r = roundtrip(addr, b"GET /redirect HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!((r.status, r.header("location")), (307, Some("/elsewhere")));

    let r = roundtrip(addr, b"GET /download HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(r.text(), "a,b\n1,2\n");
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"report.csv\"")
    );

    let mut c = RawClient::connect(addr);
    c.send(b"GET /stream-known HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.body.len(), r.chunked), (50_000, false));
    assert_eq!(r.header("content-length"), Some("50000"));
    c.send(b"GET /stream-chunked HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert!(r.chunked);
    assert_eq!(r.body, vec![b'c'; 20_000]);
    // HTTP/1.0 cannot take chunks: the body ends with the connection.
    let mut c = RawClient::connect(addr);
    c.send(b"GET /stream-chunked HTTP/1.0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.chunked, r.body.len()), (false, 20_000));

    let r = roundtrip(addr, b"GET /sent HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(r.text(), "tracked");
    assert!(wait_until(Duration::from_secs(5), || sent
        .load(Ordering::SeqCst)
        == 1));
}

#[test]
fn test_request_runs_a_handler_without_a_socket() {
    let response = TestRequest::new(Method::POST, "/users/42?verbose=1")
        .route("/users/<int:id>")
        .header("Content-Type", "application/json")
        .body(r#"{"name":"ada"}"#)
        .run(|req, _resp| {
            let body: serde_json::Value = req.get_posted_json_object().unwrap();
            microweb::Json(serde_json::json!({
                "id": req.args().int("id"),
                "verbose": req.query_param("verbose").as_deref() == Some("1"),
                "name": body["name"],
            }))
        });
    assert_eq!(response.status(), StatusCode::OK);
    match response.body() {
        microweb::server::Body::Bytes(b) => {
            let v: serde_json::Value = serde_json::from_slice(b).unwrap();
            assert_eq!(
                v,
                serde_json::json!({"id": 42, "verbose": true, "name": "ada"})
            );
        }
        other => panic!("unexpected body {other:?}"),
    }
}

#[test]
fn stop_closes_the_listener() {
    let (mut server, addr) = start(|s| {
        s.route(Method::GET, "/x", |_r, _p| "x").unwrap();
    });
    assert!(server.is_running());
    let r = roundtrip(addr, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(r.status, 200);
    server.stop();
    assert!(!server.is_running());
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

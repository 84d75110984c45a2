//! HTTP/1.1 protocol rules over real sockets: keep-alive, pipelining, framing (RFC 9112), limits,
//! timeouts, 100-continue — each asserting the exact status line and the connection's fate.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/server.rs"]
mod server_support;

use std::time::Duration;

use http_client::{RawClient, roundtrip};
use microweb::{Method, StatusCode, WebServer};
use server_support::{all_slots_free, start};

const CLOSE_WAIT: Duration = Duration::from_secs(5);

fn echo_server(configure: impl FnOnce(&mut WebServer)) -> (WebServer, std::net::SocketAddr) {
    start(|s| {
        s.route(Method::GET, "/hello", |_req, _resp| "hello")
            .unwrap();
        s.route(Method::POST, "/len", |req, _resp| {
            format!("{}", req.content().len())
        })
        .unwrap();
        s.route(Method::POST, "/echo", |req, _resp| req.content().to_vec())
            .unwrap();
        configure(s);
    })
}

/// Sends `request` on a new connection; expects one answer with `status`, then a close.
fn assert_rejected(addr: std::net::SocketAddr, request: &[u8], status: u16) {
    let mut c = RawClient::connect(addr);
    c.send(request);
    let r = c
        .read_response()
        .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(request)));
    assert_eq!(
        r.status,
        status,
        "for {:?}: got {} {}",
        String::from_utf8_lossy(request),
        r.status,
        r.text()
    );
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        c.closed_within(CLOSE_WAIT),
        "connection left open after {status}"
    );
}

#[test]
fn keeps_an_http11_connection_alive_across_requests() {
    let (_server, addr) = echo_server(|_| {});
    let mut c = RawClient::connect(addr);
    for _ in 0..3 {
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read_response().expect("response");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "hello");
        assert_eq!(r.header("content-length"), Some("5"));
        assert!(r.header("date").is_some());
        assert_eq!(r.header("server"), Some("microweb"));
    }
    assert!(c.is_open_after(Duration::from_millis(200)));
}

#[test]
fn closes_after_connection_close_and_after_http10_without_keep_alive() {
    let (_server, addr) = echo_server(|_| {});
    let mut c = RawClient::connect(addr);
    c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 200);
    assert!(c.closed_within(CLOSE_WAIT));

    let mut c = RawClient::connect(addr);
    c.send(b"GET /hello HTTP/1.0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn keeps_an_http10_connection_that_asks_for_keep_alive() {
    let (_server, addr) = echo_server(|_| {});
    let mut c = RawClient::connect(addr);
    for _ in 0..2 {
        c.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
    assert!(c.is_open_after(Duration::from_millis(200)));
}

#[test]
fn answers_pipelined_requests_in_order() {
    let (_server, addr) = echo_server(|_| {});
    let mut c = RawClient::connect(addr);
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none\
          POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo\
          GET /hello HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n",
    );
    let bodies: Vec<String> = (0..4).map(|_| c.read_response().unwrap().text()).collect();
    assert_eq!(bodies, ["one", "two", "hello", "three"]);
    assert!(c.is_open_after(Duration::from_millis(200)));
}

#[test]
fn reads_chunked_and_large_bodies() {
    let (_server, addr) = echo_server(|_| {});
    let r = roundtrip(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n",
    )
    .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "Wikipedia"));

    // A body much larger than a 4 KiB slot, sent in pieces.
    let body = vec![b'x'; 300_000];
    let mut c = RawClient::connect(addr);
    c.send(
        format!(
            "POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    for piece in body.chunks(7_000) {
        c.send(piece);
    }
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text()), (200, "300000".to_owned()));
}

#[test]
fn refuses_rfc9112_framing_violations() {
    let (server, addr) = echo_server(|_| {});
    let cases: &[(&[u8], u16)] = &[
        // §6.3: Content-Length together with Transfer-Encoding.
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        // §6.3: conflicting and malformed Content-Length.
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3x\r\n\r\nabc", 400),
        // §6.1: a transfer coding we do not know.
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        // §6.3: the final coding is not chunked.
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        // §5.2: obs-fold.
        (b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n", 400),
        // §3.2: HTTP/1.1 without Host.
        (b"GET /hello HTTP/1.1\r\n\r\n", 400),
        // Two Host fields.
        (b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        // A method nobody registered.
        (b"BREW /hello HTTP/1.1\r\nHost: t\r\n\r\n", 501),
        // A version we do not speak.
        (b"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        // Garbage.
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (b"GET /a\x00b HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        // A bad chunk size.
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        // A path that decodes to a NUL names nothing.
        (b"GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n", 404),
    ];
    for (request, status) in cases {
        assert_rejected(addr, request, *status);
    }
    assert!(all_slots_free(&server), "a bad request leaked a slot");
}

#[test]
fn enforces_the_preset_limits() {
    let (server, addr) = echo_server(|s| {
        s.set_embedded_config();
    });
    // A head larger than the 1 KiB slot.
    let big = format!(
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    assert_rejected(addr, big.as_bytes(), 431);
    // A declared body over max_request_content_length (16 KiB): refused before it is read.
    let mut c = RawClient::connect(addr);
    c.send(b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413);
    assert!(c.closed_within(CLOSE_WAIT));
    // A chunked body that grows over the bound.
    let mut c = RawClient::connect(addr);
    c.send(b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("1000\r\n{}\r\n", "y".repeat(0x1000));
    for _ in 0..5 {
        c.send(chunk.as_bytes());
    }
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413);
    assert!(c.closed_within(CLOSE_WAIT));
    // A body within the bound still works.
    let r = roundtrip(
        addr,
        b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n12345",
    )
    .unwrap();
    assert_eq!(r.text(), "5");
    assert!(all_slots_free(&server));
}

#[test]
fn answers_408_to_a_stalled_request_and_drops_a_silent_client() {
    let (server, addr) = echo_server(|s| {
        s.set_requests_timeout(Duration::from_secs(1));
    });
    // Half a head, then silence.
    let mut c = RawClient::connect(addr);
    c.send(b"GET /hello HTTP/1.1\r\nHo");
    let r = c.read_response_within(Duration::from_secs(6)).expect("408");
    assert_eq!(r.status, 408);
    assert!(c.closed_within(CLOSE_WAIT));
    // Half a body, then silence.
    let mut c = RawClient::connect(addr);
    c.send(b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    let r = c.read_response_within(Duration::from_secs(6)).expect("408");
    assert_eq!(r.status, 408);
    // Nothing at all: closed without an answer.
    let mut c = RawClient::connect(addr);
    assert!(c.closed_within(Duration::from_secs(6)));
    assert!(c.pending().is_empty());
    assert!(all_slots_free(&server));
}

#[test]
fn sends_100_continue_only_when_the_body_is_wanted() {
    let (_server, addr) = echo_server(|s| {
        s.on_expect_continue(|req| {
            (req.path() == "/len" && req.content_length() > Some(10))
                .then_some(StatusCode::EXPECTATION_FAILED)
        });
    });
    let mut c = RawClient::connect(addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_head_only().expect("100 Continue");
    assert_eq!(interim.status, 100);
    c.send(b"body");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "body"));

    // Refused from the head alone: no 100, a final status, then close.
    let mut c = RawClient::connect(addr);
    c.send(b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 417);
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn answers_head_without_a_body() {
    let (_server, addr) = echo_server(|_| {});
    let mut c = RawClient::connect(addr);
    c.send(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_head_only().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5"));
    // The next response must start right away: no body bytes were sent for HEAD.
    c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.text(), "hello");
    // A static file, too.
    let mut c = RawClient::connect(addr);
    c.send(b"HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_head_only().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-length").is_some());
    c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "hello");
}

#[test]
fn a_panicking_handler_costs_one_500() {
    let (server, addr) = echo_server(|s| {
        s.route(Method::GET, "/panic", |_req, _resp| -> &'static str {
            panic!("handler bug")
        })
        .unwrap();
    });
    for _ in 0..5 {
        let r = roundtrip(addr, b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(r.status, 500);
    }
    let r = roundtrip(addr, b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(r.status, 200);
    assert!(all_slots_free(&server));
}

#[test]
fn a_deferred_response_is_answered_from_another_thread() {
    let (_server, addr) = echo_server(|s| {
        s.route(Method::GET, "/later", |_req, resp| {
            let deferred = resp.defer();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                deferred.send(|r| r.return_ok("answered later"));
            });
        })
        .unwrap();
        s.route(Method::GET, "/never", |_req, resp| {
            let _kept = resp.defer();
        })
        .unwrap();
        s.set_requests_timeout(Duration::from_secs(1));
    });
    let mut c = RawClient::connect(addr);
    c.send(b"GET /later HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "answered later"));
    // The connection goes on.
    c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "hello");
    // Never answered: 503 after the request timeout, then close.
    let mut c = RawClient::connect(addr);
    c.send(b"GET /never HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response_within(Duration::from_secs(6)).unwrap();
    assert_eq!(r.status, 503);
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn cors_as_microwebsrv2_did_it() {
    let (_server, addr) = echo_server(|s| {
        s.set_allow_all_origins(true).set_cors_allow_all(true);
    });
    let r = roundtrip(
        addr,
        b"GET /hello HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = roundtrip(
        addr,
        b"OPTIONS /echo HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\n\
          Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: X-Token\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("PUT"));
    assert_eq!(r.header("access-control-allow-headers"), Some("X-Token"));
    // Without an Origin it is no preflight (Fetch): the route answers, not the CORS switch.
    let r = roundtrip(
        addr,
        b"OPTIONS /echo HTTP/1.1\r\nHost: t\r\nAccess-Control-Request-Method: PUT\r\n\r\n",
    )
    .unwrap();
    assert!(
        r.header("allow").is_some(),
        "the route's OPTIONS answer, with its Allow"
    );
    assert_eq!(r.header("access-control-allow-methods"), None);
}

#[test]
fn not_found_url_redirects_missing_resources() {
    let (_server, addr) = echo_server(|s| {
        s.set_not_found_url(Some("/index.html"));
    });
    let r = roundtrip(addr, b"GET /missing.png HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/index.html"));
}

#[test]
fn curl_reuses_the_connection_and_uploads_chunked() {
    let (_server, addr) = echo_server(|_| {});
    let url = format!("http://{addr}/hello");
    let out = std::process::Command::new("curl")
        .args(["-sv", "--max-time", "10", &url, &url])
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "hellohello");
    assert!(
        stderr.contains("Re-using existing connection") || stderr.contains("Reusing existing"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("up.bin");
    std::fs::write(&file, vec![7u8; 200_000]).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &format!("@{}", file.display()),
            &format!("http://{addr}/len"),
        ])
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200000");
}

#[test]
fn pipelined_answers_go_out_before_whatever_waits_after_them() {
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Arc::new(std::sync::Mutex::new(release_rx));
    let (_server, addr) = echo_server(move |s| {
        // Answered only once the client has read the answers before it: if those waited in the
        // server for this one, neither would ever come.
        let release = release_rx.clone();
        s.route(Method::GET, "/after-the-others", move |_req, resp| {
            let deferred = resp.defer();
            let release = release.clone();
            std::thread::spawn(move || {
                let got = release
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
                deferred.send(move |r| r.return_ok(if got.is_ok() { "released" } else { "never" }));
            });
        })
        .unwrap();
        s.route(Method::GET, "/big", |_req, _resp| vec![b'b'; 100_000])
            .unwrap();
    });
    let mut c = RawClient::connect(addr);
    let hello = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

    // Before a deferred answer.
    c.send(
        format!("{hello}{hello}GET /after-the-others HTTP/1.1\r\nHost: t\r\n\r\n{hello}")
            .as_bytes(),
    );
    for _ in 0..2 {
        let r = c
            .read_response_within(Duration::from_secs(5))
            .expect("the answers before it");
        assert_eq!(r.text(), "hello");
    }
    release_tx.send(()).unwrap();
    assert_eq!(c.read_response().unwrap().text(), "released");
    assert_eq!(c.read_response().unwrap().text(), "hello");

    // Around a body larger than a slot.
    c.send(format!("{hello}GET /big HTTP/1.1\r\nHost: t\r\n\r\n{hello}").as_bytes());
    assert_eq!(c.read_response().unwrap().text(), "hello");
    assert_eq!(c.read_response().unwrap().body.len(), 100_000);
    assert_eq!(c.read_response().unwrap().text(), "hello");

    // Before a 100 Continue.
    c.send(
        format!("{hello}{hello}POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
            .as_bytes(),
    );
    for _ in 0..2 {
        assert_eq!(c.read_response().unwrap().text(), "hello");
    }
    assert_eq!(c.read_head_only().expect("100 Continue").status, 100);
    c.send(b"abc");
    assert_eq!(c.read_response().unwrap().text(), "abc");

    // Sixteen at once, then the last one closes: all answered, in order, then the close.
    let mut many = String::new();
    for i in 0..15 {
        many.push_str(&format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{i:02}"
        ));
    }
    many.push_str("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    c.send(many.as_bytes());
    for i in 0..15 {
        assert_eq!(c.read_response().unwrap().text(), format!("{i:02}"));
    }
    assert_eq!(c.read_response().unwrap().text(), "hello");
    assert!(c.closed_within(CLOSE_WAIT));
}

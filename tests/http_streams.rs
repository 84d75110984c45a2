//! Response streams written from other threads (SSE, NDJSON, multipart), and the graceful stop.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/server.rs"]
mod server_support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use http_client::{RawClient, wait_until};
use microweb::{Method, server::StreamError};
use server_support::{all_slots_free, start};

#[test]
fn curl_receives_server_sent_events() {
    let (_server, addr) = start(|s| {
        s.route(Method::GET, "/events", |req, resp| {
            let last = req.get_header("last-event-id").unwrap_or("none").to_owned();
            let stream = resp.event_stream();
            std::thread::spawn(move || {
                stream.send_comment("hello").unwrap();
                stream
                    .send_event(format!("resumed after {last}"), Some("start"), None, None)
                    .unwrap();
                for i in 1..=3 {
                    // A producer that paces its events: each goes out as a chunk of its own.
                    std::thread::sleep(Duration::from_millis(20));
                    stream
                        .send_event(
                            serde_json::json!({ "n": i }),
                            Some("tick"),
                            Some(&i.to_string()),
                            None,
                        )
                        .unwrap();
                }
                stream
                    .send_event("line one\nline two", None, None, None)
                    .unwrap();
                stream.close();
            });
        })
        .unwrap();
    });
    let out = Command::new("curl")
        .args([
            "-sN",
            "--max-time",
            "10",
            "-H",
            "Last-Event-ID: 41",
            "-D",
            "-",
        ])
        .arg(format!("http://{addr}/events"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Content-Type: text/event-stream"), "{text}");
    assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        body,
        ": hello\n\nevent: start\ndata: resumed after 41\n\n\
         event: tick\nid: 1\ndata: {\"n\":1}\n\n\
         event: tick\nid: 2\ndata: {\"n\":2}\n\n\
         event: tick\nid: 3\ndata: {\"n\":3}\n\n\
         data: line one\ndata: line two\n\n"
    );
}

#[test]
fn a_dropped_client_is_reported_on_the_next_send() {
    let gone = Arc::new(AtomicBool::new(false));
    let gone2 = gone.clone();
    let (server, addr) = start(move |s| {
        s.route(Method::GET, "/live", move |_req, resp| {
            let stream = resp.event_stream();
            let gone = gone2.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    match stream.send_event("tick", None, None, None) {
                        Ok(()) | Err(StreamError::Full) => {}
                        Err(StreamError::Closed) => {
                            gone.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => panic!("{e}"),
                    }
                    // A live feed's pace; the test waits on `gone`, not on this.
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        })
        .unwrap();
    });
    let mut c = RawClient::connect(addr);
    c.send(b"GET /live HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(c.read_head_only().is_some());
    drop(c);
    assert!(wait_until(Duration::from_secs(5), || gone.load(Ordering::SeqCst)));
    assert!(all_slots_free(&server));
}

#[test]
fn ndjson_and_multipart_streams_are_framed() {
    let (_server, addr) = start(|s| {
        s.route(Method::GET, "/ndjson", |_req, resp| {
            let stream = resp.ndjson_stream();
            std::thread::spawn(move || {
                for i in 0..3 {
                    stream
                        .send_json_line(&serde_json::json!({ "i": i }))
                        .unwrap();
                }
                stream.close();
            });
        })
        .unwrap();
        s.route(Method::GET, "/mjpeg", |_req, resp| {
            let stream = resp.multipart_stream("frame");
            std::thread::spawn(move || {
                stream.send_part("image/jpeg", b"AAAA").unwrap();
                stream.send_part("image/jpeg", b"BB").unwrap();
                stream.close();
            });
        })
        .unwrap();
    });
    let mut c = RawClient::connect(addr);
    c.send(b"GET /ndjson HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(r.text(), "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");
    // The same connection serves the next request once a stream ends.
    c.send(b"GET /mjpeg HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(
        r.header("content-type"),
        Some("multipart/x-mixed-replace; boundary=frame")
    );
    assert_eq!(
        r.text(),
        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\nAAAA\r\n\
         --frame\r\nContent-Type: image/jpeg\r\nContent-Length: 2\r\n\r\nBB\r\n"
    );
}

#[test]
fn stop_finishes_the_request_in_flight_then_closes_everything() {
    // The slow answer is sent when the test releases it, once the stop is under way.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let (in_flight_tx, in_flight_rx) = mpsc::channel::<()>();
    let (server, addr) = start(|s| {
        s.route(Method::GET, "/slow", move |_req, resp| {
            let deferred = resp.defer();
            let release = Arc::clone(&release_rx);
            std::thread::spawn(move || {
                let _ = release
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
                deferred.send(|r| r.return_ok("finished"));
            });
            let _ = in_flight_tx.send(());
        })
        .unwrap();
        s.route(Method::GET, "/fast", |_req, _resp| "fast").unwrap();
    });
    // An idle keep-alive connection, and one request in flight.
    let mut idle = RawClient::connect(addr);
    idle.send(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle.read_response().unwrap().text(), "fast");
    let mut busy = RawClient::connect(addr);
    busy.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    in_flight_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the slow request reaches its handler");

    let handle = server.handle();
    let stopper = std::thread::spawn(move || {
        let started = Instant::now();
        handle.stop();
        started.elapsed()
    });
    // The idle connection is closed without waiting, while the stop waits for the request in
    // flight; released then, the slow answer still arrives whole.
    assert!(idle.closed_within(Duration::from_secs(5)));
    assert!(
        !stopper.is_finished(),
        "stop returned before the request in flight finished"
    );
    release_tx.send(()).unwrap();
    let r = busy
        .read_response()
        .expect("the in-flight request finishes");
    assert_eq!((r.status, r.text().as_str()), (200, "finished"));
    assert_eq!(r.header("connection"), Some("close"));
    let took = stopper.join().unwrap();
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert!(!server.is_running());
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn a_handler_can_shut_the_server_down() {
    let (server, addr) = start(|s| {
        let handle = s.handle();
        s.route(Method::POST, "/shutdown", move |_req, _resp| {
            handle.shutdown();
            "bye"
        })
        .unwrap();
    });
    let mut c = RawClient::connect(addr);
    c.send(b"POST /shutdown HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "bye");
    assert!(wait_until(Duration::from_secs(5), || !server.is_running()));
}

#[test]
fn stop_ends_an_open_event_stream_with_its_last_chunk_at_once() {
    let producer_saw_close = Arc::new(AtomicBool::new(false));
    let saw = producer_saw_close.clone();
    let (server, addr) = start(move |s| {
        s.route(Method::GET, "/forever", move |_req, resp| {
            let stream = resp.event_stream();
            // Queued before the answer starts, so it is there whenever the stop comes.
            stream
                .send_event("hello", Some("first"), None, None)
                .unwrap();
            let saw = saw.clone();
            std::thread::spawn(move || {
                // Never closes the stream itself: only the server's stop can end it.
                if wait_until(Duration::from_secs(20), || stream.is_closed()) {
                    saw.store(true, Ordering::SeqCst);
                }
            });
        })
        .unwrap();
    });
    let mut c = RawClient::connect(addr);
    c.send(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(c.read_head_only().is_some());

    let handle = server.handle();
    let stopper = std::thread::spawn(move || {
        let started = Instant::now();
        handle.stop();
        started.elapsed()
    });
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "the stream ends and the connection closes"
    );
    let rest = String::from_utf8_lossy(c.pending()).into_owned();
    assert!(rest.contains("event: first\ndata: hello"), "{rest:?}");
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "ends with the last chunk: {rest:?}"
    );
    let took = stopper.join().unwrap();
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert!(wait_until(Duration::from_secs(5), || producer_saw_close
        .load(Ordering::SeqCst)));
}

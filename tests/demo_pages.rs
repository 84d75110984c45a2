//! The demo's pages as a new user meets them, from the `microweb` binary: the styled home page,
//! the clock page behind `/events`, `/hello/<name>` without a leading blank line, and the chat
//! room's join and leave notices.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::unwrap_used
)] // test IO edge

mod cli_support;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use cli_support::Demo;
use tungstenite::Message;

/// A curl answer: status, headers (lower-case names) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// GETs `path` with curl (plus `extra` arguments), without following redirects.
fn get(addr: SocketAddr, path: &str, extra: &[&str]) -> Answer {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10"])
        .args(extra)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[test]
fn the_home_page_is_styled_like_the_template_pages_and_links_the_clock() {
    let demo = Demo::start(&[]);
    let addr = demo.http_addr();
    let home = get(addr, "/", &[]);
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("font-family: sans-serif"),
        "{}",
        home.body
    );
    assert!(home.body.contains("href=\"/clock.html\""), "{}", home.body);
    let template_page = get(addr, "/test.html", &[]);
    assert!(template_page.body.contains("font-family: sans-serif"));
}

#[test]
fn a_browser_opening_events_gets_the_clock_page_and_event_source_gets_the_stream() {
    let demo = Demo::start(&[]);
    let addr = demo.http_addr();
    let browser = get(
        addr,
        "/events",
        &["-H", "Accept: text/html,application/xhtml+xml,*/*;q=0.8"],
    );
    assert_eq!(browser.status, 307);
    assert_eq!(browser.header("location"), Some("/clock.html"));

    let page = get(addr, "/clock.html", &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("new EventSource(\"/events\")"));
    assert!(page.body.contains("\"tick\""));

    // What EventSource sends: the stream, whose first event arrives at once.
    let stream = get(
        addr,
        "/events",
        &["-H", "Accept: text/event-stream", "--max-time", "2"],
    );
    assert_eq!(stream.status, 200);
    assert!(
        stream
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert!(
        stream
            .body
            .contains("event: hello\nretry: 3000\ndata: connected"),
        "{}",
        stream.body
    );
    // curl's own `*/*` is not a browser: it gets the stream too.
    let curl = get(addr, "/events", &["--max-time", "2"]);
    assert!(
        curl.body
            .contains("event: hello\nretry: 3000\ndata: connected"),
        "{}",
        curl.body
    );
}

#[test]
fn hello_starts_with_the_doctype() {
    let demo = Demo::start(&[]);
    let addr = demo.http_addr();
    let hello = get(addr, "/hello/ann", &[]);
    assert_eq!(hello.status, 200);
    assert!(
        hello.body.starts_with("<!DOCTYPE html>"),
        "{:?}",
        &hello.body[..hello.body.len().min(40)]
    );
    assert!(hello.body.contains("Hello, ann!"), "{}", hello.body);
}

type Client = tungstenite::WebSocket<TcpStream>;

fn join(addr: SocketAddr, name: &str) -> Client {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = tungstenite::http::Request::builder()
        .uri(format!("ws://{addr}/ws/chat?name={name}"))
        .header("Host", addr.to_string())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .header("Sec-WebSocket-Protocol", "microweb-chat")
        .body(())
        .unwrap();
    tungstenite::client(request, stream).unwrap().0
}

fn next_text(client: &mut Client) -> String {
    match client.read().unwrap() {
        Message::Text(t) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn the_chat_room_says_who_joins_and_leaves() {
    let demo = Demo::start(&[]);
    let addr = demo.http_addr();
    let mut ann = join(addr, "ann");
    assert_eq!(next_text(&mut ann), "* ann joined (1 in the room)");
    let mut bob = join(addr, "bob");
    assert_eq!(next_text(&mut bob), "* bob joined (2 in the room)");
    assert_eq!(next_text(&mut ann), "* bob joined (2 in the room)");

    bob.send(Message::text("bob: hi")).unwrap();
    assert_eq!(next_text(&mut ann), "bob: hi");
    assert_eq!(next_text(&mut bob), "bob: hi");

    bob.close(None).unwrap();
    while bob.read().is_ok() {}
    assert_eq!(next_text(&mut ann), "* bob left (1 in the room)");

    // A name that is not a plain word is cut to its letters; none at all is "a guest".
    let mut odd = join(addr, "%3Cscript%3E");
    assert_eq!(next_text(&mut odd), "* script joined (2 in the room)");
    let mut anonymous = join(addr, "");
    assert_eq!(
        next_text(&mut anonymous),
        "* a guest joined (3 in the room)"
    );
}

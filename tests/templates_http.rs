//! The Templates module over real sockets: template pages by URL, `return_template` from a route,
//! error pages with `show_debug` on and off, re-rendering after an edit, `after` blocks that run
//! once the page is sent, HEAD, partials, and every buffer slot free afterwards.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "support/http_client.rs"]
mod http_client;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use http_client::{RawClient, RawResponse, roundtrip, wait_until};
use microweb::{Method, TemplateResponseExt, TemplatesModule, WebServer};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A running server with the Templates module over a templates folder.
struct Fixture {
    server: WebServer,
    module: Arc<TemplatesModule>,
    addr: SocketAddr,
    /// The templates folder, when the fixture owns it (a tempdir).
    dir: Option<TempDir>,
    _root: TempDir,
}

impl Fixture {
    /// Starts a server whose templates folder is a tempdir holding `files`; `setup` adds routes
    /// and configures the module before the start.
    fn start(
        files: &[(&str, &str)],
        setup: impl FnOnce(&mut WebServer, &TemplatesModule),
    ) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            write(dir.path(), name, text);
        }
        let path = dir.path().to_path_buf();
        let mut f = Fixture::start_in(&path, setup);
        f.dir = Some(dir);
        f
    }

    /// Starts a server over the templates folder `templates` (never written to).
    fn start_in(templates: &Path, setup: impl FnOnce(&mut WebServer, &TemplatesModule)) -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let mut server = WebServer::new();
        server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
        server.set_root_path(root.path());
        server.set_templates_path(templates);
        let handle = server.load_module("Templates").unwrap();
        let module = handle.downcast::<TemplatesModule>().unwrap();
        setup(&mut server, &module);
        server.start_managed(2, None).unwrap();
        let addr = server.local_addrs()[0];
        Fixture {
            server,
            module,
            addr,
            dir: None,
            _root: root,
        }
    }

    fn get(&self, target: &str) -> RawResponse {
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        roundtrip(self.addr, request.as_bytes()).expect("a response")
    }

    fn write(&self, name: &str, text: &str) {
        write(self.dir.as_ref().unwrap().path(), name, text);
    }

    /// Asserts that every buffer slot is free again (connections closed or idle).
    fn assert_slots_free(&self) {
        let all_free = wait_until(
            Duration::from_secs(5),
            || matches!(self.server.slots(), Some((free, total)) if free == total),
        );
        assert!(all_free, "slots still held: {:?}", self.server.slots());
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn demo_page_renders_over_http_with_request_fields_and_global_vars() {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let f = Fixture::start_in(&templates, |_, m| {
        m.set_global_var("site_name", json!("Site <Test>"));
    });
    let mut c = RawClient::connect(f.addr);
    c.send(b"GET /test.html?q=a%26b HTTP/1.1\r\nHost: t\r\nCookie: sid=abc\r\nX-Probe: <probe>\r\n\r\n");
    let r = c.read_response().expect("the demo page");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let page = r.text();
    for expected in [
        "<title>Template test page · Site &lt;Test&gt;</title>",
        "<tr><th>method</th><td>GET</td></tr>",
        "<tr><th>path</th><td>/test.html</td></tr>",
        "<li><b>x-probe</b>: &lt;probe&gt;</li>",
        "<td>&lt;script&gt;alert(&#39;fig&#39;)&lt;/script&gt;</td>",
        "<td>3/3</td>",
        "Ranges: 1, 2, 3, 4, 5 and 10 7 4 1",
        "Operators: 14, 20, 1, 2, 3.5,",
        "Query: {&quot;q&quot;:&quot;a&amp;b&quot;}; cookies: 1",
        "Raw (the author vouches for it): <b>bold</b>",
        "Whitespace trimming: [no spaces]",
        "Unknown names under default: guest",
        "visits so far: 0",
        "</html>",
    ] {
        assert!(page.contains(expected), "missing {expected:?} in:\n{page}");
    }
    assert!(!page.contains("<<"), "an unrendered tag:\n{page}");
    // The page's `after` block counts the visit once the page has been sent.
    assert!(wait_until(Duration::from_secs(5), || {
        f.module.get_global_var("visits") == Some(json!(1))
    }));
    c.send(b"GET /test.html HTTP/1.1\r\nHost: t\r\n\r\n");
    let again = c.read_response().expect("the page again");
    assert!(again.text().contains("visits so far: 1"));
    // The partials of the demo folder are not pages.
    assert_eq!(f.get("/_header.html").status, 404);
    drop(c);
    f.assert_slots_free();
}

#[test]
fn a_route_renders_a_template_with_its_context_and_route_args() {
    let f = Fixture::start(
        &[(
            "greet.html",
            "<p><< greeting >>, << name >>! << request.path >> << site >></p>",
        )],
        |server, m| {
            m.set_global_var("site", json!("global"));
            server
                .route(Method::GET, "/greet/<name>", |_req, resp| {
                    resp.return_template("greet.html", json!({"greeting": "Hi <there>"}));
                })
                .unwrap();
            server
                .route(Method::GET, "/missing", |_req, resp| {
                    resp.return_template("nope.html", json!({}));
                })
                .unwrap();
        },
    );
    let r = f.get("/greet/ann%20b");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        r.text(),
        "<p>Hi &lt;there&gt;, ann b! /greet/ann b global</p>"
    );
    // A handler naming a template that does not exist is a server error.
    assert_eq!(f.get("/missing").status, 500);
    f.assert_slots_free();
}

const BROKEN: &str = "<p>fine so far</p>\n<p><< \"<tag>\" + nope >></p>\n";

#[test]
fn a_runtime_error_shows_the_escaped_debug_page_when_show_debug_is_on() {
    let f = Fixture::start(&[("broken.html", BROKEN)], |_, m| m.show_debug(true));
    let r = f.get("/broken.html");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    assert!(
        page.contains("broken.html:2:17:"),
        "no file:line:col in:\n{page}"
    );
    assert!(page.contains("nope"), "no name in:\n{page}");
    // The source line is shown, escaped.
    assert!(page.contains("&lt;p&gt;&lt;&lt; &quot;&lt;tag&gt;&quot; + nope &gt;&gt;"));
    assert!(!page.contains("<tag>"));
    // Never the part of the page rendered before the error.
    assert!(!page.contains("fine so far"));
    f.assert_slots_free();
}

#[test]
fn a_runtime_error_is_a_plain_500_when_show_debug_is_off() {
    let f = Fixture::start(&[("broken.html", BROKEN)], |_, _| {});
    let r = f.get("/broken.html");
    assert_eq!(r.status, 500);
    let page = r.text();
    assert!(page.contains("500 Internal Server Error"));
    for secret in ["broken.html", "nope", "fine so far", "tag"] {
        assert!(!page.contains(secret), "{secret:?} leaked into:\n{page}");
    }
    f.assert_slots_free();
}

#[test]
fn a_parse_error_answers_500_and_the_other_pages_still_serve() {
    let f = Fixture::start(
        &[
            ("parse.html", "<p>\n  << if x >>never closed</p>\n"),
            ("good.html", "<p>good</p>"),
        ],
        |_, m| m.show_debug(true),
    );
    let r = f.get("/parse.html");
    assert_eq!(r.status, 500);
    let page = r.text();
    // Where the `if` should have been closed, and where it was opened.
    assert!(
        page.contains(
            "parse.html:2:29: expected `&lt;&lt; end &gt;&gt;` to close the `if` opened at 2:3"
        ),
        "no location in:\n{page}"
    );
    f.module.show_debug(false);
    let r = f.get("/parse.html");
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("parse.html"));
    let good = f.get("/good.html");
    assert_eq!((good.status, good.text().as_str()), (200, "<p>good</p>"));
    f.assert_slots_free();
}

#[test]
fn a_page_edited_on_disk_is_rendered_anew_on_the_next_request() {
    let f = Fixture::start(&[("page.html", "<p>version << 1 >></p>")], |_, _| {});
    let mut c = RawClient::connect(f.addr);
    c.send(b"GET /page.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "<p>version 1</p>");
    f.write("page.html", "<p>version << 1 + 1 >>, edited</p>");
    c.send(b"GET /page.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        c.read_response().unwrap().text(),
        "<p>version 2, edited</p>"
    );
    // A page created while the server runs is served too; a broken edit answers 500.
    f.write("new.html", "<< \"new\" | upper >>");
    assert_eq!(f.get("/new.html").text(), "NEW");
    f.write("page.html", "<< oops");
    c.send(b"GET /page.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 500);
    drop(c);
    f.assert_slots_free();
}

#[test]
fn an_after_block_runs_once_the_page_has_been_sent() {
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let f = Fixture::start(
        &[(
            "after.html",
            "<p>page</p><< after >>gate(); hits += 1<< end >>",
        )],
        move |_, m| {
            m.set_global_var("hits", json!(0));
            // Holds the after block until the test has the page: were it run before the page
            // left, the page would not arrive while it waits.
            m.register_function("gate", move |_| {
                let released = gate
                    .lock()
                    .map_err(|e| e.to_string())?
                    .recv_timeout(Duration::from_secs(10))
                    .is_ok();
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(Value::Bool(released))
            });
        },
    );
    let mut c = RawClient::connect(f.addr);
    c.send(b"GET /after.html HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c
        .read_response_within(Duration::from_secs(5))
        .expect("the page arrives while its after block waits");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>page</p>"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    release.send(()).unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        calls.load(Ordering::SeqCst) == 1 && f.module.get_global_var("hits") == Some(json!(1))
    }));
    drop(c);
    f.assert_slots_free();
}

#[test]
fn head_on_a_template_page_sends_its_length_and_no_body_and_runs_no_after_block() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let f = Fixture::start(
        &[(
            "page.html",
            "<p><< request.method >></p><< after >>count()<< end >>",
        )],
        move |_, m| {
            m.register_function("count", move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(Value::Null)
            });
        },
    );
    let mut c = RawClient::connect(f.addr);
    c.send(b"HEAD /page.html HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_head_only().expect("the HEAD answer");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    // The length of the page a GET renders ("<p>GET</p>" and "<p>HEAD</p>" differ by one).
    assert_eq!(head.header("content-length"), Some("11"));
    // No body followed: the next response on the connection parses from its first byte.
    c.send(b"GET /page.html HTTP/1.1\r\nHost: t\r\n\r\n");
    let get = c.read_response().expect("the GET answer");
    assert_eq!((get.status, get.text().as_str()), (200, "<p>GET</p>"));
    // The HEAD's after block would have run before the GET was read; only the GET's runs.
    assert!(wait_until(Duration::from_secs(5), || calls
        .load(Ordering::SeqCst)
        >= 1));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(c);
    f.assert_slots_free();
}

#[test]
fn partials_are_included_but_never_served() {
    let f = Fixture::start(
        &[
            ("_part.html", "[part << x >>]"),
            ("page.html", "<< set x = 7 >><< include \"_part.html\" >>"),
            ("sub/_deep.html", "deep"),
        ],
        |_, _| {},
    );
    assert_eq!(f.get("/page.html").text(), "[part 7]");
    assert_eq!(f.get("/_part.html").status, 404);
    assert_eq!(f.get("/sub/_deep.html").status, 404);
    f.assert_slots_free();
}

#[test]
fn paths_without_a_template_fall_through_to_static_files_and_404() {
    let f = Fixture::start(
        &[
            ("sub/index.html", "<p>index of << request.path >></p>"),
            ("page.html", "<p>page</p>"),
        ],
        |_, _| {},
    );
    std::fs::write(f._root.path().join("static.html"), "<< not a template >>").unwrap();
    // A file of the static root is not a template: sent as it is.
    let r = f.get("/static.html");
    assert_eq!((r.status, r.text().as_str()), (200, "<< not a template >>"));
    assert_eq!(f.get("/nothing.html").status, 404);
    // A folder path renders its index.html from the templates folder.
    assert_eq!(f.get("/sub/").text(), "<p>index of /sub/</p>");
    // Only GET and HEAD render pages.
    let r = roundtrip(
        f.addr,
        b"POST /page.html HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_ne!(r.text(), "<p>page</p>");
    assert_eq!(r.status, 404);
    f.assert_slots_free();
}

#[test]
fn a_page_larger_than_a_slot_streams_chunked_and_one_over_the_bound_is_cut_or_answers_500() {
    // 20 000 bytes: five times the Normal preset's 4 KiB slot.
    let f = Fixture::start(
        &[(
            "big.html",
            "<< for i in range(0, 2000) >>0123456789<< end >>",
        )],
        |_, _| {},
    );
    let r = f.get("/big.html");
    assert_eq!(r.status, 200);
    assert!(r.chunked, "{:?}", r.headers);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body, b"0123456789".repeat(2000));
    // Over the bound once the first slot has left: the connection closes mid-page.
    f.module.set_max_page_bytes(19_999);
    let mut c = RawClient::connect(f.addr);
    c.send(b"GET /big.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        c.read_response().is_none(),
        "the page must not look complete"
    );
    assert!(c.closed_within(Duration::from_secs(5)));
    assert!(!c.pending().ends_with(b"0\r\n\r\n"));
    // Over a bound smaller than a slot: known before anything left, so a whole 500.
    f.module.set_max_page_bytes(1000);
    let r = f.get("/big.html");
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("0123456789"));
    f.assert_slots_free();
}

#[test]
fn an_error_after_the_first_slot_left_closes_the_connection_without_the_last_chunk() {
    let f = Fixture::start(
        &[
            (
                "late.html",
                "<< for i in range(0, 2000) >>0123456789<< end >><< 1 / 0 >>",
            ),
            ("early.html", "<p>short</p><< 1 / 0 >>"),
        ],
        |_, m| m.show_debug(true),
    );
    let mut c = RawClient::connect(f.addr);
    c.send(b"GET /late.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        c.read_response().is_none(),
        "the page must not look complete"
    );
    assert!(c.closed_within(Duration::from_secs(5)));
    let raw = c.pending();
    let text = String::from_utf8_lossy(raw).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text:.200}");
    assert!(text.contains("transfer-encoding: chunked"), "{text:.200}");
    assert!(text.contains("0123456789"), "the first slot was sent");
    assert!(!raw.ends_with(b"0\r\n\r\n"), "no final chunk");
    assert!(!text.contains("division"), "no error text inside the page");
    // The same error before anything left: the debug page, whole.
    let r = f.get("/early.html");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("early.html"), "{}", r.text());
    f.assert_slots_free();
}

/// Collects the log lines of the whole test binary (the `log` crate has one logger per process).
struct Capture;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            LINES.lock().unwrap().push(format!("{}", record.args()));
        }
    }

    fn flush(&self) {}
}

#[test]
fn the_folder_is_compiled_at_start_and_every_error_is_logged() {
    static CAPTURE: Capture = Capture;
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let f = Fixture::start(
        &[
            ("start_bad_one.html", "<< if >>"),
            ("deeper/_start_bad_two.html", "<p><< 1 + >></p>"),
            ("start_good.html", "<p>good</p>"),
        ],
        |_, _| {},
    );
    // No request yet: what is logged came from the start.
    let lines = LINES.lock().unwrap().clone();
    let logged = |name: &str| lines.iter().any(|l| l.contains(name));
    assert!(logged("start_bad_one.html:1:"), "{lines:#?}");
    assert!(logged("deeper/_start_bad_two.html:1:"), "{lines:#?}");
    assert!(!logged("start_good.html"), "{lines:#?}");
    // The server started anyway: the broken page answers 500, the good one is served.
    assert_eq!(f.get("/start_bad_one.html").status, 500);
    assert_eq!(f.get("/start_good.html").text(), "<p>good</p>");
    f.assert_slots_free();
}

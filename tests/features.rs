//! What each cargo feature adds, seen from outside, in whatever build runs the tests: with the
//! feature, its module loads and its behaviour is on the wire; without it, the module's
//! `load_module` name answers an error naming the feature and the wire shows nothing of it.
//!
//! `cargo test` runs these with every feature; `scripts/test` runs them again in a
//! `--no-default-features` build (pool, HTTP, routing and static files alone).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge: curl as a child process
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/server.rs"]
mod server;

use std::net::SocketAddr;
use std::process::Command;

use microweb::{Error, Method, WebServer};

/// Each built-in module by its `load_module` names, the feature that builds it, and whether
/// this build has that feature.
const MODULES: [(&str, &str, bool); 4] = [
    ("Templates", "templates", cfg!(feature = "templates")),
    ("PyhtmlTemplate", "templates", cfg!(feature = "templates")),
    ("WebSockets", "websockets", cfg!(feature = "websockets")),
    ("Crypto", "crypto", cfg!(feature = "crypto")),
];

/// `curl -si URL` with extra arguments: the status line, the headers and the body as text.
fn curl(addr: SocketAddr, path: &str, extra: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-si", "--max-time", "10"])
        .args(extra)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {path}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn has_header(answer: &str, name: &str, value: &str) -> bool {
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    head.lines().any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            n.eq_ignore_ascii_case(name) && v.trim().eq_ignore_ascii_case(value)
        })
    })
}

#[test]
fn each_module_loads_or_names_the_feature_that_builds_it() {
    for (name, feature, built) in MODULES {
        let mut server = WebServer::new();
        match server.load_module(name) {
            Ok(handle) => {
                assert!(built, "{name} loaded in a build without \"{feature}\"");
                assert!(!handle.name().is_empty());
            }
            Err(e) => {
                assert!(!built, "{name} refused in a build with \"{feature}\": {e}");
                assert!(
                    matches!(&e, Error::ModuleDisabled { module, feature: f }
                        if module == name && *f == feature),
                    "{e:?}"
                );
                assert_eq!(
                    e.to_string(),
                    format!(
                        "module {name} is not in this build: enable the cargo feature \
                         \"{feature}\""
                    )
                );
            }
        }
    }
    let mut server = WebServer::new();
    assert!(matches!(
        server.load_module("NoSuchModule"),
        Err(Error::UnknownModule(n)) if n == "NoSuchModule"
    ));
}

/// The core every build has: routes and static files over a real socket.
#[test]
fn routes_and_static_files_are_served_in_every_build() {
    let (server, addr) = server::start(|s| {
        s.route(Method::GET, "/hello/<name>", |req, _| {
            format!("Hello, {}!", req.args().str("name").unwrap_or("?"))
        })
        .unwrap();
    });
    let hello = curl(addr, "/hello/board", &[]);
    assert_eq!(status_of(&hello), 200, "{hello}");
    assert!(hello.ends_with("\r\n\r\nHello, board!"), "{hello}");
    let page = curl(addr, "/index.html", &[]);
    assert_eq!(status_of(&page), 200, "{page}");
    assert!(
        has_header(&page, "Content-Type", "text/html; charset=utf-8"),
        "{page}"
    );
    let missing = curl(addr, "/no/such/file.txt", &[]);
    assert_eq!(status_of(&missing), 404, "{missing}");
    assert!(server::all_slots_free(&server));
}

/// `compression`: a large text answer is gzipped for a client that accepts it, only with the
/// feature (the setting itself exists only there).
#[test]
fn dynamic_answers_are_gzipped_only_with_the_compression_feature() {
    let (_server, addr) = server::start(|s| {
        #[cfg(feature = "compression")]
        {
            s.config_mut().gzip_min_size = Some(256);
        }
        s.route(Method::GET, "/text", |_, _| "microweb ".repeat(200))
            .unwrap();
    });
    let answer = curl(addr, "/text", &["-H", "Accept-Encoding: gzip"]);
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(
        has_header(&answer, "Content-Encoding", "gzip"),
        cfg!(feature = "compression"),
        "{answer}"
    );
    let decoded = curl(addr, "/text", &["--compressed"]);
    assert!(decoded.ends_with(&"microweb ".repeat(200)), "{decoded}");
}

/// `metrics`: the endpoint answers only in a build with the feature.
#[test]
fn the_metrics_path_exists_only_with_the_metrics_feature() {
    let (_server, addr) = server::start(|s| {
        #[cfg(feature = "metrics")]
        {
            s.config_mut().metrics_path = Some("/metrics".to_owned());
        }
        let _ = s;
    });
    let answer = curl(addr, "/metrics", &[]);
    if cfg!(feature = "metrics") {
        assert_eq!(status_of(&answer), 200, "{answer}");
        assert!(
            answer.contains("# TYPE microweb_http_requests counter"),
            "{answer}"
        );
    } else {
        assert_eq!(status_of(&answer), 404, "{answer}");
    }
}

/// `pin`: asking for pinned loops works in every build; without the feature the loops are
/// simply not pinned (a warning is logged), and the server serves all the same.
#[test]
fn pinned_loops_serve_with_or_without_the_pin_feature() {
    let (_server, addr) = server::start(|s| {
        s.config_mut().pin_threads = true;
        s.route(Method::GET, "/ping", |_, _| "pong").unwrap();
    });
    let answer = curl(addr, "/ping", &[]);
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(answer.ends_with("pong"), "{answer}");
}

//! Routes end to end over loopback sockets: 405 and `Allow`, automatic `OPTIONS`, return-value
//! coercion on the wire, hooks, error handlers by status and by type, HEAD on a GET route,
//! custom methods, typed arguments, `path_from_route`, panics, and one route table shared by
//! two servers.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "support/http_client.rs"]
mod http_client;

use std::fmt;
use std::net::SocketAddr;
use std::num::ParseIntError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_client::{RawClient, RawResponse, roundtrip, wait_until};
use microweb::{
    Html, Json, Method, Request, Response, StatusCode, WebServer, routing::ArgValue,
    server::HandlerError, server::Routes,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A running server on 127.0.0.1:0 with an empty static root; stops on drop.
struct TestServer {
    server: WebServer,
    addr: SocketAddr,
    root: TempDir,
}

impl TestServer {
    fn start(configure: impl FnOnce(&mut WebServer)) -> TestServer {
        let root = tempfile::tempdir().unwrap();
        let mut server = WebServer::new();
        server
            .set_light_config()
            .set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)))
            .set_root_path(root.path());
        configure(&mut server);
        server.start_managed(2, None).unwrap();
        let addr = server.local_addrs()[0];
        TestServer { server, addr, root }
    }

    fn request(&self, method: &str, target: &str) -> RawResponse {
        let raw = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n\r\n");
        roundtrip(self.addr, raw.as_bytes())
            .unwrap_or_else(|| panic!("no response to {method} {target}"))
    }

    fn get(&self, target: &str) -> RawResponse {
        self.request("GET", target)
    }

    /// Waits until every buffer slot is free again (no connection leaked one).
    fn assert_no_slot_leak(&self) {
        let all_free = wait_until(Duration::from_secs(5), || {
            self.server
                .slots()
                .is_some_and(|(free, total)| free == total)
        });
        assert!(all_free, "slots: {:?}", self.server.slots());
    }
}

/// Header fields of a response, without `Date` (it may change between two responses).
fn headers_without_date(r: &RawResponse) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect()
}

#[test]
fn wrong_method_answers_405_with_the_exact_allow_list() {
    let s = TestServer::start(|server| {
        server.route(Method::GET, "/things", |_, _| "list").unwrap();
        server
            .route(Method::POST, "/things", |_, _| "made")
            .unwrap();
        server
            .route(Method::DELETE, "/things/<int:id>", |_, _| "gone")
            .unwrap();
    });
    let r = s.request("PUT", "/things");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    let r = s.get("/things/5");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("DELETE, OPTIONS"));
    let mut c = RawClient::connect(s.addr);
    c.send(b"HEAD /things/5 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_head_only().unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("DELETE, OPTIONS"));
    assert_eq!(s.request("POST", "/things").text(), "made");
}

#[test]
fn options_without_an_options_route_answers_204_with_allow() {
    let s = TestServer::start(|server| {
        server.route(Method::GET, "/things", |_, _| "list").unwrap();
        server
            .route(Method::PATCH, "/things", |_, _| "patched")
            .unwrap();
        server.route(Method::GET, "/own", |_, _| "get").unwrap();
        server
            .route(Method::OPTIONS, "/own", |_, resp: &mut Response| {
                resp.set_header("Allow", "GET, OPTIONS, BREW").unwrap();
            })
            .unwrap();
    });
    let r = s.request("OPTIONS", "/things");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, PATCH, OPTIONS"));
    assert_eq!(r.header("content-length"), None);
    assert!(r.body.is_empty());
    let r = s.request("OPTIONS", "/own");
    assert_eq!(r.status, 204, "the OPTIONS route answers");
    assert_eq!(r.header("allow"), Some("GET, OPTIONS, BREW"));
    assert_eq!(s.request("OPTIONS", "/nowhere").status, 404);
    assert_eq!(s.request("OPTIONS", "*").status, 204);
    assert_eq!(s.request("GET", "*").status, 400);
}

#[derive(serde::Serialize)]
struct User {
    id: u32,
    name: &'static str,
}

#[test]
fn returned_values_coerce_on_the_wire() {
    let s = TestServer::start(|server| {
        server.route(Method::GET, "/unit", |_, _| ()).unwrap();
        server
            .route(Method::GET, "/unit-set", |_, resp: &mut Response| {
                resp.return_ok("set");
            })
            .unwrap();
        server.route(Method::GET, "/str", |_, _| "text").unwrap();
        server
            .route(Method::GET, "/string", |req: &Request<'_>, _| {
                format!("path {}", req.path())
            })
            .unwrap();
        server
            .route(Method::GET, "/bytes", |_, _| vec![0u8, 1, 2, 255])
            .unwrap();
        server
            .route(Method::GET, "/html", |_, _| Html("<p>hi</p>"))
            .unwrap();
        server
            .route(Method::GET, "/json", |_, _| Json(User { id: 7, name: "x" }))
            .unwrap();
        server
            .route(Method::GET, "/value", |_, _| json!({"a": [1, 2]}))
            .unwrap();
        server
            .route(Method::GET, "/status", |_, _| StatusCode::ACCEPTED)
            .unwrap();
        server
            .route(Method::GET, "/status-err", |_, _| StatusCode::CONFLICT)
            .unwrap();
        server
            .route(Method::GET, "/tuple", |_, _| (StatusCode::CREATED, "made"))
            .unwrap();
        server
            .route(Method::GET, "/tuple-headers", |_, _| {
                (
                    StatusCode::CREATED,
                    [("X-Id", "7"), ("Location", "/things/7")],
                    Json(json!({"ok": true})),
                )
            })
            .unwrap();
        server
            .route(Method::GET, "/bad-header", |_, _| {
                (StatusCode::OK, [("X-Bad", "a\r\nInjected: 1")], "x")
            })
            .unwrap();
        server
            .route(Method::GET, "/ok", |_, _| Ok::<_, StatusCode>("fine"))
            .unwrap();
        server
            .route(Method::GET, "/err", |_, _| {
                Err::<&str, _>(StatusCode::FORBIDDEN)
            })
            .unwrap();
    });
    let text = Some("text/plain; charset=utf-8");
    let html = Some("text/html; charset=utf-8");
    let json_ct = Some("application/json");
    // (path, status, Content-Type, body; None when the body is an error page)
    type Row<'a> = (&'a str, u16, Option<&'a str>, Option<&'a [u8]>);
    let table: [Row<'_>; 15] = [
        ("/unit", 204, None, Some(b"")),
        ("/unit-set", 200, html, Some(b"set")),
        ("/str", 200, text, Some(b"text")),
        ("/string", 200, text, Some(b"path /string")),
        (
            "/bytes",
            200,
            Some("application/octet-stream"),
            Some(&[0, 1, 2, 255]),
        ),
        ("/html", 200, html, Some(b"<p>hi</p>")),
        ("/json", 200, json_ct, Some(br#"{"id":7,"name":"x"}"#)),
        ("/value", 200, json_ct, Some(br#"{"a":[1,2]}"#)),
        ("/status", 202, None, Some(b"")),
        ("/status-err", 409, html, None),
        ("/tuple", 201, text, Some(b"made")),
        ("/tuple-headers", 201, json_ct, Some(br#"{"ok":true}"#)),
        ("/bad-header", 500, html, None),
        ("/ok", 200, text, Some(b"fine")),
        ("/err", 403, html, None),
    ];
    for (path, status, content_type, body) in table {
        let r = s.get(path);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.header("content-type"), content_type, "{path}");
        match body {
            Some(b) => assert_eq!(r.body, b, "{path}"),
            None => assert!(
                r.text().contains(&format!("<h1>{status} ")),
                "{path}: {}",
                r.text()
            ),
        }
        if status != 204 {
            assert_eq!(
                r.header("content-length"),
                Some(r.body.len().to_string().as_str()),
                "{path}"
            );
        }
    }
    let r = s.get("/tuple-headers");
    assert_eq!(r.header("x-id"), Some("7"));
    assert_eq!(r.header("location"), Some("/things/7"));
    assert_eq!(s.get("/bad-header").header("x-bad"), None);
    s.assert_no_slot_leak();
}

#[test]
fn a_before_hook_that_answers_short_circuits_the_route() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let s = TestServer::start(move |server| {
        server.before_request(|req, resp| {
            if req.path().starts_with("/private") && req.authorization().is_none() {
                resp.return_unauthorized("Bearer", None);
            }
        });
        server
            .route(Method::GET, "/private/data", move |_, _| {
                c.fetch_add(1, Ordering::SeqCst);
                "secret"
            })
            .unwrap();
        server.route(Method::GET, "/public", |_, _| "open").unwrap();
    });
    let r = s.get("/private/data");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler must not run");
    let raw = b"GET /private/data HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer x\r\n\r\n";
    let r = roundtrip(s.addr, raw).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "secret"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(s.get("/public").text(), "open");
}

#[test]
fn after_hooks_change_the_response_of_every_request() {
    let s = TestServer::start(|server| {
        server
            .route(Method::GET, "/tagged", |_, _| {
                (StatusCode::OK, [("X-Version", "1")], "body")
            })
            .unwrap();
        server.after_request(|req, resp| {
            resp.set_header("X-Served-Path", req.path().to_owned())
                .unwrap();
        });
        server.after_request(|_, resp| {
            if resp.header("x-version").is_some() {
                resp.set_header("X-Version", "2").unwrap();
            }
        });
    });
    let r = s.get("/tagged");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-version"), Some("2"), "the later hook wins");
    assert_eq!(r.header("x-served-path"), Some("/tagged"));
    assert_eq!(r.text(), "body");
    let r = s.get("/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-served-path"), Some("/missing"));
}

#[test]
fn error_handlers_keyed_by_status_replace_the_error_page() {
    let s = TestServer::start(|server| {
        server
            .route(Method::GET, "/teapot", |_, _| StatusCode::IM_A_TEAPOT)
            .unwrap();
        server.on_error(StatusCode::NOT_FOUND, |req, _| {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "not found", "path": req.path()})),
            )
        });
        server.on_error(StatusCode::IM_A_TEAPOT, |_, resp| {
            resp.set_header("X-Brew", "no").unwrap();
        });
        server.on_error(StatusCode::METHOD_NOT_ALLOWED, |_, _| "first");
        server.on_error(StatusCode::METHOD_NOT_ALLOWED, |_, _| {
            (StatusCode::METHOD_NOT_ALLOWED, "replaced")
        });
    });
    let r = s.get("/nothing/here");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, json!({"error": "not found", "path": "/nothing/here"}));
    let r = s.get("/teapot");
    assert_eq!(r.status, 418);
    assert_eq!(r.header("x-brew"), Some("no"));
    assert!(r.text().contains("418"), "the page stays: {}", r.text());
    let r = s.request("DELETE", "/teapot");
    assert_eq!((r.status, r.text().as_str()), (405, "replaced"));
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
}

/// An error of the application whose cause is a parse error.
#[derive(Debug)]
struct BadInput(ParseIntError);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad input")
    }
}

impl std::error::Error for BadInput {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An error nobody registered a handler for.
#[derive(Debug)]
struct Unhandled;

impl fmt::Display for Unhandled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unhandled")
    }
}

impl std::error::Error for Unhandled {}

#[test]
fn error_handlers_keyed_by_type_answer_returned_errors() {
    let s = TestServer::start(|server| {
        server
            .route(
                Method::GET,
                "/double/<n>",
                |req, _| -> Result<String, HandlerError> {
                    let n: i64 = req.args().get("n").unwrap().to_string().parse()?;
                    Ok((n * 2).to_string())
                },
            )
            .unwrap();
        server
            .route(Method::GET, "/wrapped/<n>", |req, _| {
                let text = req.args().get("n").unwrap().to_string();
                text.parse::<i64>()
                    .map(|n| n.to_string())
                    .map_err(|e| HandlerError::new(BadInput(e)))
            })
            .unwrap();
        server
            .route(Method::GET, "/unhandled", |_, _| {
                Err::<(), _>(HandlerError::new(Unhandled))
            })
            .unwrap();
        server
            .route(Method::GET, "/status", |_, _| {
                Err::<(), _>(StatusCode::UNPROCESSABLE_ENTITY)
            })
            .unwrap();
        server
            .route(Method::GET, "/typed-then-status", |_, _| {
                Err::<(), _>(HandlerError::new(std::io::Error::other("disk")))
            })
            .unwrap();
        server
            .route(Method::GET, "/fmt", |_, _| {
                Err::<(), _>(HandlerError::new(fmt::Error))
            })
            .unwrap();
        server
            .on_error_type(|_: &fmt::Error, _, _| -> &'static str { panic!("error handler bug") });
        server.on_error_type(|e: &ParseIntError, _, _| {
            (StatusCode::BAD_REQUEST, format!("not a number: {e}"))
        });
        server.on_error_type(|e: &std::io::Error, _, resp| {
            // Returns (): the default 500 page stays, with this header on it.
            resp.set_header("X-Io", e.to_string()).unwrap();
        });
        server.on_error(StatusCode::INTERNAL_SERVER_ERROR, |_, _| {
            (StatusCode::INTERNAL_SERVER_ERROR, "custom 500")
        });
        server.on_error(
            StatusCode::BAD_REQUEST,
            |_, _| "never: a type handler answered",
        );
    });
    assert_eq!(s.get("/double/21").text(), "42");
    let r = s.get("/double/abc");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "not a number: invalid digit found in string");
    let r = s.get("/wrapped/x");
    assert_eq!(r.status, 400, "found along the source chain");
    assert!(r.text().starts_with("not a number"));
    let r = s.get("/unhandled");
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "custom 500", "the status handler of 500 runs");
    let r = s.get("/fmt");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "custom 500",
        "a panicking error handler answers 500"
    );
    let r = s.get("/status");
    assert_eq!(
        r.status, 422,
        "Result<T, StatusCode> answers with the status"
    );
    let r = s.get("/typed-then-status");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-io"), Some("disk"));
    assert!(r.text().contains("<h1>500 "), "{}", r.text());
}

#[test]
fn head_on_a_get_route_sends_the_same_head_without_the_body() {
    let s = TestServer::start(|server| {
        server
            .route(Method::GET, "/hello/<name>", |req: &Request<'_>, _| {
                (
                    StatusCode::OK,
                    [("X-Method", req.method().to_string())],
                    format!("Hello, {}!", req.args().str("name").unwrap_or("?")),
                )
            })
            .unwrap();
    });
    let get = s.get("/hello/you");
    assert_eq!(get.text(), "Hello, you!");
    let mut c = RawClient::connect(s.addr);
    c.send(b"HEAD /hello/you HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_head_only().unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-method"), Some("HEAD"));
    let mut expected = headers_without_date(&get);
    for (n, v) in &mut expected {
        if n == "x-method" {
            *v = "HEAD".to_owned();
        }
    }
    assert_eq!(headers_without_date(&head), expected);
    assert_eq!(head.header("content-length"), Some("11"));
    // Had the body been sent, its bytes would come before the next response's status line.
    c.send(b"GET /hello/again HTTP/1.1\r\nHost: t\r\n\r\n");
    let next = c.read_response().unwrap();
    assert_eq!((next.status, next.text().as_str()), (200, "Hello, again!"));
    assert!(c.pending().is_empty());
}

#[test]
fn custom_method_routes_are_served_and_others_get_405() {
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let s = TestServer::start(|server| {
        server
            .route(purge, "/cache/<key>", |req: &Request<'_>, _| {
                format!(
                    "{} {}",
                    req.method(),
                    req.args().str("key").unwrap_or_default()
                )
            })
            .unwrap();
    });
    let r = s.request("PURGE", "/cache/front");
    assert_eq!((r.status, r.text().as_str()), (200, "PURGE front"));
    let r = s.get("/cache/front");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("PURGE, OPTIONS"));
    let r = s.request("BREW", "/cache/front");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("PURGE, OPTIONS"));
}

#[test]
fn typed_arguments_that_do_not_fit_are_not_found() {
    let s = TestServer::start(|server| {
        server
            .route(Method::GET, "/items/<int:id>", |req: &Request<'_>, _| {
                format!("item {}", req.args().int("id").unwrap_or(-1))
            })
            .unwrap();
        server
            .route(Method::GET, "/any/<v>", |req: &Request<'_>, _| {
                Json(req.args().to_json())
            })
            .unwrap();
        server
            .route(Method::GET, "/scale/<float:f>", |req: &Request<'_>, _| {
                format!("{}", req.args().float("f").unwrap_or(-1.0) * 2.0)
            })
            .unwrap();
    });
    assert_eq!(s.get("/items/42").text(), "item 42");
    assert_eq!(s.get("/items/-3").text(), "item -3");
    assert_eq!(s.get("/items/abc").status, 404);
    assert_eq!(s.get("/items/4.5").status, 404);
    assert_eq!(s.get("/scale/1.5").text(), "3");
    assert_eq!(s.get("/scale/x").status, 404);
    // An untyped `<name>` that looks like an integer arrives as one (MicroWebSrv2).
    assert_eq!(s.get("/any/42").body, br#"{"v":42}"#);
    assert_eq!(s.get("/any/forty%20two").body, br#"{"v":"forty two"}"#);
}

#[test]
fn duplicate_names_and_routes_are_errors_at_registration() {
    let mut server = WebServer::new();
    server
        .route_named(Method::GET, "/a", "page", |_, _| "a")
        .unwrap();
    let dup_name = server.route_named(Method::GET, "/b", "page", |_, _| "b");
    assert!(
        matches!(dup_name, Err(microweb::Error::Route(_))),
        "{dup_name:?}"
    );
    let dup_route = server.route(Method::GET, "/a/", |_, _| "again");
    assert!(
        matches!(dup_route, Err(microweb::Error::Route(_))),
        "{dup_route:?}"
    );
    assert!(server.route(Method::POST, "/a", |_, _| "post").is_ok());
    assert_eq!(server.path_from_route("page", &[]).unwrap(), "/a");
}

#[test]
fn paths_built_from_route_names_reach_their_route() {
    let s = TestServer::start(|server| {
        server
            .route_named(
                Method::GET,
                "/users/<int:id>/files/<path:file>",
                "user_file",
                |req: &Request<'_>, _| Json(req.args().to_json()),
            )
            .unwrap();
    });
    let args = [
        ("id", ArgValue::from(7)),
        ("file", ArgValue::from("my docs/ça va?#1.txt")),
    ];
    let path = s.server.path_from_route("user_file", &args).unwrap();
    assert!(!path.contains(' ') && !path.contains('?') && !path.contains('#'));
    let r = s.get(&path);
    assert_eq!(r.status, 200, "{path}");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, json!({"id": 7, "file": "my docs/ça va?#1.txt"}));
    let found = s.server.resolve_route(&Method::GET, &path).unwrap();
    assert_eq!(found.name.as_deref(), Some("user_file"));
    assert!(s.server.path_from_route("nobody", &args).is_err());
    assert!(
        s.server
            .path_from_route("user_file", &[("id", ArgValue::from(7))])
            .is_err()
    );
}

#[test]
fn params_bind_path_and_query_with_the_path_winning_and_extras_apart() {
    let s = TestServer::start(|server| {
        server
            .route(Method::POST, "/users/<int:id>", |req: &Request<'_>, _| {
                let p = req.params();
                Json(json!({
                    "id": p.int("id"),
                    "page": p.int("page"),
                    "params": p,
                    "query_extras": p.extras(),
                    "extras": req.extras(),
                }))
            })
            .unwrap();
    });
    let raw = b"POST /users/5?id=6&page=2&tag=a%20b HTTP/1.1\r\nHost: t\r\n\
                Content-Type: application/json\r\nContent-Length: 7\r\nX-Trace: 9\r\n\r\n{\"k\":1}";
    let r = roundtrip(s.addr, raw).unwrap();
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["id"], json!(5), "the path wins over ?id=6");
    assert_eq!(v["page"], json!(2));
    assert_eq!(v["params"], json!({"id": 5, "page": "2", "tag": "a b"}));
    assert_eq!(v["query_extras"], json!({"page": "2", "tag": "a b"}));
    let extras = &v["extras"];
    assert_eq!(extras["page"], json!("2"));
    assert_eq!(extras["tag"], json!("a b"));
    assert_eq!(extras["method"], json!("POST"));
    assert_eq!(extras["headers"]["x-trace"], json!("9"));
    assert_eq!(extras["data"], json!({"k": 1}));
    assert!(extras.get("id").is_none(), "id is a route argument");
}

#[test]
fn a_panicking_route_answers_500_and_the_server_goes_on() {
    let s = TestServer::start(|server| {
        server
            .route(Method::GET, "/boom", |_, _| -> &'static str {
                panic!("handler bug")
            })
            .unwrap();
        server.route(Method::GET, "/fine", |_, _| "fine").unwrap();
    });
    let r = s.get("/boom");
    assert_eq!(r.status, 500);
    let r = s.get("/fine");
    assert_eq!((r.status, r.text().as_str()), (200, "fine"));
    s.assert_no_slot_leak();
}

#[test]
fn one_route_table_serves_two_servers() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let mut routes = Routes::new();
    routes
        .add(Method::GET, "/count", Some("count"), move |_, _| {
            let n = h.fetch_add(1, Ordering::SeqCst) + 1;
            n.to_string()
        })
        .unwrap();
    let routes = Arc::new(routes);
    let a = TestServer::start(|server| {
        server.set_routes(routes.clone());
    });
    let b = TestServer::start(|server| {
        server.set_routes(routes.clone());
    });
    assert!(Arc::ptr_eq(a.server.routes(), b.server.routes()));
    assert_eq!(a.get("/count").text(), "1");
    assert_eq!(b.get("/count").text(), "2");
    assert_eq!(b.server.path_from_route("count", &[]).unwrap(), "/count");
}

#[test]
fn static_files_answer_options_and_other_methods_with_allow() {
    let s = TestServer::start(|_| {});
    std::fs::write(s.root.path().join("page.txt"), "static text").unwrap();
    assert_eq!(s.get("/page.txt").text(), "static text");
    let r = s.request("OPTIONS", "/page.txt");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    let r = s.request("POST", "/page.txt");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
}

//! Routes in one page: typed arguments, names and `path_from_route`, returned values, usrv-style
//! binding, hooks, error handlers by status and by type, a custom method.
//!
//! Run: `cargo run --example routes -- 127.0.0.1:8080`, then for instance
//! `curl -i 127.0.0.1:8080/users/7/profile/email`, `curl '127.0.0.1:8080/search/rust?page=2'`,
//! `curl -i 127.0.0.1:8080/double/x`, `curl -i -X DELETE 127.0.0.1:8080/`, `curl -X PURGE
//! 127.0.0.1:8080/cache/home`, `curl -I 127.0.0.1:8080/`.

use std::num::ParseIntError;

use microweb::{Html, Json, Method, StatusCode, WebServer, server::HandlerError};
use serde_json::json;

fn main() -> Result<(), microweb::Error> {
    let addr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut server = WebServer::new();
    server.set_bind_address(addr).set_root_path("webroot");

    // A named route with arguments; `<id>` arrives as an integer when it looks like one.
    server.route_named(
        Method::GET,
        "/users/<id>/profile/<property>",
        "profile",
        |req, _| json!({"id": req.args().int("id"), "property": req.args().str("property")}),
    )?;
    // Paths are built from names, each value percent-encoded.
    let link = server.path_from_route(
        "profile",
        &[("id", 7.into()), ("property", "full name".into())],
    )?;
    server.route(Method::GET, "/", move |_, _| {
        Html(format!("<a href=\"{link}\">profile</a>\n"))
    })?;
    // Returned values: a tuple sets the status and headers; `Json(T)` serializes any `T`.
    server.route(Method::POST, "/items", |_, _| {
        (
            StatusCode::CREATED,
            [("Location", "/items/1")],
            Json(vec!["item 1"]),
        )
    })?;
    // usrv-style binding: path arguments win over query values; the rest are extras.
    server.route(Method::GET, "/search/<term>", |req, _| {
        let p = req.params();
        format!(
            "{} page {} extras {:?}\n",
            p.str("term").unwrap_or(""),
            p.int("page").unwrap_or(1),
            p.extras()
        )
    })?;
    // `?` on any error; its type picks the handler (on_error_type below).
    server.route(
        Method::GET,
        "/double/<n>",
        |req, _| -> Result<String, HandlerError> {
            let n: i64 = req
                .args()
                .get("n")
                .map(|v| v.to_string())
                .unwrap_or_default()
                .parse()?;
            Ok(format!("{}\n", n * 2))
        },
    )?;
    // Any method, extensions included.
    server.route(
        Method::from_bytes(b"PURGE").unwrap_or(Method::DELETE),
        "/cache/<key>",
        |req, _| format!("purged {}\n", req.args().str("key").unwrap_or("")),
    )?;

    server.before_request(|req, resp| {
        if req.path().starts_with("/admin") && !req.check_bearer_auth("secret") {
            resp.return_bearer_auth_required(); // answering here short-circuits the request
        }
    });
    server.after_request(|_, resp| {
        let _ = resp.set_header("X-Powered-By", "microweb");
    });
    server.on_error(StatusCode::NOT_FOUND, |req, _| {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not found", "path": req.path()})),
        )
    });
    server.on_error_type(|e: &ParseIntError, _, _| {
        (StatusCode::BAD_REQUEST, format!("not a number: {e}\n"))
    });

    server.start_managed(1, None)?;
    println!("listening on http://{}", server.local_addrs()[0]);
    server.wait();
    Ok(())
}

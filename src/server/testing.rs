//! `TestRequest`: run a handler on a request built in memory, without a socket.

use std::net::SocketAddr;

use ::http::Method;

use super::handler::IntoResponse;
use super::request::{Origin, Request};
use super::response::Response;
use crate::http::{self, Limits, Status};
use crate::pool::Endpoint;
use crate::routing::{Resolution, RouteArgs, Router};

/// A request built in memory, to unit-test handlers.
///
/// # Examples
///
/// ```
/// use microweb::{Method, StatusCode, TestRequest};
///
/// let response = TestRequest::new(Method::GET, "/users/7?full=1")
///     .route("/users/<int:id>")
///     .run(|req, _resp| format!("user {}", req.args().int("id").unwrap_or(0)));
/// assert_eq!(response.status(), StatusCode::OK);
/// ```
#[derive(Debug, Clone)]
pub struct TestRequest {
    method: Method,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    pattern: Option<String>,
    peer: SocketAddr,
}

impl TestRequest {
    /// Starts a request with a method and a target (path and query).
    #[must_use]
    pub fn new(method: Method, target: &str) -> TestRequest {
        TestRequest {
            method,
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            pattern: None,
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> TestRequest {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body (and its `Content-Length`).
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> TestRequest {
        self.body = body.into();
        self
    }

    /// Matches the target against a route pattern, so the handler sees its arguments.
    #[must_use]
    pub fn route(mut self, pattern: &str) -> TestRequest {
        self.pattern = Some(pattern.to_owned());
        self
    }

    /// Runs `handler` on the request and returns its response, coerced as the server would.
    ///
    /// # Panics
    /// When the built request is not valid HTTP (a bad method, target or header), or the route
    /// pattern does not match the target: both are mistakes in the test itself.
    pub fn run<F, R>(&self, handler: F) -> Response
    where
        F: Fn(&Request<'_>, &mut Response) -> R,
        R: IntoResponse,
    {
        let mut raw = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            raw.push_str("Host: test\r\n");
        }
        for (n, v) in &self.headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        if !self.body.is_empty() {
            raw.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        raw.push_str("\r\n");
        let limits = Limits::default()
            .with_max_head_bytes(raw.len().max(1024))
            .with_custom_methods(true);
        let head = match http::parse_head(raw.as_bytes(), &limits) {
            Ok(Status::Complete(head)) => head,
            other => panic!("TestRequest built an invalid request: {other:?}"),
        };
        let router: Option<Router<()>> = self.pattern.as_ref().map(|p| {
            let mut r = Router::new();
            r.add(self.method.clone(), p, None, ())
                .unwrap_or_else(|e| panic!("invalid route pattern {p}: {e}"));
            r
        });
        let raw_bytes = raw.as_bytes();
        let raw_path = head.path(raw_bytes);
        let args = match &router {
            Some(r) => match r.resolve(&self.method, raw_path) {
                Resolution::Found(m) => m.args,
                _ => panic!("the route pattern does not match {raw_path}"),
            },
            None => RouteArgs::default(),
        };
        let request = Request::new(
            &head,
            raw_bytes,
            &self.body,
            None,
            Origin::direct(Endpoint::Ip(self.peer), false),
            args,
        );
        let mut response = Response::new();
        handler(&request, &mut response).into_response(&mut response);
        response
    }
}

//! Route handlers, return-value coercion (after the zerodep httpserver and usrv), and the
//! error a handler returns with `?`.
//!
//! In scope: [`IntoResponse`] and its implementations, [`Json`], [`Html`], [`HandlerError`],
//! and erasing a handler's return type for the route table.
//! Out of scope: choosing the handler (the router), running the error handlers registered with
//! [`WebServer::on_error`](super::WebServer::on_error) and
//! [`WebServer::on_error_type`](super::WebServer::on_error_type) (the pipeline).
//!
//! A handler is any `Fn(&Request, &mut Response) -> R` where `R: IntoResponse`. The table of
//! what each returned value answers, the decision about "any `Serialize` → JSON", and how a
//! returned [`HandlerError`] finds its error handler are documented on [`IntoResponse`] (this
//! module is private, so that is where users read them).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ::http::StatusCode;
use serde::Serialize;

use super::request::Request;
use super::response::{Body, Response};

/// A value a handler can return to answer its request.
///
/// A handler is any `Fn(&Request, &mut Response) -> R` where `R: IntoResponse`. It may answer
/// through the response object (MicroWebSrv2's way), or return a value:
///
/// | returned value | status | `Content-Type` | body |
/// | --- | --- | --- | --- |
/// | `()` | what the handler set on the response, or `204` when it set nothing | as set / none | as set / none |
/// | `&'static str`, `String` | `200` | `text/plain; charset=utf-8` | the text |
/// | `Html(s)` | `200` | `text/html; charset=utf-8` | the text |
/// | `Vec<u8>` | `200` | `application/octet-stream` | the bytes |
/// | `serde_json::Value`, `Json(T)` for any `T: Serialize` | `200` | `application/json` | the JSON |
/// | `StatusCode` (1xx–3xx) | that status | none | empty |
/// | `StatusCode` (4xx, 5xx) | that status | `text/html; charset=utf-8` | the standard error page |
/// | `(StatusCode, T)` | that status | `T`'s | `T`'s |
/// | `(StatusCode, [(name, value); N], T)` | that status, plus those headers (an invalid one answers 500) | `T`'s | `T`'s |
/// | `Result<T, E>` with `E: IntoResponse` (a `StatusCode`, …) | `T`'s or `E`'s answer | | |
/// | `Result<T, HandlerError>` | `T`'s answer, or the error handler's: see below | | |
///
/// A returned value other than `()` replaces what the handler set through the response
/// (headers set with [`Response::set_header`] stay).
///
/// # Any `Serialize` as JSON: through `Json(T)`
///
/// A blanket `impl<T: Serialize> IntoResponse for T` ("any `Serialize` → JSON") cannot coexist
/// with the impls above (`String`, `&str`, `Vec<u8>`, `()` are all `Serialize`, and Rust has no
/// specialisation), and choosing it would turn every string into a JSON string. So a serializable value is returned wrapped: `Json(user)`; a
/// `serde_json::Value` (what `json!` builds) needs no wrapper.
///
/// # Failing handlers: `HandlerError`, keyed by error type
///
/// A handler that returns `Result<T, HandlerError>` can use `?` on any error type that
/// implements `std::error::Error + Send + Sync + 'static`. When it returns `Err`, the server:
///
/// 1. sets the standard `500` page on the response;
/// 2. looks for a handler registered with
///    [`WebServer::on_error_type::<E>`](super::WebServer::on_error_type) for the error's own
///    type, then for each error of its [`source`](std::error::Error::source) chain in turn; the
///    first one found answers (its return value coerces as above, so return
///    `(StatusCode::BAD_REQUEST, …)` to choose the status);
/// 3. when none is found, keeps the `500`, logs the error, and lets the status handler of `500`
///    (see [`WebServer::on_error`](super::WebServer::on_error)) replace the page.
///
/// A request goes through at most one error handler: the type's, or else the final status's.
/// Outside a server (in [`TestRequest`](crate::TestRequest)) a `HandlerError` answers `500`.
/// `Result<T, StatusCode>` (or any other `E: IntoResponse`) keeps answering with `E` directly.
///
/// An error type that is not `IntoResponse` cannot be returned as it is:
///
/// ```compile_fail
/// use microweb::{Method, WebServer};
///
/// let mut server = WebServer::new();
/// // error: `ParseIntError` cannot be returned by a handler (use `HandlerError` and `?`)
/// server.route(Method::GET, "/n", |req, _| {
///     req.query_param("n").unwrap_or_default().parse::<i64>().map(|n| n.to_string())
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a handler",
    note = "wrap a serializable value in `Json(..)`; for `Result<T, E>` with an error type, return `Result<T, HandlerError>` and use `?`"
)]
pub trait IntoResponse {
    /// Writes this value's answer into the response.
    fn into_response(self, response: &mut Response);

    /// Writes this value's answer, or hands back the [`HandlerError`] it carries so the server
    /// can run the error handler registered for its type. Implement only
    /// [`into_response`](IntoResponse::into_response).
    #[doc(hidden)]
    fn into_response_or_error(self, response: &mut Response) -> Option<HandlerError>
    where
        Self: Sized,
    {
        self.into_response(response);
        None
    }
}

/// The error of a handler returning `Result<T, HandlerError>`: any
/// `std::error::Error + Send + Sync + 'static`, boxed, so `?` works on every error type.
///
/// What it answers is decided by the handlers registered with
/// [`WebServer::on_error_type`](super::WebServer::on_error_type) (see [`IntoResponse`]); by
/// default, `500` with the error logged. It does not implement
/// `std::error::Error` itself, so that the blanket `From` conversion can exist.
///
/// # Examples
///
/// ```
/// use microweb::{server::HandlerError, Method, StatusCode, TestRequest};
///
/// let handler = |req: &microweb::Request<'_>, _: &mut microweb::Response| -> Result<String, HandlerError> {
///    let n: i64 = req.query_param("n").unwrap_or_default().parse()?;
///    Ok(format!("{}", n * 2))
/// };
/// let ok = TestRequest::new(Method::GET, "/double?n=21").run(handler);
/// assert_eq!(ok.status(), StatusCode::OK);
/// let failed = TestRequest::new(Method::GET, "/double?n=x").run(handler);
/// assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// ```
pub struct HandlerError {
    inner: Box<dyn StdError + Send + Sync + 'static>,
}

impl HandlerError {
    /// Wraps an error.
    #[must_use]
    pub fn new<E: StdError + Send + Sync + 'static>(error: E) -> HandlerError {
        HandlerError {
            inner: Box::new(error),
        }
    }

    /// Returns true when the wrapped error is an `E` (its source chain is not searched).
    #[must_use]
    pub fn is<E: StdError + 'static>(&self) -> bool {
        self.inner.is::<E>()
    }

    /// Returns the wrapped error as an `E`, when it is one.
    #[must_use]
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// Returns the wrapped error.
    #[must_use]
    pub fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }

    /// Iterates the wrapped error, then each error of its `source` chain.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> + '_ {
        let first: &(dyn StdError + 'static) = &*self.inner;
        std::iter::successors(Some(first), |e| StdError::source(*e))
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError::new(error)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HandlerError").field(&self.inner).finish()
    }
}

/// Shows the wrapped error; `{:#}` adds its source chain (`a: b: c`).
impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)?;
        if f.alternate() {
            for e in self.chain().skip(1) {
                write!(f, ": {e}")?;
            }
        }
        Ok(())
    }
}

/// Answers `500` with the error logged (what the server does when no error handler takes it).
impl IntoResponse for HandlerError {
    fn into_response(self, response: &mut Response) {
        log::error!("a handler failed: {self:#}; answering 500");
        response.return_internal_server_error();
    }

    fn into_response_or_error(self, _response: &mut Response) -> Option<HandlerError> {
        Some(self)
    }
}

/// A body serialized as JSON (`application/json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// A body sent as HTML (`text/html; charset=utf-8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Html<T>(pub T);

fn answer_with(response: &mut Response, content_type: &'static str, body: Body) {
    response.content_type = None;
    response.return_(StatusCode::OK, body);
    response.content_type = Some(Cow::Borrowed(content_type));
}

impl IntoResponse for () {
    fn into_response(self, response: &mut Response) {
        if !response.is_answered() {
            response.return_(StatusCode::NO_CONTENT, Body::Empty);
            response.content_type = None;
        }
    }
}

impl IntoResponse for &'static str {
    fn into_response(self, response: &mut Response) {
        answer_with(
            response,
            "text/plain; charset=utf-8",
            Body::Static(self.as_bytes()),
        );
    }
}

impl IntoResponse for String {
    fn into_response(self, response: &mut Response) {
        answer_with(
            response,
            "text/plain; charset=utf-8",
            Body::Bytes(self.into_bytes()),
        );
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self, response: &mut Response) {
        answer_with(response, "application/octet-stream", Body::Bytes(self));
    }
}

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self, response: &mut Response) {
        answer_with(response, "text/html; charset=utf-8", self.0.into());
    }
}

impl IntoResponse for serde_json::Value {
    fn into_response(self, response: &mut Response) {
        Json(self).into_response(response);
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self, response: &mut Response) {
        response.content_type = None;
        response.return_json(StatusCode::OK, &self.0);
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self, response: &mut Response) {
        if self.is_client_error() || self.is_server_error() {
            response.return_error_page(self, None);
        } else {
            response.content_type = None;
            response.return_(self, Body::Empty);
            response.content_type = None;
        }
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self, response: &mut Response) {
        self.1.into_response(response);
        response.status = self.0;
    }

    fn into_response_or_error(self, response: &mut Response) -> Option<HandlerError> {
        let error = self.1.into_response_or_error(response);
        if error.is_none() {
            response.status = self.0;
        }
        error
    }
}

impl<T: IntoResponse, N: Into<Cow<'static, str>>, V: Into<Cow<'static, str>>, const K: usize>
    IntoResponse for (StatusCode, [(N, V); K], T)
{
    fn into_response(self, response: &mut Response) {
        self.2.into_response(response);
        set_status_and_headers(response, self.0, self.1);
    }

    fn into_response_or_error(self, response: &mut Response) -> Option<HandlerError> {
        let error = self.2.into_response_or_error(response);
        if error.is_none() {
            set_status_and_headers(response, self.0, self.1);
        }
        error
    }
}

fn set_status_and_headers<N, V, const K: usize>(
    response: &mut Response,
    status: StatusCode,
    headers: [(N, V); K],
) where
    N: Into<Cow<'static, str>>,
    V: Into<Cow<'static, str>>,
{
    response.status = status;
    for (name, value) in headers {
        if response.set_header(name, value).is_err() {
            log::error!("a handler returned an invalid header; answering 500");
            response.return_internal_server_error();
            return;
        }
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self, response: &mut Response) {
        match self {
            Ok(v) => v.into_response(response),
            Err(e) => e.into_response(response),
        }
    }

    fn into_response_or_error(self, response: &mut Response) -> Option<HandlerError> {
        match self {
            Ok(v) => v.into_response_or_error(response),
            Err(e) => e.into_response_or_error(response),
        }
    }
}

/// A handler with its return type erased, as the router stores it.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Runs the handler and writes its answer into `response`, or returns the error it failed
    /// with, for the error handlers.
    fn call(&self, request: &Request<'_>, response: &mut Response) -> Option<HandlerError>;
}

struct FnHandler<F, R> {
    f: F,
    _returns: PhantomData<fn() -> R>,
}

impl<F, R> Handler for FnHandler<F, R>
where
    F: Fn(&Request<'_>, &mut Response) -> R + Send + Sync + 'static,
    R: IntoResponse + 'static,
{
    fn call(&self, request: &Request<'_>, response: &mut Response) -> Option<HandlerError> {
        (self.f)(request, response).into_response_or_error(response)
    }
}

/// A shared, type-erased handler.
pub(crate) type BoxedHandler = Arc<dyn Handler>;

/// Erases the return type of a handler closure.
pub(crate) fn boxed<F, R>(f: F) -> BoxedHandler
where
    F: Fn(&Request<'_>, &mut Response) -> R + Send + Sync + 'static,
    R: IntoResponse + 'static,
{
    Arc::new(FnHandler {
        f,
        _returns: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(v: impl IntoResponse) -> Response {
        let mut r = Response::new();
        v.into_response(&mut r);
        r
    }

    #[test]
    fn unit_answers_204_only_when_nothing_was_set() {
        assert_eq!(answer(()).status(), StatusCode::NO_CONTENT);
        let mut r = Response::new();
        r.return_ok("set");
        ().into_response(&mut r);
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn values_map_to_their_content_types() {
        assert_eq!(
            answer("hi").content_type(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            answer(vec![1u8]).content_type(),
            Some("application/octet-stream")
        );
        assert_eq!(
            answer(Json([1, 2])).content_type(),
            Some("application/json")
        );
        assert_eq!(
            answer(Html("<p>")).content_type(),
            Some("text/html; charset=utf-8")
        );
        let r = answer((
            StatusCode::CREATED,
            [("X-Id", "7")],
            Json(serde_json::json!({})),
        ));
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.header("x-id"), Some("7"));
    }

    #[test]
    fn results_answer_with_either_side() {
        let ok: Result<&'static str, StatusCode> = Ok("fine");
        assert_eq!(answer(ok).status(), StatusCode::OK);
        let err: Result<&'static str, StatusCode> = Err(StatusCode::CONFLICT);
        assert_eq!(answer(err).status(), StatusCode::CONFLICT);
    }

    #[derive(Debug)]
    struct Outer(std::num::ParseIntError);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer")
        }
    }

    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    fn parse_error() -> std::num::ParseIntError {
        "x".parse::<i64>().unwrap_err()
    }

    #[test]
    fn handler_errors_are_handed_back_through_results_and_tuples() {
        let mut r = Response::new();
        let err: Result<&'static str, HandlerError> = Err(parse_error().into());
        let back = err.into_response_or_error(&mut r).unwrap();
        assert!(back.is::<std::num::ParseIntError>());
        assert!(!r.is_answered(), "the pipeline answers, not the value");

        let mut r = Response::new();
        let err: Result<(), HandlerError> = Err(HandlerError::new(Outer(parse_error())));
        let back = (StatusCode::CREATED, err).into_response_or_error(&mut r);
        assert!(back.is_some());
        assert_eq!(r.status(), StatusCode::OK, "no status set for a failure");

        let mut r = Response::new();
        let ok: Result<&'static str, HandlerError> = Ok("fine");
        assert!(
            (StatusCode::CREATED, [("X-A", "1")], ok)
                .into_response_or_error(&mut r)
                .is_none()
        );
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.header("x-a"), Some("1"));
    }

    #[test]
    fn handler_error_walks_and_shows_its_source_chain() {
        let e = HandlerError::new(Outer(parse_error()));
        assert!(e.is::<Outer>() && !e.is::<std::num::ParseIntError>());
        assert!(e.downcast_ref::<Outer>().is_some());
        let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        assert_eq!(chain, ["outer", "invalid digit found in string"]);
        assert_eq!(e.to_string(), "outer");
        assert_eq!(format!("{e:#}"), "outer: invalid digit found in string");
    }

    #[test]
    fn an_unhandled_handler_error_answers_500_outside_a_server() {
        let err: Result<&'static str, HandlerError> = Err(parse_error().into());
        assert_eq!(answer(err).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn returned_headers_are_validated() {
        let r = answer((StatusCode::OK, [("X-Bad", "a\r\nb")], "x"));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

//! Route handlers and return-value coercion (after the zerodep httpserver and usrv).
//!
//! A handler is any `Fn(&Request, &mut Response) -> R` where `R: IntoResponse`. It may answer
//! through the response object (MicroWebSrv2's way), or return a value:
//!
//! | returned value | answer |
//! | --- | --- |
//! | `()` | what the handler set on the response, or `204 No Content` when it set nothing |
//! | `&'static str`, `String` | `200`, `text/plain; charset=utf-8` |
//! | `Html(s)` | `200`, `text/html; charset=utf-8` |
//! | `Vec<u8>` | `200`, `application/octet-stream` |
//! | `serde_json::Value`, `Json(T)` for any `T: Serialize` | `200`, `application/json` |
//! | `StatusCode` | that status, with the standard error page for 4xx/5xx |
//! | `(StatusCode, T)` | `T`'s answer with that status |
//! | `(StatusCode, [(name, value); N], T)` | the same, plus headers |
//! | `Result<T, E>` | `T`'s answer, or `E`'s (`E: IntoResponse`, e.g. a `StatusCode`) |
//!
//! A returned value other than `()` replaces what the handler set through the response.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use ::http::StatusCode;
use serde::Serialize;

use super::request::Request;
use super::response::{Body, Response};

/// A value a handler can return to answer its request.
pub trait IntoResponse {
    /// Writes this value's answer into the response.
    fn into_response(self, response: &mut Response);
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
}

impl<T: IntoResponse, N: Into<Cow<'static, str>>, V: Into<Cow<'static, str>>, const K: usize>
    IntoResponse for (StatusCode, [(N, V); K], T)
{
    fn into_response(self, response: &mut Response) {
        self.2.into_response(response);
        response.status = self.0;
        for (name, value) in self.1 {
            if response.set_header(name, value).is_err() {
                log::error!("a handler returned an invalid header; answering 500");
                response.return_internal_server_error();
                return;
            }
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
}

/// A handler with its return type erased, as the router stores it.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Runs the handler and writes its answer into `response`.
    fn call(&self, request: &Request<'_>, response: &mut Response);
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
    fn call(&self, request: &Request<'_>, response: &mut Response) {
        (self.f)(request, response).into_response(response);
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

    #[test]
    fn returned_headers_are_validated() {
        let r = answer((StatusCode::OK, [("X-Bad", "a\r\nb")], "x"));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

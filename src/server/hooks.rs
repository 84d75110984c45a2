//! Middleware: hooks run before and after every request, and the error handlers, keyed by
//! status code or by error type.
//!
//! In scope: the registered hooks of one server, in registration order, and how an error
//! handler of a type finds its error. Out of scope: when each runs (the pipeline).

use std::any::TypeId;
use std::error::Error as StdError;
use std::sync::Arc;

use ::http::StatusCode;

use super::handler::IntoResponse;
use super::request::Request;
use super::response::Response;

/// A hook: sees the request and the response being built.
pub(crate) type Hook = Arc<dyn Fn(&Request<'_>, &mut Response) + Send + Sync>;

/// An error handler for one error type: answers and returns true when the error is of its type,
/// returns false (and does nothing) otherwise.
pub(crate) type ErrorTypeHook =
    Arc<dyn Fn(&(dyn StdError + 'static), &Request<'_>, &mut Response) -> bool + Send + Sync>;

/// Decides, from the head alone, whether a body announced with `Expect: 100-continue` is welcome:
/// `Some(status)` refuses it with that status before the client sends it.
pub(crate) type ExpectHook = Arc<dyn Fn(&Request<'_>) -> Option<StatusCode> + Send + Sync>;

/// Every hook a server runs, in registration order.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    /// Run before modules and routes; one that answers short-circuits the request.
    pub(crate) before: Vec<Hook>,
    /// Run after the answer is built, in order; each may change the response.
    pub(crate) after: Vec<Hook>,
    /// Run when the answer has this status (4xx/5xx), to replace the error page.
    pub(crate) on_error: Vec<(StatusCode, Hook)>,
    /// Run when a route handler returns a `HandlerError` wrapping (or caused by) this type.
    pub(crate) on_error_type: Vec<(TypeId, ErrorTypeHook)>,
    /// Run on `Expect: 100-continue`, before the body is read.
    pub(crate) expect: Option<ExpectHook>,
}

impl Hooks {
    /// Sets the handler of answers with `status`, replacing an earlier one.
    pub(crate) fn set_on_error<F, R>(&mut self, status: StatusCode, handler: F)
    where
        F: Fn(&Request<'_>, &mut Response) -> R + Send + Sync + 'static,
        R: IntoResponse + 'static,
    {
        self.on_error.retain(|(s, _)| *s != status);
        let hook: Hook = Arc::new(move |request, response| {
            handler(request, response).into_response(response);
        });
        self.on_error.push((status, hook));
    }

    /// Sets the handler of errors of type `E`, replacing an earlier one for the same type.
    pub(crate) fn set_on_error_type<E, F, R>(&mut self, handler: F)
    where
        E: StdError + 'static,
        F: Fn(&E, &Request<'_>, &mut Response) -> R + Send + Sync + 'static,
        R: IntoResponse + 'static,
    {
        let key = TypeId::of::<E>();
        self.on_error_type.retain(|(t, _)| *t != key);
        let hook: ErrorTypeHook =
            Arc::new(
                move |error, request, response| match error.downcast_ref::<E>() {
                    Some(e) => {
                        handler(e, request, response).into_response(response);
                        true
                    }
                    None => false,
                },
            );
        self.on_error_type.push((key, hook));
    }

    /// Returns the handler of answers with `status`.
    pub(crate) fn error_hook(&self, status: StatusCode) -> Option<&Hook> {
        self.on_error
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, h)| h)
    }
}

//! Middleware: hooks run before and after every request, and error handlers by status code.

use std::sync::Arc;

use ::http::StatusCode;

use super::request::Request;
use super::response::Response;

/// A hook: sees the request and the response being built.
pub(crate) type Hook = Arc<dyn Fn(&Request<'_>, &mut Response) + Send + Sync>;

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
    /// Run on `Expect: 100-continue`, before the body is read.
    pub(crate) expect: Option<ExpectHook>,
}

//! The request pipeline: what answers a parsed request.
//!
//! ```text
//! CORS preflight (cors_allow_all) ─► before hooks ─► modules (load order) ─► routes
//!        ─► static files (GET/HEAD) ─► not_found_url redirect or 404
//!        ─► modules' on_response ─► error handler (by error type, else by status)
//!        ─► after hooks ─► Access-Control-Allow-Origin
//! ```
//!
//! In scope: the order above, 405 and automatic `OPTIONS` answers, running the error handlers.
//! An upload route (`route_upload`) takes the same before hooks at its head (one that answers
//! refuses the upload) and the same end — error handler, after hooks, CORS origin — for its
//! sink's answer or its refusal; modules and routes do not see it.
//! Out of scope: matching (the router), coercing return values (handler.rs), writing bytes (the
//! connection).
//!
//! Each step may answer; the first that does ends the chain up to the error handlers. A panic in
//! any user code (hook, module, handler) answers 500 for this request only.
//!
//! - **405.** A path that has routes, none for the method, answers `405` with `Allow`: the
//!   path's methods in registration order, `HEAD` after `GET` (a GET route answers HEAD, with
//!   the same head and no body: RFC 9110 §9.3.2), and `OPTIONS`.
//! - **OPTIONS.** On such a path with no `OPTIONS` route, the server answers `204` with the same
//!   `Allow` (RFC 9110 §9.3.7). A static file answers `OPTIONS` with `Allow: GET, HEAD, OPTIONS`,
//!   and `OPTIONS *` (the server itself) answers `204`; another method with `*` answers `400`.
//! - **Error handlers.** A request goes through at most one: the handler of the error type of a
//!   `HandlerError` a route returned, or else the handler of the answer's status (4xx/5xx).
use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ::http::{Method, StatusCode};

use super::handler::HandlerError;
#[cfg(feature = "metrics")]
use super::metrics;
use super::request::Request;
use super::response::{Body, Response};
use super::static_files::Resolved;
use super::upload::{BodySink, UploadFactory};
use super::web_server::{LogLevel, ServerShared};
use crate::http;
use crate::routing::Resolution;

/// Runs user code; a panic becomes a 500 answer, logged. Returns false when it panicked.
fn guarded(
    shared: &ServerShared,
    response: &mut Response,
    what: &str,
    f: impl FnOnce(&mut Response),
) -> bool {
    if catch_unwind(AssertUnwindSafe(|| f(response))).is_err() {
        shared.log(
            LogLevel::Error,
            format_args!("{what} panicked; answering 500"),
        );
        *response = Response::new();
        response.return_internal_server_error();
        return false;
    }
    true
}

/// Answers `request` into `response` (a fresh one); `request.args` is filled when a route
/// matches.
pub(crate) fn answer<'a>(
    shared: &'a ServerShared,
    request: &mut Request<'a>,
    response: &mut Response,
) {
    let config = &shared.config;

    if config.cors_allow_all && http::is_cors_preflight(request.head, request.raw) {
        answer_preflight(request, response);
    }
    run_before_hooks(shared, request, response);
    // The metrics path, after the hooks (which may guard it, as any other path).
    #[cfg(feature = "metrics")]
    if let (Some(path), Some(metrics), false) = (
        &config.metrics_path,
        &shared.metrics,
        response.is_answered(),
    ) {
        if request.path() == path.as_str()
            && matches!(*request.method(), Method::GET | Method::HEAD)
        {
            let text = metrics::render(metrics, gauges(shared), counters(shared));
            response.return_(StatusCode::OK, Body::Bytes(text.into_bytes()));
            let _ = response.set_content_type(metrics::CONTENT_TYPE);
        }
    }
    for module in &shared.modules {
        if response.is_answered() {
            break;
        }
        guarded(shared, response, module.name(), |r| {
            module.on_request(request, r);
        });
    }
    let mut error_handled = false;
    if !response.is_answered() {
        error_handled = route_or_static(shared, request, response);
    }
    for module in &shared.modules {
        guarded(shared, response, module.name(), |r| {
            module.on_response(request, r);
        });
    }
    finish(shared, request, response, error_handled);
}

/// Opens an upload: the `before_request` hooks see its head first (one that answers refuses
/// it, so an authorisation hook covers uploads too), then the route's factory gives the sink or
/// refuses. A refusal goes through [`finish`], like any answer.
pub(crate) fn open_upload(
    shared: &ServerShared,
    request: &Request<'_>,
    factory: &UploadFactory,
) -> Result<Box<dyn BodySink>, Box<Response>> {
    let mut response = Response::new();
    run_before_hooks(shared, request, &mut response);
    if !response.is_answered() {
        match catch_unwind(AssertUnwindSafe(|| factory(request))) {
            Ok(Ok(sink)) => return Ok(sink),
            Ok(Err(status)) => response.return_error_page(status, None),
            Err(_) => {
                shared.log(
                    LogLevel::Error,
                    format_args!("an upload factory panicked; answering 500"),
                );
                response.return_internal_server_error();
            }
        }
    }
    finish(shared, request, &mut response, false);
    Err(Box::new(response))
}

/// Runs the `before_request` hooks until one answers.
pub(crate) fn run_before_hooks(
    shared: &ServerShared,
    request: &Request<'_>,
    response: &mut Response,
) {
    for hook in &shared.hooks.before {
        if response.is_answered() {
            break;
        }
        guarded(shared, response, "a before_request hook", |r| {
            hook(request, r)
        });
    }
}

/// The end of every answer, an upload's too: the error handler of the status (unless one of a
/// type answered already), the `after_request` hooks, and `Access-Control-Allow-Origin`.
pub(crate) fn finish(
    shared: &ServerShared,
    request: &Request<'_>,
    response: &mut Response,
    error_handled: bool,
) {
    let status = response.status();
    if !error_handled && (status.is_client_error() || status.is_server_error()) {
        if let Some(handler) = shared.hooks.error_hook(status) {
            guarded(shared, response, "an error handler", |r| {
                handler(request, r)
            });
        }
    }
    for hook in &shared.hooks.after {
        guarded(shared, response, "an after_request hook", |r| {
            hook(request, r)
        });
    }
    if shared.config.allow_all_origins && response.access_control_allow_origin().is_none() {
        response.access_control_allow_origin = Some(Cow::Borrowed("*"));
    }
    #[cfg(feature = "compression")]
    super::compress::gzip_answer(
        shared.config.gzip_min_size,
        &shared.budget,
        request,
        response,
    );
}

/// Answers from the routes, else from the static files; returns true when an error handler of
/// a type has answered (so no status handler runs after it).
fn route_or_static<'a>(
    shared: &'a ServerShared,
    request: &mut Request<'a>,
    response: &mut Response,
) -> bool {
    let raw_path = request.raw_path();
    if raw_path == "*" {
        // RFC 9110 §9.3.7: `OPTIONS *` asks about the server itself; nothing else may use `*`.
        if *request.method() == Method::OPTIONS {
            answer_no_content(response);
        } else {
            response.return_bad_request();
        }
        return false;
    }
    match shared.routes.router.resolve(request.method(), raw_path) {
        Resolution::Found(found) => {
            let handler = found.handler;
            request.args = found.args;
            let mut failure = None;
            guarded(shared, response, "a route handler", |r| {
                failure = handler.call(request, r);
            });
            match failure {
                Some(error) => answer_error(shared, request, response, &error),
                None => false,
            }
        }
        Resolution::MethodNotAllowed { allow } => {
            let mut list = allow.to_string();
            if !allow.contains(&Method::OPTIONS) {
                list.push_str(", OPTIONS");
            }
            if *request.method() == Method::OPTIONS {
                // RFC 9110 §9.3.7: OPTIONS asks what the target supports; `Allow` says it.
                answer_no_content(response);
            } else {
                response.return_method_not_allowed();
            }
            let _ = response.set_header("Allow", list);
            false
        }
        Resolution::NotFound => {
            serve_static(shared, request, response);
            false
        }
    }
}

/// Answers a `HandlerError` a route handler returned: the handler registered for its type (or
/// for a type along its source chain) answers, else the standard 500. Returns true when a
/// handler of a type answered.
fn answer_error(
    shared: &ServerShared,
    request: &Request<'_>,
    response: &mut Response,
    error: &HandlerError,
) -> bool {
    response.return_internal_server_error();
    for cause in error.chain() {
        for (_, hook) in &shared.hooks.on_error_type {
            let mut matched = false;
            let completed = guarded(shared, response, "an error handler", |r| {
                matched = hook(cause, request, r);
            });
            if !completed {
                // The panic answered 500; the status handler of 500 may still replace the page.
                return false;
            }
            if matched {
                shared.log(
                    LogLevel::Debug,
                    format_args!("a route handler failed: {error:#}; its error handler answered"),
                );
                return true;
            }
        }
    }
    shared.log(
        LogLevel::Error,
        format_args!("a route handler failed: {error:#}; answering 500"),
    );
    false
}

/// Answers `204 No Content`, with no `Content-Type`.
fn answer_no_content(response: &mut Response) {
    response.return_(StatusCode::NO_CONTENT, Body::Empty);
    response.content_type = None;
}

fn serve_static(shared: &ServerShared, request: &Request<'_>, response: &mut Response) {
    let config = &shared.config;
    let site = &shared.static_site;
    let is_get = matches!(*request.method(), Method::GET | Method::HEAD);
    if is_get && site.answer_cached(request, response) {
        return;
    }
    match site.resolve(request.path()) {
        Resolved::File(path) if is_get => site.answer_file(request, response, &path),
        Resolved::File(_) => {
            if *request.method() == Method::OPTIONS {
                answer_no_content(response);
            } else {
                response.return_method_not_allowed();
            }
            let _ = response.set_header("Allow", "GET, HEAD, OPTIONS");
        }
        Resolved::DirectoryWithoutSlash if is_get => {
            // One leading slash only: `//host/dir` would be a protocol-relative (open) redirect.
            let mut location = format!("/{}/", request.raw_path().trim_start_matches('/'));
            if !request.query_string().is_empty() {
                location.push('?');
                location.push_str(request.query_string());
            }
            response.return_redirect(&location);
            response.status = StatusCode::MOVED_PERMANENTLY;
        }
        _ => match &config.not_found_url {
            Some(url) if is_get && url != request.path() => response.return_redirect(url),
            _ => response.return_not_found(),
        },
    }
}

/// Answers a CORS preflight as MicroWebSrv2's `CORSAllowAll` did: everything asked is allowed.
fn answer_preflight(request: &Request<'_>, response: &mut Response) {
    answer_no_content(response);
    let origin = request.origin().unwrap_or("*").to_owned();
    let _ = response.set_access_control_allow_origin(origin);
    if let Some(m) = request.get_header("access-control-request-method") {
        let _ = response.set_header("Access-Control-Allow-Methods", m.to_owned());
    }
    if let Some(h) = request.get_header("access-control-request-headers") {
        let _ = response.set_header("Access-Control-Allow-Headers", h.to_owned());
    }
    let _ = response.set_header("Access-Control-Allow-Credentials", "true");
    let _ = response.set_header("Access-Control-Max-Age", "86400");
    let _ = response.set_header("Vary", "Origin");
}

/// The figures a metrics scrape reads at its moment: connections, slots, memory budget, and
/// what the modules report.
#[cfg(feature = "metrics")]
fn gauges(shared: &ServerShared) -> Vec<metrics::Gauge> {
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let budget = shared.budget.stats();
    let (free, total) = shared.slot_gauge.read().unwrap_or((0, 0));
    let mut gauges = vec![
        (
            "microweb_connections_open",
            "HTTP connections open.",
            as_i64(shared.connections.lock().len()),
        ),
        (
            "microweb_slots_in_use",
            "Buffer slots in use.",
            as_i64(total - free),
        ),
        ("microweb_slots", "Buffer slots in the pool.", as_i64(total)),
        (
            "microweb_memory_budget_in_use_bytes",
            "Bytes held of the memory budget.",
            as_i64(budget.in_use),
        ),
        (
            "microweb_memory_budget_high_water_bytes",
            "The most bytes ever held of the memory budget.",
            as_i64(budget.high_water),
        ),
        (
            "microweb_memory_budget_bytes",
            "The memory budget.",
            as_i64(budget.limit),
        ),
        (
            "microweb_memory_budget_waiting",
            "Connections waiting for the memory budget.",
            as_i64(budget.waiting),
        ),
    ];
    for module in &shared.modules {
        gauges.extend(module.gauges());
    }
    gauges
}

/// The counters a metrics scrape reads beside the per-loop ones: TLS handshakes, when the server
/// serves TLS.
#[cfg(feature = "metrics")]
fn counters(shared: &ServerShared) -> Vec<metrics::Counter> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.tls {
        let (completed, failed) = tls.handshakes();
        return vec![
            (
                "microweb_tls_handshakes_completed",
                "TLS handshakes completed.",
                completed,
            ),
            (
                "microweb_tls_handshakes_failed",
                "TLS handshakes that did not complete (an error, the timeout, a client that left).",
                failed,
            ),
        ];
    }
    let _ = shared;
    Vec::new()
}

//! The request pipeline: what answers a parsed request.
//!
//! ```text
//! CORS preflight (cors_allow_all) ─► before hooks ─► modules (load order) ─► routes
//!        ─► static files (GET/HEAD) ─► not_found_url redirect or 404
//!        ─► modules' on_response ─► error handlers (by status) ─► after hooks ─► Access-Control-Allow-Origin
//! ```
//!
//! Each step may answer; the first that does ends the chain up to the error handlers. A panic in
//! any user code (hook, module, handler) answers 500 for this request only.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ::http::{Method, StatusCode};

use super::request::Request;
use super::response::Response;
use super::static_files::{self, Resolved};
use super::web_server::{LogLevel, ServerShared};
use crate::routing::Resolution;

/// Runs user code; a panic becomes a 500 answer, logged.
fn guarded(
    shared: &ServerShared,
    response: &mut Response,
    what: &str,
    f: impl FnOnce(&mut Response),
) {
    if catch_unwind(AssertUnwindSafe(|| f(response))).is_err() {
        shared.log(
            LogLevel::Error,
            format_args!("{what} panicked; answering 500"),
        );
        *response = Response::new();
        response.return_internal_server_error();
    }
}

/// Answers `request`; `request.args` is filled when a route matches.
pub(crate) fn answer<'a>(shared: &'a ServerShared, request: &mut Request<'a>) -> Response {
    let mut response = Response::new();
    let config = &shared.config;

    if config.cors_allow_all && is_cors_preflight(request) {
        answer_preflight(request, &mut response);
    }
    for hook in &shared.hooks.before {
        if response.is_answered() {
            break;
        }
        guarded(shared, &mut response, "a before_request hook", |r| {
            hook(request, r)
        });
    }
    for module in &shared.modules {
        if response.is_answered() {
            break;
        }
        guarded(shared, &mut response, module.name(), |r| {
            module.on_request(request, r);
        });
    }
    if !response.is_answered() {
        route_or_static(shared, request, &mut response);
    }
    for module in &shared.modules {
        guarded(shared, &mut response, module.name(), |r| {
            module.on_response(request, r);
        });
    }

    if response.status().is_client_error() || response.status().is_server_error() {
        let status = response.status();
        if let Some((_, handler)) = shared.hooks.on_error.iter().find(|(s, _)| *s == status) {
            guarded(shared, &mut response, "an error handler", |r| {
                handler(request, r)
            });
        }
    }
    for hook in &shared.hooks.after {
        guarded(shared, &mut response, "an after_request hook", |r| {
            hook(request, r)
        });
    }
    if config.allow_all_origins && response.access_control_allow_origin().is_none() {
        response.access_control_allow_origin = Some(Cow::Borrowed("*"));
    }
    response
}

fn route_or_static<'a>(
    shared: &'a ServerShared,
    request: &mut Request<'a>,
    response: &mut Response,
) {
    let raw_path = request.raw_path();
    match shared.routes.router.resolve(request.method(), raw_path) {
        Resolution::Found(found) => {
            let handler = found.handler;
            request.args = found.args;
            guarded(shared, response, "a route handler", |r| {
                handler.call(request, r)
            });
        }
        Resolution::MethodNotAllowed { allow } => {
            response.return_method_not_allowed();
            let _ = response.set_header("Allow", allow.to_string());
        }
        Resolution::NotFound => serve_static(shared, request, response),
    }
}

fn serve_static(shared: &ServerShared, request: &Request<'_>, response: &mut Response) {
    let config = &shared.config;
    let is_get = matches!(*request.method(), Method::GET | Method::HEAD);
    match static_files::resolve(&config.root_path, request.path()) {
        Resolved::File(path) if is_get => {
            static_files::answer_file(&config.root_path, request, response, &path);
        }
        Resolved::File(_) => {
            response.return_method_not_allowed();
            let _ = response.set_header("Allow", "GET, HEAD");
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

fn is_cors_preflight(request: &Request<'_>) -> bool {
    *request.method() == Method::OPTIONS
        && request
            .get_header("access-control-request-method")
            .is_some()
}

/// Answers a CORS preflight as MicroWebSrv2's `CORSAllowAll` did: everything asked is allowed.
fn answer_preflight(request: &Request<'_>, response: &mut Response) {
    response.return_(StatusCode::NO_CONTENT, ());
    response.content_type = None;
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

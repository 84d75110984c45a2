//! The Templates module: the server side of the engine (MicroWebSrv2's `PyhtmlTemplate`).
//!
//! In scope: serving template pages by URL without a route, rendering the template a route
//! handler asked for with [`TemplateResponseExt::return_template`], pre-compiling the folder at start, and
//! turning template errors into answers (a plain 500, or the debug page with `show_debug` on).
//! Out of scope: the language, the cache and the render itself (the engine in this folder), and
//! sending bytes (the connection does that).
//!
//! # Which URLs are template pages
//!
//! A `GET` or `HEAD` whose path names a file of the templates folder with a template extension
//! (`.html` and `.htm` by default, see [`TemplateConfig::extensions`]): `/test.html` renders
//! `templates/test.html`, `/a/b.htm` renders `templates/a/b.htm`. A path ending in `/` renders
//! that folder's `index.html` of the templates folder, when there is one. Partials (a file name
//! starting with `_`, such as `_header.html`) are never served on their own. The module sees the
//! request before the routes and the static files, so a template page shadows a route or a
//! static file of the same path; a path with no template file falls through to them (and to the
//! 404). Other methods always fall through.
//!
//! # Rendering and memory
//!
//! A page is rendered into the response slot by slot ([`Templates::start_render`], pulled with
//! [`RenderStream::fill`]). The module renders the first slot's worth (one buffer slot) before
//! answering: a page that ends within it is answered with a `Content-Length`, and a runtime error
//! there answers 500 (or the debug page). A longer page is answered with a chunked
//! [`Body::Reader`] whose reads resume the render one slot at a time: the reader holds the render
//! state (the stack of open blocks, loop positions and locals, the page data; the compiled
//! template is shared), never the page, so a page larger than a slot costs no extra memory. A
//! runtime error once the first slot has left is logged and fails the read: the connection
//! closes without the last chunk, so the client sees an incomplete page, never a truncated page
//! that looks complete.
//!
//! [`TemplatesModule::max_page_bytes`] (by default the server's `max_request_content_length`)
//! bounds the page size: a page over it answers 500 when that is known before anything left (a
//! bound below one slot), and is cut like a failed render otherwise.
//!
//! # `after` blocks
//!
//! They run once the page has been sent (from the response's `on_sent` callback, after any
//! callback the handler set); a streamed page hands them over when its render ends, and a page
//! cut by an error runs none. A `HEAD` request sends no page, so its `after` blocks do not run.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use ::http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::{AfterWork, RenderStream, Template, TemplateConfig, TemplateError, Templates};
use crate::config::Preset;
use crate::module::{Module, ServerInfo};
use crate::server::{Body, Request, Response};

/// The body a [`TemplateResponseExt::return_template`] answer carries until the module renders
/// it: what the client gets when no Templates module is loaded.
static NOT_RENDERED: &[u8] = b"<!doctype html>\n<html><head><title>500 Internal Server Error\
</title></head><body><h1>500 Internal Server Error</h1><p>No Templates module is loaded to \
render this page.</p></body></html>\n";

/// The Templates module: serves template pages by URL and renders the templates route handlers
/// ask for. Load it with `server.load_module("Templates")` (or MicroWebSrv2's name
/// `"PyhtmlTemplate"`), then configure it through the handle:
///
/// ```no_run
/// use microweb::{Method, TemplateResponseExt, TemplatesModule, WebServer};
/// use serde_json::json;
///
/// let mut server = WebServer::new();
/// server.set_templates_path("templates");
/// let templates = server.load_module("Templates")?;
/// if let Some(t) = templates.downcast::<TemplatesModule>() {
///     t.set_global_var("site_name", json!("demo"));
///     t.show_debug(true);
/// }
/// server.route(Method::GET, "/hello/<name>", |_req, resp| {
///     resp.return_template("hello.html", json!({"greeting": "Hello"}));
/// })?;
/// server.start_managed(2, None)?;
/// server.wait();
/// # Ok::<(), microweb::Error>(())
/// ```
#[derive(Debug)]
pub struct TemplatesModule {
    templates: Templates,
    /// INVARIANT: at least 1; a page over it answers 500 or is cut (see the module docs).
    max_page_bytes: AtomicUsize,
    /// How much of a page is rendered before answering (one buffer slot): a page that ends
    /// within it gets a `Content-Length`, a longer one streams.
    first_capacity: usize,
}

impl TemplatesModule {
    /// Creates the module over an engine (the engine's folder is the templates folder), with a
    /// page bound of 2 MiB (the Normal preset's body bound).
    #[must_use]
    pub fn new(templates: Templates) -> TemplatesModule {
        TemplatesModule {
            templates,
            max_page_bytes: AtomicUsize::new(2 * 1024 * 1024),
            first_capacity: 4096,
        }
    }

    /// Creates the module as `load_module` does: over the server's `templates_path`, with the
    /// engine limits of the preset whose slot figures the server has (Normal's otherwise), and
    /// pages bounded by its `max_request_content_length`.
    #[must_use]
    pub fn for_server(server: &ServerInfo) -> TemplatesModule {
        let preset = [
            Preset::Embedded,
            Preset::Light,
            Preset::Normal,
            Preset::Large,
        ]
        .into_iter()
        .find(|p| {
            let f = p.figures();
            f.buffer_slots_count == server.buffer_slots_count
                && f.buffer_slot_size == server.buffer_slot_size
        })
        .unwrap_or(Preset::Normal);
        let templates = Templates::with_config(
            server.templates_path.clone(),
            TemplateConfig::for_preset(preset),
        );
        let max = usize::try_from(server.max_request_content_length).unwrap_or(usize::MAX);
        TemplatesModule {
            templates,
            max_page_bytes: AtomicUsize::new(max.max(server.buffer_slot_size).max(1)),
            first_capacity: server.buffer_slot_size.max(256),
        }
    }

    /// Returns the engine (its folder, cache, config and `render_*` methods).
    #[must_use]
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Defines a global variable visible to every page (MicroWebSrv2's `SetGlobalVar`).
    pub fn set_global_var(&self, name: &str, value: Value) {
        self.templates.set_global_var(name, value);
    }

    /// Returns a global variable (MicroWebSrv2's `GetGlobalVar`).
    #[must_use]
    pub fn get_global_var(&self, name: &str) -> Option<Value> {
        self.templates.get_global_var(name)
    }

    /// Switches the debug page on or off (MicroWebSrv2's `ShowDebug`): on, a failed page answers
    /// 500 with the error, its location and the source line (escaped); off, a plain 500, and the
    /// details go to the log either way.
    pub fn show_debug(&self, on: bool) {
        self.templates.show_debug(on);
    }

    /// Returns whether the debug page is on.
    #[must_use]
    pub fn is_show_debug(&self) -> bool {
        self.templates.is_show_debug()
    }

    /// Registers a function callable from templates (see [`Templates::register_function`]).
    pub fn register_function<F>(&self, name: &str, f: F)
    where
        F: Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.templates.register_function(name, f);
    }

    /// Returns the largest page rendered, in bytes; a larger page answers 500, or is cut (the
    /// connection closes) when part of it has already left.
    #[must_use]
    pub fn max_page_bytes(&self) -> usize {
        self.max_page_bytes.load(Ordering::Relaxed)
    }

    /// Sets the largest page rendered, in bytes (at least 1). It bounds the page's size, not
    /// memory: a page never holds more than one slot of itself.
    pub fn set_max_page_bytes(&self, bytes: usize) {
        self.max_page_bytes.store(bytes.max(1), Ordering::Relaxed);
    }

    /// Returns the template a URL path names, if it is a template page path.
    fn page_name(&self, path: &str) -> Option<String> {
        if path.ends_with('/') {
            let index = format!("{path}index.html");
            return self.templates.is_template_path(&index).then_some(index);
        }
        self.templates
            .is_template_path(path)
            .then(|| path.to_owned())
    }

    /// Renders `template` and answers with it, or with the error: the first slot's worth is
    /// rendered here; a page that ends within it is answered with a `Content-Length`, a longer
    /// one streams (chunked) from a [`PageReader`] holding the render state.
    fn render_answer(
        &self,
        request: &Request<'_>,
        response: &mut Response,
        template: &Arc<Template>,
        context: Value,
    ) {
        let max = self.max_page_bytes();
        let mut stream = self.templates.start_render(
            Arc::clone(template),
            context,
            request.args().to_json(),
            request.to_json(),
        );
        // One byte past the bound tells a page over it from a page of exactly `max` bytes.
        let first_len = self.first_capacity.min(max.saturating_add(1)).max(1);
        let mut first = vec![0; first_len];
        let mut len = 0;
        let mut complete = false;
        while len < first.len() {
            match stream.fill(first.get_mut(len..).unwrap_or_default()) {
                Ok(0) => {
                    complete = true;
                    break;
                }
                Ok(n) => len += n,
                // Nothing has been sent: the client gets a whole error answer.
                Err(e) => return self.fail(response, &e),
            }
        }
        if len > max {
            let message = format!(
                "{}: the page is larger than {max} bytes (the Templates module's max_page_bytes)",
                template.name()
            );
            log::error!("{message}");
            if self.templates.is_show_debug() {
                response.return_error_page(StatusCode::INTERNAL_SERVER_ERROR, Some(&message));
            } else {
                response.return_internal_server_error();
            }
            return;
        }
        let run_after = *request.method() != Method::HEAD;
        if complete {
            first.truncate(len);
            response.return_(StatusCode::OK, Body::Bytes(first));
            let after = stream.into_after_work();
            if !after.is_empty() && run_after {
                chain_after(response, move || Some(after));
            }
            return;
        }
        // The `after` blocks are known once the last byte is rendered: the reader leaves them
        // here for the `on_sent` callback (which the connection calls only for a page sent whole).
        let after: Arc<Mutex<Option<AfterWork>>> = Arc::new(Mutex::new(None));
        let reader = PageReader {
            name: template.name().to_owned(),
            first,
            first_at: 0,
            stream: Some(stream),
            sent: len,
            max,
            after: Arc::clone(&after),
        };
        response.return_(
            StatusCode::OK,
            Body::Reader {
                reader: Box::new(reader),
                len: None,
            },
        );
        if run_after {
            chain_after(response, move || after.lock().take());
        }
    }

    /// Answers a template error: the debug page when `show_debug` is on, a plain 500 otherwise;
    /// the details go to the log.
    fn fail(&self, response: &mut Response, error: &TemplateError) {
        log::error!("{error:#}");
        if self.templates.is_show_debug() {
            // The debug page is HTML, whatever type the handler had set.
            let _ = response.set_content_type("text/html; charset=utf-8");
            response.return_(
                StatusCode::INTERNAL_SERVER_ERROR,
                Body::Bytes(error.debug_html().into_bytes()),
            );
        } else {
            response.return_internal_server_error();
        }
    }
}

impl Module for TemplatesModule {
    fn name(&self) -> &'static str {
        "Templates"
    }

    /// Pre-compiles every template of the folder and logs each error found; broken pages will
    /// answer 500, the others are served.
    fn on_start(&self, _server: &ServerInfo) {
        let folder = self.templates.folder();
        if !folder.is_dir() {
            log::warn!(
                "templates folder {} not found: no template pages are served",
                folder.display()
            );
            return;
        }
        let errors = self.templates.precompile_all();
        for e in &errors {
            log::error!("{e:#}");
        }
        if errors.is_empty() {
            log::info!("templates in {} compiled", folder.display());
        } else {
            log::error!(
                "{} template error(s) in {}: those pages answer 500",
                errors.len(),
                folder.display()
            );
        }
    }

    /// Answers a `GET` or `HEAD` of a template page path whose file exists.
    fn on_request(&self, request: &Request<'_>, response: &mut Response) {
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return;
        }
        let Some(name) = self.page_name(request.path()) else {
            return;
        };
        match self.templates.load(&name) {
            Ok(template) => {
                let context = Value::Object(Map::new());
                self.render_answer(request, response, &template, context);
            }
            // No such page: the routes, the static files or the 404 answer.
            Err(e) if e.is_not_found() => {}
            Err(e) => self.fail(response, &e),
        }
    }

    /// Renders the template a handler asked for with [`TemplateResponseExt::return_template`],
    /// unless the handler answered something else afterwards (a new answer drops the request).
    fn on_response(&self, request: &Request<'_>, response: &mut Response) {
        let Some(pending) = response.extensions_mut().remove::<PendingTemplate>() else {
            return;
        };
        match self.templates.load(&pending.name) {
            Ok(template) => self.render_answer(request, response, &template, pending.context),
            // A handler naming a missing template is a server error, not the client's 404.
            Err(e) => self.fail(response, &e),
        }
    }
}

/// The template a handler asked for, kept in the response's extensions until the module renders
/// it; any later answer drops it (see [`Response::extensions`]).
#[derive(Debug, Clone)]
struct PendingTemplate {
    name: String,
    context: Value,
}

/// Answers with a template from a route handler: adds `return_template` to [`Response`]. Bring
/// it into scope with `use microweb::TemplateResponseExt;`.
pub trait TemplateResponseExt {
    /// Answers 200 with the template `name` (a path under the templates folder, partials
    /// included) rendered with `context`, after the route args, the global vars and `request`
    /// (MicroWebSrv2's `PyhtmlTemplate` render, from a handler).
    ///
    /// The Templates module renders the page once the handler returns; a later `return_*` call
    /// replaces this answer. A template error answers 500 (or the debug page with `show_debug`
    /// on), and so does a server without a Templates module loaded. A content type set before
    /// is kept (`text/html; charset=utf-8` otherwise). Not for a deferred response: the module
    /// does not see those.
    fn return_template(&mut self, name: &str, context: Value);
}

impl TemplateResponseExt for Response {
    fn return_template(&mut self, name: &str, context: Value) {
        self.return_(
            StatusCode::INTERNAL_SERVER_ERROR,
            Body::Static(NOT_RENDERED),
        );
        self.extensions_mut().insert(PendingTemplate {
            name: name.to_owned(),
            context,
        });
    }
}

/// Runs the `after` blocks `take` returns once the page has been sent, after any `on_sent`
/// callback the handler set.
fn chain_after(response: &mut Response, take: impl FnOnce() -> Option<AfterWork> + Send + 'static) {
    let earlier = response.take_on_sent();
    response.on_sent(move || {
        if let Some(callback) = earlier {
            callback();
        }
        if let Some(after) = take() {
            if let Err(e) = after.run() {
                log::warn!("an after block failed: {e:#}");
            }
        }
    });
}

/// The body of a page longer than one slot: the first slot rendered before answering, then the
/// render itself, pulled one slot at a time by the connection. It holds the render state, never
/// the page.
struct PageReader {
    name: String,
    /// The bytes rendered before answering, sent first (freed once sent).
    first: Vec<u8>,
    first_at: usize,
    /// `None` once the page is complete.
    stream: Option<RenderStream>,
    /// Bytes rendered so far, against `max`.
    sent: usize,
    max: usize,
    after: Arc<Mutex<Option<AfterWork>>>,
}

impl Read for PageReader {
    /// Reads the next bytes of the page. A render error (or a page over `max_page_bytes`) is an
    /// I/O error: the connection then closes without the last chunk, so the client sees an
    /// incomplete page rather than a truncated one that looks complete.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(rest) = self.first.get(self.first_at..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.first_at += n;
            if self.first_at == self.first.len() {
                self.first = Vec::new();
                self.first_at = 0;
            }
            return Ok(n);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        match stream.fill(buf) {
            Ok(0) => {
                if let Some(stream) = self.stream.take() {
                    *self.after.lock() = Some(stream.into_after_work());
                }
                Ok(0)
            }
            Ok(n) => {
                self.sent = self.sent.saturating_add(n);
                if self.sent > self.max {
                    self.stream = None;
                    let message = format!(
                        "{}: the page is larger than {} bytes (the Templates module's max_page_bytes)",
                        self.name, self.max
                    );
                    log::error!("{message}; closing the connection");
                    return Err(io::Error::other(message));
                }
                Ok(n)
            }
            Err(e) => {
                self.stream = None;
                log::error!("{e:#}; the page was partly sent, closing the connection");
                Err(io::Error::other(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestRequest;
    use serde_json::json;

    fn module() -> Arc<TemplatesModule> {
        let t = Templates::new("no-such-folder");
        t.add_template("page.html", "<p><< greeting >>, << name >>!</p>")
            .unwrap();
        t.add_template(
            "big.html",
            "<< for i in range(0, 100) >>0123456789<< end >>",
        )
        .unwrap();
        Arc::new(TemplatesModule::new(t))
    }

    #[test]
    fn return_template_renders_with_context_and_route_args() {
        let m = module();
        let m2 = Arc::clone(&m);
        let response = TestRequest::new(Method::GET, "/hi/ann")
            .route("/hi/<name>")
            .run(move |req, resp| {
                resp.return_template("page.html", json!({"greeting": "Hello"}));
                m2.on_response(req, resp);
            });
        assert_eq!(response.status(), StatusCode::OK);
        assert!(matches!(response.body(), Body::Bytes(b) if b == b"<p>Hello, ann!</p>"));
    }

    #[test]
    fn a_later_answer_replaces_the_template() {
        let m = module();
        let response = TestRequest::new(Method::GET, "/x").run(move |req, resp| {
            resp.return_template("page.html", json!({}));
            resp.return_ok("plain");
            m.on_response(req, resp);
        });
        assert_eq!(response.status(), StatusCode::OK);
        assert!(matches!(response.body(), Body::Static(b) if b == b"plain"));
    }

    #[test]
    fn without_the_module_return_template_answers_500() {
        let response = TestRequest::new(Method::GET, "/x").run(|_req, resp| {
            resp.return_template("page.html", json!({}));
        });
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_page_over_the_bound_answers_500() {
        let m = module();
        m.set_max_page_bytes(999);
        let response = TestRequest::new(Method::GET, "/x").run(move |req, resp| {
            resp.return_template("big.html", json!({}));
            m.on_response(req, resp);
        });
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

//! The templates module: the `<< >>` template language, parsed with nom into an AST once, cached
//! by path and modification time, and rendered either straight into a [`RenderSink`] or pulled
//! slot by slot through a [`RenderStream`]. The language reference, with an example of every
//! instruction, expression, filter and error, is `docs/templates.md` in the repository.
//!
//! In scope: the [`Templates`] engine (folder, cache, global vars, registered functions, the
//! `show_debug` switch, limits), [`Template`] (a compiled page), rendering with fuel and an
//! include depth bound, [`RenderStream`] (a resumable render that owns its page data and writes
//! at most one buffer's worth per call), [`AfterWork`] (the `after` blocks a render reached), and
//! the sinks a page can be written through. Out of scope: HTTP. The server decides which URLs are
//! templates with [`Templates::is_template_path`], answers 404 for [`ErrorKind::NotFound`], 500
//! (or [`TemplateError::debug_html`] when [`Templates::is_show_debug`]) for an error before the
//! first byte left, and closes the connection for an error after it (see [`TemplatesModule`]).
//!
//! # Which files are templates
//!
//! Files under the templates folder (the binary's `--templates DIR`, default `templates/`) whose
//! name ends in one of [`TemplateConfig::extensions`] (default `.html` and `.htm`). A URL path
//! `/a/b.html` names the template `a/b.html`. A file whose name starts with `_` (such as
//! `_header.html`) is a partial: it can be included, but [`Templates::is_template_path`] says no
//! to it, so it is never served on its own.
//!
//! # Language decisions (each also in `docs/templates.md`)
//!
//! - `<< null >>` prints nothing; bools print `true`/`false`; arrays and objects print as compact
//!   JSON (escaped like any other text). `<< x | escape >>` is not escaped a second time.
//! - `a / b` on two integers stays an integer when exact (`8 / 2` is `4`), otherwise it is a float
//!   (`7 / 2` is `3.5`); `%` takes the sign of the divisor, as in Python; integer overflow is an
//!   error. `1 == 1.0`. `or`/`and` return the deciding operand, as in Python.
//! - `a.key` on a missing key, `a[i]` past the end, and `a.key` on `null` are errors, which
//!   `default` replaces by its fallback (as it does an unknown name, or `null`); `default` lets any
//!   other error through.
//! - A name first set inside a `for` body lives for one iteration; assigning a name that already
//!   exists updates it, so `<< set total = total + x >>` accumulates. `for k, v in array` gives the
//!   index and the item. An `include` sees the includer's locals; its own `set`s stay inside it.
//! - In `after` blocks assignments write global vars (`hits += 1` is atomic per statement).
//! - Reserved words (not usable as names): `or and not in true false null if elif else end for
//!   set code after include raw`. Words of other template languages (`endif`, `py`, `foreach`, …)
//!   are reported as unknown instructions.
//! - The text of a `code`/`after` block may not contain `<<` (it would start a tag).
//!
//! # Example
//!
//! ```
//! use microweb::mods::templates::Templates;
//! use serde_json::json;
//!
//! let templates = Templates::new("templates");
//! templates.add_template("hello.html", "<p>Hello << name | upper >>!</p>").unwrap();
//! templates.set_global_var("site", json!("demo"));
//! let page = templates
//!     .render_to_string("hello.html", &json!({"name": "<ann>"}), &json!({}))
//!     .unwrap();
//! assert_eq!(page, "<p>Hello &lt;ANN&gt;!</p>");
//! ```

mod after;
mod ast;
mod builtins;
mod env;
mod error;
mod eval;
mod module;
mod parse;
mod print;
mod scan;
mod scope;
mod sink;
mod stream;
mod value;
mod walk;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use parking_lot::RwLock;
use serde_json::{Map, Value};

pub use after::AfterWork;
// The syntax tree is the engine's own; it is public only for the tests that print it.
#[doc(hidden)]
pub use ast::{
    AssignOp, BinaryOp, Branch, Callee, Expr, ExprKind, Ident, Node, Span, Stmt, UnaryOp,
};
pub use builtins::Builtin;
pub use error::{ErrorKind, SinkError, TemplateError};
pub use module::{TemplateResponseExt, TemplatesModule};
pub use sink::{RenderSink, SlotSink};
pub use stream::RenderStream;

use env::{Env, Function, Functions};
use walk::Walker;

/// The context, route args and `request` of a render, borrowed or owned.
type PageValues<'a> = (Cow<'a, Value>, Cow<'a, Value>, Cow<'a, Value>);

/// The bound on block and expression nesting in a template.
pub const MAX_DEPTH: u32 = parse::MAX_DEPTH;

/// A compiled template: its name, its source and the node tree parsed from it.
#[derive(Debug)]
pub struct Template {
    name: Arc<str>,
    source: Arc<str>,
    nodes: Vec<Node>,
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    ///
    /// A [`TemplateError`] naming the line and column and what was expected.
    pub fn parse(name: &str, source: &str) -> Result<Template, TemplateError> {
        let name: Arc<str> = Arc::from(name);
        let source: Arc<str> = Arc::from(source);
        let nodes = parse::parse_template(&name, &source)?;
        Ok(Template {
            name,
            source,
            nodes,
        })
    }

    /// Returns the template's name (its path under the templates folder).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the template's source text.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Returns the node tree.
    #[must_use]
    #[doc(hidden)]
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
}

/// The engine's limits and the file extensions that are templates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TemplateConfig {
    /// The render budget: each node, loop iteration and function call costs one step, building
    /// strings one per 64 bytes, `range` one per item. Default 1 000 000 (Normal preset): a page
    /// of several thousand table rows, while a runaway loop stops in milliseconds.
    pub fuel: u64,
    /// How deep `include`s may nest. Default 8: enough for layout → section → widget, and a
    /// template including itself stops quickly.
    pub max_include_depth: u32,
    /// The file extensions (with the dot) that are templates. Default `.html` and `.htm`.
    pub extensions: Vec<String>,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        TemplateConfig::for_preset(crate::Preset::Normal)
    }
}

impl TemplateConfig {
    /// Returns the limits that suit a sizing preset.
    #[must_use]
    pub fn for_preset(preset: crate::Preset) -> Self {
        let (fuel, max_include_depth) = match preset {
            crate::Preset::Embedded => (50_000, 4),
            crate::Preset::Light => (200_000, 6),
            crate::Preset::Large => (10_000_000, 16),
            _ => (1_000_000, 8),
        };
        TemplateConfig {
            fuel,
            max_include_depth,
            extensions: vec![".html".to_owned(), ".htm".to_owned()],
        }
    }

    /// Sets the render budget.
    #[must_use]
    pub fn with_fuel(mut self, fuel: u64) -> Self {
        self.fuel = fuel;
        self
    }

    /// Sets the include depth bound.
    #[must_use]
    pub fn with_max_include_depth(mut self, depth: u32) -> Self {
        self.max_include_depth = depth;
        self
    }

    /// Sets the file extensions that are templates (each with its dot, such as `.html`).
    #[must_use]
    pub fn with_extensions(mut self, extensions: &[&str]) -> Self {
        self.extensions = extensions.iter().map(|e| (*e).to_owned()).collect();
        self
    }
}

/// The engine: a templates folder, the cache of compiled templates, global vars, registered
/// functions and the `show_debug` switch. Cloning it is cheap and clones share everything; it is
/// `Send + Sync`, so every worker can render through the same engine.
#[derive(Clone)]
pub struct Templates {
    inner: Arc<Shared>,
}

struct Shared {
    folder: PathBuf,
    config: TemplateConfig,
    cache: RwLock<HashMap<String, Cached>>,
    globals: RwLock<Arc<Map<String, Value>>>,
    functions: RwLock<Arc<Functions>>,
    show_debug: AtomicBool,
}

struct Cached {
    /// The compiled template, or its parse error: a broken page is not re-parsed on every
    /// request, only when its file changes.
    template: Result<Arc<Template>, TemplateError>,
    /// `None` for templates added from memory, which never change.
    stamp: Option<(SystemTime, u64)>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("folder", &self.inner.folder)
            .field("config", &self.inner.config)
            .field("cached", &self.inner.cache.read().len())
            .field("show_debug", &self.is_show_debug())
            .finish()
    }
}

/// The data a page is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct PageData<'a> {
    /// The page context, looked up first.
    pub context: &'a Value,
    /// The route arguments, looked up after the context.
    pub args: &'a Value,
    /// The `request` object (method, path, query, headers, cookies, user_address, is_ssl).
    pub request: &'a Value,
}

static EMPTY: Value = Value::Null;

impl<'a> PageData<'a> {
    /// Creates page data with a context only (no route args, an empty `request`).
    #[must_use]
    pub fn new(context: &'a Value) -> Self {
        PageData {
            context,
            args: &EMPTY,
            request: &EMPTY,
        }
    }

    /// Sets the route arguments (an object).
    #[must_use]
    pub fn with_args(mut self, args: &'a Value) -> Self {
        self.args = args;
        self
    }

    /// Sets the `request` object.
    #[must_use]
    pub fn with_request(mut self, request: &'a Value) -> Self {
        self.request = request;
        self
    }
}

impl Templates {
    /// Creates an engine over a templates folder, with the default (Normal preset) config.
    #[must_use]
    pub fn new(folder: impl Into<PathBuf>) -> Templates {
        Templates::with_config(folder, TemplateConfig::default())
    }

    /// Creates an engine over a templates folder with the given config.
    #[must_use]
    pub fn with_config(folder: impl Into<PathBuf>, config: TemplateConfig) -> Templates {
        Templates {
            inner: Arc::new(Shared {
                folder: folder.into(),
                config,
                cache: RwLock::new(HashMap::new()),
                globals: RwLock::new(Arc::new(Map::new())),
                functions: RwLock::new(Arc::new(HashMap::new())),
                show_debug: AtomicBool::new(false),
            }),
        }
    }

    /// Returns the templates folder.
    #[must_use]
    pub fn folder(&self) -> &Path {
        &self.inner.folder
    }

    /// Returns the config.
    #[must_use]
    pub fn config(&self) -> &TemplateConfig {
        &self.inner.config
    }

    /// Defines a global variable visible to every page (after the context and route args).
    pub fn set_global_var(&self, name: &str, value: Value) {
        let mut guard = self.inner.globals.write();
        Arc::make_mut(&mut guard).insert(name.to_owned(), value);
    }

    /// Returns a global variable.
    #[must_use]
    pub fn get_global_var(&self, name: &str) -> Option<Value> {
        self.inner.globals.read().get(name).cloned()
    }

    /// Switches the debug page on or off: with it on, the server answers a failed page with
    /// [`TemplateError::debug_html`] instead of a plain 500. The engine itself renders the same.
    pub fn show_debug(&self, on: bool) {
        self.inner.show_debug.store(on, Ordering::Relaxed);
    }

    /// Returns whether the debug page is on.
    #[must_use]
    pub fn is_show_debug(&self) -> bool {
        self.inner.show_debug.load(Ordering::Relaxed)
    }

    /// Registers a function callable from templates as `name(args…)` or `x | name(args…)` (the
    /// piped value comes first). Built-in names cannot be replaced: a built-in of that name wins.
    pub fn register_function<F>(&self, name: &str, f: F)
    where
        F: Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    {
        let f: Function = Arc::new(f);
        let mut guard = self.inner.functions.write();
        Arc::make_mut(&mut guard).insert(name.to_owned(), f);
    }

    /// Returns whether a URL path names a template: its extension is one of the configured ones,
    /// it stays inside the folder, and its file name does not start with `_` (partials are only
    /// included). The file may still not exist: rendering then fails with [`ErrorKind::NotFound`].
    #[must_use]
    pub fn is_template_path(&self, path: &str) -> bool {
        let Some(name) = normalize(path) else {
            return false;
        };
        let file = name.rsplit('/').next().unwrap_or(name);
        !file.starts_with('_') && self.has_template_extension(file)
    }

    fn has_template_extension(&self, file: &str) -> bool {
        self.inner.config.extensions.iter().any(|ext| {
            file.len() > ext.len()
                && file
                    .get(file.len() - ext.len()..)
                    .is_some_and(|e| e.eq_ignore_ascii_case(ext))
        })
    }

    /// Adds a template from memory under `name`; it is never re-read from disk.
    ///
    /// # Errors
    ///
    /// The parse error, if any (nothing is added then).
    pub fn add_template(&self, name: &str, source: &str) -> Result<Arc<Template>, TemplateError> {
        let Some(key) = normalize(name) else {
            return Err(TemplateError::unlocated(ErrorKind::InvalidName, name));
        };
        let template = Arc::new(Template::parse(key, source)?);
        self.inner.cache.write().insert(
            key.to_owned(),
            Cached {
                template: Ok(Arc::clone(&template)),
                stamp: None,
            },
        );
        Ok(template)
    }

    /// Returns the compiled template `name`, parsing it if it is not cached or if its file
    /// changed (modification time or size) since it was parsed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`], [`ErrorKind::NotFound`], [`ErrorKind::Io`] or the parse error.
    pub fn load(&self, name: &str) -> Result<Arc<Template>, TemplateError> {
        let Some(key) = normalize(name) else {
            return Err(TemplateError::unlocated(ErrorKind::InvalidName, name));
        };
        let memory = self
            .inner
            .cache
            .read()
            .get(key)
            .and_then(|c| match c.stamp {
                None => Some(c.template.clone()),
                Some(_) => None,
            });
        if let Some(t) = memory {
            return t;
        }
        let path = self.inner.folder.join(key);
        let not_found = || {
            // A deleted file leaves the cache too; a name that was never there (a 404 flood)
            // takes no write lock.
            if self.inner.cache.read().contains_key(key) {
                self.inner.cache.write().remove(key);
            }
            TemplateError::unlocated(ErrorKind::NotFound, key)
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Err(not_found()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => {
                return Err(TemplateError::unlocated(
                    ErrorKind::Io(e.to_string().into()),
                    key,
                ));
            }
        };
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if let Some(c) = self.inner.cache.read().get(key) {
            if c.stamp == Some(stamp) {
                return c.template.clone();
            }
        }
        let source = std::fs::read_to_string(&path)
            .map_err(|e| TemplateError::unlocated(ErrorKind::Io(e.to_string().into()), key))?;
        let template = Template::parse(key, &source).map(Arc::new);
        match &template {
            Ok(_) => log::debug!("template {key} compiled"),
            Err(e) => log::warn!("{e}"),
        }
        self.inner.cache.write().insert(
            key.to_owned(),
            Cached {
                template: template.clone(),
                stamp: Some(stamp),
            },
        );
        template
    }

    /// Compiles every template in the folder (recursively), so errors show at start-up; returns
    /// every error found. Partials (`_name.html`) are compiled too.
    #[must_use]
    pub fn precompile_all(&self) -> Vec<TemplateError> {
        let mut errors = Vec::new();
        let mut dirs = vec![(self.inner.folder.clone(), String::new())];
        while let Some((dir, prefix)) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) => {
                    let name = dir.display().to_string();
                    errors.push(TemplateError::unlocated(
                        ErrorKind::Io(e.to_string().into()),
                        &name,
                    ));
                    continue;
                }
            };
            let mut names: Vec<_> = entries.flatten().collect();
            names.sort_by_key(std::fs::DirEntry::file_name);
            for entry in names {
                let Ok(file) = entry.file_name().into_string() else {
                    continue;
                };
                let rel = format!("{prefix}{file}");
                match entry.file_type() {
                    Ok(t) if t.is_dir() => dirs.push((entry.path(), format!("{rel}/"))),
                    Ok(t) if t.is_file() && self.has_template_extension(&file) => {
                        if let Err(e) = self.load(&rel) {
                            errors.push(e);
                        }
                    }
                    _ => {}
                }
            }
        }
        errors
    }

    /// Renders the template `name` into `out` with a page context and the `request` object.
    ///
    /// # Errors
    ///
    /// A loading, parse or runtime error, or [`ErrorKind::Sink`]. Check [`RenderSink::has_sent`]
    /// to know whether part of the page already left.
    pub fn render(
        &self,
        name: &str,
        context: &Value,
        request: &Value,
        out: &mut dyn RenderSink,
    ) -> Result<AfterWork, TemplateError> {
        self.render_page(name, PageData::new(context).with_request(request), out)
    }

    /// Renders the template `name` into `out` with the page data (context, route args, request).
    ///
    /// # Errors
    ///
    /// As [`Templates::render`].
    pub fn render_page(
        &self,
        name: &str,
        page: PageData<'_>,
        out: &mut dyn RenderSink,
    ) -> Result<AfterWork, TemplateError> {
        let template = self.load(name)?;
        self.render_template(&template, page, out)
    }

    /// Renders a compiled template (from [`Templates::load`] or [`Templates::add_template`]).
    ///
    /// # Errors
    ///
    /// A runtime error or [`ErrorKind::Sink`].
    pub fn render_template(
        &self,
        template: &Arc<Template>,
        page: PageData<'_>,
        out: &mut dyn RenderSink,
    ) -> Result<AfterWork, TemplateError> {
        let env = self.env((
            Cow::Borrowed(page.context),
            Cow::Borrowed(page.args),
            Cow::Borrowed(page.request),
        ));
        let mut walker = Walker::new(env, Arc::clone(template));
        walker.run_to_end(out)?;
        let (jobs, env) = walker.into_after();
        Ok(AfterWork::new(jobs, &self.inner, env))
    }

    /// Returns the environment of a render over this engine's globals, functions and limits.
    fn env<'a>(&self, (context, args, request): PageValues<'a>) -> Env<'a> {
        Env::new(
            (context, args, request),
            Arc::clone(&self.inner.globals.read()),
            Arc::clone(&self.inner.functions.read()),
            Some(self.clone()),
            self.inner.config.max_include_depth,
            self.inner.config.fuel,
        )
    }

    /// Starts a render of a compiled template that the caller pulls slot by slot with
    /// [`RenderStream::fill`]: the stream owns the page data and shares the template, so it can
    /// outlive the call (a response body) and never holds more of the page than one piece.
    ///
    /// `context` is looked up first, then `args` (route arguments, an object), and `request` is
    /// the `request` object. Fuel, the include depth bound, escaping and `after` blocks work as in
    /// [`Templates::render_template`]; the `after` blocks come from
    /// [`RenderStream::into_after_work`] once the page is complete.
    #[must_use]
    pub fn start_render(
        &self,
        template: Arc<Template>,
        context: Value,
        args: Value,
        request: Value,
    ) -> RenderStream {
        let env = self.env((Cow::Owned(context), Cow::Owned(args), Cow::Owned(request)));
        RenderStream::new(env, template, Arc::clone(&self.inner))
    }

    /// Renders the template `name` into a string and then runs its `after` blocks (a failing
    /// `after` block is logged, not returned: the page is complete by then).
    ///
    /// # Errors
    ///
    /// A loading, parse or runtime error.
    pub fn render_to_string(
        &self,
        name: &str,
        context: &Value,
        request: &Value,
    ) -> Result<String, TemplateError> {
        let mut out = Vec::new();
        let after = self.render(name, context, request, &mut out)?;
        if let Err(e) = after.run() {
            log::warn!("after block failed: {e}");
        }
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// Returns the template name for a path (leading `/` removed), or `None` if it is empty or could
/// leave the folder (`..`, `.`, empty segments, backslashes, NUL).
fn normalize(path: &str) -> Option<&str> {
    let name = path.trim_start_matches('/');
    let bad = name.is_empty()
        || name.contains(['\\', '\0', ':'])
        || name
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    (!bad).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        assert_eq!(normalize("/a/b.html"), Some("a/b.html"));
        for bad in [
            "",
            "/",
            "../x.html",
            "a/../../x.html",
            "a//b.html",
            "./a.html",
            "a\\b.html",
            "c:x.html",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn template_paths_are_the_configured_extensions_minus_partials() {
        let t = Templates::new("templates");
        assert!(t.is_template_path("/test.html"));
        assert!(t.is_template_path("/sub/page.HTM"));
        assert!(!t.is_template_path("/_header.html"));
        assert!(!t.is_template_path("/style.css"));
        assert!(!t.is_template_path("/../etc/x.html"));
        assert!(!t.is_template_path("/.html"));
        let t =
            Templates::with_config("t", TemplateConfig::default().with_extensions(&[".pyhtml"]));
        assert!(t.is_template_path("/test.pyhtml"));
        assert!(!t.is_template_path("/test.html"));
    }
    #[test]
    fn globals_and_functions_registered_later_are_seen() {
        let t = Templates::new("unused");
        t.add_template("p.html", "<< site >>/<< twice(21) >>")
            .unwrap();
        t.set_global_var("site", json!("demo"));
        t.register_function("twice", |a| Ok(json!(a[0].as_i64().unwrap_or(0) * 2)));
        assert_eq!(
            t.render_to_string("p.html", &json!({}), &json!({}))
                .unwrap(),
            "demo/42"
        );
        assert_eq!(t.get_global_var("site"), Some(json!("demo")));
    }
}

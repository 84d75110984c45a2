//! `WebServer`: MicroWebSrv2's main class — configuration, routes, modules, hooks, start and stop.

#[cfg(feature = "metrics")]
use super::metrics::Metrics;
#[cfg(feature = "metrics")]
use crate::pool::SlotGauge;
use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ::http::{Method, StatusCode};
use parking_lot::{Condvar, Mutex};

use super::config::ServerConfig;
use super::connection::HttpConnection;
use super::handler::{self, BoxedHandler, IntoResponse};
use super::hooks::Hooks;
use super::request::Request;
use super::response::Response;
use super::static_files::{StaticSite, StaticTables};
#[cfg(feature = "tls")]
use super::tls::TlsFiles;
use super::upload::{BodySink, UploadFactory};
use crate::config::Preset;
use crate::http::Limits;
use crate::module::{Module, ModuleHandle, ServerInfo};
#[cfg(feature = "tls")]
use crate::pool::TlsConfig;
use crate::pool::{
    BudgetStats, ConnHandler, ConnInfo, ListenOptions, Listener, MemoryBudget, Pool, PoolConfig,
    ProxyProtocol, Waker,
};
use crate::routing::{ArgValue, Resolution, RouteError, Router};
use crate::{Error, Result};

/// The level of a log message, as MicroWebSrv2's `OnLogging` callback received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LogLevel {
    /// Details for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something went wrong but the server goes on.
    Warning,
    /// Something failed.
    Error,
}

type LogCallback = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// A set of routes that one or several servers use (MicroWebSrv2's routes were global to all
/// instances; here a server owns its `Routes`, and several servers can share one with
/// [`WebServer::set_routes`]).
#[derive(Clone, Default)]
pub struct Routes {
    pub(crate) router: Router<BoxedHandler>,
    /// Routes whose bodies stream to a [`BodySink`], resolved from the head.
    pub(crate) uploads: Router<UploadFactory>,
    /// Whether a route uses a method outside RFC 9110's registered set (the parser then lets
    /// unknown method tokens through, to be routed or answered 405).
    custom_methods: bool,
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("len", &self.router.len())
            .finish()
    }
}

impl Routes {
    /// Creates an empty set of routes.
    #[must_use]
    pub fn new() -> Routes {
        Routes::default()
    }

    /// Registers a handler for `method` and `pattern` (see [`crate::routing`] for the pattern
    /// syntax), with an optional name for
    /// [`WebServer::path_from_route`](crate::WebServer::path_from_route).
    ///
    /// # Errors
    /// [`RouteError`] for an invalid pattern, a duplicate name, or the same method and pattern
    /// registered twice.
    pub fn add<F, R>(
        &mut self,
        method: Method,
        pattern: &str,
        name: Option<&str>,
        handler: F,
    ) -> Result<&mut Self, RouteError>
    where
        F: Fn(&Request<'_>, &mut Response) -> R + Send + Sync + 'static,
        R: IntoResponse + 'static,
    {
        let standard = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::CONNECT,
            Method::OPTIONS,
            Method::TRACE,
            Method::PATCH,
        ];
        let custom = !standard.contains(&method);
        self.router
            .add(method, pattern, name, handler::boxed(handler))?;
        self.custom_methods |= custom;
        Ok(self)
    }

    /// Registers a streaming upload: `factory` sees the head (and route arguments) and returns
    /// the [`BodySink`] that receives the body as it arrives, or the status that refuses it
    /// (answered before `100 Continue`, without reading the body).
    ///
    /// # Errors
    /// [`RouteError`] for an invalid pattern or a duplicate route.
    pub fn add_upload<F>(
        &mut self,
        method: Method,
        pattern: &str,
        factory: F,
    ) -> Result<&mut Self, RouteError>
    where
        F: Fn(&Request<'_>) -> Result<Box<dyn BodySink>, StatusCode> + Send + Sync + 'static,
    {
        self.uploads.add(method, pattern, None, Arc::new(factory))?;
        Ok(self)
    }

    /// Resolves a method and a raw path to a route (MicroWebSrv2's `ResolveRoute`).
    ///
    /// `None` when no route matches the method and the path (a 404 or a 405 for a request).
    /// The result names the route but does not hand its handler out: a handler runs only on a
    /// request the server received, with that request's arguments.
    #[must_use]
    pub fn resolve_route(&self, method: &Method, path: &str) -> Option<RouteResult> {
        match self.router.resolve(method, path) {
            Resolution::Found(m) => Some(RouteResult {
                method: m.method.clone(),
                route_path: m.pattern.to_owned(),
                name: m.name.map(str::to_owned),
                args: m.args.to_json(),
            }),
            _ => None,
        }
    }

    /// Builds the path of a named route, percent-encoding each argument (for
    /// [`WebServer::path_from_route`]).
    pub(crate) fn path_from_route(
        &self,
        name: &str,
        args: &[(&str, ArgValue<'_>)],
    ) -> Result<String, RouteError> {
        self.router.path_from_route(name, args)
    }

    /// Tells whether any route uses a method outside RFC 9110's registered set.
    fn has_custom_methods(&self) -> bool {
        self.custom_methods
    }
}

/// What [`Routes::resolve_route`] found: MicroWebSrv2's `RouteResult`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RouteResult {
    /// The route's method.
    pub method: Method,
    /// The route's pattern.
    pub route_path: String,
    /// The route's name.
    pub name: Option<String>,
    /// The arguments taken from the path, as a JSON object.
    pub args: serde_json::Value,
}

/// Everything a running server's connections share; read-only once started.
pub(crate) struct ServerShared {
    pub(crate) config: ServerConfig,
    pub(crate) limits: Limits,
    pub(crate) routes: Arc<Routes>,
    pub(crate) modules: Vec<Arc<dyn Module>>,
    pub(crate) hooks: Hooks,
    pub(crate) log: Option<LogCallback>,
    /// A waker per open connection, to reach idle ones when the server stops.
    pub(crate) connections: Mutex<slab::Slab<Waker>>,
    /// Signalled when the last connection closes.
    pub(crate) drained: Condvar,
    /// Set by `stop()`: finish the request in flight, take no new one.
    pub(crate) draining: AtomicBool,
    /// Set when the shutdown grace has passed: close at once.
    pub(crate) forced: AtomicBool,
    /// The root folder's files: canonical root, MIME and default-page tables, small-file cache.
    pub(crate) static_site: StaticSite,
    /// What the connections may hold beyond their slots (`ServerConfig::memory_budget`).
    pub(crate) budget: MemoryBudget,
    /// The counters of `ServerConfig::metrics_path`, when it is set.
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<Metrics>,
    /// The pool's slot figures, for the metrics.
    #[cfg(feature = "metrics")]
    pub(crate) slot_gauge: SlotGauge,
    /// The TLS configuration of its listeners (its handshake counts, for the metrics).
    #[cfg(all(feature = "tls", feature = "metrics"))]
    pub(crate) tls: Option<TlsConfig>,
}

impl ServerShared {
    /// Whether requests are timed and recorded (an access hook or metrics).
    pub(crate) fn observes_requests(&self) -> bool {
        #[cfg(feature = "metrics")]
        let metrics = self.metrics.is_some();
        #[cfg(not(feature = "metrics"))]
        let metrics = false;
        self.config.on_access.is_some() || metrics
    }

    /// Registers an open connection; returns its key for [`ServerShared::deregister`].
    pub(crate) fn register(&self, waker: Waker) -> usize {
        self.connections.lock().insert(waker)
    }

    /// Forgets a closed connection.
    pub(crate) fn deregister(&self, key: usize) {
        let mut conns = self.connections.lock();
        conns.try_remove(key);
        if conns.is_empty() {
            self.drained.notify_all();
        }
    }

    /// Returns true once the server is stopping.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Returns true once the shutdown grace has passed.
    pub(crate) fn is_forced(&self) -> bool {
        self.forced.load(Ordering::Acquire)
    }

    fn wake_all(&self) {
        let wakers: Vec<Waker> = self
            .connections
            .lock()
            .iter()
            .map(|(_, w)| w.clone())
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Lets every connection finish its request in flight (idle ones close at once), for up to
    /// `grace`; then closes the rest.
    fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::Release);
        self.wake_all();
        if !self.wait_drained(Instant::now() + grace) {
            self.log(
                LogLevel::Warning,
                format_args!("shutdown grace over; closing the connections still busy"),
            );
            self.forced.store(true, Ordering::Release);
            self.wake_all();
            self.wait_drained(Instant::now() + Duration::from_secs(1));
        }
    }

    fn wait_drained(&self, deadline: Instant) -> bool {
        let mut conns = self.connections.lock();
        while !conns.is_empty() {
            if self.drained.wait_until(&mut conns, deadline).timed_out() {
                return conns.is_empty();
            }
        }
        true
    }

    /// Logs through the `on_logging` callback when set, and through the `log` crate always.
    pub(crate) fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        match level {
            LogLevel::Debug => log::debug!("{message}"),
            LogLevel::Info => log::info!("{message}"),
            LogLevel::Warning => log::warn!("{message}"),
            LogLevel::Error => log::error!("{message}"),
        }
        if let Some(cb) = &self.log {
            cb(level, &message.to_string());
        }
    }
}

/// A server that is running.
struct Running {
    pool: Pool,
    managed: bool,
    listeners: Vec<Listener>,
    shared: Arc<ServerShared>,
}

/// The part of a server that outlives `start`: who is running, and a way to wait for the stop.
#[derive(Default)]
struct Lifecycle {
    running: Mutex<Option<Running>>,
    stopped: Condvar,
}

impl Lifecycle {
    fn stop(&self) {
        let running = self.running.lock().take();
        if let Some(r) = running {
            for l in &r.listeners {
                l.close();
            }
            // Closing is carried out by the pool's threads: wait for it (bounded), so that no
            // connection is accepted once `stop` is under way.
            let deadline = Instant::now() + Duration::from_secs(2);
            while r.pool.is_running()
                && r.listeners.iter().any(|l| !l.is_closed())
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            for module in &r.shared.modules {
                if catch_unwind(AssertUnwindSafe(|| module.on_stop())).is_err() {
                    r.shared.log(
                        LogLevel::Error,
                        format_args!("module {} panicked in on_stop", module.name()),
                    );
                }
            }
            r.shared.drain(r.shared.config.shutdown_grace);
            if r.managed {
                r.pool.stop();
            }
        }
        self.stopped.notify_all();
    }
}

/// A handle that stops a server from another thread (a signal handler, a handler of its own).
#[derive(Clone)]
pub struct ServerHandle(Arc<Lifecycle>);

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("running", &self.is_running())
            .finish()
    }
}

impl ServerHandle {
    /// Stops the server gracefully and returns when it is stopped: closes its listeners, lets
    /// the requests in flight finish (up to `shutdown_grace`, then closes them), closes idle
    /// connections, and in managed mode stops its pool (every socket closed, every thread
    /// joined, every slot returned). From a handler, call [`ServerHandle::shutdown`] instead.
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Starts a graceful stop on a thread of its own and returns at once: what a handler calls
    /// (its own request can then finish).
    pub fn shutdown(&self) {
        let lifecycle = self.0.clone();
        let spawned = std::thread::Builder::new()
            .name("microweb-shutdown".into())
            .spawn(move || lifecycle.stop());
        if let Err(e) = spawned {
            log::error!("cannot start the shutdown thread: {e}");
        }
    }

    /// Returns true while the server runs.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.0.running.lock().is_some()
    }

    /// Returns the running server's memory budget figures (see [`WebServer::memory_budget`]);
    /// `None` while it is not running. A handler can report them (the demo's `/api/stats`).
    #[must_use]
    pub fn memory_budget(&self) -> Option<BudgetStats> {
        self.0
            .running
            .lock()
            .as_ref()
            .map(|r| r.shared.budget.stats())
    }

    /// Returns the running server's pool slots as (free, total); `None` while it is not running.
    #[must_use]
    pub fn slots(&self) -> Option<(usize, usize)> {
        self.0
            .running
            .lock()
            .as_ref()
            .map(|r| (r.pool.free_slots(), r.pool.slots_count()))
    }
}

/// A web server: MicroWebSrv2's `MicroWebSrv2` class.
///
/// Configure it (presets, bind addresses, root path, routes, modules, hooks), then start it
/// managed ([`WebServer::start_managed`]) or inside a pool you own ([`WebServer::start_in_pool`]).
///
/// # Examples
///
/// ```no_run
/// use microweb::{Method, WebServer};
///
/// let mut server = WebServer::new();
/// server.set_light_config();
/// server.route(Method::GET, "/hello/<name>", |req, _resp| {
///     format!("Hello, {}!", req.args().str("name").unwrap_or("stranger"))
/// })?;
/// server.start_managed(2, None)?;
/// server.wait();
/// # Ok::<(), microweb::Error>(())
/// ```
pub struct WebServer {
    config: ServerConfig,
    routes: Arc<Routes>,
    modules: Vec<Arc<dyn Module>>,
    hooks: Hooks,
    log: Option<LogCallback>,
    lifecycle: Arc<Lifecycle>,
    local_addrs: Vec<SocketAddr>,
    /// The Unix socket files listened on, once started.
    unix_paths: Vec<PathBuf>,
    pool_slots: Option<(Pool, usize)>,
    /// The memory budget of the running (or last run) server.
    budget: Option<MemoryBudget>,
    /// The TLS configuration loaded from `config.tls` (reloaded at start if those changed).
    #[cfg(feature = "tls")]
    tls_loaded: Option<(TlsFiles, Arc<rustls::ServerConfig>)>,
    /// This server's own MIME types and default pages, over the process-wide ones at start.
    static_tables: StaticTables,
    /// Listening sockets made elsewhere (socket activation), served instead of
    /// `config.bind_addresses` when there are any.
    adopted: Vec<std::net::TcpListener>,
}

/// A socket the server listens on: an address to bind, or a socket made elsewhere.
enum Listening<'a> {
    Bind(SocketAddr),
    Adopt(&'a std::net::TcpListener),
    Unix(&'a Path),
}

impl fmt::Debug for WebServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebServer")
            .field("config", &self.config)
            .field("routes", &self.routes)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Default for WebServer {
    fn default() -> Self {
        WebServer::new()
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.lifecycle.stop();
    }
}

impl WebServer {
    /// Creates a server with the Normal preset, on 127.0.0.1:8080, serving `webroot/`.
    #[must_use]
    pub fn new() -> WebServer {
        WebServer::with_config(ServerConfig::default())
    }

    /// Creates a server with a whole configuration.
    #[must_use]
    pub fn with_config(config: ServerConfig) -> WebServer {
        WebServer {
            config,
            routes: Arc::new(Routes::new()),
            modules: Vec::new(),
            hooks: Hooks::default(),
            log: None,
            lifecycle: Arc::new(Lifecycle::default()),
            local_addrs: Vec::new(),
            unix_paths: Vec::new(),
            pool_slots: None,
            budget: None,
            #[cfg(feature = "tls")]
            tls_loaded: None,
            static_tables: StaticTables::default(),
            adopted: Vec::new(),
        }
    }

    /// Returns the configuration.
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Returns the configuration to change any field (before start).
    pub fn config_mut(&mut self) -> &mut ServerConfig {
        &mut self.config
    }

    /// Applies a sizing preset's five figures (see [`Preset`]).
    pub fn set_preset(&mut self, preset: Preset) -> &mut Self {
        self.config.apply_preset(preset);
        self
    }

    /// Sizes the server for a microcontroller (MicroWebSrv2's `SetEmbeddedConfig`).
    pub fn set_embedded_config(&mut self) -> &mut Self {
        self.set_preset(Preset::Embedded)
    }

    /// Sizes the server for a small board (MicroWebSrv2's `SetLightConfig`).
    pub fn set_light_config(&mut self) -> &mut Self {
        self.set_preset(Preset::Light)
    }

    /// Sizes the server for a typical host; the default (MicroWebSrv2's `SetNormalConfig`).
    pub fn set_normal_config(&mut self) -> &mut Self {
        self.set_preset(Preset::Normal)
    }

    /// Sizes the server for a large host (MicroWebSrv2's `SetLargeConfig`).
    pub fn set_large_config(&mut self) -> &mut Self {
        self.set_preset(Preset::Large)
    }

    /// Sets the one address to listen on (MicroWebSrv2's `BindAddress`).
    pub fn set_bind_address(&mut self, addr: SocketAddr) -> &mut Self {
        self.config.bind_addresses = vec![addr];
        self
    }

    /// Sets every address to listen on.
    pub fn set_bind_addresses(&mut self, addrs: Vec<SocketAddr>) -> &mut Self {
        self.config.bind_addresses = addrs;
        self
    }

    /// Serves a listening socket made elsewhere — inherited from systemd's socket activation,
    /// say (see [`crate::pool::activation`]) — instead of binding `bind_addresses`: once one is
    /// adopted, the server listens on its adopted sockets only. TLS, the PROXY protocol and the
    /// other listener settings apply to it as to a bound one.
    pub fn adopt_listener(&mut self, listener: std::net::TcpListener) -> &mut Self {
        self.adopted.push(listener);
        self
    }

    /// Sets the folder of static files (MicroWebSrv2's `RootPath`).
    pub fn set_root_path(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.config.root_path = path.as_ref().to_path_buf();
        self
    }

    /// Resolves a URL path to the file it names under the root folder, or `None` when it names
    /// nothing servable (MicroWebSrv2's `ResolvePhysicalPath`; traversal is refused). A
    /// directory's default page is searched in this server's list (see
    /// [`WebServer::add_default_page`]).
    #[must_use]
    pub fn resolve_physical_path(&self, url_path: &str) -> Option<PathBuf> {
        let config = ServerConfig {
            static_cache_size: 0,
            ..self.config.clone()
        };
        StaticSite::new(&config, self.static_tables.over_process_tables())
            .resolve(url_path)
            .into_file()
    }

    /// Adds (or replaces) the MIME type of an extension (with or without its dot) for the files
    /// this server serves from its root, over the built-in types and the process-wide ones
    /// ([`add_mime_type`](crate::server::add_mime_type)). Takes effect at the next start.
    ///
    /// Returns `false` (and changes nothing) when the extension or the type is empty, or the
    /// type holds a control character.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut server = microweb::WebServer::new();
    /// assert!(server.add_mime_type(".gmi", "text/gemini"));
    /// assert_eq!(server.get_mime_type_from_filename("a.gmi").as_deref(), Some("text/gemini"));
    /// assert_eq!(microweb::server::get_mime_type_from_filename("a.gmi"), None);
    /// ```
    pub fn add_mime_type(&mut self, ext: &str, mime_type: &str) -> bool {
        self.static_tables.mime.add(ext, mime_type)
    }

    /// Returns the MIME type this server gives a file name (its own types, over the
    /// process-wide ones as they are now, over the built-in ones), `None` when unknown.
    #[must_use]
    pub fn get_mime_type_from_filename(&self, filename: &str) -> Option<Cow<'static, str>> {
        self.static_tables
            .over_process_tables()
            .mime
            .of_filename(filename)
    }

    /// Adds a default page for this server's directories, searched after the built-in ones and
    /// the process-wide ones ([`add_default_page`](crate::server::add_default_page)). Takes effect at
    /// the next start.
    ///
    /// Returns `false` for an empty name, `..`, or a name with a separator or NUL.
    pub fn add_default_page(&mut self, filename: &str) -> bool {
        self.static_tables.pages.add(filename)
    }

    /// Sets the folder of template pages; call it before `load_module("Templates")`, which reads it.
    pub fn set_templates_path(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.config.templates_path = path.as_ref().to_path_buf();
        self
    }

    /// Sets the listen backlog.
    pub fn set_conn_queue_capacity(&mut self, n: u32) -> &mut Self {
        self.config.conn_queue_capacity = n;
        self
    }

    /// Sets the number of buffer slots.
    pub fn set_buffer_slots_count(&mut self, n: usize) -> &mut Self {
        self.config.buffer_slots_count = n;
        self
    }

    /// Sets the size of one buffer slot (also the largest request head).
    pub fn set_buffer_slot_size(&mut self, bytes: usize) -> &mut Self {
        self.config.buffer_slot_size = bytes;
        self
    }

    /// Sets whether slots are allocated once at start.
    pub fn set_keep_alloc_buffer_slots(&mut self, keep: bool) -> &mut Self {
        self.config.keep_alloc_buffer_slots = keep;
        self
    }

    /// Sets the largest request body accepted (413 above).
    pub fn set_max_request_content_length(&mut self, bytes: u64) -> &mut Self {
        self.config.max_request_content_length = bytes;
        self
    }

    /// Sets how long a request may stall between two receptions (408 after).
    pub fn set_requests_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.requests_timeout = timeout;
        self
    }

    /// MicroWebSrv2's `RequestsTimeoutSec`: [`WebServer::set_requests_timeout`] in seconds.
    #[deprecated(note = "use `set_requests_timeout` with a `Duration`")]
    pub fn set_requests_timeout_sec(&mut self, seconds: u64) -> &mut Self {
        self.set_requests_timeout(Duration::from_secs(seconds))
    }

    /// Sets where requests for missing resources are redirected (`None`: answer 404).
    pub fn set_not_found_url(&mut self, url: Option<&str>) -> &mut Self {
        self.config.not_found_url = url.map(str::to_owned);
        self
    }

    /// Gzips static text files of at least `min_size` bytes on the fly (`None`: off, the
    /// default; see [`ServerConfig::gzip_min_size`]).
    #[cfg(feature = "compression")]
    pub fn set_gzip_on_the_fly(&mut self, min_size: Option<u64>) -> &mut Self {
        self.config.gzip_min_size = min_size;
        self
    }

    /// Adds `Access-Control-Allow-Origin: *` to every response when on.
    pub fn set_allow_all_origins(&mut self, on: bool) -> &mut Self {
        self.config.allow_all_origins = on;
        self
    }

    /// Answers every CORS preflight with the asked-for methods and headers when on.
    pub fn set_cors_allow_all(&mut self, on: bool) -> &mut Self {
        self.config.cors_allow_all = on;
        self
    }

    /// Serves HTTPS from the next start on (MicroWebSrv2's `EnableSSL`): `cert_file` is the PEM
    /// certificate chain, `key_file` its PEM private key (PKCS#8, PKCS#1 or SEC1), and with
    /// `ca_file` every client must present a certificate chaining to one of its CAs (mutual
    /// TLS). The files are read and checked now. A bind address on port 80 moves to 443, as
    /// MicroWebSrv2 did.
    ///
    /// # Errors
    /// [`Error::Tls`] naming the file and the problem; the configuration is left unchanged.
    #[cfg(feature = "tls")]
    pub fn enable_ssl(
        &mut self,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
        ca_file: Option<&Path>,
    ) -> Result<&mut Self> {
        let mut files = TlsFiles::new(cert_file, key_file);
        if let Some(ca) = ca_file {
            files = files.with_ca_file(ca);
        }
        let config = files.load()?;
        self.config.tls = Some(files.clone());
        self.tls_loaded = Some((files, config));
        for addr in &mut self.config.bind_addresses {
            if addr.port() == 80 {
                addr.set_port(443);
            }
        }
        Ok(self)
    }

    /// Serves plain HTTP from the next start on (MicroWebSrv2's `DisableSSL`); a bind address
    /// on port 443 moves back to 80.
    #[cfg(feature = "tls")]
    pub fn disable_ssl(&mut self) -> &mut Self {
        self.config.tls = None;
        self.tls_loaded = None;
        for addr in &mut self.config.bind_addresses {
            if addr.port() == 443 {
                addr.set_port(80);
            }
        }
        self
    }

    /// Returns whether the server serves HTTPS (MicroWebSrv2's `IsSSLEnabled`).
    #[must_use]
    pub fn is_ssl_enabled(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.config.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The TLS configuration to listen with: the one loaded by `enable_ssl`, or loaded now when
    /// the files were set (or changed) through the configuration.
    #[cfg(feature = "tls")]
    fn tls_config(&mut self) -> Result<Option<TlsConfig>> {
        let Some(files) = &self.config.tls else {
            return Ok(None);
        };
        let server_config = match &self.tls_loaded {
            Some((loaded, config)) if loaded == files => Arc::clone(config),
            _ => {
                let config = files.load()?;
                self.tls_loaded = Some((files.clone(), Arc::clone(&config)));
                config
            }
        };
        let mut tls =
            TlsConfig::new(server_config).with_handshake_timeout(self.config.requests_timeout);
        if let Some(max) = self.config.tls_max_connections {
            tls = tls.with_max_connections(max);
        }
        Ok(Some(tls))
    }

    /// Sets a callback that receives every message the server logs (MicroWebSrv2's
    /// `OnLogging`); the messages also go to the `log` crate.
    pub fn on_logging(&mut self, callback: impl Fn(LogLevel, &str) + Send + Sync + 'static) {
        self.log = Some(Arc::new(callback));
    }

    /// Registers a route handler (see [`Routes::add`]).
    ///
    /// # Errors
    /// [`Error::Route`] for an invalid pattern or a duplicate route.
    pub fn route<F, R>(&mut self, method: Method, pattern: &str, handler: F) -> Result<&mut Self>
    where
        F: Fn(&Request<'_>, &mut Response) -> R + Send + Sync + 'static,
        R: IntoResponse + 'static,
    {
        Arc::make_mut(&mut self.routes).add(method, pattern, None, handler)?;
        Ok(self)
    }

    /// Registers a named route handler, for [`WebServer::path_from_route`].
    ///
    /// # Errors
    /// [`Error::Route`] for an invalid pattern, a duplicate name or a duplicate route.
    pub fn route_named<F, R>(
        &mut self,
        method: Method,
        pattern: &str,
        name: &str,
        handler: F,
    ) -> Result<&mut Self>
    where
        F: Fn(&Request<'_>, &mut Response) -> R + Send + Sync + 'static,
        R: IntoResponse + 'static,
    {
        Arc::make_mut(&mut self.routes).add(method, pattern, Some(name), handler)?;
        Ok(self)
    }

    /// Registers a streaming upload route (see [`Routes::add_upload`]): the body goes to the
    /// sink `factory` returns, piece by piece, never whole in memory.
    ///
    /// # Errors
    /// [`Error::Route`] for an invalid pattern or a duplicate route.
    pub fn route_upload<F>(
        &mut self,
        method: Method,
        pattern: &str,
        factory: F,
    ) -> Result<&mut Self>
    where
        F: Fn(&Request<'_>) -> Result<Box<dyn BodySink>, StatusCode> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.routes).add_upload(method, pattern, factory)?;
        Ok(self)
    }

    /// Uses a set of routes shared with other servers (replaces this server's routes).
    ///
    /// The servers share the table itself, with no copy and no lock. A route registered later
    /// through [`WebServer::route`] on one of them gives that server a copy of its own (the
    /// others keep the shared table): build the [`Routes`] first, then share it.
    pub fn set_routes(&mut self, routes: Arc<Routes>) -> &mut Self {
        self.routes = routes;
        self
    }

    /// Returns this server's routes.
    #[must_use]
    pub fn routes(&self) -> &Arc<Routes> {
        &self.routes
    }

    /// Resolves a method and a path to a route (MicroWebSrv2's `ResolveRoute`).
    #[must_use]
    pub fn resolve_route(&self, method: &Method, path: &str) -> Option<RouteResult> {
        self.routes.resolve_route(method, path)
    }

    /// Builds the path of a named route (MicroWebSrv2's `PathFromRoute`).
    ///
    /// # Errors
    /// [`Error::Route`] for an unknown name, a missing argument or a value of the wrong type.
    pub fn path_from_route(&self, name: &str, args: &[(&str, ArgValue<'_>)]) -> Result<String> {
        Ok(self.routes.path_from_route(name, args)?)
    }

    /// Adds a hook run before modules and routes; a hook that answers short-circuits the request.
    pub fn before_request(
        &mut self,
        hook: impl Fn(&Request<'_>, &mut Response) + Send + Sync + 'static,
    ) -> &mut Self {
        self.hooks.before.push(Arc::new(hook));
        self
    }

    /// Adds a hook run after the answer is built; it may change the response.
    pub fn after_request(
        &mut self,
        hook: impl Fn(&Request<'_>, &mut Response) + Send + Sync + 'static,
    ) -> &mut Self {
        self.hooks.after.push(Arc::new(hook));
        self
    }

    /// Sets the handler of answers with `status` (an error page of your own, for instance),
    /// replacing an earlier one for that status.
    ///
    /// It runs after the routes, the modules and the static files, when the answer has this
    /// status and no [`on_error_type`](WebServer::on_error_type) handler took the request. The
    /// response then holds the standard error page; the handler may change it through the
    /// response, or return a value, which replaces it like a route handler's does (a plain value
    /// answers `200`: return `(status, value)` to keep the error status).
    ///
    /// # Examples
    ///
    /// ```
    /// use microweb::{Html, StatusCode, WebServer};
    ///
    /// let mut server = WebServer::new();
    /// server.on_error(StatusCode::NOT_FOUND, |req, _resp| {
    ///     (StatusCode::NOT_FOUND, Html(format!("<h1>No {}</h1>", microweb::server::html_escape(req.path()))))
    /// });
    /// ```
    pub fn on_error<F, R>(&mut self, status: StatusCode, handler: F) -> &mut Self
    where
        F: Fn(&Request<'_>, &mut Response) -> R + Send + Sync + 'static,
        R: IntoResponse + 'static,
    {
        self.hooks.set_on_error(status, handler);
        self
    }

    /// Sets the handler of errors of type `E` returned by route handlers as
    /// `Err(HandlerError)`, replacing an earlier one for `E`.
    ///
    /// The handler of the error's own type answers; when there is none, the handler of the
    /// first type found along its [`source`](std::error::Error::source) chain does. The
    /// response holds the standard `500` page when the handler runs; its return value coerces
    /// like a route handler's (see [`IntoResponse`]), so `(StatusCode::BAD_REQUEST, text)`
    /// chooses the status. With no handler for the error, the server answers `500` and logs it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::num::ParseIntError;
    /// use microweb::{server::HandlerError, Method, StatusCode, WebServer};
    ///
    /// let mut server = WebServer::new();
    /// server.on_error_type(|e: &ParseIntError, _req, _resp| {
    ///     (StatusCode::BAD_REQUEST, format!("not a number: {e}"))
    /// });
    /// server.route(Method::GET, "/double", |req, _resp| -> Result<String, HandlerError> {
    ///     let n: i64 = req.query_param("n").unwrap_or_default().parse()?;
    ///     Ok((n * 2).to_string())
    /// })?;
    /// # Ok::<(), microweb::Error>(())
    /// ```
    pub fn on_error_type<E, F, R>(&mut self, handler: F) -> &mut Self
    where
        E: std::error::Error + 'static,
        F: Fn(&E, &Request<'_>, &mut Response) -> R + Send + Sync + 'static,
        R: IntoResponse + 'static,
    {
        self.hooks.set_on_error_type::<E, F, R>(handler);
        self
    }

    /// Decides, from the head alone, whether to accept a body announced with
    /// `Expect: 100-continue`: return `Some(status)` to refuse it before the client sends it.
    pub fn on_expect_continue(
        &mut self,
        check: impl Fn(&Request<'_>) -> Option<StatusCode> + Send + Sync + 'static,
    ) -> &mut Self {
        self.hooks.expect = Some(Arc::new(check));
        self
    }

    /// Returns what a module is told about this server: what a built-in module's `for_server`
    /// takes, to build one configured before [`WebServer::add_module`]. The listening addresses
    /// are there once the server has started.
    #[must_use]
    pub fn server_info(&self) -> ServerInfo {
        ServerInfo {
            root_path: self.config.root_path.clone(),
            templates_path: self.config.templates_path.clone(),
            buffer_slots_count: self.config.buffer_slots_count,
            buffer_slot_size: self.config.buffer_slot_size,
            max_request_content_length: self.config.max_request_content_length,
            local_addrs: self.local_addrs.clone(),
        }
    }

    /// Adds a module of your own (or a configured built-in one); modules see requests in the
    /// order they were added.
    pub fn add_module<M: Module>(&mut self, module: Arc<M>) -> ModuleHandle {
        let module: Arc<dyn Module> = module;
        self.modules.push(module.clone());
        ModuleHandle(module)
    }

    pub(crate) fn shared(
        &self,
        pool: &Pool,
        #[cfg(all(feature = "tls", feature = "metrics"))] tls: Option<TlsConfig>,
    ) -> Arc<ServerShared> {
        let slot_size = pool.slot_size();
        // Bodies are bounded by the connection: buffered ones by max_request_content_length,
        // streamed uploads by their sink.
        let limits = Limits::from_preset(Preset::Normal)
            .with_max_head_bytes(slot_size)
            .with_max_body_bytes(u64::MAX)
            .with_max_requests_per_connection(self.config.max_requests_per_connection)
            .with_custom_methods(self.routes.has_custom_methods());
        Arc::new(ServerShared {
            config: self.config.clone(),
            limits,
            routes: self.routes.clone(),
            modules: self.modules.clone(),
            hooks: self.hooks.clone(),
            log: self.log.clone(),
            connections: Mutex::new(slab::Slab::new()),
            drained: Condvar::new(),
            draining: AtomicBool::new(false),
            forced: AtomicBool::new(false),
            static_site: StaticSite::new(&self.config, self.static_tables.over_process_tables()),
            budget: MemoryBudget::new(self.config.memory_budget),
            #[cfg(feature = "metrics")]
            metrics: self.config.metrics_path.as_ref().map(|_| Metrics::new()),
            #[cfg(feature = "metrics")]
            slot_gauge: pool.slot_gauge(),
            #[cfg(all(feature = "tls", feature = "metrics"))]
            tls,
        })
    }

    fn listen_all(&mut self, pool: &Pool, managed: bool) -> Result<()> {
        if self.is_running() {
            return Err(Error::AlreadyRunning);
        }
        if self.config.bind_addresses.is_empty()
            && self.adopted.is_empty()
            && self.config.unix_binds.is_empty()
        {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no address to listen on",
            )));
        }
        // Checked before anything is bound: the server never starts half-configured.
        #[cfg(feature = "tls")]
        let tls = self.tls_config()?;
        let shared = self.shared(
            pool,
            #[cfg(all(feature = "tls", feature = "metrics"))]
            tls.clone(),
        );
        self.budget = Some(shared.budget.clone());
        let mut listeners = Vec::new();
        let mut options = ListenOptions::new().reuse_port(self.config.reuse_port);
        #[cfg(feature = "tls")]
        if let Some(tls) = &tls {
            options = options.tls(tls.clone());
        }
        if self.config.proxy_protocol {
            options = options.proxy_protocol(ProxyProtocol::new(
                self.config.trusted_proxies.clone(),
                self.config.requests_timeout,
            ));
        }
        let mut sockets: Vec<Listening> = if self.adopted.is_empty() {
            self.config
                .bind_addresses
                .iter()
                .map(|a| Listening::Bind(*a))
                .collect()
        } else {
            self.adopted.iter().map(Listening::Adopt).collect()
        };
        sockets.extend(self.config.unix_binds.iter().map(|p| Listening::Unix(p)));
        let mut unix_options = ListenOptions::new();
        if let Some(mode) = self.config.unix_socket_mode {
            unix_options = unix_options.unix_mode(mode);
        }
        for socket in sockets {
            let s = shared.clone();
            let acceptor = move |info: &ConnInfo| -> Option<Box<dyn ConnHandler>> {
                Some(Box::new(HttpConnection::new(s.clone(), info)))
            };
            let listening = match socket {
                Listening::Bind(addr) => pool
                    .listen_with_options(addr, options.clone(), acceptor)
                    .map_err(|e| Error::Bind(addr, e)),
                Listening::Adopt(l) => l
                    .try_clone()
                    .and_then(|l| pool.adopt_listener(l, options.clone(), acceptor))
                    .map_err(Error::Io),
                Listening::Unix(path) => pool
                    .listen_unix(path, unix_options.clone(), acceptor)
                    .map_err(|e| {
                        Error::Io(std::io::Error::new(
                            e.kind(),
                            format!("cannot listen on unix:{}: {e}", path.display()),
                        ))
                    }),
            };
            match listening {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    for l in &listeners {
                        l.close();
                    }
                    return Err(e);
                }
            }
        }
        self.local_addrs = listeners
            .iter()
            .filter(|l| l.unix_path().is_none())
            .map(Listener::local_addr)
            .collect();
        self.unix_paths = listeners
            .iter()
            .filter_map(|l| l.unix_path().map(Path::to_path_buf))
            .collect();
        let info = self.server_info();
        for module in &self.modules {
            module.on_start(&info);
        }
        let scheme = if self.is_ssl_enabled() {
            "https"
        } else {
            "http"
        };
        for addr in &self.local_addrs {
            shared.log(
                LogLevel::Info,
                format_args!("listening on {scheme}://{addr}"),
            );
        }
        for path in &self.unix_paths {
            shared.log(
                LogLevel::Info,
                format_args!("listening on unix:{}", path.display()),
            );
        }
        *self.lifecycle.running.lock() = Some(Running {
            pool: pool.clone(),
            managed,
            listeners,
            shared,
        });
        self.pool_slots = Some((pool.clone(), pool.slots_count()));
        Ok(())
    }

    /// Starts the server in a pool of its own (MicroWebSrv2's `StartManaged`).
    ///
    /// `threads = 0` runs the server on the calling thread until it is stopped (through a
    /// [`ServerHandle`]); `1` runs it on one background thread; `n ≥ 2` runs `n` connection
    /// loops, each serving the connections dealt to it from start to end, beside loop 0 which
    /// accepts and keeps time (see [`Pool::start`]). A handler runs on its connection's loop: one
    /// that blocks delays that loop's other connections, so long work belongs in a deferred
    /// response. `stack_size` sets the threads' stack size (`None`: the platform's default).
    ///
    /// # Errors
    /// [`Error::Bind`] when an address cannot be bound, [`Error::AlreadyRunning`], or an IO
    /// error creating the pool.
    pub fn start_managed(&mut self, threads: usize, stack_size: Option<usize>) -> Result<()> {
        let c = &self.config;
        let pool = Pool::new(
            PoolConfig::default()
                .with_slots_count(c.buffer_slots_count)
                .with_slot_size(c.buffer_slot_size)
                .with_keep_alloc(c.keep_alloc_buffer_slots)
                .with_conn_queue_capacity(c.conn_queue_capacity)
                .with_pin_threads(c.pin_threads),
        )?;
        self.listen_all(&pool, true)?;
        if let Err(e) = pool.start(threads, stack_size) {
            self.lifecycle.stop();
            return Err(e.into());
        }
        Ok(())
    }

    /// Starts the server in a pool the caller owns and stops (MicroWebSrv2's `StartInPool`).
    /// Several servers can share one pool (say HTTP and HTTPS); the pool's slots are shared too.
    ///
    /// # Errors
    /// [`Error::Bind`] when an address cannot be bound, or [`Error::AlreadyRunning`].
    pub fn start_in_pool(&mut self, pool: &Pool) -> Result<()> {
        self.listen_all(pool, false)
    }

    /// Stops the server gracefully (see [`ServerHandle::stop`]).
    pub fn stop(&mut self) {
        self.lifecycle.stop();
    }

    /// Returns true while the server runs.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.lifecycle.running.lock().is_some()
    }

    /// Returns a handle to stop the server from another thread.
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        ServerHandle(self.lifecycle.clone())
    }

    /// Blocks until the server is stopped.
    pub fn wait(&self) {
        let mut running = self.lifecycle.running.lock();
        while running.is_some() {
            self.lifecycle.stopped.wait(&mut running);
        }
    }

    /// Returns the addresses the server listens on (with the real ports when bound to port 0).
    #[must_use]
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Returns the Unix socket files the server listens on (see `ServerConfig::unix_binds`);
    /// empty before it starts.
    #[must_use]
    pub fn unix_paths(&self) -> &[PathBuf] {
        &self.unix_paths
    }

    /// Returns the number of free buffer slots in the server's pool, and how many it has in all
    /// (`None` before start). Every slot is free again once connections go idle.
    #[must_use]
    pub fn slots(&self) -> Option<(usize, usize)> {
        self.pool_slots
            .as_ref()
            .map(|(pool, count)| (pool.free_slots(), *count))
    }

    /// Returns the memory budget's figures: its bound, the bytes reserved now, the most ever
    /// reserved at once and the connections waiting for bytes (`None` before start). Every
    /// byte is back once no request is being received.
    #[must_use]
    pub fn memory_budget(&self) -> Option<BudgetStats> {
        self.budget.as_ref().map(MemoryBudget::stats)
    }
}

//! The `Module` trait: what a loadable module (WebSockets, Templates, …) implements, and the
//! [`ServerInfo`] a module is given.
//!
//! Modules see every request, in load order, before the routes; a module that answers the
//! request (through the response) takes it, and the pipeline stops there.
//!
//! Each built-in module is built the same two ways: `new(…)` from its own parts, or
//! `for_server(&ServerInfo)`, which sizes it for a server as `load_module` does.

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::server::{Request, Response};

/// What a module is told about the server it serves: when it is built for one (each built-in
/// module's `for_server`, from [`WebServer::server_info`](crate::WebServer::server_info)) and
/// when the server starts ([`Module::on_start`]). A module never sees the whole configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The folder of static files.
    pub root_path: PathBuf,
    /// The folder of template pages.
    pub templates_path: PathBuf,
    /// The number of buffer slots in the pool.
    pub buffer_slots_count: usize,
    /// The size of one buffer slot, in bytes.
    pub buffer_slot_size: usize,
    /// The largest request body accepted, in bytes.
    pub max_request_content_length: u64,
    /// The addresses the server listens on (empty until it starts).
    pub local_addrs: Vec<SocketAddr>,
}

/// A loadable module.
pub trait Module: Any + Send + Sync {
    /// Returns the module's name, as `load_module` spells it (e.g. `"Templates"`).
    fn name(&self) -> &'static str;

    /// Runs once when the server starts, before it accepts connections (e.g. to pre-compile).
    fn on_start(&self, _server: &ServerInfo) {}

    /// Runs once when the server starts to stop, after its listeners close and before it waits
    /// for its connections: end what would otherwise keep one open (WebSockets send close 1001
    /// "going away"). New requests may still arrive on open connections meanwhile.
    fn on_stop(&self) {}

    /// Returns the module's own figures for the server's metrics, read at each scrape: (metric
    /// name, help text, value) gauges, such as the WebSockets module's open sockets.
    fn gauges(&self) -> Vec<(&'static str, &'static str, i64)> {
        Vec::new()
    }

    /// Sees a request; answering through `response` takes it.
    fn on_request(&self, request: &Request<'_>, response: &mut Response);

    /// Sees every answer once it is built (by a module, a route or the static files), before the
    /// error handlers and the after hooks; may complete or change it (e.g. render a template the
    /// handler asked for).
    fn on_response(&self, _request: &Request<'_>, _response: &mut Response) {}
}

/// A loaded module, as `load_module` returns it: downcast it to its type to configure it.
#[derive(Clone)]
pub struct ModuleHandle(pub(crate) Arc<dyn Module>);

impl fmt::Debug for ModuleHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ModuleHandle").field(&self.0.name()).finish()
    }
}

impl ModuleHandle {
    /// Returns the module's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Returns the module as its concrete type, when it is one.
    #[must_use]
    pub fn downcast<M: Module>(&self) -> Option<Arc<M>> {
        let any: Arc<dyn Any + Send + Sync> = self.0.clone();
        any.downcast::<M>().ok()
    }
}

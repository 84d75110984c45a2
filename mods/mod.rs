//! Loadable modules: each sees every request in load order and may take it.

pub mod crypto;
pub mod templates;
pub mod websockets;

use crate::module::Module;
use crate::server::ServerConfig;

/// Returns the built-in module of that name (as MicroWebSrv2's `LoadModule` spells it), set up
/// for a server with `config`.
pub(crate) fn by_name(name: &str, config: &ServerConfig) -> Option<Box<dyn Module>> {
    match name {
        "WebSockets" => Some(Box::new(websockets::WebSockets::for_config(config))),
        _ => None,
    }
}

//! Loadable modules: each sees every request in load order and may take it.

pub mod crypto;
pub mod templates;

use crate::module::Module;
use crate::server::ServerConfig;

/// Returns the built-in module of that name (as MicroWebSrv2's `LoadModule` spells it), set up
/// for a server with `config`.
#[allow(clippy::match_single_binding)] // until the first built-in module is listed
pub(crate) fn by_name(name: &str, config: &ServerConfig) -> Option<Box<dyn Module>> {
    match name {
        "Templates" | "PyhtmlTemplate" => {
            Some(Box::new(templates::TemplatesModule::for_server(config)))
        }
        _ => None,
    }
}

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
        "Templates" | "PyhtmlTemplate" => {
            Some(Box::new(templates::TemplatesModule::for_server(config)))
        }
        // A random identity: downcast the handle to `crypto::Crypto` to protect routes and
        // publish its key; build a `Crypto` yourself for a key file or a passphrase.
        "Crypto" => match crypto::Identity::random() {
            Ok(identity) => Some(Box::new(crypto::Crypto::new(
                identity,
                crypto::CryptoConfig::default(),
            ))),
            Err(e) => {
                log::error!("module Crypto: {e}");
                None
            }
        },
        "WebSockets" => Some(Box::new(websockets::WebSockets::for_config(config))),
        _ => None,
    }
}

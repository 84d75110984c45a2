//! Loadable modules: each sees every request in load order and may take it.
//!
//! Each module is a cargo feature (`templates`, `websockets`, `crypto`); a build without one
//! answers [`Error::ModuleDisabled`] to its `load_module` name.

#[cfg(feature = "crypto")]
pub mod crypto;
#[cfg(feature = "templates")]
pub mod templates;
#[cfg(feature = "websockets")]
pub mod websockets;

use crate::error::Error;
use crate::module::{Module, ServerInfo};

/// Returns the built-in module of that name (as MicroWebSrv2's `LoadModule` spells it), built
/// for `server` with its `for_server`.
///
/// # Errors
/// [`Error::UnknownModule`] for a name no module has, [`Error::ModuleDisabled`] for a module this
/// build leaves out, and the module's own error when it cannot be set up.
#[cfg_attr(
    not(any(feature = "templates", feature = "websockets", feature = "crypto")),
    allow(unused_variables)
)]
pub(crate) fn by_name(name: &str, server: &ServerInfo) -> Result<Box<dyn Module>, Error> {
    match name {
        #[cfg(feature = "templates")]
        "Templates" | "PyhtmlTemplate" => {
            Ok(Box::new(templates::TemplatesModule::for_server(server)))
        }
        #[cfg(not(feature = "templates"))]
        "Templates" | "PyhtmlTemplate" => Err(disabled(name, "templates")),
        // A random identity: downcast the handle to `crypto::Crypto` to protect routes and
        // publish its key; build a `Crypto` yourself for a key file or a passphrase.
        #[cfg(feature = "crypto")]
        "Crypto" => Ok(Box::new(crypto::Crypto::for_server(server)?)),
        #[cfg(not(feature = "crypto"))]
        "Crypto" => Err(disabled(name, "crypto")),
        #[cfg(feature = "websockets")]
        "WebSockets" => Ok(Box::new(websockets::WebSockets::for_server(server))),
        #[cfg(not(feature = "websockets"))]
        "WebSockets" => Err(disabled(name, "websockets")),
        _ => Err(Error::UnknownModule(name.to_owned())),
    }
}

/// The error for a module this build leaves out.
#[cfg(not(all(feature = "templates", feature = "websockets", feature = "crypto")))]
fn disabled(module: &str, feature: &'static str) -> Error {
    Error::ModuleDisabled {
        module: module.to_owned(),
        feature,
    }
}

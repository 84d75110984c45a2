//! Loadable modules: each sees every request in load order and may take it.
//!
//! Each module is a cargo feature (`templates`, `websockets`, `crypto`); a build without one
//! answers [`Error::ModuleDisabled`] to its `load_module` name.
//!
//! In scope: the built-in modules, and the table of their names behind
//! [`WebServer::load_module`]. It lives here, beside the modules, so the server never names one:
//! it runs the [`Module`](crate::Module)s it is given, built from the
//! [`ServerInfo`](crate::ServerInfo) it gives.
//! Out of scope: the pipeline that calls them (the server's).

#[cfg(feature = "crypto")]
pub mod crypto;
#[cfg(feature = "templates")]
pub mod templates;
#[cfg(feature = "websockets")]
pub mod websockets;

#[cfg(any(feature = "templates", feature = "websockets", feature = "crypto"))]
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::module::ModuleHandle;
use crate::server::WebServer;

impl WebServer {
    /// Loads a built-in module by name (MicroWebSrv2's `LoadModule`): `"Templates"` (or
    /// `"PyhtmlTemplate"`), `"WebSockets"` or `"Crypto"`, each built with its `for_server` from
    /// [`WebServer::server_info`]. Downcast the handle to the module's type to configure it.
    ///
    /// # Errors
    /// [`Error::UnknownModule`] when no built-in module has that name,
    /// [`Error::ModuleDisabled`] when this build leaves the module out (it names the cargo
    /// feature), and the module's own error when it cannot be set up (Crypto: no randomness).
    #[cfg_attr(
        not(any(feature = "templates", feature = "websockets", feature = "crypto")),
        allow(unused_variables)
    )]
    pub fn load_module(&mut self, name: &str) -> Result<ModuleHandle> {
        let server = self.server_info();
        match name {
            #[cfg(feature = "templates")]
            "Templates" | "PyhtmlTemplate" => {
                Ok(self.add_module(Arc::new(templates::TemplatesModule::for_server(&server))))
            }
            #[cfg(not(feature = "templates"))]
            "Templates" | "PyhtmlTemplate" => Err(disabled(name, "templates")),
            // A random identity: downcast the handle to `crypto::Crypto` to protect routes and
            // publish its key; build a `Crypto` yourself for a key file or a passphrase.
            #[cfg(feature = "crypto")]
            "Crypto" => Ok(self.add_module(Arc::new(crypto::Crypto::for_server(&server)?))),
            #[cfg(not(feature = "crypto"))]
            "Crypto" => Err(disabled(name, "crypto")),
            #[cfg(feature = "websockets")]
            "WebSockets" => {
                Ok(self.add_module(Arc::new(websockets::WebSockets::for_server(&server))))
            }
            #[cfg(not(feature = "websockets"))]
            "WebSockets" => Err(disabled(name, "websockets")),
            _ => Err(Error::UnknownModule(name.to_owned())),
        }
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

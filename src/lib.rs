//! microweb: a web server on a pool of nonblocking sockets with preallocated buffer slots.
//!
//! The same code runs on a small board and on a large host: a sizing [`Preset`] fixes the memory
//! the socket pool may use, and the server never allocates buffer memory past it.
//!
//! | preset | ConnQueueCapacity | BufferSlotsCount | BufferSlotSize | KeepAllocBufferSlots | MaxRequestContentLength |
//! | --- | --- | --- | --- | --- | --- |
//! | Embedded | 8 | 16 | 1 KiB | true | 16 KiB |
//! | Light | 64 | 128 | 1 KiB | true | 512 KiB |
//! | Normal (default) | 256 | 512 | 4 KiB | true | 2 MiB |
//! | Large | 512 | 2048 | 16 KiB | true | 8 MiB |
//!
//! The layers, from the bottom up:
//! - [`pool`]: the XAsyncSockets layer — nonblocking sockets, buffer slots, timers, event loops;
//! - [`http`]: the sans-IO HTTP/1.1 protocol core;
//! - [`routing`]: named routes, the resolver and the path builder;
//! - the server, which glues them together, and [`mods`], the loadable modules.
//!
//! # Cargo features
//!
//! All on by default. `--no-default-features` builds the pool, HTTP/1.1, routing and static
//! files; add back what a deployment needs:
//!
//! | feature | what it builds | crates it brings |
//! | --- | --- | --- |
//! | `activation` | serving systemd's socket-activated listeners ([`pool::activation`]) | listenfd |
//! | `tls` | HTTPS listeners ([`pool::TlsConfig`], `ServerConfig::tls`) | rustls (ring) |
//! | `websockets` | the WebSockets module | tungstenite |
//! | `redis` | WebSocket groups that span instances through Redis pub/sub ([`mods::websockets::RedisBackend`], `WebSocketGroup::shared`); implies `websockets` | redis, getrandom |
//! | `templates` | the `<< >>` templates module | nom |
//! | `crypto` | the body encryption module (secp256k1 + AES-256-GCM), key files | k256, aes-gcm, hkdf, argon2, pbkdf2, time |
//! | `crypto-usrv` | usrv's AES-256-CTR wire mode (`CryptoConfig::with_usrv`) | aes, ctr |
//! | `crypto-client` | the sealing client (`mods::crypto::Client`) | ureq |
//! | `compression` | gzip of dynamic answers (`ServerConfig::gzip_min_size`) | flate2 |
//! | `metrics` | the OpenMetrics endpoint (`ServerConfig::metrics_path`) | prometheus-client |
//! | `pin` | pinning event loops to CPUs (`PoolConfig::pin_threads`) | core_affinity |
//! | `cli` | the `microweb` binary (and the modules its demo serves) | lexopt, signal-hook, rcgen |
//!
//! A build without a module answers [`Error::ModuleDisabled`], naming the feature, to its
//! `load_module` name.
#![doc(test(attr(deny(warnings))))]
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
#[path = "../mods/mod.rs"]
pub mod mods;
mod module;
pub mod pool;
pub mod proxy;
pub mod routing;
pub mod server;

// The crate root holds what a handler author needs; everything else lives under its module
// (`pool`, `routing`, `server`, `mods::…`), at one path.
pub use ::http::{Method, StatusCode};
pub use config::Preset;
pub use error::{Error, Result};
#[cfg(feature = "templates")]
pub use mods::templates::{TemplateResponseExt, TemplatesModule};
#[cfg(feature = "websockets")]
pub use mods::websockets::{WebSocket, WebSockets};
pub use module::{Module, ModuleHandle, ServerInfo};
/// The TLS library microweb runs on (its types appear in [`pool::TlsConfig`] and
/// [`pool::TlsStream`]).
#[cfg(feature = "tls")]
pub use rustls;
pub use server::config::ServerConfig;
pub use server::handler::{Html, IntoResponse, Json};
pub use server::request::Request;
pub use server::response::Response;
pub use server::testing::TestRequest;
pub use server::web_server::WebServer;

/// The access log: one record per answered request (`ServerConfig::on_access`), and a
/// Combined Log Format writer on a thread of its own.
pub mod access {
    pub use crate::server::access_log::{
        ACCESS_QUEUE_LINES, AccessHook, AccessLog, AccessRecord, AccessTarget, combined_line,
    };
}

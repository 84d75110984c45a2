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
//! | `activation` | serving systemd's socket-activated listeners ([`activation`]) | listenfd |
//! | `tls` | HTTPS listeners ([`TlsConfig`], `ServerConfig::tls`) | rustls (ring) |
//! | `websockets` | the WebSockets module | tungstenite |
//! | `redis` | WebSocket groups that span instances through Redis pub/sub ([`RedisBackend`], `WebSocketGroup::shared`); implies `websockets` | redis, getrandom |
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
mod server;

pub use ::http::{Method, StatusCode};
pub use config::Preset;
pub use error::{Error, Result};
#[cfg(feature = "templates")]
pub use mods::templates::{
    AfterWork, PageData, RenderSink, RenderStream, SinkError, SlotSink, Template, TemplateConfig,
    TemplateError, TemplateResponseExt, Templates, TemplatesModule,
};
#[cfg(feature = "websockets")]
pub use mods::websockets::{
    Broadcast, GroupBackend, GroupMembers, GroupMessage, UpgradeError, WebSocket, WebSocketError,
    WebSocketGroup, WebSocketRequest, WebSockets,
};
#[cfg(feature = "redis")]
pub use mods::websockets::{RedisBackend, RedisConfig, RedisError, RedisStats};
pub use module::{Module, ModuleHandle, ServerInfo};
#[cfg(feature = "activation")]
pub use pool::activation;
pub use pool::{
    Acceptor, BufferSlots, CloseReason, Conn, ConnEvent, ConnHandler, ConnInfo, Listener, Next,
    Pool, PoolConfig, PoolError, SlotGuard, SourceKey, TcpClient, TcpServer, TimerId, Transport,
    UdpDatagram, Waker,
};
#[cfg(feature = "tls")]
pub use pool::{TlsConfig, TlsStream};
pub use routing::{ArgValue, RouteArgs, RouteError, Router};
/// The TLS library microweb runs on (its types appear in [`TlsConfig`] and [`TlsStream`]).
#[cfg(feature = "tls")]
pub use rustls;
/// The access log: one record per answered request (`ServerConfig::on_access`), and a
/// Combined Log Format writer on a thread of its own.
pub mod access {
    pub use crate::server::{
        ACCESS_QUEUE_LINES, AccessHook, AccessLog, AccessRecord, AccessTarget, combined_line,
    };
}
pub use server::{
    Body, BodySink, DeferredResponse, FileRange, FileSink, HandlerError, Handover, Html,
    IntoResponse, InvalidHeader, Json, LogLevel, MAX_STREAM_QUEUE_BYTES, OnSent, Request, Response,
    ResponseStream, Routes, ServerConfig, ServerHandle, SpoolConfig, StreamError, Takeover,
    TestRequest, WebServer, add_default_page, add_mime_type, get_mime_type_from_filename,
    html_escape, resolve_physical_path,
};
#[cfg(feature = "tls")]
pub use server::{TlsError, TlsFileKind, TlsFiles};

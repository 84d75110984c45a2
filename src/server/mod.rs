//! The web server: configuration, the request pipeline, and the connection state machine that
//! glues the pool, the HTTP core, the modules, the routes and the static files together.
//!
//! In scope: [`crate::WebServer`] and its request/response API (the types a handler names are
//! at the crate root; this module holds the rest). Out of scope: parsing and framing
//! rules (in `http`), sockets and threads (in `pool`), route matching (in `routing`).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

pub(crate) mod access_log;
mod batch;
mod body_memory;
mod body_store;
#[cfg(feature = "compression")]
mod compress;
pub(crate) mod config;
mod connection;
mod date;
mod deferred;
mod file_body;
pub(crate) mod handler;
mod hooks;
#[cfg(feature = "metrics")]
mod metrics;
mod pipeline;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod static_files;
mod stream;
pub(crate) mod testing;
#[cfg(feature = "tls")]
mod tls;
mod upload;
pub(crate) mod web_server;

pub use config::SpoolConfig;
pub use deferred::DeferredResponse;
pub use file_body::FileRange;
pub use handler::HandlerError;
pub(crate) use request::Request;
pub(crate) use response::Response;
pub use response::{Body, Handover, InvalidHeader, OnSent, Takeover, html_escape};
pub use static_files::{
    add_default_page, add_mime_type, get_mime_type_from_filename, resolve_physical_path,
};
pub use stream::{MAX_STREAM_QUEUE_BYTES, ResponseStream, StreamError};
#[cfg(feature = "tls")]
pub use tls::{TlsError, TlsFileKind, TlsFiles};
pub use upload::{BodySink, FileSink};
pub(crate) use web_server::WebServer;
pub use web_server::{LogLevel, Routes, ServerHandle};

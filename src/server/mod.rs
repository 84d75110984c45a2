//! The web server: configuration, the request pipeline, and the connection state machine that
//! glues the pool, the HTTP core, the modules, the routes and the static files together.
//!
//! In scope: [`WebServer`] and its request/response API. Out of scope: parsing and framing
//! rules (in `http`), sockets and threads (in `pool`), route matching (in `routing`).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

mod access_log;
mod batch;
mod body_memory;
mod body_store;
#[cfg(feature = "compression")]
mod compress;
mod config;
mod connection;
mod date;
mod deferred;
mod file_body;
mod handler;
mod hooks;
#[cfg(feature = "metrics")]
mod metrics;
mod pipeline;
mod request;
mod response;
pub(crate) mod static_files;
mod stream;
mod testing;
#[cfg(feature = "tls")]
mod tls;
mod upload;
mod web_server;

pub use access_log::{
    ACCESS_QUEUE_LINES, AccessHook, AccessLog, AccessRecord, AccessTarget, combined_line,
};
pub use config::{ServerConfig, SpoolConfig};
pub use deferred::DeferredResponse;
pub use file_body::FileRange;
pub use handler::{HandlerError, Html, IntoResponse, Json};
pub use request::Request;
pub use response::{Body, Handover, InvalidHeader, OnSent, Response, Takeover, html_escape};
pub use static_files::{
    add_default_page, add_mime_type, get_mime_type_from_filename, resolve_physical_path,
};
pub use stream::{MAX_STREAM_QUEUE_BYTES, ResponseStream, StreamError};
pub use testing::TestRequest;
#[cfg(feature = "tls")]
pub use tls::{TlsError, TlsFileKind, TlsFiles};
pub use upload::{BodySink, FileSink};
pub use web_server::{LogLevel, Routes, ServerHandle, WebServer};

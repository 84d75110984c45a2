//! The WebSockets module (MicroWebSrv2's `WebSockets`): upgrades requests to WebSocket
//! connections that live on the server's pool, on tungstenite's protocol core.
//!
//! In scope: which requests are upgraded (every path, or the paths listed with
//! [`WebSockets::add_path`]), the opening handshake answer (400/426 with the reason for a bad
//! request), the sub-protocol choice, handing the connection to a session, the defaults each
//! socket starts with.
//! Out of scope: frames and deadlines (`session`), the socket API (`socket`), broadcasting
//! (`group`; across instances through a [`GroupBackend`], such as [`RedisBackend`] with the
//! `redis` feature). TLS is the transport's business: on a TLS listener the same code serves `wss://`.
//!
//! ```no_run
//! use microweb::WebServer;
//! use microweb::mods::websockets::WebSockets;
//!
//! let mut server = WebServer::new();
//! let ws = server.load_module("WebSockets")?.downcast::<WebSockets>().unwrap();
//! ws.add_path("/ws/echo");
//! ws.on_websocket_accepted(|socket| {
//!     socket.on_text_message(|socket, text| {
//!         let _ = socket.send_text_message(text);
//!     });
//! });
//! server.start_managed(2, None)?;
//! # Ok::<(), microweb::Error>(())
//! ```
//!
//! ## What an idle socket costs
//!
//! No buffer slot: a slot is borrowed to read, and returned as soon as no frame is partly
//! received (a frame being received keeps it). On the heap: the session and the socket's shared
//! state, tungstenite's read buffer (512 bytes, `READ_BUFFER_SIZE`) and its out buffer (up to
//! 4 KiB of capacity once it has sent), plus the pool's entry for the connection; after a frame
//! larger than these buffers, in either direction, the protocol context is rebuilt when the
//! socket goes idle, so a burst does not stay allocated. Measured: about 2.4 KiB of heap per idle
//! socket that has exchanged one small message (`idle_socket_heap_cost` in
//! `tests/websocket_figures.rs`), plus the kernel's socket buffers.

mod group;
mod live;
#[cfg(feature = "redis")]
mod redis;
mod session;
mod socket;
pub(crate) mod upgrade;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ::http::StatusCode;
use parking_lot::RwLock;

use crate::module::{Module, ServerInfo};
use crate::server::{Request, Response};

#[cfg(feature = "redis")]
pub use self::redis::{RedisBackend, RedisConfig, RedisError, RedisStats};
pub use group::{Broadcast, GroupBackend, GroupMembers, GroupMessage, WebSocketGroup};
pub use socket::{WebSocket, WebSocketError, WebSocketRequest};
pub use upgrade::UpgradeError;

use live::LiveSockets;
use session::{AcceptedFn, Session};

type ProtocolFn = Arc<dyn Fn(&WebSocketRequest, &[String]) -> Option<String> + Send + Sync>;

/// What each new socket starts with (a socket may change its own afterwards).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) max_recv_message_length: usize,
    pub(crate) wait_frame_timeout_sec: u64,
    pub(crate) max_send_queue_bytes: usize,
    pub(crate) ping_interval: Option<Duration>,
}

impl Settings {
    fn new(max_recv_message_length: usize) -> Settings {
        Settings {
            max_recv_message_length,
            wait_frame_timeout_sec: 10,
            max_send_queue_bytes: 1 << 20,
            ping_interval: None,
        }
    }
}

/// The WebSockets module: load it with `load_module("WebSockets")` (then downcast the handle) or
/// add one with `add_module(Arc::new(WebSockets::new()))` (or `WebSockets::for_server`), then set
/// [`WebSockets::on_websocket_accepted`].
pub struct WebSockets {
    paths: RwLock<Vec<String>>,
    /// A bit per length (mod 64) of the listed paths (none: no path is listed): a request whose
    /// path has none of those lengths is not for a listed path, and is let through without
    /// taking `paths`' lock, which every event loop would otherwise share per request.
    path_lengths: AtomicU64,
    settings: RwLock<Settings>,
    on_protocol: RwLock<Option<ProtocolFn>>,
    on_accepted: RwLock<Option<AcceptedFn>>,
    /// The open sockets, told to go away when the server stops.
    live: LiveSockets,
}

impl std::fmt::Debug for WebSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSockets")
            .field("paths", &*self.paths.read())
            .field("settings", &*self.settings.read())
            .finish_non_exhaustive()
    }
}

impl Default for WebSockets {
    fn default() -> Self {
        WebSockets::new()
    }
}

impl WebSockets {
    /// Creates the module with the Normal preset's defaults: messages up to 2 MiB, frames must
    /// arrive within 10 s once started, 1 MiB send queue per socket, no server pings, and
    /// upgrades accepted on every path.
    #[must_use]
    pub fn new() -> WebSockets {
        WebSockets::with_max_message(2 << 20)
    }

    /// Creates the module as `load_module` does: the message limit is the server's request body
    /// limit (its preset's: 16 KiB on Embedded, 8 MiB on Large), the rest as [`WebSockets::new`].
    #[must_use]
    pub fn for_server(server: &ServerInfo) -> WebSockets {
        let max = usize::try_from(server.max_request_content_length).unwrap_or(usize::MAX);
        WebSockets::with_max_message(max)
    }

    fn with_max_message(max: usize) -> WebSockets {
        WebSockets {
            paths: RwLock::new(Vec::new()),
            path_lengths: AtomicU64::new(0),
            settings: RwLock::new(Settings::new(max.max(1))),
            on_protocol: RwLock::new(None),
            on_accepted: RwLock::new(None),
            live: LiveSockets::default(),
        }
    }

    /// Accepts upgrades on `path` (exact, percent-decoded, without query). Once a path is
    /// listed, only listed paths are upgraded, and a plain request to one of them gets 426.
    pub fn add_path(&self, path: &str) {
        let mut paths = self.paths.write();
        if !paths.iter().any(|p| p == path) {
            paths.push(path.to_owned());
        }
        self.path_lengths
            .fetch_or(length_bit(path), Ordering::Release);
    }

    /// Returns the listed paths (empty: every path takes upgrades).
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        self.paths.read().clone()
    }

    /// Sets the callback that picks a sub-protocol among those the client offers (MicroWebSrv2's
    /// `OnWebSocketProtocol`); returning one that was not offered is ignored. It runs only when
    /// the client offers some.
    pub fn on_websocket_protocol(
        &self,
        f: impl Fn(&WebSocketRequest, &[String]) -> Option<String> + Send + Sync + 'static,
    ) {
        *self.on_protocol.write() = Some(Arc::new(f));
    }

    /// Sets the callback given each new socket once its 101 is sent, before any message
    /// (MicroWebSrv2's `OnWebSocketAccepted`): set the socket's callbacks there. The socket's
    /// `request().path()` tells which path it came on.
    pub fn on_websocket_accepted(&self, f: impl Fn(&WebSocket) + Send + Sync + 'static) {
        *self.on_accepted.write() = Some(Arc::new(f));
    }

    /// Returns the message limit new sockets start with.
    #[must_use]
    pub fn max_recv_message_length(&self) -> usize {
        self.settings.read().max_recv_message_length
    }

    /// Sets the message limit new sockets start with; a longer message closes with 1009.
    pub fn set_max_recv_message_length(&self, bytes: usize) {
        self.settings.write().max_recv_message_length = bytes.max(1);
    }

    /// Returns how long (seconds) a started frame may take to arrive in full on new sockets.
    #[must_use]
    pub fn wait_frame_timeout_sec(&self) -> u64 {
        self.settings.read().wait_frame_timeout_sec
    }

    /// Sets [`WebSockets::wait_frame_timeout_sec`]; 0 means no limit.
    pub fn set_wait_frame_timeout_sec(&self, seconds: u64) {
        self.settings.write().wait_frame_timeout_sec = seconds;
    }

    /// Returns the send queue bound (bytes) of new sockets.
    #[must_use]
    pub fn max_send_queue_bytes(&self) -> usize {
        self.settings.read().max_send_queue_bytes
    }

    /// Sets the send queue bound (bytes) of new sockets: past it, sends report
    /// [`WebSocketError::QueueFull`].
    pub fn set_max_send_queue_bytes(&self, bytes: usize) {
        self.settings.write().max_send_queue_bytes = bytes;
    }

    /// Returns the server ping interval, if any.
    #[must_use]
    pub fn ping_interval(&self) -> Option<Duration> {
        self.settings.read().ping_interval
    }

    /// Makes the server ping a socket after `interval` without input, and drop it when nothing
    /// comes back within another `interval` (dead peers free their connection). `None` (the
    /// default) sends no pings.
    pub fn set_ping_interval(&self, interval: Option<Duration>) {
        self.settings.write().ping_interval = interval.filter(|d| !d.is_zero());
    }

    fn wants(&self, request: &Request<'_>) -> Option<bool> {
        let is_ws = || {
            request
                .get_header("upgrade")
                .is_some_and(|u| upgrade::lists_token(u, "websocket"))
        };
        let lengths = self.path_lengths.load(Ordering::Acquire);
        if lengths == 0 {
            return is_ws().then_some(true);
        }
        if lengths & length_bit(request.path()) == 0 {
            return None; // no listed path has its length
        }
        let paths = self.paths.read();
        paths.iter().any(|p| p == request.path()).then(is_ws)
    }
}

/// The bit of `path`'s length (mod 64) in [`WebSockets`]' `path_lengths`.
fn length_bit(path: &str) -> u64 {
    1 << (path.len() % 64)
}

impl Module for WebSockets {
    fn name(&self) -> &'static str {
        "WebSockets"
    }

    /// Tells every open socket the server is going away (close 1001, RFC 6455 §7.4.1) and
    /// refuses upgrades from now on (503).
    fn on_stop(&self) {
        self.live.close_all();
    }

    fn gauges(&self) -> Vec<(&'static str, &'static str, i64)> {
        let open = i64::try_from(self.live.open()).unwrap_or(i64::MAX);
        vec![("microweb_websockets_open", "WebSockets open.", open)]
    }

    fn on_request(&self, request: &Request<'_>, response: &mut Response) {
        let Some(is_ws) = self.wants(request) else {
            return; // not ours
        };
        if !is_ws {
            // RFC 9110 §15.5.22: 426 names the protocol to switch to in `Upgrade`.
            let _ = response.set_content_type("text/plain; charset=utf-8");
            response.return_(
                StatusCode::UPGRADE_REQUIRED,
                "this resource takes websocket connections\n",
            );
            let _ = response.set_header("Upgrade", "websocket");
            let _ = response.set_header("Sec-WebSocket-Version", "13");
            return;
        }
        let handshake = match upgrade::check(
            request.method(),
            request.http_ver() == "1.1",
            request.headers(),
        ) {
            Ok(h) => h,
            Err(e) => {
                let _ = response.set_content_type("text/plain; charset=utf-8");
                response.return_(e.status(), format!("{e}\n"));
                if e == UpgradeError::UnsupportedVersion {
                    let _ = response.set_header("Sec-WebSocket-Version", "13");
                }
                return;
            }
        };
        if self.live.is_stopping() {
            let _ = response.set_content_type("text/plain; charset=utf-8");
            response.return_(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n");
            response.set_close();
            return;
        }
        let mut snapshot = WebSocketRequest {
            path: request.path().to_owned(),
            query_string: request.query_string().to_owned(),
            headers: request
                .headers()
                .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned()))
                .collect(),
            peer: request.user_address(),
            is_tls: request.is_tls(),
            protocol: None,
        };
        if !handshake.protocols.is_empty() {
            let choose = self.on_protocol.read().clone();
            if let Some(choose) = choose {
                match choose(&snapshot, &handshake.protocols) {
                    Some(p) if handshake.protocols.contains(&p) => snapshot.protocol = Some(p),
                    Some(p) => log::warn!(
                        "websockets: on_websocket_protocol chose {p:?}, which was not offered"
                    ),
                    None => {}
                }
            }
        }
        if let Some(p) = &snapshot.protocol {
            // RFC 6455 §4.2.2 item 5.4: the chosen sub-protocol, echoed once.
            if response
                .set_header("Sec-WebSocket-Protocol", p.clone())
                .is_err()
            {
                snapshot.protocol = None;
            }
        }
        let _ = response.set_header("Sec-WebSocket-Accept", handshake.accept);
        let settings = self.settings.read().clone();
        let on_accepted = self.on_accepted.read().clone();
        let socket = WebSocket::new(snapshot, &settings);
        self.live.add(&socket);
        response.take_over(
            "websocket",
            Box::new(
                move |handover: crate::server::Handover| -> Box<dyn crate::pool::ConnHandler> {
                    Box::new(Session::new(
                        socket,
                        handover,
                        on_accepted,
                        settings.ping_interval,
                    ))
                },
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestRequest;
    use ::http::Method;

    /// What the module answers to `GET path` (with an `Upgrade: websocket` when `upgrade`);
    /// 0 when it lets the request through.
    fn status_of(ws: &WebSockets, path: &str, upgrade: bool) -> u16 {
        let mut request = TestRequest::new(Method::GET, path);
        if upgrade {
            request = request.header("Upgrade", "websocket");
        }
        request
            .run(|q: &Request<'_>, r: &mut Response| {
                ws.on_request(q, r);
                if !r.is_answered() {
                    r.return_(StatusCode::from_u16(299).unwrap(), "through");
                }
            })
            .status
            .as_u16()
    }

    #[test]
    fn only_listed_paths_are_taken_once_one_is_listed() {
        let ws = WebSockets::new();
        assert_eq!(
            status_of(&ws, "/any", true),
            400,
            "any path before one is listed"
        );
        assert_eq!(status_of(&ws, "/any", false), 299);
        ws.add_path("/ws/echo");
        assert_eq!(status_of(&ws, "/ws/echo", false), 426, "a listed path");
        assert_eq!(
            status_of(&ws, "/ws/echo", true),
            400,
            "taken (half a handshake)"
        );
        // The same length as the listed path, and another length: both let through.
        assert_eq!(status_of(&ws, "/ws/ohce", true), 299);
        assert_eq!(status_of(&ws, "/ws/ohce", false), 299);
        assert_eq!(status_of(&ws, "/any", true), 299);
        ws.add_path("/any");
        assert_eq!(status_of(&ws, "/any", false), 426);
    }
}

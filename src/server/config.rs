//! The web server's configuration: MicroWebSrv2's properties, with a preset as the starting point.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::access_log::AccessHook;
#[cfg(feature = "tls")]
use super::tls::TlsFiles;
use crate::config::Preset;
use crate::proxy::TrustedProxies;

/// Where and from what size request bodies go to disk (see [`ServerConfig::spool`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolConfig {
    /// A body longer than this many bytes is spooled. Default: 64 KiB.
    pub threshold: usize,
    /// The folder of the temporary files (unlinked at once: nothing is left there, even after a
    /// crash). Default: the system's temporary folder (`TMPDIR`, else `/tmp`).
    pub dir: PathBuf,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            threshold: 64 * 1024,
            dir: std::env::temp_dir(),
        }
    }
}

impl SpoolConfig {
    /// Spools bodies longer than `threshold` bytes into `dir`.
    #[must_use]
    pub fn new(threshold: usize, dir: impl Into<PathBuf>) -> SpoolConfig {
        SpoolConfig {
            threshold,
            dir: dir.into(),
        }
    }
}

/// Everything a [`WebServer`](super::WebServer) is configured with before it starts.
///
/// `Default` is the Normal preset on 127.0.0.1:8080 serving `webroot/`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Addresses to listen on. Default: `127.0.0.1:8080`. IPv6 (`[::1]:8080`) and dual-stack
    /// (`[::]:8080`) are allowed.
    pub bind_addresses: Vec<SocketAddr>,
    /// Unix socket files to listen on, beside `bind_addresses` (which may then be empty), for a
    /// proxy on the same host. They serve plain HTTP (no TLS, no PROXY protocol); a request's
    /// [`user_address`](super::Request::user_address) there is `unix` unless `trusted_proxies`
    /// trusts `unix` and the proxy says whom it forwards for. A stale socket file is replaced
    /// only when nothing listens on it; the files are removed when the server stops.
    /// Default: none.
    pub unix_binds: Vec<PathBuf>,
    /// The permissions of the `unix_binds` files, such as `0o660` (who may connect). Default:
    /// none (the process's umask decides).
    pub unix_socket_mode: Option<u32>,
    /// Folder of static files. Default: `webroot`.
    pub root_path: PathBuf,
    /// Folder of template pages, read by the Templates module when it is loaded. Default:
    /// `templates` (the demo's folder, next to `webroot`).
    pub templates_path: PathBuf,
    /// Listen backlog (MicroWebSrv2's `ConnQueueCapacity`). Default: the preset's (256).
    pub conn_queue_capacity: u32,
    /// Number of buffer slots in the pool. Default: the preset's (512).
    pub buffer_slots_count: usize,
    /// Size of one buffer slot, which is also the largest request head. Default: the preset's (4 KiB).
    pub buffer_slot_size: usize,
    /// Allocate every slot once at start. Default: `true` (memory is a budget, not a side effect).
    pub keep_alloc_buffer_slots: bool,
    /// Largest request body accepted, in bytes (413 above). Default: the preset's (2 MiB).
    pub max_request_content_length: u64,
    /// Bytes the server may hold beyond its buffer slots, summed over its connections: request
    /// bodies gathered in memory and WebSocket messages being received (a message never exceeds
    /// it: the WebSockets module bounds messages by it too); answers larger than a slot, large
    /// WebSocket messages queued to send and pipelined stashes are charged to it while they wait
    /// for the client (they exist already: the figure in use may then pass the limit, and no new
    /// body is admitted until it is back under). A connection that cannot reserve what it needs stops reading
    /// (the client's TCP window fills) until bytes are released, in arrival order; a body
    /// declared larger than the whole budget gets 413 before it is read. Default: the preset's
    /// (Embedded 64 KiB, Light 2 MiB, Normal 32 MiB, Large 256 MiB). See
    /// [`WebServer::memory_budget`](super::WebServer::memory_budget) for the figures.
    pub memory_budget: usize,
    /// How long a connection may wait for the memory budget before it gets
    /// `503 Service Unavailable` with `Retry-After` (and is closed). This wait is the server's,
    /// not the client's: it never earns a 408. Default: 30 s.
    pub memory_wait_timeout: Duration,
    /// Spool request bodies past a threshold to unlinked temporary files instead of memory
    /// (nginx's `client_body_buffer_size`): a client that trickles a large body then holds
    /// disk, not budget; the body is read back into memory, its length reserved from the budget,
    /// when it is complete, so `content()` and the form, JSON and multipart readers work
    /// unchanged. Default: on for Normal and Large (64 KiB, the system's temporary folder), off
    /// for Embedded and Light (no disk to count on). `None` keeps every body in memory.
    pub spool: Option<SpoolConfig>,
    /// Called once per answered request with its [`AccessRecord`](crate::access::AccessRecord), on the
    /// connection's event loop once the answer's last byte is out; keep it short (an
    /// [`AccessLog`](crate::access::AccessLog) hands the line to a thread of its own). Default: none.
    pub on_access: Option<AccessHook>,
    /// Serve metrics at this path (`/metrics`) in the OpenMetrics text Prometheus scrapes:
    /// requests by method and status class, a duration histogram, bytes in and out, open
    /// connections, slots, the memory budget, open WebSockets, TLS handshakes. Default: none.
    /// Needs the `metrics` feature.
    #[cfg(feature = "metrics")]
    pub metrics_path: Option<String>,
    /// How long a request may stall between two receptions before 408 and close.
    /// Default: 5 s (MicroWebSrv2 used 2 s, tight for real networks).
    pub requests_timeout: Duration,
    /// How long an idle keep-alive connection is kept. Default: 15 s.
    pub keep_alive_timeout: Duration,
    /// How long `stop()` lets in-flight requests finish before it closes them. Default: 10 s.
    pub shutdown_grace: Duration,
    /// Requests answered on one connection before it is closed. Default: 1000; 0 = no bound.
    pub max_requests_per_connection: u32,
    /// Where requests for missing resources are redirected, when set. Default: none (404).
    pub not_found_url: Option<String>,
    /// Gzip static text files and handler answers (`text/*`, JavaScript, JSON, XML, SVG) of at
    /// least this many bytes on the fly for clients that accept gzip; `None` is off. Default: off. Each such response
    /// holds a deflate state of a few hundred KiB while it streams — more than the whole slot
    /// budget of the Embedded and Light presets, so leave it off there. Pre-compressed siblings
    /// (`app.js.gz`, `app.js.br`) are served whatever this says. Needs the `compression` feature.
    #[cfg(feature = "compression")]
    pub gzip_min_size: Option<u64>,
    /// Bytes of small static files (up to 64 KiB each) kept in memory, so that serving one
    /// costs a `stat` instead of an open, a read and a close. The file's device, inode, size
    /// and modification time are checked on every request, so a changed file is read again at
    /// once; which file a URL path names (default pages, pre-compressed siblings) is worked out
    /// again at most a second later. A file with a `.gz`/`.br` sibling, or gzipped on the fly,
    /// is never kept. 0 turns the cache off. Default: a quarter of the preset's slot memory
    /// (Embedded 4 KiB, Light 32 KiB, Normal 512 KiB, Large 8 MiB).
    pub static_cache_size: usize,
    /// Pin each event loop thread of a managed start to its own CPU (see
    /// [`PoolConfig::pin_threads`](crate::pool::PoolConfig::pin_threads)). Default: off.
    pub pin_threads: bool,
    /// The proxies whose word about the client is believed (CIDR blocks). Only for a peer in
    /// this list does [`Request::user_address`](super::Request::user_address) come from its
    /// `Forwarded: for=` (RFC 7239), else from the right-most untrusted hop of `X-Forwarded-For`,
    /// and [`Request::is_tls`](super::Request::is_tls) from `Forwarded: proto=` or
    /// `X-Forwarded-Proto`; a PROXY protocol header is accepted only from them. From any other
    /// peer these headers change nothing. Default: empty (nobody is trusted).
    pub trusted_proxies: TrustedProxies,
    /// Expect a PROXY protocol header (HAProxy's, version 1 or 2) before the first byte of every
    /// connection, and take the client's address from it. A connection without one, with a
    /// malformed one, from a peer not in `trusted_proxies`, or whose header does not arrive
    /// within `requests_timeout` is closed; no buffer slot or budget is held while it is read.
    /// A v2 `LOCAL` header (a health check) keeps the peer's address. Default: off.
    pub proxy_protocol: bool,
    /// Set `SO_REUSEPORT` on the listening sockets, so that several processes can listen on one
    /// port and the kernel spreads connections over them. Default: off.
    pub reuse_port: bool,
    /// Add `Access-Control-Allow-Origin: *` to every response. Default: off.
    pub allow_all_origins: bool,
    /// Answer every CORS preflight `OPTIONS` with the asked-for methods and headers. Default: off.
    pub cors_allow_all: bool,
    /// Serve HTTPS with these files (set through
    /// [`WebServer::enable_ssl`](super::WebServer::enable_ssl), which checks them at once).
    /// Default: none (plain HTTP). The TLS handshake is bounded by `requests_timeout`.
    /// Needs the `tls` feature, as does `tls_max_connections`.
    #[cfg(feature = "tls")]
    pub tls: Option<TlsFiles>,
    /// The most HTTPS connections open at once; more are closed before their handshake.
    /// rustls' state costs about 8 KiB per idle connection beside the slots, so this bounds that
    /// memory. Default: none (only the process' descriptor limit).
    #[cfg(feature = "tls")]
    pub tls_max_connections: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::from_preset(Preset::Normal)
    }
}

impl ServerConfig {
    /// Returns the defaults with the figures of `preset`.
    #[must_use]
    pub fn from_preset(preset: Preset) -> ServerConfig {
        let mut config = ServerConfig {
            bind_addresses: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
            unix_binds: Vec::new(),
            unix_socket_mode: None,
            root_path: PathBuf::from("webroot"),
            templates_path: PathBuf::from("templates"),
            conn_queue_capacity: 0,
            buffer_slots_count: 0,
            buffer_slot_size: 0,
            keep_alloc_buffer_slots: true,
            max_request_content_length: 0,
            memory_budget: 0,
            memory_wait_timeout: Duration::from_secs(30),
            spool: None,
            on_access: None,
            #[cfg(feature = "metrics")]
            metrics_path: None,
            requests_timeout: Duration::from_secs(5),
            keep_alive_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            max_requests_per_connection: 1000,
            not_found_url: None,
            #[cfg(feature = "compression")]
            gzip_min_size: None,
            static_cache_size: 0,
            pin_threads: false,
            trusted_proxies: TrustedProxies::new(),
            proxy_protocol: false,
            reuse_port: false,
            allow_all_origins: false,
            cors_allow_all: false,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            tls_max_connections: None,
        };
        config.apply_preset(preset);
        config
    }

    /// Sets the six sizing figures from `preset`, and the static cache to a quarter of its
    /// slot memory, keeping every other field.
    pub fn apply_preset(&mut self, preset: Preset) {
        let f = preset.figures();
        self.conn_queue_capacity = f.conn_queue_capacity;
        self.buffer_slots_count = f.buffer_slots_count;
        self.buffer_slot_size = f.buffer_slot_size;
        self.keep_alloc_buffer_slots = f.keep_alloc_buffer_slots;
        self.max_request_content_length = f.max_request_content_length;
        self.memory_budget = f.memory_budget;
        self.spool = match preset {
            Preset::Normal | Preset::Large => Some(SpoolConfig::default()),
            _ => None,
        };
        self.static_cache_size = f.buffer_slots_count * f.buffer_slot_size / 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_set_the_five_figures_and_keep_the_rest() {
        let mut c = ServerConfig {
            not_found_url: Some("/".into()),
            ..ServerConfig::default()
        };
        c.apply_preset(Preset::Embedded);
        assert_eq!(
            (
                c.conn_queue_capacity,
                c.buffer_slots_count,
                c.buffer_slot_size
            ),
            (8, 16, 1024)
        );
        assert_eq!(c.max_request_content_length, 16 * 1024);
        assert_eq!(c.memory_budget, 64 * 1024);
        assert_eq!(c.not_found_url.as_deref(), Some("/"));
    }
}

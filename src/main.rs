//! The microweb demo server: serves `webroot/` and `templates/` on 127.0.0.1:8080 (Normal preset).
//!
//! Run `cargo run --release -- --help` for the flags.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use microweb::access::{ACCESS_QUEUE_LINES, AccessLog, AccessTarget};
use microweb::proxy::TrustedProxies;
use microweb::{
    Preset, WebServer, mods::websockets::GroupBackend, mods::websockets::RedisBackend, pool::Pool,
    pool::PoolConfig, server::ServerHandle,
};

mod cli;

use cli::demo;

const HELP: &str = "\
microweb — a web server on a pool of nonblocking sockets with preallocated buffer slots

USAGE:
    microweb [OPTIONS]
    microweb cert [--help]      write a self-signed development certificate
    microweb keygen [--help]    write a passphrase-protected secp256k1 key file

OPTIONS:
    --bind ADDR          address to listen on (repeatable; IPv6 as [::1]:8080, dual-stack [::]:8080;
                         a host name such as localhost:8080 binds every address it resolves to;
                         unix:/path/to.sock listens on a Unix socket, for a proxy on this host)
                         [default: 127.0.0.1:8080]
    --unix-socket-mode MODE  permissions of the unix: socket files, in octal, such as 660
    --root DIR           folder of static files [default: webroot]
    --templates DIR      folder of template pages [default: templates]
    --preset NAME        memory preset: embedded, light, normal, large [default: normal]
    --memory-budget SIZE bytes the server may hold beyond its slots (request bodies, WebSocket
                         messages, answers for slow readers), such as 65536, 512k or 32m
                         [default: the preset's: 64k, 2m, 32m, 256m]
    --spool-dir DIR      spool request bodies over 64 KiB to unlinked files in DIR instead of
                         memory [default: the system's temporary folder on normal and large]
    --no-spool           keep every request body in memory (the default on embedded and light)
    --gzip-min-size SIZE gzip text answers and files of at least SIZE bytes for clients that
                         accept it, such as 1k [default: off]
    --metrics-path PATH  serve Prometheus / OpenMetrics metrics at PATH, such as /metrics
    --access-log PATH    one line per answered request, in the Combined Log Format with the
                         duration in seconds last; - for stdout; reopened on SIGHUP
    --trusted-proxy CIDR a proxy whose Forwarded / X-Forwarded-For / X-Forwarded-Proto headers (or
                         PROXY protocol header) give the client's address and scheme, such as
                         127.0.0.1 or 10.0.0.0/8, or unix for peers on the Unix sockets
                         (repeatable) [default: none trusted]
    --proxy-protocol     every connection starts with a PROXY protocol header (HAProxy's v1 or
                         v2, send-proxy / send-proxy-v2) from a --trusted-proxy; others are closed
    --reuse-port         set SO_REUSEPORT on the listeners: several processes share one port
    --ws-redis URL       the chat room (/ws/chat) spans every instance on this Redis server, such as
                         redis://127.0.0.1:6379 (pub/sub; local chat goes on while Redis is down)
    --threads N          event loops, a thread each (0 = one, on the main thread) [default: number of cores]
    --log LEVEL          error, warn, info or debug [default: info]
    --https-bind ADDR    also serve HTTPS on ADDR, beside HTTP, in the same pool
                         (needs --tls-cert and --tls-key; `microweb cert` writes a development pair)
    --tls-cert FILE      PEM certificate chain for --https-bind
    --tls-key FILE       PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1)
    --tls-ca FILE        PEM CA certificates: HTTPS clients must present a certificate they signed
    -h, --help           print this help
    -V, --version        print the version

Started by systemd socket activation (LISTEN_FDS), the server listens on the inherited sockets
instead of --bind.

Ctrl-C or SIGTERM stops the server: WebSockets get close 1001, event streams end, requests in
flight finish (10 s at most); a second Ctrl-C exits at once.";

/// The command line, parsed.
struct Args {
    binds: Vec<SocketAddr>,
    /// `--bind unix:PATH`, every one given.
    unix_binds: Vec<PathBuf>,
    /// `--unix-socket-mode`.
    unix_socket_mode: Option<u32>,
    root: PathBuf,
    templates: PathBuf,
    /// Whether `--templates` was given (a missing folder is then an error, not a warning).
    templates_given: bool,
    preset: Preset,
    /// `--memory-budget`, when given (else the preset's).
    memory_budget: Option<usize>,
    /// `--spool-dir` (Some(Some)), `--no-spool` (Some(None)), or the preset's (None).
    spool: Option<Option<PathBuf>>,
    /// `--access-log PATH|-`.
    access_log: Option<AccessTarget>,
    /// `--gzip-min-size`: gzip text answers of at least this many bytes.
    gzip_min_size: Option<u64>,
    /// `--metrics-path`: serve metrics there.
    metrics_path: Option<String>,
    /// `--trusted-proxy`, every one given.
    trusted_proxies: TrustedProxies,
    /// `--proxy-protocol`.
    proxy_protocol: bool,
    /// `--reuse-port`.
    reuse_port: bool,
    /// `--ws-redis URL`.
    ws_redis: Option<String>,
    threads: usize,
    log: log::LevelFilter,
    https: Option<Https>,
}

/// The HTTPS part of the command line.
struct Https {
    binds: Vec<SocketAddr>,
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

/// What the command line asks for.
enum Command {
    Serve(Box<Args>),
    Help,
    Version,
}

/// Resolves `--bind`-style `value` (an address or `host:port`) to every address it names.
fn resolve(flag: &str, value: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(addr) = value.parse() {
        return Ok(vec![addr]);
    }
    let addrs = value.to_socket_addrs().map_err(|e| {
        format!("{flag}: cannot resolve {value} ({e}); give HOST:PORT, such as 127.0.0.1:8080")
    })?;
    let mut unique = Vec::new();
    for a in addrs {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(format!("{flag}: {value} resolves to no address"));
    }
    Ok(unique)
}

/// Checks that `dir`, given by `flag`, is a folder; the error is the one line a user sees.
fn check_folder(flag: &str, dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let what = if dir.exists() {
        "is not a folder"
    } else {
        "does not exist"
    };
    let relative = if dir.is_relative() {
        match std::env::current_dir() {
            Ok(cwd) => format!(
                " (relative paths are from the current directory, {})",
                cwd.display()
            ),
            Err(_) => " (relative paths are from the current directory)".to_owned(),
        }
    } else {
        String::new()
    };
    Err(format!("{flag} {}: {what}{relative}", dir.display()))
}

/// Parses a byte count with an optional binary suffix: `65536`, `512k`, `32m`, `1g`.
fn parse_size(text: &str) -> Option<usize> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, shift) = match lower.strip_suffix(['k', 'm', 'g']) {
        Some(d) if lower.ends_with('k') => (d, 10),
        Some(d) if lower.ends_with('m') => (d, 20),
        Some(d) => (d, 30),
        None => (lower.as_str(), 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

fn parse_args() -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut args = Args {
        binds: Vec::new(),
        unix_binds: Vec::new(),
        unix_socket_mode: None,
        root: PathBuf::from("webroot"),
        templates: PathBuf::from("templates"),
        templates_given: false,
        preset: Preset::Normal,
        memory_budget: None,
        spool: None,
        access_log: None,
        gzip_min_size: None,
        metrics_path: None,
        trusted_proxies: TrustedProxies::new(),
        proxy_protocol: false,
        reuse_port: false,
        ws_redis: None,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        log: log::LevelFilter::Info,
        https: None,
    };
    let mut https_bind: Option<Vec<SocketAddr>> = None;
    let (mut tls_cert, mut tls_key, mut tls_ca) = (None, None, None);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        let value = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value()
                .map_err(|e| e.to_string())?
                .into_string()
                .map_err(|_| "argument is not valid UTF-8".to_owned())
        };
        match arg {
            Long("bind") => {
                let v = value(&mut parser)?;
                match v.strip_prefix("unix:") {
                    Some("") => {
                        return Err("--bind unix: needs a path: unix:/run/microweb.sock".into());
                    }
                    Some(path) => args.unix_binds.push(PathBuf::from(path)),
                    None => args.binds.extend(resolve("--bind", &v)?),
                }
            }
            Long("unix-socket-mode") => {
                let v = value(&mut parser)?;
                args.unix_socket_mode = Some(
                    u32::from_str_radix(&v, 8)
                        .ok()
                        .filter(|m| *m <= 0o777)
                        .ok_or_else(|| {
                            format!("--unix-socket-mode: not an octal mode: {v} (660)")
                        })?,
                );
            }
            Long("root") => args.root = PathBuf::from(value(&mut parser)?),
            Long("templates") => {
                args.templates = PathBuf::from(value(&mut parser)?);
                args.templates_given = true;
            }
            Long("preset") => {
                let v = value(&mut parser)?;
                args.preset = Preset::from_name(&v).ok_or_else(|| {
                    format!("--preset: unknown preset {v} (embedded, light, normal, large)")
                })?;
            }
            Long("memory-budget") => {
                let v = value(&mut parser)?;
                args.memory_budget = Some(parse_size(&v).ok_or_else(|| {
                    format!("--memory-budget: not a size: {v} (65536, 512k, 32m)")
                })?);
            }
            Long("spool-dir") => args.spool = Some(Some(PathBuf::from(value(&mut parser)?))),
            Long("no-spool") => args.spool = Some(None),
            Long("gzip-min-size") => {
                let v = value(&mut parser)?;
                args.gzip_min_size = Some(
                    parse_size(&v)
                        .ok_or_else(|| format!("--gzip-min-size: not a size: {v} (1024, 4k)"))?
                        as u64,
                );
            }
            Long("metrics-path") => {
                let v = value(&mut parser)?;
                if !v.starts_with('/') {
                    return Err(format!("--metrics-path: a path starting with /: {v}"));
                }
                args.metrics_path = Some(v);
            }
            Long("access-log") => {
                args.access_log = Some(AccessTarget::parse(&value(&mut parser)?));
            }
            Long("trusted-proxy") => {
                let v = value(&mut parser)?;
                args.trusted_proxies
                    .add_str(&v)
                    .map_err(|e| format!("--trusted-proxy: {e}"))?;
            }
            Long("proxy-protocol") => args.proxy_protocol = true,
            Long("reuse-port") => args.reuse_port = true,
            Long("ws-redis") => args.ws_redis = Some(value(&mut parser)?),
            Long("threads") => {
                let v = value(&mut parser)?;
                args.threads = v
                    .parse()
                    .map_err(|_| format!("--threads: not a number: {v}"))?;
            }
            Long("log") => {
                let v = value(&mut parser)?;
                args.log = match v.as_str() {
                    "error" => log::LevelFilter::Error,
                    "warn" => log::LevelFilter::Warn,
                    "info" => log::LevelFilter::Info,
                    "debug" => log::LevelFilter::Debug,
                    _ => {
                        return Err(format!(
                            "--log: unknown level {v} (error, warn, info, debug)"
                        ));
                    }
                };
            }
            Long("https-bind") => {
                let v = value(&mut parser)?;
                https_bind = Some(resolve("--https-bind", &v)?);
            }
            Long("tls-cert") => tls_cert = Some(PathBuf::from(value(&mut parser)?)),
            Long("tls-key") => tls_key = Some(PathBuf::from(value(&mut parser)?)),
            Long("tls-ca") => tls_ca = Some(PathBuf::from(value(&mut parser)?)),
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if args.proxy_protocol && args.trusted_proxies.is_empty() {
        return Err(
            "--proxy-protocol needs --trusted-proxy: the proxies allowed to send it".into(),
        );
    }
    if args.binds.is_empty() && args.unix_binds.is_empty() {
        args.binds.push(SocketAddr::from(([127, 0, 0, 1], 8080)));
    }
    args.https = match (https_bind, tls_cert, tls_key) {
        (Some(binds), Some(cert), Some(key)) => Some(Https {
            binds,
            cert,
            key,
            ca: tls_ca,
        }),
        (None, None, None) if tls_ca.is_none() => None,
        (None, ..) => return Err("--tls-cert, --tls-key and --tls-ca need --https-bind".into()),
        (Some(_), None, _) => return Err("--https-bind needs --tls-cert".into()),
        (Some(_), _, None) => return Err("--https-bind needs --tls-key".into()),
    };
    Ok(Command::Serve(Box::new(args)))
}

/// Writes log records to stderr, one line each, after an RFC 3339 UTC timestamp.
///
/// While the servers start, an info record already written is not written again (two servers
/// over one folder both report it compiled), and the library's `listening on` records are left
/// out: the binary prints those on stdout, where scripts read them.
struct StderrLogger {
    starting: AtomicBool,
    seen: Mutex<BTreeSet<String>>,
}

impl StderrLogger {
    /// Returns false for a start-up record that is not worth a line.
    fn is_new(&self, record: &log::Record<'_>) -> bool {
        if record.level() != log::Level::Info || !self.starting.load(Ordering::Acquire) {
            return true;
        }
        let text = record.args().to_string();
        if text.starts_with("listening on ") {
            return false;
        }
        self.seen.lock().map_or(true, |mut seen| seen.insert(text))
    }
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) && self.is_new(record) {
            let now = time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
            let stamp = now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            // A closed stderr is no reason to stop serving.
            let _ = writeln!(
                std::io::stderr().lock(),
                "{stamp} {:<5} {}",
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger {
    starting: AtomicBool::new(true),
    seen: Mutex::new(BTreeSet::new()),
};

fn init_logging(level: log::LevelFilter) {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// Ends the start-up phase of the log (see [`StderrLogger`]).
fn started() {
    LOGGER.starting.store(false, Ordering::Release);
    if let Ok(mut seen) = LOGGER.seen.lock() {
        seen.clear();
    }
}

/// Applies `--memory-budget`, `--spool-dir`, `--no-spool`, `--gzip-min-size`,
/// `--metrics-path`, `--trusted-proxy`, `--proxy-protocol` and `--reuse-port` over the preset's
/// figures.
fn apply_flags(config: &mut microweb::ServerConfig, args: &Args) {
    config.trusted_proxies.clone_from(&args.trusted_proxies);
    config.proxy_protocol = args.proxy_protocol;
    config.reuse_port = args.reuse_port;
    if let Some(bytes) = args.memory_budget {
        config.memory_budget = bytes;
    }
    if args.gzip_min_size.is_some() {
        config.gzip_min_size = args.gzip_min_size;
    }
    if args.metrics_path.is_some() {
        config.metrics_path.clone_from(&args.metrics_path);
    }
    match &args.spool {
        Some(Some(dir)) => config.spool = Some(microweb::server::SpoolConfig::new(64 * 1024, dir)),
        Some(None) => config.spool = None,
        None => {}
    }
}

/// Prints the `listening on` lines of a started server: `SCHEME://ADDR`, then `unix:PATH`.
fn print_listening(server: &WebServer, scheme: &str) {
    for addr in server.local_addrs() {
        print_line(&format!("listening on {scheme}://{addr}"));
    }
    for path in server.unix_paths() {
        print_line(&format!("listening on unix:{}", path.display()));
    }
}

/// Prints `text` on stdout; a closed pipe (`microweb --help | head -1`) is not an error.
fn print_line(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("cert") => return cli::cert::run(std::env::args().skip(2)),
        Some("keygen") => return cli::keygen::run(std::env::args().skip(2)),
        _ => {}
    }
    let args = match parse_args() {
        Ok(Command::Serve(args)) => args,
        Ok(Command::Help) => {
            print_line(HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            print_line(concat!("microweb ", env!("CARGO_PKG_VERSION")));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("microweb: {e}\nsee microweb --help");
            return ExitCode::from(2);
        }
    };
    // A folder that is not there is one line, not a server that answers 404 to everything.
    let folders = check_folder("--root", &args.root)
        .and_then(|()| match args.templates_given {
            true => check_folder("--templates", &args.templates),
            false => Ok(()),
        })
        .and_then(|()| match &args.spool {
            Some(Some(dir)) => check_folder("--spool-dir", dir),
            _ => Ok(()),
        });
    if let Err(e) = folders {
        eprintln!("microweb: {e}");
        return ExitCode::from(2);
    }
    init_logging(args.log);

    let access_log = match &args.access_log {
        None => None,
        Some(target) => match AccessLog::open(target.clone(), ACCESS_QUEUE_LINES) {
            Ok(log) => Some(log),
            Err(e) => {
                eprintln!("microweb: --access-log: cannot open {target}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    // One backend for the chat rooms of both servers: its threads connect on their own.
    let chat_backend: Option<Arc<dyn GroupBackend>> = match &args.ws_redis {
        None => None,
        Some(url) => match RedisBackend::connect(url) {
            Ok(backend) => Some(Arc::new(backend)),
            Err(e) => {
                eprintln!("microweb: --ws-redis: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let mut server = WebServer::new();
    server.set_preset(args.preset);
    apply_flags(server.config_mut(), &args);
    server.config_mut().on_access = access_log.as_ref().map(AccessLog::hook);
    server.set_bind_addresses(args.binds.clone());
    server.config_mut().unix_binds.clone_from(&args.unix_binds);
    server.config_mut().unix_socket_mode = args.unix_socket_mode;
    match microweb::pool::activation::inherited_listeners() {
        Ok(inherited) => {
            for listener in inherited {
                server.adopt_listener(listener);
            }
        }
        Err(e) => {
            eprintln!("microweb: socket activation: {e}");
            return ExitCode::FAILURE;
        }
    }
    server.set_root_path(&args.root);
    demo::install(&mut server, &args.templates, chat_backend.as_ref());

    // With --https-bind, a second server serves the same content over TLS in the same pool.
    let mut https = None;
    if let Some(h) = &args.https {
        let mut s = WebServer::new();
        s.set_preset(args.preset);
        apply_flags(s.config_mut(), &args);
        s.config_mut().on_access = access_log.as_ref().map(AccessLog::hook);
        s.set_bind_addresses(h.binds.clone());
        s.set_root_path(&args.root);
        demo::install(&mut s, &args.templates, chat_backend.as_ref());
        if let Err(e) = s.enable_ssl(&h.cert, &h.key, h.ca.as_deref()) {
            eprintln!("microweb: cannot serve HTTPS: {e}");
            return ExitCode::FAILURE;
        }
        https = Some(s);
    }
    let pool = match &https {
        None => None,
        Some(_) => match Pool::new(PoolConfig::from_preset(args.preset)) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("microweb: cannot create the socket pool: {e}");
                return ExitCode::FAILURE;
            }
        },
    };

    let mut handles: Vec<ServerHandle> = vec![server.handle()];
    handles.extend(https.as_ref().map(WebServer::handle));
    let stop_pool = pool.clone();
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("microweb: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    std::thread::spawn(move || {
        let mut stopping = Some((handles, stop_pool));
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                // logrotate moved the file away: write a new one.
                if let Some(log) = &access_log {
                    log.reopen();
                    log::info!("access log reopened");
                }
                continue;
            }
            let Some((handles, stop_pool)) = stopping.take() else {
                log::warn!("second signal: exiting without waiting for open connections");
                std::process::exit(128 + signal);
            };
            log::info!("stopping (a second Ctrl-C exits at once)");
            std::thread::spawn(move || stop_servers(&handles, stop_pool));
        }
    });

    let (Some(pool), Some(https)) = (pool, https.as_mut()) else {
        if let Err(e) = server.start_managed(args.threads, None) {
            eprintln!("microweb: cannot start: {e}");
            return ExitCode::FAILURE;
        }
        print_listening(&server, "http");
        started();
        server.wait();
        return ExitCode::SUCCESS;
    };
    if let Err(e) = server
        .start_in_pool(&pool)
        .and_then(|()| https.start_in_pool(&pool))
    {
        eprintln!("microweb: cannot start: {e}");
        return ExitCode::FAILURE;
    }
    print_listening(&server, "http");
    print_listening(https, "https");
    started();
    // With --threads 0 this runs the pool on this thread until a signal stops it.
    if let Err(e) = pool.start(args.threads, None) {
        eprintln!("microweb: cannot start: {e}");
        return ExitCode::FAILURE;
    }
    server.wait();
    pool.stop();
    ExitCode::SUCCESS
}

/// Stops every server at once (each tells its WebSockets and streams to end, then waits for its
/// connections), then the shared pool; the main thread's `wait` returns after that.
fn stop_servers(handles: &[ServerHandle], pool: Option<Pool>) {
    std::thread::scope(|scope| {
        for h in handles {
            scope.spawn(|| h.stop());
        }
    });
    if let Some(pool) = pool {
        pool.stop();
    }
}

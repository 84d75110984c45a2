//! The microweb demo server: serves `webroot/` and `templates/` on 127.0.0.1:8080 (Normal preset).
//!
//! Run `cargo run --release -- --help` for the flags.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use microweb::{Pool, PoolConfig, Preset, ServerHandle, WebServer};

mod cli;

use cli::demo;

const HELP: &str = "\
microweb — a web server on a pool of nonblocking sockets with preallocated buffer slots

USAGE:
    microweb [OPTIONS]
    microweb cert [--help]      write a self-signed development certificate
    microweb keygen [--help]    write a passphrase-protected secp256k1 key file

OPTIONS:
    --bind ADDR          address to listen on (repeatable; IPv6 as [::1]:8080, dual-stack [::]:8080)
                         [default: 127.0.0.1:8080]
    --root DIR           folder of static files [default: webroot]
    --templates DIR      folder of template pages [default: templates]
    --preset NAME        memory preset: embedded, light, normal, large [default: normal]
    --threads N          event loops, a thread each (0 = one, on the main thread) [default: number of cores]
    --log LEVEL          error, warn, info or debug [default: info]
    --https-bind ADDR    also serve HTTPS on ADDR, beside HTTP, in the same pool
                         (needs --tls-cert and --tls-key; `microweb cert` writes a development pair)
    --tls-cert FILE      PEM certificate chain for --https-bind
    --tls-key FILE       PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1)
    --tls-ca FILE        PEM CA certificates: HTTPS clients must present a certificate they signed
    -h, --help           print this help

Ctrl-C or SIGTERM stops the server cleanly.";

/// The command line, parsed.
struct Args {
    binds: Vec<SocketAddr>,
    root: PathBuf,
    templates: PathBuf,
    preset: Preset,
    threads: usize,
    log: log::LevelFilter,
    https: Option<Https>,
}

/// The HTTPS part of the command line.
struct Https {
    bind: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

fn parse_args() -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut args = Args {
        binds: Vec::new(),
        root: PathBuf::from("webroot"),
        templates: PathBuf::from("templates"),
        preset: Preset::Normal,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        log: log::LevelFilter::Info,
        https: None,
    };
    let mut https_bind: Option<SocketAddr> = None;
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
                args.binds.push(
                    v.parse()
                        .map_err(|_| format!("--bind: not an address: {v}"))?,
                );
            }
            Long("root") => args.root = PathBuf::from(value(&mut parser)?),
            Long("templates") => args.templates = PathBuf::from(value(&mut parser)?),
            Long("preset") => {
                let v = value(&mut parser)?;
                args.preset = Preset::from_name(&v).ok_or_else(|| {
                    format!("--preset: unknown preset {v} (embedded, light, normal, large)")
                })?;
            }
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
                https_bind = Some(
                    v.parse()
                        .map_err(|_| format!("--https-bind: not an address: {v}"))?,
                );
            }
            Long("tls-cert") => tls_cert = Some(PathBuf::from(value(&mut parser)?)),
            Long("tls-key") => tls_key = Some(PathBuf::from(value(&mut parser)?)),
            Long("tls-ca") => tls_ca = Some(PathBuf::from(value(&mut parser)?)),
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if args.binds.is_empty() {
        args.binds.push(SocketAddr::from(([127, 0, 0, 1], 8080)));
    }
    args.https = match (https_bind, tls_cert, tls_key) {
        (Some(bind), Some(cert), Some(key)) => Some(Https {
            bind,
            cert,
            key,
            ca: tls_ca,
        }),
        (None, None, None) if tls_ca.is_none() => None,
        (None, ..) => return Err("--tls-cert, --tls-key and --tls-ca need --https-bind".into()),
        (Some(_), None, _) => return Err("--https-bind needs --tls-cert".into()),
        (Some(_), _, None) => return Err("--https-bind needs --tls-key".into()),
    };
    Ok(Some(args))
}

/// Writes log records to stderr, one line each.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

fn init_logging(level: log::LevelFilter) {
    static LOGGER: StderrLogger = StderrLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("cert") => return cli::cert::run(std::env::args().skip(2)),
        Some("keygen") => return cli::keygen::run(std::env::args().skip(2)),
        _ => {}
    }
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("microweb: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    init_logging(args.log);

    let mut server = WebServer::new();
    server.set_preset(args.preset);
    server.set_bind_addresses(args.binds.clone());
    server.set_root_path(&args.root);
    demo::install(&mut server, &args.templates);

    // With --https-bind, a second server serves the same content over TLS in the same pool.
    let mut https = None;
    if let Some(h) = &args.https {
        let mut s = WebServer::new();
        s.set_preset(args.preset);
        s.set_bind_address(h.bind);
        s.set_root_path(&args.root);
        demo::install(&mut s, &args.templates);
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
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("microweb: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            log::info!("stopping");
            for h in &handles {
                h.stop();
            }
            if let Some(pool) = stop_pool {
                pool.stop();
            }
        }
    });

    let (Some(pool), Some(https)) = (pool, https.as_mut()) else {
        if let Err(e) = server.start_managed(args.threads, None) {
            eprintln!("microweb: cannot start: {e}");
            return ExitCode::FAILURE;
        }
        for addr in server.local_addrs() {
            println!("listening on http://{addr}");
        }
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
    for addr in server.local_addrs() {
        println!("listening on http://{addr}");
    }
    for addr in https.local_addrs() {
        println!("listening on https://{addr}");
    }
    // With --threads 0 this runs the pool on this thread until a signal stops it.
    if let Err(e) = pool.start(args.threads, None) {
        eprintln!("microweb: cannot start: {e}");
        return ExitCode::FAILURE;
    }
    server.wait();
    pool.stop();
    ExitCode::SUCCESS
}

//! The microweb demo server: serves `webroot/` and `templates/` on 127.0.0.1:8080 (Normal preset).
//!
//! Run `cargo run --release -- --help` for the flags.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use microweb::{Preset, WebServer};

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
    --threads N          worker threads (0 = run on the main thread) [default: number of cores]
    --log LEVEL          error, warn, info or debug [default: info]
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
    };
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
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if args.binds.is_empty() {
        args.binds.push(SocketAddr::from(([127, 0, 0, 1], 8080)));
    }
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
    server.set_bind_addresses(args.binds);
    server.set_root_path(&args.root);
    demo::install(&mut server, &args.templates);

    let handle = server.handle();
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
            handle.stop();
        }
    });

    if let Err(e) = server.start_managed(args.threads, None) {
        eprintln!("microweb: cannot start: {e}");
        return ExitCode::FAILURE;
    }
    for addr in server.local_addrs() {
        println!("listening on http://{addr}");
    }
    server.wait();
    ExitCode::SUCCESS
}

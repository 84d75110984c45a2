//! Runs the `microweb` binary as a child process and reads its output line by line.
#![allow(
    dead_code,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::unwrap_used
)] // test IO edge

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_microweb");

/// The repository's folder, for `--root` and `--templates`.
pub(crate) const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// A running `microweb` child; killed on drop if it is still running.
pub(crate) struct Demo {
    pub(crate) child: Child,
    pub(crate) stdout: Receiver<String>,
    pub(crate) stderr: Receiver<String>,
}

fn lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Demo {
    /// Starts the demo on `127.0.0.1:0` (plus `extra` arguments) from the repository folder.
    pub(crate) fn start(extra: &[&str]) -> Demo {
        Demo::start_binary(std::path::Path::new(BIN), extra)
    }

    /// Starts `binary` (a `microweb` build) like [`Demo::start`].
    pub(crate) fn start_binary(binary: &std::path::Path, extra: &[&str]) -> Demo {
        let mut child = Command::new(binary)
            .current_dir(DIR)
            .args(["--bind", "127.0.0.1:0", "--threads", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the microweb binary runs");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Demo {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for the `listening on SCHEME://ADDR` lines; returns the addresses in order.
    pub(crate) fn listening(&self, count: usize) -> Vec<(String, SocketAddr)> {
        let mut found = Vec::new();
        while found.len() < count {
            let line = self
                .stdout
                .recv_timeout(Duration::from_secs(20))
                .expect("a `listening on` line");
            // `listening on unix:PATH` lines are not counted.
            if let Some((scheme, addr)) = line
                .strip_prefix("listening on ")
                .and_then(|rest| rest.split_once("://"))
            {
                found.push((scheme.to_owned(), addr.parse().unwrap()));
            }
        }
        found
    }

    /// The first `http` address it listens on.
    pub(crate) fn http_addr(&self) -> SocketAddr {
        self.listening(1)[0].1
    }

    /// Sends `signal` (such as `Signal::INT`) to the child.
    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Waits up to `limit` for the child to exit; returns its exit status, if it did.
    pub(crate) fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Every stderr line written so far (waits `quiet` for more after the last).
    pub(crate) fn stderr_lines(&self, quiet: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(quiet) {
            out.push(line);
        }
        out
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[path = "../support/cargo_build.rs"]
mod cargo_build;
#[path = "../support/fd_limit.rs"]
mod fd_limit;
#[allow(unused_imports)] // not every crate sharing this module needs it
pub(crate) use fd_limit::raise_fd_limit;

/// The release build of the `microweb` binary (built once per test binary when missing or
/// stale): load tests measure the server as deployed, not a debug build's checks.
pub(crate) fn release_binary() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build::cargo_build(&["--release", "--bin", "microweb"], "release", "microweb")
        })
        .clone()
}

/// The demo's `/api/stats` (slots and memory budget), over a connection of its own.
pub(crate) fn stats(addr: SocketAddr) -> serde_json::Value {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /api/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| &answer[at + 4..])
        .expect("a whole answer");
    serde_json::from_slice(body).unwrap()
}

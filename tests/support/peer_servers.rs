//! Real servers the deployment tests put in front of microweb (nginx, HAProxy) or beside it
//! (systemd-socket-activate): a scratch folder, a free port, a child process killed on drop.
#![allow(dead_code, unreachable_pub)] // shared by several test crates

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use microweb::{Json, Method, WebServer};

use super::http_client::wait_until;

/// Whether `program` can be run; when it cannot, the test is skipped with a message, unless
/// `MICROWEB_REQUIRE_PEERS=1` (set by scripts/test once it has installed them), when it fails.
pub fn available(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("MICROWEB_REQUIRE_PEERS").is_none(),
            "{program} is required (MICROWEB_REQUIRE_PEERS) but not installed"
        );
        eprintln!("skipped: {program} is not installed");
    }
    found
}

/// A folder of its own under the system's temporary folder, removed on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `microweb-<what>-<pid>-<n>`.
    pub fn new(what: &str) -> ScratchDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("microweb-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        ScratchDir(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that nothing listens on now (for a server that cannot bind port 0 and
/// say which port it got). The kernel picks it from its ephemeral range, so another process
/// could take it before the server does; that race only costs a retry of the test.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process, killed (and reaped) on drop; its stderr goes to a file in its folder.
pub struct Peer {
    child: Child,
    stderr: PathBuf,
}

impl Peer {
    /// Spawns `cmd` with its stderr in `stderr_file`.
    pub fn spawn(mut cmd: Command, stderr_file: PathBuf) -> Peer {
        let file = std::fs::File::create(&stderr_file).expect("stderr file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("the peer server runs");
        Peer {
            child,
            stderr: stderr_file,
        }
    }

    /// Waits (20 s bound) until `addr` accepts connections; panics with the peer's stderr if it
    /// exits or never listens.
    pub fn wait_listening(&mut self, addr: SocketAddr) {
        let up = wait_until(Duration::from_secs(20), || {
            // A port from the kernel's client range can be connected to *itself* (TCP
            // simultaneous open) while nothing listens yet: such a connection proves nothing.
            TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
                || self.child.try_wait().ok().flatten().is_some()
        });
        let exited = self.child.try_wait().ok().flatten();
        assert!(
            up && exited.is_none(),
            "peer not listening on {addr} (exit: {exited:?}): {}",
            self.stderr_text()
        );
    }

    /// What the peer wrote on stderr so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl -sS` of `url` from the loopback address `from` (127.0.0.2, so that the client's address
/// differs from the proxy's 127.0.0.1), with extra headers; returns the body.
pub fn curl_from(from: &str, url: &str, headers: &[&str]) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--interface", from]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().expect("curl runs");
    assert!(out.status.success(), "curl {url}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Adds `GET /who` to `server`: `instance`, and the request's `user_address`, `peer_address` and
/// `is_ssl`, as JSON (what the deployment tests compare).
pub fn route_who(server: &mut WebServer, instance: &'static str) {
    server
        .route(Method::GET, "/who", move |req, _| {
            Json(serde_json::json!({
                "instance": instance,
                "user_address": req.user_address().to_string(),
                "peer_address": req.peer_address().to_string(),
                "is_ssl": req.is_tls(),
            }))
        })
        .expect("the /who route");
}

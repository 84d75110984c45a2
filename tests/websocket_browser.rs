//! The chat page in a real browser: two headless Chromium pages talk through the server.
//!
//! Page "bob" opens `wschat.html?ack=1` and answers every message from someone else with
//! "saw …"; page "alice" opens `wschat.html?say=…` and sends one message once connected. A
//! tungstenite client in the room sees alice's message, then bob's answer quoting it: bob's page
//! received alice's message through the server. Needs Debian's `chromium`
//! (`tests/browser/ensure-chromium.sh` installs it); without it the test skips with a message.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; helpers unwrap like tests

mod websocket_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use microweb::{WebServer, WebSockets, mods::websockets::WebSocketGroup};
use tungstenite::Message;
use websocket_support::connect;

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MICROWEB_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// A headless Chromium showing one page; killed on drop.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(chromium: &Path, url: &str) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        Browser {
            child,
            _profile: profile,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_browser_pages_talk_through_the_chat_socket() {
    let Some(chromium) = find_chromium() else {
        eprintln!(
            "SKIPPED two_browser_pages_talk_through_the_chat_socket: no chromium \
             (run tests/browser/ensure-chromium.sh, or set MICROWEB_CHROMIUM)"
        );
        return;
    };
    // The chat room of the demo: every text message goes to every member.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("webroot");
    assert!(root.join("wschat.html").is_file());
    let room = WebSocketGroup::new();
    let mut server = WebServer::new();
    server
        .set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)))
        .set_root_path(&root);
    let ws = server
        .load_module("WebSockets")
        .unwrap()
        .downcast::<WebSockets>()
        .unwrap();
    ws.add_path("/ws/chat");
    // The page asks for this sub-protocol; a browser fails a connection whose answer names none.
    ws.on_websocket_protocol(|_, offered| offered.iter().find(|p| *p == "microweb-chat").cloned());
    let r = room.clone();
    ws.on_websocket_accepted(move |socket| {
        r.add(socket);
        let r2 = r.clone();
        socket.on_text_message(move |_, text| {
            r2.broadcast_text(text);
        });
    });
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];

    let (mut observer, _) = connect(addr, "/ws/chat");
    observer
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let wait_members = |n: usize| {
        while room.members().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} chat members",
                room.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_members(1);
    let _bob = Browser::open(
        &chromium,
        &format!("http://{addr}/wschat.html?name=bob&ack=1"),
    );
    wait_members(2);
    let _alice = Browser::open(
        &chromium,
        &format!("http://{addr}/wschat.html?name=alice&say=hello-from-alice"),
    );
    let mut seen = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "bob's page never answered alice's message; the room saw {seen:?}"
        );
        match observer.read() {
            Ok(Message::Text(t)) => {
                let t = t.as_str().to_owned();
                let done = t == "bob: saw alice: hello-from-alice";
                seen.push(t);
                if done {
                    break;
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("observer: {e}"),
        }
    }
    assert!(
        seen.contains(&"alice: hello-from-alice".to_owned()),
        "{seen:?}"
    );
    drop(server);
}

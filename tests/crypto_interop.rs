//! Interoperability with implementations microweb did not write: `tests/interop/gcm_client.py`
//! (Python `cryptography` + `coincurve`) seals a request that the server core opens, and opens the
//! response the core seals, in process and at a fixed clock (the same client against a running
//! server is in `crypto_wire.rs`). Skipped with a message when Python or its packages cannot be
//! had, unless `MICROWEB_REQUIRE_INTEROP=1`.
#![allow(clippy::disallowed_methods)] // IO edge: a reader thread with a deadline
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "interop/python.rs"]
#[allow(unreachable_pub)]
mod python;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use microweb::mods::crypto::{CryptoConfig, CryptoError, Identity, ServerCrypto};
use serde_json::{Value, json};

const NOW_TEXT: &str = "2025-06-15T15:06:40.000000+00:00";
const DEADLINE: Duration = Duration::from_secs(60);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

struct PyClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl PyClient {
    fn spawn(server_key: &str, extra: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .arg(python::GCM_CLIENT)
            .args(["--pipe", "--server-key", server_key, "--now", NOW_TEXT])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        PyClient {
            child,
            stdin,
            lines,
        }
    }

    fn read(&mut self) -> Value {
        let line = self
            .lines
            .recv_timeout(DEADLINE)
            .expect("python answered within the deadline");
        serde_json::from_str(&line).unwrap()
    }

    fn send(&mut self, v: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct PyRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl PyRequest {
    fn from_json(v: &Value) -> Self {
        PyRequest {
            method: v["method"].as_str().unwrap().to_owned(),
            target: v["target"].as_str().unwrap().to_owned(),
            headers: v["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
            body: B64.decode(v["body_b64"].as_str().unwrap()).unwrap(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn open(
        &self,
        server: &ServerCrypto,
    ) -> Result<microweb::mods::crypto::OpenedRequest, CryptoError> {
        server.open_request(
            &self.method,
            &self.target,
            |h| self.header(h),
            &self.body,
            now(),
        )
    }
}

fn response_json(status: u16, headers: &[(&'static str, String)], body: &[u8]) -> Value {
    let hs: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), Value::String(v.clone())))
        .collect();
    json!({"status": status, "headers": hs, "body_b64": B64.encode(body)})
}

#[test]
fn python_request_opens_and_python_opens_the_sealed_response() {
    if !python::interop_available() {
        return;
    }
    let server = ServerCrypto::new(Identity::random().unwrap(), CryptoConfig::default());
    let mut py = PyClient::spawn(
        &server.identity().public_key_b64(),
        &[
            "--method",
            "POST",
            "--target",
            "/api/echo?x=1",
            "--body",
            r#"{"hello": "world"}"#,
        ],
    );
    let req = PyRequest::from_json(&py.read());

    // Tampering with what Python sent is refused.
    let mut bad = PyRequest {
        body: req.body.clone(),
        headers: req.headers.clone(),
        method: req.method.clone(),
        target: req.target.clone(),
    };
    bad.body[20] ^= 1;
    assert!(matches!(bad.open(&server), Err(CryptoError::BadSignature)));
    bad.body = req.body.clone();
    bad.target = "/api/echo?x=2".into();
    assert!(matches!(bad.open(&server), Err(CryptoError::BadSignature)));

    let opened = req.open(&server).expect("python's request opens");
    assert_eq!(opened.plaintext, br#"{"hello": "world"}"#);
    assert_eq!(
        opened.sender_public_key.to_b64(),
        req.header("Sender-Public-Key").unwrap()
    );
    // A replay of Python's request is refused.
    assert!(matches!(req.open(&server), Err(CryptoError::Replay)));

    let reply = opened
        .reply_to
        .expect("python asked for an encrypted response");
    let sealed = server
        .seal_response(200, b"pong from rust", &reply)
        .unwrap();

    // Python refuses a tampered response, then opens the real one.
    let mut tampered = sealed.body.clone();
    tampered[15] ^= 1;
    py.send(&response_json(200, &sealed.headers, &tampered));
    let r = py.read();
    assert_eq!(r["ok"], false, "{r}");
    py.send(&response_json(500, &sealed.headers, &sealed.body));
    let r = py.read();
    assert_eq!(r["ok"], false, "status is signed: {r}");
    py.send(&response_json(200, &sealed.headers, &sealed.body));
    let r = py.read();
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["status"], 200);
    assert_eq!(
        B64.decode(r["plaintext_b64"].as_str().unwrap()).unwrap(),
        b"pong from rust"
    );
}

#[test]
fn python_get_without_body_or_reply_key_opens_to_empty_plaintext() {
    if !python::interop_available() {
        return;
    }
    let server = ServerCrypto::new(Identity::random().unwrap(), CryptoConfig::default());
    let mut py = PyClient::spawn(
        &server.identity().public_key_b64(),
        &[
            "--method",
            "GET",
            "--target",
            "/api/users",
            "--no-reply-key",
        ],
    );
    let req = PyRequest::from_json(&py.read());
    assert!(req.body.is_empty());
    let opened = req.open(&server).expect("python's GET opens");
    assert!(opened.plaintext.is_empty());
    assert!(opened.reply_to.is_none());
}

#[test]
fn python_refused_request_gets_an_error_response_it_can_read() {
    if !python::interop_available() {
        return;
    }
    let server = ServerCrypto::new(Identity::random().unwrap(), CryptoConfig::default());
    let mut py = PyClient::spawn(&server.identity().public_key_b64(), &["--body", "late"]);
    let req = PyRequest::from_json(&py.read());
    let err = server
        .open_request(
            &req.method,
            &req.target,
            |h| req.header(h),
            &req.body,
            now() + Duration::from_secs(120),
        )
        .unwrap_err();
    assert!(matches!(err, CryptoError::StaleTimestamp));
    let reply = server.reply_to(|h| req.header(h)).unwrap();
    let status = err.status().as_u16();
    let sealed = server
        .seal_response(status, err.to_string().as_bytes(), &reply)
        .unwrap();
    py.send(&response_json(status, &sealed.headers, &sealed.body));
    let r = py.read();
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["status"], 401);
    assert_eq!(
        B64.decode(r["plaintext_b64"].as_str().unwrap()).unwrap(),
        b"timestamp outside the accepted window"
    );
}

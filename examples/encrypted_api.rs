//! An API whose request and response bodies are encrypted and signed (scheme `aes-256-gcm`),
//! and the Rust client calling it, in one process.
//!
//! Run: `cargo run --example encrypted_api -- 127.0.0.1:8080`. The server prints its public key;
//! the example then makes one encrypted call to itself, prints the decrypted answer, and keeps
//! serving until killed. With `MICROWEB_KEY_FILE` and `MICROWEB_PASSPHRASE` set, the identity
//! comes from a key file written by `microweb keygen --out FILE`; otherwise it is random.
//!
//! Python clients: `tests/interop/gcm_client.py --url http://127.0.0.1:8080 --server-key KEY
//! --target /api/greet --body '{"name": "py"}'`.

use std::sync::Arc;

use microweb::mods::crypto::{Client, Crypto, CryptoConfig, Identity, OpenedRequest};
use microweb::{Json, Method, Request, Response, StatusCode, WebServer};
use serde::Deserialize;

#[derive(Deserialize)]
struct Greet {
    name: String,
}

/// The protected handler: it sees the decrypted body and the authenticated sender's key.
fn greet(
    _req: &Request<'_>,
    msg: &OpenedRequest,
    _resp: &mut Response,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    match msg.json::<Greet>() {
        Ok(greet) => Ok(Json(serde_json::json!({
            "greeting": format!("hello, {}", greet.name),
            "your_key": msg.sender_public_key.to_b64(),
        }))),
        // Sealed like any answer: only the client reads why.
        Err(e) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("expected {{\"name\": …}}: {e}"),
        )),
    }
}

/// The server's identity: from `MICROWEB_KEY_FILE` (opened with `MICROWEB_PASSPHRASE`), or random.
fn identity() -> Result<Identity, String> {
    match (
        std::env::var_os("MICROWEB_KEY_FILE"),
        std::env::var("MICROWEB_PASSPHRASE"),
    ) {
        (Some(file), Ok(passphrase)) => Identity::from_key_file(&file, &passphrase).map_err(|e| {
            format!(
                "cannot open the key file {} with MICROWEB_PASSPHRASE: {e}",
                std::path::Path::new(&file).display()
            )
        }),
        (Some(_), Err(_)) => Err("MICROWEB_KEY_FILE is set but MICROWEB_PASSPHRASE is not".into()),
        _ => Identity::random().map_err(|e| format!("cannot make a random identity: {e}")),
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("encrypted_api: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));

    let crypto = Crypto::new(identity()?, CryptoConfig::default());
    let mut server = WebServer::new();
    server.set_bind_address(addr);
    server.route(Method::POST, "/api/greet", crypto.protect(greet))?;
    let key = crypto.public_key().to_b64();
    server.route(Method::GET, "/", move |_req, _resp| {
        format!("POST /api/greet with a microweb client; server key {key}\n")
    })?;
    // Plain requests anywhere under /api/ are refused before routing.
    crypto.require_encryption("/api/");
    server.add_module(Arc::new(crypto.clone()));
    server.start_managed(2, None)?;
    let local = server.local_addrs()[0];
    println!("listening on http://{local}");
    println!("server public key {}", crypto.public_key());

    // The client pins the server's key, signs with its own, and verifies the answer.
    let client = Client::new(
        format!("http://{local}"),
        crypto.public_key(),
        Identity::random()?,
    );
    match client
        .post(["api", "greet"])
        .json(&serde_json::json!({"name": "ada"}))
        .send()
    {
        Ok(answer) => println!(
            "encrypted call: {} {}",
            answer.status(),
            String::from_utf8_lossy(answer.body())
        ),
        Err(e) => eprintln!("encrypted call failed: {e}"),
    }

    server.wait();
    Ok(())
}

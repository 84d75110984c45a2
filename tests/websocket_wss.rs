//! WebSockets over TLS (wss://): the same module on an HTTPS server, with tungstenite's client over
//! a rustls stream.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use microweb::rustls::{self, pki_types};
use microweb::{WebServer, WebSockets};
use tungstenite::Message;

/// A self-signed certificate for localhost, written to a tempdir: (dir, cert.pem, key.pem, DER).
fn self_signed() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    Vec<u8>,
) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let der = certified.cert.der().to_vec();
    (dir, cert, key, der)
}

#[test]
fn wss_echoes_text_and_binary_and_sees_tls() {
    let (_dir, cert, key, der) = self_signed();
    let mut server = WebServer::new();
    server.set_bind_address("127.0.0.1:0".parse().unwrap());
    server.enable_ssl(&cert, &key, None).unwrap();
    let ws = Arc::new(WebSockets::new());
    ws.add_path("/ws/echo");
    ws.on_websocket_accepted(|socket| {
        let tls = socket.request().is_tls();
        socket.on_text_message(move |s, text| {
            let _ = s.send_text_message(format!("{text} (tls: {tls})"));
        });
        socket.on_binary_message(|s, data| {
            let _ = s.send_binary_message(data.to_vec());
        });
    });
    server.add_module(ws);
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];

    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki_types::CertificateDer::from(der)).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let stream = rustls::StreamOwned::new(tls, tcp);

    let url = format!("wss://localhost:{}/ws/echo", addr.port());
    let (mut socket, response) = tungstenite::client(url.as_str(), stream).unwrap();
    assert_eq!(response.status(), 101);
    socket.send(Message::text("hello")).unwrap();
    assert_eq!(socket.read().unwrap(), Message::text("hello (tls: true)"));
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    socket.send(Message::binary(blob.clone())).unwrap();
    assert_eq!(socket.read().unwrap(), Message::binary(blob));
    socket.close(None).unwrap();
    // The close handshake completes: the server answers our close frame.
    loop {
        match socket.read() {
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => break,
            Ok(_) => {}
            Err(e) => panic!("unexpected error while closing: {e}"),
        }
    }
    assert!(http_slots_free(&server));
}

fn http_slots_free(server: &WebServer) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if server.slots().is_some_and(|(free, total)| free == total) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

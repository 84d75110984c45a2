//! microweb with `proxy_protocol` behind a real HAProxy (Debian's) sending `send-proxy` (v1) and
//! `send-proxy-v2`: the original client's address comes through; a connection straight to
//! microweb without a header is closed; the TLS handshake of an HTTPS listener follows the header. Skipped when HAProxy is not installed, unless
//! `MICROWEB_REQUIRE_PEERS=1`.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/peer_servers.rs"]
mod peer_servers;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use http_client::RawClient;
use microweb::WebServer;
use microweb::proxy::TrustedProxies;
use peer_servers::{Peer, ScratchDir, available, curl_from, free_port, route_who};

/// The HAProxy configuration of the README's "Deploying" section: one frontend per PROXY
/// protocol version, each to `backend`.
fn haproxy_cfg(v1: u16, v2: u16, backend: SocketAddr) -> String {
    format!(
        "global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend with_v1
    bind 127.0.0.1:{v1}
    default_backend microweb_v1
frontend with_v2
    bind 127.0.0.1:{v2}
    default_backend microweb_v2
backend microweb_v1
    server one {backend} send-proxy
backend microweb_v2
    server one {backend} send-proxy-v2
"
    )
}

/// Starts a server on 127.0.0.1:0 that expects PROXY headers from 127.0.0.1, with `/who`;
/// `tls` (certificate, key) makes it HTTPS.
fn proxied_server(tls: Option<(&std::path::Path, &std::path::Path)>) -> WebServer {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    let config = server.config_mut();
    config.trusted_proxies = TrustedProxies::from_list(["127.0.0.1"]).unwrap();
    config.proxy_protocol = true;
    route_who(&mut server, "backend");
    if let Some((cert, key)) = tls {
        server.enable_ssl(cert, key, None).unwrap();
    }
    server.start_managed(1, None).unwrap();
    server
}

/// Starts HAProxy with [`haproxy_cfg`] in front of `backend`; returns it and its two ports.
fn start_haproxy(dir: &ScratchDir, backend: SocketAddr) -> (Peer, u16, u16) {
    let (v1, v2) = (free_port(), free_port());
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_cfg(v1, v2, backend)).unwrap();
    let mut cmd = Command::new("haproxy");
    cmd.arg("-db").arg("-f").arg(&cfg);
    let mut haproxy = Peer::spawn(cmd, dir.path().join("stderr.txt"));
    for port in [v1, v2] {
        haproxy.wait_listening(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    (haproxy, v1, v2)
}

#[test]
fn behind_haproxy_send_proxy_and_send_proxy_v2_give_the_clients_address() {
    if !available("haproxy") {
        return;
    }
    let server = proxied_server(None);
    let backend = server.local_addrs()[0];
    let dir = ScratchDir::new("haproxy");
    let (haproxy, v1, v2) = start_haproxy(&dir, backend);

    for port in [v1, v2] {
        let body = curl_from("127.0.0.2", &format!("http://127.0.0.1:{port}/who"), &[]);
        let got: serde_json::Value = serde_json::from_str(&body).unwrap();
        let user: SocketAddr = got["user_address"].as_str().unwrap().parse().unwrap();
        assert_eq!(user.ip().to_string(), "127.0.0.2", "{body}");
        assert_ne!(user.port(), 0, "the PROXY header carries the client's port");
        assert!(
            got["peer_address"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
    }

    // Straight to microweb, without a PROXY header: closed, nothing answered.
    let mut c = RawClient::connect(backend);
    c.send(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(c.closed_within(Duration::from_secs(5)));
    assert!(c.pending().is_empty(), "{}", haproxy.stderr_text());
}

#[test]
fn behind_haproxy_an_https_listener_reads_the_header_then_the_tls_handshake() {
    if !available("haproxy") {
        return;
    }
    let dir = ScratchDir::new("haproxy-tls");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let server = proxied_server(Some((&cert_file, &key_file)));
    let (_haproxy, _, v2) = start_haproxy(&dir, server.local_addrs()[0]);

    let out = Command::new("curl")
        .args(["-sS", "-k", "--max-time", "10", "--interface", "127.0.0.2"])
        .arg(format!("https://127.0.0.1:{v2}/who"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        got["user_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.2:"),
        "{got}"
    );
    assert_eq!(got["is_ssl"], true);
}

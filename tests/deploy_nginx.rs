//! Two microweb instances behind a real nginx (Debian's), started by the test with a generated
//! configuration: both get requests, the client's address comes through `X-Forwarded-For`, and a
//! WebSocket echo works through the proxy, also to an instance on a Unix socket. Skipped when nginx is not installed, unless
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

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use http_client::wait_until;
use microweb::proxy::TrustedProxies;
use microweb::{WebServer, WebSockets};
use peer_servers::{Peer, ScratchDir, available, curl_from, free_port, route_who};
use tungstenite::Message;

/// Starts an instance named `id` on 127.0.0.1:0 that trusts the proxy on 127.0.0.1: `/who`
/// answers its name and the request's addresses, `/ws/echo` echoes.
fn instance(id: &'static str) -> (WebServer, SocketAddr) {
    let server = instance_with(id, |server| {
        server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
        server.config_mut().trusted_proxies = TrustedProxies::from_list(["127.0.0.1"]).unwrap();
    });
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// Starts an instance named `id` with `/who` and `/ws/echo`, listening where `listen` says.
fn instance_with(id: &'static str, listen: impl FnOnce(&mut WebServer)) -> WebServer {
    let mut server = WebServer::new();
    listen(&mut server);
    route_who(&mut server, id);
    let ws = server
        .load_module("WebSockets")
        .unwrap()
        .downcast::<WebSockets>()
        .unwrap();
    ws.add_path("/ws/echo");
    ws.on_websocket_accepted(|socket| {
        socket.on_text_message(|s, t| {
            let _ = s.send_text_message(t);
        });
    });
    server.start_managed(1, None).unwrap();
    server
}

/// The nginx site of the README's "Deploying" section, over `upstreams`, listening on `port`.
fn nginx_conf(dir: &std::path::Path, port: u16, upstreams: &[String]) -> String {
    let d = dir.display();
    let servers: String = upstreams
        .iter()
        .map(|u| format!("        server {u};\n"))
        .collect();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream microweb {{
{servers}        keepalive 16;
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://microweb;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"
    )
}

/// Starts nginx over `upstreams`; returns it and the address it listens on.
fn start_nginx(dir: &ScratchDir, upstreams: &[String]) -> (Peer, SocketAddr) {
    let port = free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), port, upstreams)).unwrap();
    let mut cmd = Command::new("nginx");
    cmd.arg("-p").arg(dir.path()).arg("-c").arg(&conf);
    let mut nginx = Peer::spawn(cmd, dir.path().join("stderr.txt"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    nginx.wait_listening(addr);
    (nginx, addr)
}

#[test]
fn two_instances_behind_nginx_see_the_clients_address_and_carry_websockets() {
    if !available("nginx") {
        return;
    }
    let (_a, a) = instance("a");
    let (_b, b) = instance("b");
    let dir = ScratchDir::new("nginx");
    let (nginx, front) = start_nginx(&dir, &[a.to_string(), b.to_string()]);

    // Requests reach both instances; each sees the client (127.0.0.2), not nginx (127.0.0.1),
    // even when the client sends an X-Forwarded-For of its own.
    let mut seen = BTreeSet::new();
    let both = wait_until(Duration::from_secs(20), || {
        let body = curl_from(
            "127.0.0.2",
            &format!("http://{front}/who"),
            &["X-Forwarded-For: 6.6.6.6"],
        );
        let got: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(got["user_address"], "127.0.0.2:0", "{body}");
        assert!(
            got["peer_address"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        assert_eq!(got["is_ssl"], false);
        seen.insert(got["instance"].as_str().unwrap().to_owned());
        seen.len() == 2
    });
    assert!(
        both,
        "both instances answer: {seen:?}; nginx: {}",
        nginx.stderr_text()
    );

    // A WebSocket through nginx's upgrade handling.
    let stream = TcpStream::connect(front).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{front}/ws/echo").as_str(), stream)
        .expect("the upgrade passes nginx");
    for text in ["through nginx", "and again"] {
        ws.send(Message::text(text)).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text(text));
    }
    ws.close(None).unwrap();
}

#[test]
fn nginx_reaches_an_instance_on_a_unix_socket() {
    if !available("nginx") {
        return;
    }
    let dir = ScratchDir::new("nginx-unix");
    let socket = dir.path().join("microweb.sock");
    let _server = instance_with("unix", |server| {
        server.set_bind_addresses(Vec::new());
        let config = server.config_mut();
        config.unix_binds = vec![socket.clone()];
        config.trusted_proxies = TrustedProxies::from_list(["unix"]).unwrap();
    });
    let (nginx, front) = start_nginx(&dir, &[format!("unix:{}", socket.display())]);
    let body = curl_from("127.0.0.2", &format!("http://{front}/who"), &[]);
    let got: serde_json::Value = serde_json::from_str(&body)
        .unwrap_or_else(|_| panic!("{body}; nginx: {}", nginx.stderr_text()));
    assert_eq!(got["instance"], "unix");
    assert_eq!(got["user_address"], "127.0.0.2:0");
    assert_eq!(got["peer_address"], "unix");

    let stream = TcpStream::connect(front).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{front}/ws/echo").as_str(), stream)
        .expect("the upgrade passes nginx to the Unix socket");
    ws.send(Message::text("over a unix socket")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("over a unix socket"));
}

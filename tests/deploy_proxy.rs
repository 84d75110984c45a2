//! Behind a proxy: trusted forwarding headers (curl), the PROXY protocol v1 and v2 on raw
//! sockets, SO_REUSEPORT, and listeners adopted from elsewhere (socket activation).
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/peer_servers.rs"]
mod peer_servers;
#[path = "support/server.rs"]
mod server_support;

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use http_client::{RawClient, RawResponse, wait_until};
use microweb::proxy::TrustedProxies;
use microweb::{Method, WebServer};
use peer_servers::route_who;

/// Adds `GET /who` (see [`peer_servers::route_who`]).
fn who(server: &mut WebServer) {
    route_who(server, "direct");
}

/// Starts a server with `/who` that trusts `trusted` (comma-separated CIDR blocks).
fn start(trusted: &str, proxy_protocol: bool) -> (WebServer, SocketAddr) {
    server_support::start(|s| {
        who(s);
        let config = s.config_mut();
        config.trusted_proxies = TrustedProxies::from_list(trusted.split(',')).unwrap();
        config.proxy_protocol = proxy_protocol;
        config.requests_timeout = Duration::from_secs(1);
    })
}

/// `curl` of `/who` on `addr` with extra headers; returns the parsed JSON answer.
fn curl_who(addr: SocketAddr, headers: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(format!("http://{addr}/who")).output().unwrap();
    assert!(out.status.success(), "curl: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn json(resp: &RawResponse) -> serde_json::Value {
    assert_eq!(resp.status, 200, "{}", resp.text());
    serde_json::from_slice(&resp.body).unwrap()
}

#[test]
fn forwarding_headers_from_a_trusted_peer_give_the_clients_address_and_scheme() {
    let (_server, addr) = start("127.0.0.1", false);

    // X-Forwarded-For: the right-most address that is not a trusted proxy is the client; what the
    // client itself wrote further left is not believed.
    let got = curl_who(
        addr,
        &[
            "X-Forwarded-For: 6.6.6.6, 203.0.113.9, 127.0.0.1",
            "X-Forwarded-Proto: https",
        ],
    );
    assert_eq!(got["user_address"], "203.0.113.9:0");
    assert!(
        got["peer_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(got["is_ssl"], true);

    // RFC 7239 Forwarded wins over X-Forwarded-For, with the port it gives.
    let got = curl_who(
        addr,
        &[
            "Forwarded: for=\"[2001:db8:cafe::17]:4711\";proto=https",
            "X-Forwarded-For: 198.51.100.1",
        ],
    );
    assert_eq!(got["user_address"], "[2001:db8:cafe::17]:4711");
    assert_eq!(got["is_ssl"], true);

    // Without forwarding headers, the peer is the client.
    let got = curl_who(addr, &[]);
    assert_eq!(got["user_address"], got["peer_address"]);
    assert_eq!(got["is_ssl"], false);
}

#[test]
fn forwarding_headers_from_an_untrusted_peer_change_nothing() {
    for trusted in ["10.0.0.0/8", ""] {
        let (_server, addr) = if trusted.is_empty() {
            server_support::start(who)
        } else {
            start(trusted, false)
        };
        let got = curl_who(
            addr,
            &[
                "X-Forwarded-For: 203.0.113.9",
                "Forwarded: for=198.51.100.1;proto=https",
                "X-Forwarded-Proto: https",
            ],
        );
        assert_eq!(
            got["user_address"], got["peer_address"],
            "trusted {trusted:?}"
        );
        assert!(
            got["user_address"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        assert_eq!(got["is_ssl"], false);
    }
}

/// A PROXY protocol v2 header: `command` 0x20 (LOCAL) or 0x21 (PROXY) over TCP from `source`
/// to `destination`.
fn proxy_v2(command: u8, source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.push(command);
    let mut addresses = Vec::new();
    let family = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            addresses.extend_from_slice(&s.octets());
            addresses.extend_from_slice(&d.octets());
            0x11
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            addresses.extend_from_slice(&s.octets());
            addresses.extend_from_slice(&d.octets());
            0x21
        }
        _ => panic!("one family"),
    };
    addresses.extend_from_slice(&source.port().to_be_bytes());
    addresses.extend_from_slice(&destination.port().to_be_bytes());
    // A TLV the server must skip (PP2_TYPE_AUTHORITY, "example.org").
    addresses.extend_from_slice(&[0x02, 0x00, 11]);
    addresses.extend_from_slice(b"example.org");
    out.push(family);
    out.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&addresses);
    out
}

const GET_WHO: &[u8] = b"GET /who HTTP/1.1\r\nHost: proxied\r\n\r\n";

#[test]
fn proxy_protocol_v1_and_v2_give_the_original_clients_address() {
    let (server, addr) = start("127.0.0.1", true);

    let v1: &[u8] = b"PROXY TCP4 198.51.100.1 127.0.0.1 56324 80\r\n";
    let v1_ipv6: &[u8] = b"PROXY TCP6 2001:db8::1 ::1 4711 443\r\n";
    let v2 = proxy_v2(
        0x21,
        "203.0.113.7:40000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
    );
    let v2_ipv6 = proxy_v2(
        0x21,
        "[2001:db8::7]:40001".parse().unwrap(),
        "[::1]:443".parse().unwrap(),
    );
    for (header, client) in [
        (v1, "198.51.100.1:56324"),
        (v1_ipv6, "[2001:db8::1]:4711"),
        (&v2[..], "203.0.113.7:40000"),
        (&v2_ipv6[..], "[2001:db8::7]:40001"),
    ] {
        let mut c = RawClient::connect(addr);
        // The header and the request in one write, as HAProxy sends them.
        c.send(&[header, GET_WHO].concat());
        let got = json(&c.read_response().expect("an answer"));
        assert_eq!(got["user_address"], client);
        assert!(
            got["peer_address"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        // The second request of the keep-alive connection has the same client.
        c.send(GET_WHO);
        assert_eq!(json(&c.read_response().unwrap())["user_address"], client);
    }

    // A header that arrives a few bytes at a time, then the request.
    let mut c = RawClient::connect(addr);
    for piece in v1.chunks(7) {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(20));
    }
    c.send(GET_WHO);
    assert_eq!(
        json(&c.read_response().unwrap())["user_address"],
        "198.51.100.1:56324"
    );

    // A v2 LOCAL header (a health check) keeps the peer's address.
    let local = proxy_v2(
        0x20,
        "203.0.113.7:40000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
    );
    let mut c = RawClient::connect(addr);
    c.send(&[&local[..], GET_WHO].concat());
    let got = json(&c.read_response().unwrap());
    assert_eq!(got["user_address"], got["peer_address"]);

    // v1 UNKNOWN also keeps it.
    let mut c = RawClient::connect(addr);
    c.send(&[&b"PROXY UNKNOWN\r\n"[..], GET_WHO].concat());
    let got = json(&c.read_response().unwrap());
    assert_eq!(got["user_address"], got["peer_address"]);

    assert!(server_support::all_slots_free(&server));
}

#[test]
fn a_missing_malformed_or_slow_proxy_header_closes_the_connection() {
    let (server, addr) = start("127.0.0.1", true);
    let cases: [(&str, &[u8]); 5] = [
        ("no header", GET_WHO),
        (
            "malformed v1",
            b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\nGET / HTTP/1.1\r\n\r\n",
        ),
        ("v1 without CRLF", &[b'P'; 200]),
        (
            "unknown v2 version",
            b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c123456789012",
        ),
        (
            "v2 address block too short",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\x7f\0\0\x01",
        ),
    ];
    for (what, bytes) in cases {
        let mut c = RawClient::connect(addr);
        c.send(bytes);
        assert!(c.closed_within(Duration::from_secs(5)), "{what}: closed");
        assert!(c.pending().is_empty(), "{what}: nothing answered");
    }

    // A header that stops halfway is cut at the head deadline (1 s here), not held forever.
    let started = Instant::now();
    let mut c = RawClient::connect(addr);
    c.send(b"PROXY TCP4 198.51.");
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "a stalled header is closed"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(c.pending().is_empty());

    // Every refusal left the server as it was: slots free, no budget held, still answering.
    assert!(server_support::all_slots_free(&server));
    assert_eq!(server.memory_budget().unwrap().in_use, 0);
    let mut c = RawClient::connect(addr);
    c.send(
        &[
            &b"PROXY TCP4 198.51.100.1 127.0.0.1 56324 80\r\n"[..],
            GET_WHO,
        ]
        .concat(),
    );
    assert_eq!(c.read_response().unwrap().status, 200);
}

#[test]
fn connections_waiting_for_their_proxy_header_hold_no_slot() {
    let (server, addr) = start("127.0.0.1", true);
    let waiting: Vec<RawClient> = (0..64)
        .map(|_| {
            let mut c = RawClient::connect(addr);
            c.send(b"PROXY TCP4 ");
            c
        })
        .collect();
    // A proxied connection opened after them is answered: they were accepted before it.
    let mut c = RawClient::connect(addr);
    c.send(
        &[
            &b"PROXY TCP4 198.51.100.1 127.0.0.1 56324 80\r\n"[..],
            GET_WHO,
        ]
        .concat(),
    );
    assert_eq!(c.read_response().unwrap().status, 200);
    drop(c);
    assert!(
        server_support::all_slots_free(&server),
        "no slot held by a pending header"
    );
    assert_eq!(server.memory_budget().unwrap().in_use, 0);
    drop(waiting);
}

#[test]
fn a_proxy_protocol_listener_closes_peers_that_are_not_trusted() {
    let (_server, addr) = start("10.0.0.0/8", true);
    let mut c = RawClient::connect(addr);
    c.send(
        &[
            &b"PROXY TCP4 198.51.100.1 127.0.0.1 56324 80\r\n"[..],
            GET_WHO,
        ]
        .concat(),
    );
    assert!(c.closed_within(Duration::from_secs(5)));
    assert!(
        c.pending().is_empty(),
        "nothing answered to an untrusted peer"
    );
}

/// Starts a server on `port` with SO_REUSEPORT that answers `/id` with `id`.
fn reuse_port_server(port: u16, id: &'static str, reuse_port: bool) -> microweb::Result<WebServer> {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], port)));
    server.config_mut().reuse_port = reuse_port;
    server.route(Method::GET, "/id", move |_, _| id).unwrap();
    server.start_managed(1, None)?;
    Ok(server)
}

#[test]
fn with_reuse_port_two_servers_share_one_port() {
    let first = reuse_port_server(0, "first", true).unwrap();
    let addr = first.local_addrs()[0];
    // Without SO_REUSEPORT on both, the port is taken.
    assert!(reuse_port_server(addr.port(), "refused", false).is_err());
    let second = reuse_port_server(addr.port(), "second", true).unwrap();
    assert_eq!(second.local_addrs()[0], addr);

    // The kernel spreads new connections over both listeners.
    let mut seen = std::collections::BTreeSet::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let resp = http_client::roundtrip(addr, b"GET /id HTTP/1.1\r\nHost: x\r\n\r\n");
            seen.insert(resp.unwrap().text());
            seen.len() == 2
        }),
        "both servers answer: {seen:?}"
    );
}

#[test]
fn an_adopted_listener_is_served_instead_of_the_bind_addresses() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = WebServer::new();
    who(&mut server);
    // The bind address is not used once a listener is adopted (port 1 would fail to bind).
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 1)));
    server.adopt_listener(listener);
    server.start_managed(1, None).unwrap();
    assert_eq!(server.local_addrs(), [addr]);
    let stream = TcpStream::connect(addr).unwrap();
    let mut c = RawClient::from_stream(stream);
    c.send(GET_WHO);
    assert_eq!(c.read_response().unwrap().status, 200);
}

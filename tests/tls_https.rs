//! HTTPS end to end: a real rustls client and `curl --cacert` against a `WebServer` with
//! `enable_ssl`, certificates made by rcgen in a temporary folder (a CA, a server certificate for
//! localhost/127.0.0.1 signed by it, a client certificate signed by it).
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; helpers unwrap like tests

#[path = "support/http_client.rs"]
mod http_client;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_client::{RawClient, wait_until};
use microweb::rustls::{self, pki_types};
use microweb::{Error, Method, WebServer, server::TlsFileKind};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// The PEM files of one test: CA, server and client certificates and keys.
struct Certs {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    ca_key: PathBuf,
}

/// The test CA's parameters (the same each time, so an issuer can be rebuilt from its key).
fn ca_params() -> CertificateParams {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "microweb test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
}

fn make_certs() -> Certs {
    let dir = tempfile::tempdir().unwrap();
    let ca_params = ca_params();
    let ca_key = KeyPair::generate().unwrap();
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();

    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params
        .distinguished_name
        .push(DnType::CommonName, "test client");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();

    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Certs {
        ca: write("ca.pem", ca.pem()),
        cert: write("cert.pem", server_cert.pem()),
        key: write("key.pem", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client-key.pem", client_key.serialize_pem()),
        ca_key: write("ca-key.pem", ca_key_pem),
        _dir: dir,
    }
}

/// Starts an HTTPS server on 127.0.0.1:0 (Light preset: 1 KiB slots) with the test routes.
fn start(certs: &Certs, mutual: bool, timeout_secs: u64) -> WebServer {
    let mut server = WebServer::new();
    server
        .set_light_config()
        .set_bind_address("127.0.0.1:0".parse().unwrap())
        .set_requests_timeout(Duration::from_secs(timeout_secs));
    server
        .route(Method::GET, "/ssl", |req, _| {
            format!("ssl={}", req.is_tls())
        })
        .unwrap();
    server
        .route(Method::POST, "/len", |req, _| {
            req.content().len().to_string()
        })
        .unwrap();
    let ca = mutual.then_some(certs.ca.as_path());
    server.enable_ssl(&certs.cert, &certs.key, ca).unwrap();
    assert!(server.is_ssl_enabled());
    server.start_managed(2, None).unwrap();
    server
}

fn addr(server: &WebServer) -> SocketAddr {
    server.local_addrs()[0]
}

/// Waits until every slot of the server's pool is free again.
fn slots_all_free(server: &WebServer) -> bool {
    wait_until(Duration::from_secs(5), || {
        server.slots().is_some_and(|(free, total)| free == total)
    })
}

fn roots(certs: &Certs) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&certs.ca).unwrap();
    for cert in <pki_types::CertificateDer<'_> as pki_types::pem::PemObject>::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration trusting the test CA, for the given versions, optionally with
/// the client certificate.
fn client_config(
    certs: &Certs,
    versions: &[&'static rustls::SupportedProtocolVersion],
    with_client_cert: bool,
) -> Arc<rustls::ClientConfig> {
    use pki_types::pem::PemObject;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(certs));
    let mut config = if with_client_cert {
        let chain = vec![pki_types::CertificateDer::from_pem_file(&certs.client_cert).unwrap()];
        let key = pki_types::PrivateKeyDer::from_pem_file(&certs.client_key).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

type TlsClient = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsClient {
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// Reads one response with a Content-Length body; `Err` on a TLS or socket error.
fn read_response(stream: &mut impl Read) -> std::io::Result<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = resp.parse(&buf) {
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            let code = resp.code.unwrap_or(0);
            while buf.len() < head_len + len {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[head_len..head_len + len]).into_owned();
            return Ok((code, body));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn get(stream: &mut TlsClient, path: &str) -> std::io::Result<(u16, String)> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(req.as_bytes())?;
    stream.flush()?;
    read_response(stream)
}

/// Whether the server answers a fresh HTTPS client.
fn answers_next_client(certs: &Certs, server: &WebServer, mutual: bool) -> bool {
    let config = client_config(certs, &[&rustls::version::TLS13], mutual);
    let mut c = tls_connect(addr(server), config);
    matches!(get(&mut c, "/ssl"), Ok((200, body)) if body == "ssl=true")
}

#[test]
fn https_get_keeps_the_connection_alive_over_tls13_and_tls12() {
    let certs = make_certs();
    let server = start(&certs, false, 5);
    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let mut c = tls_connect(addr(&server), client_config(&certs, &[version], false));
        assert_eq!(get(&mut c, "/ssl").unwrap(), (200, "ssl=true".to_owned()));
        // The same TLS connection carries the second request.
        assert_eq!(get(&mut c, "/ssl").unwrap(), (200, "ssl=true".to_owned()));
        assert_eq!(c.conn.protocol_version(), Some(expected));
        assert_eq!(c.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    }
    assert!(slots_all_free(&server));
}

#[test]
fn a_large_response_crosses_many_records_with_small_slots() {
    // 1 KiB slots bound rustls' outgoing buffer to 1 KiB; a 300 KiB body still arrives whole.
    let certs = make_certs();
    let mut server = WebServer::new();
    server
        .set_light_config()
        .set_bind_address("127.0.0.1:0".parse().unwrap());
    server
        .route(Method::GET, "/big", |_, _| "x".repeat(300 * 1024))
        .unwrap();
    server.enable_ssl(&certs.cert, &certs.key, None).unwrap();
    server.start_managed(2, None).unwrap();
    let mut c = tls_connect(
        addr(&server),
        client_config(&certs, &[&rustls::version::TLS13], false),
    );
    let (status, body) = get(&mut c, "/big").unwrap();
    assert_eq!((status, body.len()), (200, 300 * 1024));
    assert!(body.bytes().all(|b| b == b'x'));
    assert!(slots_all_free(&server));
}

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs")
}

fn https_url(server: &WebServer, path: &str) -> String {
    format!("https://localhost:{}{path}", addr(server).port())
}

fn resolve(server: &WebServer) -> String {
    format!("localhost:{}:127.0.0.1", addr(server).port())
}

#[test]
fn curl_reuses_one_tls_connection_for_two_requests() {
    let certs = make_certs();
    let server = start(&certs, false, 5);
    let url = https_url(&server, "/ssl");
    let out = curl(&[
        "--cacert",
        certs.ca.to_str().unwrap(),
        "--resolve",
        &resolve(&server),
        "-w",
        " connects=%{num_connects} %{http_code}\n",
        &url,
        &url,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text, "ssl=true connects=1 200\nssl=true connects=0 200\n",
        "the second request reuses the connection"
    );
    assert!(slots_all_free(&server));
}

#[test]
fn curl_uploads_a_chunked_body_over_tls() {
    let certs = make_certs();
    let server = start(&certs, false, 5);
    let file = certs._dir.path().join("upload.bin");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let out = curl(&[
        "--cacert",
        certs.ca.to_str().unwrap(),
        "--resolve",
        &resolve(&server),
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", file.display()),
        &https_url(&server, "/len"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200000");
    assert!(slots_all_free(&server));
}

#[test]
fn mutual_tls_accepts_a_client_certificate_and_refuses_none() {
    let certs = make_certs();
    let server = start(&certs, true, 5);
    // rustls, with and without a client certificate.
    let mut with = tls_connect(
        addr(&server),
        client_config(&certs, &[&rustls::version::TLS13], true),
    );
    assert_eq!(
        get(&mut with, "/ssl").unwrap(),
        (200, "ssl=true".to_owned())
    );
    let mut without = tls_connect(
        addr(&server),
        client_config(&certs, &[&rustls::version::TLS13], false),
    );
    let refused = get(&mut without, "/ssl");
    assert!(refused.is_err(), "no certificate, no answer: {refused:?}");
    // curl, with and without.
    let ca = certs.ca.to_str().unwrap();
    let ok = curl(&[
        "--cacert",
        ca,
        "--cert",
        certs.client_cert.to_str().unwrap(),
        "--key",
        certs.client_key.to_str().unwrap(),
        "--resolve",
        &resolve(&server),
        &https_url(&server, "/ssl"),
    ]);
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "ssl=true");
    let refused = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve(&server),
        &https_url(&server, "/ssl"),
    ]);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    drop((with, without));
    assert!(slots_all_free(&server));
    assert!(answers_next_client(&certs, &server, true));
}

#[test]
fn garbage_on_the_tls_port_is_closed_without_harm() {
    let certs = make_certs();
    let server = start(&certs, false, 5);
    for garbage in [
        &b"\x16\x03\x01\x00\x05hello-not-a-client-hello"[..],
        &[0xffu8; 600][..],
        &b"\x80\x2e\x01\x00\x02"[..],
    ] {
        let mut c = RawClient::connect(addr(&server));
        c.send(garbage);
        assert!(
            c.closed_within(Duration::from_secs(3)),
            "closed after {garbage:?}"
        );
    }
    assert!(slots_all_free(&server));
    assert!(answers_next_client(&certs, &server, false));
}

#[test]
fn plain_http_to_the_tls_port_gets_400_naming_https() {
    let certs = make_certs();
    let server = start(&certs, false, 5);
    let mut c = RawClient::connect(addr(&server));
    c.send(b"GET /ssl HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let resp = c
        .read_response_within(Duration::from_secs(3))
        .expect("an answer");
    assert_eq!(resp.status, 400);
    assert!(resp.text().contains("https://"), "{}", resp.text());
    assert!(c.closed_within(Duration::from_secs(3)));
    assert!(slots_all_free(&server));
    assert!(answers_next_client(&certs, &server, false));
}

/// The first flight of a real TLS client (its ClientHello records).
fn client_hello(certs: &Certs) -> Vec<u8> {
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let config = client_config(certs, &[&rustls::version::TLS13], false);
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    hello
}

#[test]
fn a_client_that_stops_mid_handshake_is_dropped_at_the_request_timeout() {
    let certs = make_certs();
    let server = start(&certs, false, 1);
    let hello = client_hello(&certs);
    let mut c = RawClient::connect(addr(&server));
    let started = Instant::now();
    c.send(&hello[..hello.len() / 2]);
    assert!(c.closed_within(Duration::from_secs(4)));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "dropped at the deadline, not before ({waited:?})"
    );
    assert!(slots_all_free(&server));
    assert!(answers_next_client(&certs, &server, false));
}

#[test]
fn a_client_that_trickles_its_handshake_is_dropped_at_the_bound() {
    // One byte every 150 ms would take the whole ClientHello far past the 1 s bound: each byte
    // resets the read deadline, but not the handshake bound.
    let certs = make_certs();
    let server = start(&certs, false, 1);
    let hello = client_hello(&certs);
    let mut sock = TcpStream::connect(addr(&server)).unwrap();
    let started = Instant::now();
    let mut closed = false;
    for byte in &hello {
        if sock.write_all(std::slice::from_ref(byte)).is_err() {
            closed = true;
            break;
        }
        sock.set_read_timeout(Some(Duration::from_millis(150)))
            .unwrap();
        let mut b = [0u8; 64];
        match sock.read(&mut b) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(_) | Err(_) => {
                closed = true;
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    assert!(closed, "closed while trickling");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(slots_all_free(&server));
    assert!(answers_next_client(&certs, &server, false));
}

fn tls_error(result: microweb::Result<&mut WebServer>) -> microweb::server::TlsError {
    match result {
        Err(Error::Tls(e)) => e,
        Err(other) => panic!("expected a TLS error, got {other}"),
        Ok(_) => panic!("expected a TLS error"),
    }
}

#[test]
fn enable_ssl_names_the_file_and_the_problem() {
    let certs = make_certs();
    let dir = certs._dir.path();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\n!!!\n").unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no pem here\n").unwrap();
    let other_key = dir.join("other-key.pem");
    std::fs::write(&other_key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let missing = dir.join("missing.pem");

    let mut server = WebServer::new();
    let e = tls_error(server.enable_ssl(&missing, &certs.key, None));
    assert_eq!(
        (e.kind, e.path.as_path()),
        (TlsFileKind::Certificate, missing.as_path())
    );
    assert!(e.to_string().contains("cannot read it"), "{e}");

    let e = tls_error(server.enable_ssl(&garbage, &certs.key, None));
    assert_eq!(e.kind, TlsFileKind::Certificate);
    assert!(e.to_string().contains("not valid PEM"), "{e}");

    let e = tls_error(server.enable_ssl(&empty, &certs.key, None));
    assert!(e.to_string().contains("no certificate"), "{e}");

    let e = tls_error(server.enable_ssl(&certs.cert, &empty, None));
    assert_eq!(
        (e.kind, e.path.as_path()),
        (TlsFileKind::Key, empty.as_path())
    );
    assert!(e.to_string().contains("no private key"), "{e}");

    let e = tls_error(server.enable_ssl(&certs.cert, &other_key, None));
    assert_eq!(e.kind, TlsFileKind::Key);
    assert!(e.to_string().contains("does not match"), "{e}");

    let e = tls_error(server.enable_ssl(&certs.cert, &certs.key, Some(&empty)));
    assert_eq!(
        (e.kind, e.path.as_path()),
        (TlsFileKind::Ca, empty.as_path())
    );
    assert!(
        !server.is_ssl_enabled(),
        "a refused enable_ssl changes nothing"
    );
}

#[test]
fn a_server_with_bad_tls_files_does_not_start() {
    let certs = make_certs();
    let mut server = WebServer::new();
    server.set_bind_address("127.0.0.1:0".parse().unwrap());
    server.config_mut().tls = Some(microweb::server::TlsFiles::new(
        &certs.cert,
        certs.ca.with_extension("nope"),
    ));
    match server.start_managed(1, None) {
        Err(Error::Tls(e)) => assert_eq!(e.kind, TlsFileKind::Key),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(!server.is_running());
    assert!(server.local_addrs().is_empty(), "nothing was bound");
}

#[test]
fn enable_and_disable_ssl_switch_port_80_and_443() {
    let certs = make_certs();
    let mut server = WebServer::new();
    server.set_bind_addresses(vec![
        "0.0.0.0:80".parse().unwrap(),
        "127.0.0.1:8080".parse().unwrap(),
    ]);
    server.enable_ssl(&certs.cert, &certs.key, None).unwrap();
    assert!(server.is_ssl_enabled());
    let ports: Vec<u16> = server
        .config()
        .bind_addresses
        .iter()
        .map(|a| a.port())
        .collect();
    assert_eq!(ports, [443, 8080]);
    server.disable_ssl();
    assert!(!server.is_ssl_enabled());
    let ports: Vec<u16> = server
        .config()
        .bind_addresses
        .iter()
        .map(|a| a.port())
        .collect();
    assert_eq!(ports, [80, 8080]);
}

/// Kills the child process on drop (a failed assertion must not leave it running).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_serves_https_with_a_certificate_from_microweb_cert() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_microweb");
    let out = Command::new(bin)
        .args(["cert", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // A second run refuses to overwrite.
    let again = Command::new(bin)
        .args(["cert", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());

    let mut child = Child(
        Command::new(bin)
            .current_dir(env!("CARGO_MANIFEST_DIR")) // serves webroot/ from there
            .args([
                "--bind",
                "127.0.0.1:0",
                "--https-bind",
                "127.0.0.1:0",
                "--threads",
                "1",
            ])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut https = None;
    let mut http = None;
    while https.is_none() || http.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("listening lines");
        if let Some(a) = line.strip_prefix("listening on https://") {
            https = Some(a.parse::<SocketAddr>().unwrap());
        } else if let Some(a) = line.strip_prefix("listening on http://") {
            http = Some(a.parse::<SocketAddr>().unwrap());
        }
    }
    let (https, http) = (https.unwrap(), http.unwrap());
    let ok = curl(&[
        "--cacert",
        cert.to_str().unwrap(),
        &format!("https://localhost:{}/api/echo?via=tls", https.port()),
    ]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("\"query_string\":\"via=tls\""), "{text}");
    // The HTTP server runs beside it, in the same process.
    let plain = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{http}/"),
    ]);
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "200");
}

#[test]
fn tls_max_connections_closes_the_extra_ones_before_their_handshake() {
    let certs = make_certs();
    let mut server = WebServer::new();
    server
        .set_light_config()
        .set_bind_address("127.0.0.1:0".parse().unwrap());
    server
        .route(Method::GET, "/ssl", |req, _| {
            format!("ssl={}", req.is_tls())
        })
        .unwrap();
    server.config_mut().tls_max_connections = Some(2);
    server.enable_ssl(&certs.cert, &certs.key, None).unwrap();
    server.start_managed(2, None).unwrap();
    let config = || client_config(&certs, &[&rustls::version::TLS13], false);
    let mut first = tls_connect(addr(&server), config());
    let mut second = tls_connect(addr(&server), config());
    assert!(get(&mut first, "/ssl").is_ok());
    assert!(get(&mut second, "/ssl").is_ok());
    let mut third = tls_connect(addr(&server), config());
    assert!(
        get(&mut third, "/ssl").is_err(),
        "a third connection is refused"
    );
    drop(first);
    // Once the server has seen the first one close, a new connection gets in.
    assert!(wait_until(Duration::from_secs(5), || {
        let mut next = tls_connect(addr(&server), config());
        get(&mut next, "/ssl").is_ok()
    }));
    assert!(get(&mut second, "/ssl").is_ok(), "the second one lived on");
    assert!(slots_all_free(&server));
}

/// Echoes what it reads, reading at most 8 bytes per event: the rest stays decrypted inside
/// rustls, so the connection only progresses if the pool re-delivers `Readable` for it.
struct SmallEcho {
    pending: Vec<u8>,
    opened_tls: Arc<std::sync::atomic::AtomicBool>,
}

impl SmallEcho {
    /// Sends what is pending; `Some(next)` when the socket cannot take it all now.
    fn send(&mut self, conn: &mut microweb::pool::Conn<'_>) -> Option<microweb::pool::Next> {
        use microweb::{pool::CloseReason, pool::Next};
        while !self.pending.is_empty() {
            match conn.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Some(Next::ReadWrite),
                Err(e) => return Some(Next::Close(CloseReason::from_io(&e))),
            }
        }
        match conn.flush() {
            Ok(()) => None,
            Err(e) if e.kind() == ErrorKind::WouldBlock => Some(Next::ReadWrite),
            Err(e) => Some(Next::Close(CloseReason::from_io(&e))),
        }
    }
}

impl microweb::pool::ConnHandler for SmallEcho {
    fn on_event(
        &mut self,
        conn: &mut microweb::pool::Conn<'_>,
        event: microweb::pool::ConnEvent,
    ) -> microweb::pool::Next {
        use microweb::{pool::CloseReason, pool::Next};
        if event == microweb::pool::ConnEvent::Opened {
            self.opened_tls
                .store(conn.is_tls(), std::sync::atomic::Ordering::SeqCst);
        }
        if let Some(next) = self.send(conn) {
            return next;
        }
        // One small read per event, then wait for "readable" although the socket may be empty
        // by now: the rest of the bytes is inside rustls.
        let mut buf = [0u8; 8];
        match conn.read(&mut buf) {
            Ok(0) => Next::Close(CloseReason::ByPeer),
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.send(conn).unwrap_or(Next::Read)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Next::Read,
            Err(e) => Next::Close(CloseReason::from_io(&e)),
        }
    }
}

#[test]
fn pool_listen_tls_redelivers_plaintext_buffered_inside_rustls() {
    let certs = make_certs();
    let pool = microweb::pool::Pool::new(microweb::pool::PoolConfig::default().with_slots_count(4))
        .unwrap();
    let server_config = microweb::server::TlsFiles::new(&certs.cert, &certs.key)
        .load()
        .unwrap();
    let opened_tls = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&opened_tls);
    let listener = pool
        .listen_tls(
            "127.0.0.1:0".parse().unwrap(),
            microweb::pool::TlsConfig::new(server_config),
            move |_: &microweb::pool::ConnInfo| -> Option<Box<dyn microweb::pool::ConnHandler>> {
                Some(Box::new(SmallEcho {
                    pending: Vec::new(),
                    opened_tls: Arc::clone(&flag),
                }))
            },
        )
        .unwrap();
    pool.start(1, None).unwrap();
    let mut c = tls_connect(
        listener.local_addr(),
        client_config(&certs, &[&rustls::version::TLS13], false),
    );
    let message: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    c.write_all(&message).unwrap();
    c.flush().unwrap();
    let mut echoed = vec![0u8; message.len()];
    c.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, message);
    assert!(
        opened_tls.load(std::sync::atomic::Ordering::SeqCst),
        "Conn::is_tls on Opened"
    );
    drop(c);
    pool.stop();
    assert_eq!(pool.free_slots(), 4);
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn keys_in_pkcs8_pkcs1_and_sec1_all_serve() {
    let certs = make_certs();
    let dir = certs._dir.path();
    // SEC1 ("EC PRIVATE KEY"): the test key, converted by openssl.
    let sec1 = dir.join("sec1.pem");
    openssl(&[
        "ec",
        "-in",
        certs.key.to_str().unwrap(),
        "-out",
        sec1.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(&sec1)
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    // PKCS#1 ("RSA PRIVATE KEY"): an RSA key, with a certificate for it signed by the test CA.
    let pkcs1 = dir.join("rsa1.pem");
    let pkcs8 = dir.join("rsa8.pem");
    openssl(&[
        "genrsa",
        "-traditional",
        "-out",
        pkcs1.to_str().unwrap(),
        "2048",
    ]);
    openssl(&[
        "pkey",
        "-in",
        pkcs1.to_str().unwrap(),
        "-out",
        pkcs8.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(&pkcs1)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    let rsa = KeyPair::from_pem(&std::fs::read_to_string(&pkcs8).unwrap()).unwrap();
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&certs.ca_key).unwrap()).unwrap();
    let issuer = rcgen::Issuer::new(ca_params(), ca_key);
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let rsa_cert = dir.join("rsa-cert.pem");
    std::fs::write(&rsa_cert, params.signed_by(&rsa, &issuer).unwrap().pem()).unwrap();

    for (cert, key) in [
        (&certs.cert, &sec1),
        (&rsa_cert, &pkcs1),
        (&certs.cert, &certs.key),
    ] {
        let mut server = WebServer::new();
        server.set_bind_address("127.0.0.1:0".parse().unwrap());
        server
            .route(Method::GET, "/ssl", |req, _| {
                format!("ssl={}", req.is_tls())
            })
            .unwrap();
        server.enable_ssl(cert, key, None).unwrap();
        server.start_managed(1, None).unwrap();
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let mut c = tls_connect(addr(&server), client_config(&certs, &[version], false));
            assert_eq!(
                get(&mut c, "/ssl").unwrap(),
                (200, "ssl=true".to_owned()),
                "{}",
                key.display()
            );
        }
    }
}

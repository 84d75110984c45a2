//! The body encryption core end to end, in process: the Rust client seals, the server opens and
//! seals back, and every tampered byte, header, timestamp or signature is refused with its status.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use microweb::mods::crypto::{
    Client, ClientError, CryptoConfig, CryptoError, Identity, PublicKey, ReplyTo, Scheme,
    ServerCrypto, headers,
};
use proptest::prelude::*;

/// A request as it would cross the wire.
#[derive(Debug, Clone)]
struct Wire {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

struct Setup {
    server: ServerCrypto,
    client: Client,
    now: SystemTime,
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

fn setup(config: CryptoConfig) -> Setup {
    let server = ServerCrypto::new(Identity::random().unwrap(), config);
    let client = Client::new(
        "http://127.0.0.1:8080",
        server.identity().public_key(),
        Identity::random().unwrap(),
    );
    Setup {
        server,
        client,
        now: now(),
    }
}

fn sealed_post(s: &Setup, body: &[u8]) -> (Wire, microweb::mods::crypto::SealedRequest) {
    sealed_post_at(s, body, s.now)
}

fn sealed_post_at(
    s: &Setup,
    body: &[u8],
    at: SystemTime,
) -> (Wire, microweb::mods::crypto::SealedRequest) {
    let req = s
        .client
        .post(["api", "users"])
        .query("k", "v w")
        .body(body.to_vec())
        .seal(at)
        .unwrap();
    let wire = Wire {
        method: req.method.clone(),
        target: req.target.clone(),
        headers: req
            .headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect(),
        body: req.body.clone(),
    };
    (wire, req)
}

fn open(s: &Setup, w: &Wire) -> Result<microweb::mods::crypto::OpenedRequest, CryptoError> {
    open_at(s, w, s.now)
}

fn open_at(
    s: &Setup,
    w: &Wire,
    at: SystemTime,
) -> Result<microweb::mods::crypto::OpenedRequest, CryptoError> {
    s.server
        .open_request(&w.method, &w.target, |h| w.header(h), &w.body, at)
}

fn status(r: Result<microweb::mods::crypto::OpenedRequest, CryptoError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.status().as_u16(),
    }
}

fn other_key_b64() -> String {
    Identity::random().unwrap().public_key_b64()
}

#[test]
fn request_round_trip_gives_plaintext_sender_and_reply_key() {
    let s = setup(CryptoConfig::default());
    let (wire, _) = sealed_post(&s, br#"{"name":"ada"}"#);
    assert_eq!(wire.target, "/api/users?k=v%20w");
    assert_eq!(wire.body.len(), 14 + 28);
    let opened = open(&s, &wire).unwrap();
    assert_eq!(opened.plaintext, br#"{"name":"ada"}"#);
    assert_eq!(opened.scheme, Scheme::Aes256Gcm);
    let client_key = PublicKey::from_b64(wire.header("Sender-Public-Key").unwrap()).unwrap();
    assert_eq!(opened.sender_public_key, client_key);
    assert_eq!(opened.reply_to.unwrap().public_key(), client_key);
}

#[test]
fn full_exchange_decrypts_the_signed_response() {
    let s = setup(CryptoConfig::default());
    let (wire, req) = sealed_post(&s, b"ping");
    let opened = open(&s, &wire).unwrap();
    let sealed = s
        .server
        .seal_response(201, b"pong", opened.reply_to.as_ref().unwrap())
        .unwrap();
    let lookup = |h: &str| {
        sealed
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(h))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(lookup("Encryption-Scheme"), Some("aes-256-gcm"));
    assert_ne!(sealed.body, b"pong");
    let resp = req.open_response(201, lookup, &sealed.body).unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.body(), b"pong");
}

#[test]
fn get_without_body_is_signed_and_opens_to_empty_plaintext() {
    let s = setup(CryptoConfig::default());
    let req = s.client.get(["api", "users"]).seal(s.now).unwrap();
    assert!(req.body.is_empty());
    let opened = s
        .server
        .open_request("GET", &req.target, |h| req.header(h), &req.body, s.now)
        .unwrap();
    assert!(opened.plaintext.is_empty());
    // The empty body is signed: a body cannot be slipped in.
    let forged = vec![0u8; 40];
    let r = s
        .server
        .open_request("GET", &req.target, |h| req.header(h), &forged, s.now);
    assert!(matches!(r, Err(CryptoError::BadSignature)));
}

#[test]
fn flipping_any_body_byte_is_refused_with_401() {
    let s = setup(CryptoConfig::default());
    let (wire, _) = sealed_post(&s, b"a secret worth protecting");
    for i in 0..wire.body.len() {
        let mut w = wire.clone();
        w.body[i] ^= 0x80;
        assert!(
            matches!(open(&s, &w), Err(CryptoError::BadSignature)),
            "byte {i}"
        );
    }
    // Truncating or extending is refused too.
    let mut w = wire.clone();
    w.body.pop();
    assert_eq!(status(open(&s, &w)), 401);
    let mut w = wire.clone();
    w.body.push(0);
    assert_eq!(status(open(&s, &w)), 401);
    // And the untouched request still opens: nothing above was recorded as seen.
    assert!(open(&s, &wire).is_ok());
}

#[test]
fn tampering_with_method_target_or_any_header_is_refused() {
    let s = setup(CryptoConfig::default());
    let (wire, _) = sealed_post(&s, b"body");
    let mut cases: Vec<(&str, Wire, u16)> = Vec::new();

    let mut w = wire.clone();
    w.method = "PUT".into();
    cases.push(("method", w, 401));
    let mut w = wire.clone();
    w.target = "/api/users?k=v%20x".into();
    cases.push(("target", w, 401));
    let mut w = wire.clone();
    w.set("Ephemeral-Public-Key", &other_key_b64());
    cases.push(("ephemeral key", w, 401));
    let mut w = wire.clone();
    w.set("Sender-Public-Key", &other_key_b64());
    cases.push(("sender key", w, 401));
    let mut w = wire.clone();
    w.set("Response-Public-Key", &other_key_b64());
    cases.push(("response key swapped", w, 401));
    let mut w = wire.clone();
    w.remove("Response-Public-Key");
    cases.push(("response key removed", w, 401));
    let mut w = wire.clone();
    let ts = w.header("Nonce").unwrap().replace(".000000", ".000001");
    w.set("Nonce", &ts);
    cases.push(("timestamp", w, 401));
    let mut w = wire.clone();
    w.set("Encryption-Scheme", "usrv");
    cases.push(("scheme to usrv", w, 400));
    let mut w = wire.clone();
    w.set("Encryption-Scheme", "aes-128-gcm");
    cases.push(("unknown scheme", w, 400));
    for name in [
        "Ephemeral-Public-Key",
        "Sender-Public-Key",
        "Sender-Signature",
        "Nonce",
    ] {
        let mut w = wire.clone();
        w.remove(name);
        cases.push(("missing header", w, 400));
    }
    let sig = B64
        .decode(wire.header("Sender-Signature").unwrap())
        .unwrap();
    for i in 0..64 {
        let mut bad = sig.clone();
        bad[i] ^= 0x01;
        let mut w = wire.clone();
        w.set("Sender-Signature", &B64.encode(&bad));
        // Some flips make r or s out of range, which is just as much a bad signature.
        cases.push(("signature byte", w, 401));
    }

    for (what, w, want) in cases {
        assert_eq!(status(open(&s, &w)), want, "{what}");
    }
    assert!(open(&s, &wire).is_ok());
}

#[test]
fn replay_is_refused_with_409_and_after_the_window_with_401() {
    let s = setup(CryptoConfig::default());
    let (wire, _) = sealed_post(&s, b"once");
    assert!(open(&s, &wire).is_ok());
    assert!(matches!(open(&s, &wire), Err(CryptoError::Replay)));
    assert_eq!(CryptoError::Replay.status().as_u16(), 409);
    let later = s.now + Duration::from_secs(29);
    assert!(matches!(
        open_at(&s, &wire, later),
        Err(CryptoError::Replay)
    ));
    let much_later = s.now + Duration::from_secs(31);
    assert!(matches!(
        open_at(&s, &wire, much_later),
        Err(CryptoError::StaleTimestamp)
    ));
}

#[test]
fn timestamps_outside_the_window_are_refused_either_way() {
    let s = setup(CryptoConfig::default().with_window(Duration::from_secs(10)));
    let (wire, _) = sealed_post(&s, b"t");
    for offset in [-11i64, 11] {
        let at = if offset < 0 {
            s.now - Duration::from_secs(11)
        } else {
            s.now + Duration::from_secs(11)
        };
        assert!(matches!(
            open_at(&s, &wire, at),
            Err(CryptoError::StaleTimestamp)
        ));
    }
    assert!(open_at(&s, &wire, s.now + Duration::from_secs(9)).is_ok());
}

#[test]
fn malformed_base64_and_points_off_the_curve_are_400() {
    let s = setup(CryptoConfig::default());
    let (wire, _) = sealed_post(&s, b"x");
    // A 64-byte X ‖ Y that is not on secp256k1: y² ≠ x³ + 7 for X = 1, Y = 1.
    let mut off = [0u8; 64];
    off[31] = 1;
    off[63] = 1;
    let off = B64.encode(off);
    for name in [
        "Ephemeral-Public-Key",
        "Sender-Public-Key",
        "Response-Public-Key",
    ] {
        for bad in [
            "not base64!",
            "AAAA",
            &B64.encode([4u8; 65])[..],
            off.as_str(),
        ] {
            let mut w = wire.clone();
            w.set(name, bad);
            let r = open(&s, &w);
            assert_eq!(status(r), 400, "{name} = {bad}");
        }
    }
    for bad in ["%%%", "AAAA", &B64.encode([0u8; 63])[..]] {
        let mut w = wire.clone();
        w.set("Sender-Signature", bad);
        assert!(matches!(
            open(&s, &w),
            Err(CryptoError::MalformedHeader("Sender-Signature"))
        ));
    }
    let mut w = wire.clone();
    w.set("Nonce", "yesterday");
    assert!(matches!(open(&s, &w), Err(CryptoError::MalformedTimestamp)));
}

#[test]
fn bodies_shorter_than_nonce_and_tag_are_400() {
    let s = setup(CryptoConfig::default());
    let (wire, _) = sealed_post(&s, b"x");
    for n in 1..28 {
        let mut w = wire.clone();
        w.body.truncate(n);
        assert!(
            matches!(open(&s, &w), Err(CryptoError::MalformedBody)),
            "{n}"
        );
    }
}

#[test]
fn plain_requests_are_recognised_and_never_opened() {
    let s = setup(CryptoConfig::default());
    let none = |_: &str| -> Option<&str> { None };
    assert!(!ServerCrypto::is_encrypted(none));
    let r = s.server.open_request("POST", "/", none, b"hello", s.now);
    assert!(matches!(r, Err(CryptoError::NotEncrypted)));
}

#[test]
fn allow_list_refuses_unknown_senders_with_401() {
    let allowed = Identity::random().unwrap();
    let s = setup(CryptoConfig::default().with_allowed_senders([allowed.public_key()]));
    let (wire, _) = sealed_post(&s, b"x");
    assert!(matches!(open(&s, &wire), Err(CryptoError::UnknownSender)));
    assert_eq!(CryptoError::UnknownSender.status().as_u16(), 401);

    let ok = Client::new("http://h", s.server.identity().public_key(), allowed);
    let req = ok.post(["a"]).body("x").seal(s.now).unwrap();
    assert!(
        s.server
            .open_request("POST", &req.target, |h| req.header(h), &req.body, s.now)
            .is_ok()
    );
}

#[test]
fn refused_requests_get_a_sealed_error_response_the_client_can_read() {
    let s = setup(CryptoConfig::default());
    let (mut wire, req) = sealed_post(&s, b"x");
    wire.body[0] ^= 1;
    let err = open(&s, &wire).unwrap_err();
    let reply: ReplyTo = s.server.reply_to(|h| wire.header(h)).unwrap();
    let status = err.status().as_u16();
    let sealed = s
        .server
        .seal_response(status, err.to_string().as_bytes(), &reply)
        .unwrap();
    let lookup = |h: &str| {
        sealed
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(h))
            .map(|(_, v)| v.as_str())
    };
    let resp = req.open_response(status, lookup, &sealed.body).unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.body(), b"bad signature");
}

fn response_fixture(
    s: &Setup,
) -> (
    microweb::mods::crypto::SealedRequest,
    Vec<(String, String)>,
    Vec<u8>,
) {
    let (wire, req) = sealed_post(s, b"q");
    let opened = open(s, &wire).unwrap();
    let sealed = s
        .server
        .seal_response(200, b"answer", opened.reply_to.as_ref().unwrap())
        .unwrap();
    let headers = sealed
        .headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    (req, headers, sealed.body)
}

fn open_resp(
    req: &microweb::mods::crypto::SealedRequest,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<microweb::mods::crypto::Response, ClientError> {
    req.open_response(
        status,
        |h| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(h))
                .map(|(_, v)| v.as_str())
        },
        body,
    )
}

#[test]
fn client_refuses_tampered_or_foreign_responses() {
    let s = setup(CryptoConfig::default());
    let (req, headers, body) = response_fixture(&s);
    assert!(open_resp(&req, 200, &headers, &body).is_ok());

    // Any body byte.
    for i in 0..body.len() {
        let mut b = body.clone();
        b[i] ^= 1;
        assert!(
            matches!(
                open_resp(&req, 200, &headers, &b),
                Err(ClientError::Crypto(CryptoError::BadResponse))
            ),
            "byte {i}"
        );
    }
    // The status.
    assert!(open_resp(&req, 500, &headers, &body).is_err());
    // Each header.
    for name in [
        "Ephemeral-Public-Key",
        "Sender-Public-Key",
        "Sender-Signature",
    ] {
        let mut h = headers.clone();
        for (n, v) in &mut h {
            if n == name {
                *v = if name == "Sender-Signature" {
                    B64.encode([7u8; 64])
                } else {
                    other_key_b64()
                };
            }
        }
        assert!(open_resp(&req, 200, &h, &body).is_err(), "{name}");
    }
    // Unsealed.
    assert!(matches!(
        open_resp(&req, 404, &[], b"not found"),
        Err(ClientError::Unsealed { status: 404 })
    ));
}

#[test]
fn client_refuses_a_response_signed_by_another_server_or_for_another_request() {
    let s = setup(CryptoConfig::default());
    let (req, _, _) = response_fixture(&s);
    // Another request's response, from the same server, to the same client.
    let (_, headers2, body2) = response_fixture(&s);
    assert!(matches!(
        open_resp(&req, 200, &headers2, &body2),
        Err(ClientError::Crypto(CryptoError::BadResponse))
    ));
    // An impostor server that re-seals for the client's key with its own identity.
    let impostor = ServerCrypto::new(Identity::random().unwrap(), CryptoConfig::default());
    let (wire, req2) = sealed_post(&s, b"q");
    let reply = impostor.reply_to(|h| wire.header(h)).unwrap();
    let forged = impostor.seal_response(200, b"lies", &reply).unwrap();
    let h: Vec<(String, String)> = forged
        .headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    assert!(matches!(
        open_resp(&req2, 200, &h, &forged.body),
        Err(ClientError::Crypto(CryptoError::BadResponse))
    ));
}

#[test]
fn replay_store_bounds_memory_and_answers_503_when_full() {
    let s = setup(CryptoConfig::default().with_replay_capacity(2));
    for _ in 0..2 {
        let (w, _) = sealed_post(&s, b"x");
        open(&s, &w).unwrap();
    }
    let (w, _) = sealed_post(&s, b"x");
    let r = open(&s, &w);
    assert!(matches!(r, Err(CryptoError::ReplayStoreFull)));
    assert_eq!(CryptoError::ReplayStoreFull.status().as_u16(), 503);
    // Once the first entries leave the window, there is room again.
    let later = s.now + Duration::from_secs(31);
    let (w2, _) = sealed_post_at(&s, b"x", later);
    assert!(open_at(&s, &w2, later).is_ok());
}

#[test]
fn header_names_are_usrvs_plus_scheme_and_response_key() {
    assert_eq!(headers::EPHEMERAL_PUBLIC_KEY, "Ephemeral-Public-Key");
    assert_eq!(headers::SENDER_PUBLIC_KEY, "Sender-Public-Key");
    assert_eq!(headers::SENDER_SIGNATURE, "Sender-Signature");
    assert_eq!(headers::NONCE, "Nonce");
    assert_eq!(headers::ENCRYPTION_SCHEME, "Encryption-Scheme");
    assert_eq!(headers::RESPONSE_PUBLIC_KEY, "Response-Public-Key");
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[A-Za-z0-9+/=]{0,100}".prop_map(Some),
        any::<Vec<u8>>().prop_map(|b| Some(B64.encode(b))),
        "\\PC{0,40}".prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_headers_and_bodies_never_panic_and_never_open(
        scheme in prop_oneof![Just(None), Just(Some("aes-256-gcm".to_owned())), Just(Some("usrv".to_owned())), "\\PC{0,12}".prop_map(Some)],
        eph in header_value(),
        sender in header_value(),
        sig in header_value(),
        nonce in prop_oneof![Just(Some("2025-06-15T15:06:40.000000+00:00".to_owned())), header_value()],
        reply in header_value(),
        body in proptest::collection::vec(any::<u8>(), 0..120),
        usrv in any::<bool>(),
    ) {
        let server = ServerCrypto::new(Identity::random().unwrap(), CryptoConfig::default().with_usrv(usrv));
        let hs = [
            ("encryption-scheme", scheme),
            ("ephemeral-public-key", eph),
            ("sender-public-key", sender),
            ("sender-signature", sig),
            ("nonce", nonce),
            ("response-public-key", reply),
        ];
        let lookup = |name: &str| hs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_deref());
        let r = server.open_request("POST", "/x", lookup, &body, now());
        let err = r.expect_err("random input never authenticates");
        let code = err.status().as_u16();
        prop_assert!(code == 400 || code == 401, "{err} -> {code}");
        // Sealing an error for whatever reply key is there never panics either.
        if let Some(reply) = server.reply_to(lookup) {
            prop_assert!(server.seal_response(code, b"e", &reply).is_ok());
        }
    }

    #[test]
    fn tampered_valid_requests_are_always_refused(flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        let s = setup(CryptoConfig::default());
        let (wire, _) = sealed_post(&s, b"payload");
        let mut w = wire.clone();
        // Flip one bit somewhere in the body or in one of the header values.
        let total: usize = w.body.len() + w.headers.iter().map(|(_, v)| v.len()).sum::<usize>();
        let mut at = flip.index(total);
        if at < w.body.len() {
            w.body[at] ^= 1 << bit;
        } else {
            at -= w.body.len();
            for (_, v) in &mut w.headers {
                if at < v.len() {
                    let mut bytes = v.clone().into_bytes();
                    bytes[at] ^= 1 << bit;
                    *v = String::from_utf8_lossy(&bytes).into_owned();
                    break;
                }
                at -= v.len();
            }
        }
        prop_assume!(w.headers != wire.headers || w.body != wire.body);
        let r = open(&s, &w);
        // A flip inside base64 padding-free text can decode to the same bytes only if it changed
        // nothing; every real change is refused.
        prop_assert!(r.is_err(), "{:?}", w);
    }
}

#[test]
fn server_state_is_shareable_across_worker_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ServerCrypto>();
    assert_send_sync::<Client>();
}

//! Scheme `usrv` through the server core: requests built from usrv's own vectors open, and a bad
//! signature, a disabled scheme, a stale or replayed nonce are refused, never passed through.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use microweb::mods::crypto::{CryptoConfig, CryptoError, Identity, Scheme, ServerCrypto};

fn vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/usrv-ecies.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("shared/vectors beside the clone"))
        .unwrap()
}

fn v<'a>(vec: &'a serde_json::Value, key: &str) -> &'a str {
    vec[key].as_str().unwrap()
}

/// The instant of the vectors' nonce, 2025-01-01T00:00:00Z.
fn nonce_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600)
}

fn server(vec: &serde_json::Value, usrv: bool) -> ServerCrypto {
    let id = Identity::from_passphrase(v(vec, "server_secret")).unwrap();
    assert_eq!(id.public_key_b64(), v(vec, "server_puk_b64"));
    ServerCrypto::new(id, CryptoConfig::default().with_usrv(usrv))
}

fn headers<'a>(vec: &'a serde_json::Value, sig: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("Ephemeral-Public-Key", v(vec, "ephemeral_puk_b64")),
        ("Sender-Public-Key", v(vec, "client_puk_b64")),
        ("Sender-Signature", sig),
        ("Nonce", v(vec, "nonce")),
    ]
}

fn open(
    s: &ServerCrypto,
    hs: &[(&'static str, &str)],
    body: &[u8],
    at: SystemTime,
) -> Result<microweb::mods::crypto::OpenedRequest, CryptoError> {
    s.open_request(
        "POST",
        "/test",
        |name| {
            hs.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        },
        body,
        at,
    )
}

#[test]
fn usrv_requests_with_each_signature_kind_open_to_the_plaintext() {
    let vec = vectors();
    for sig in [
        "schnorr_sig_b64",
        "ecdsa_sig_b64",
        "ecdsa_sig_high_s_b64",
        "k256_schnorr_sig_b64_random_aux",
    ] {
        // A fresh server each time: the same nonce twice is a replay.
        let s = server(&vec, true);
        let hs = headers(&vec, v(&vec, sig));
        let opened = open(&s, &hs, v(&vec, "ciphertext_hex").as_bytes(), nonce_time())
            .unwrap_or_else(|e| panic!("{sig}: {e}"));
        assert_eq!(opened.plaintext, v(&vec, "plaintext").as_bytes(), "{sig}");
        assert_eq!(opened.scheme, Scheme::Usrv);
        assert_eq!(opened.sender_public_key.to_b64(), v(&vec, "client_puk_b64"));
        assert_eq!(
            opened.reply_to.unwrap().public_key().to_b64(),
            v(&vec, "client_puk_b64")
        );
    }
}

#[test]
fn explicit_usrv_scheme_header_is_accepted() {
    let vec = vectors();
    let s = server(&vec, true);
    let mut hs = headers(&vec, v(&vec, "schnorr_sig_b64"));
    hs.push(("Encryption-Scheme", "usrv"));
    assert!(open(&s, &hs, v(&vec, "ciphertext_hex").as_bytes(), nonce_time()).is_ok());
}

#[test]
fn usrv_is_refused_with_400_unless_enabled() {
    let vec = vectors();
    let s = server(&vec, false);
    let hs = headers(&vec, v(&vec, "schnorr_sig_b64"));
    let r = open(&s, &hs, v(&vec, "ciphertext_hex").as_bytes(), nonce_time());
    assert!(matches!(r, Err(CryptoError::SchemeDisabled)));
    assert_eq!(CryptoError::SchemeDisabled.status().as_u16(), 400);
}

#[test]
fn usrv_bad_signature_is_401_never_plaintext() {
    let vec = vectors();
    let s = server(&vec, true);
    let mut sig = B64.decode(v(&vec, "schnorr_sig_b64")).unwrap();
    sig[10] ^= 1;
    let sig = B64.encode(sig);
    let hs = headers(&vec, &sig);
    let r = open(&s, &hs, v(&vec, "ciphertext_hex").as_bytes(), nonce_time());
    assert!(matches!(r, Err(CryptoError::BadSignature)));
    // Every body byte is covered by the signature as well.
    let hs = headers(&vec, v(&vec, "ecdsa_sig_high_s_b64"));
    let body = v(&vec, "ciphertext_hex").as_bytes();
    for i in 0..body.len() {
        let mut b = body.to_vec();
        b[i] = if b[i] == b'0' { b'1' } else { b'0' };
        let r = open(&s, &hs, &b, nonce_time());
        assert!(matches!(r, Err(CryptoError::BadSignature)), "byte {i}");
    }
}

#[test]
fn usrv_nonce_outside_the_window_is_401_and_a_replay_is_409() {
    let vec = vectors();
    let s = server(&vec, true);
    let hs = headers(&vec, v(&vec, "schnorr_sig_b64"));
    let body = v(&vec, "ciphertext_hex").as_bytes();
    // usrv itself accepted any future nonce; microweb does not.
    let early = nonce_time() - Duration::from_secs(60);
    assert!(matches!(
        open(&s, &hs, body, early),
        Err(CryptoError::StaleTimestamp)
    ));
    let late = nonce_time() + Duration::from_secs(60);
    assert!(matches!(
        open(&s, &hs, body, late),
        Err(CryptoError::StaleTimestamp)
    ));
    assert!(open(&s, &hs, body, nonce_time()).is_ok());
    // The same nonce from the same sender again, even with the other signature kind.
    let hs2 = headers(&vec, v(&vec, "ecdsa_sig_b64"));
    assert!(matches!(
        open(&s, &hs2, body, nonce_time()),
        Err(CryptoError::Replay)
    ));
}

//! Scheme `aes-256-gcm`: ephemeral ECDH, HKDF-SHA256, AES-256-GCM, and the signed messages.
//!
//! In scope: the body encoding (`nonce ‖ ciphertext ‖ tag`), key derivation, and the exact bytes
//! the request and response signatures cover. The layout is documented in the module doc of
//! [`crate::mods::crypto`].
//! Out of scope: header parsing and policy (timestamps, replays, allow-lists): see `server.rs`.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::error::CryptoError;
use super::identity::{Identity, PublicKey, fill_random};

/// The scheme's label: HKDF salt, and the prefix of the HKDF info.
pub(crate) const LABEL: &[u8] = b"microweb/aes-256-gcm/v1";
/// First field of the signed request message.
pub(crate) const REQUEST_LABEL: &[u8] = b"microweb/aes-256-gcm/v1 request";
/// First field of the signed response message.
pub(crate) const RESPONSE_LABEL: &[u8] = b"microweb/aes-256-gcm/v1 response";
/// Length of the GCM nonce at the start of the body (96 bits, NIST SP 800-38D §8.2).
pub(crate) const NONCE_LEN: usize = 12;
/// Length of the GCM tag at the end of the body.
pub(crate) const TAG_LEN: usize = 16;
/// Smallest sealed body: an empty plaintext.
pub(crate) const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Derives the AES-256 key: HKDF-SHA256(salt = LABEL, ikm = shared x, info = LABEL ‖ K(E) ‖ K(R)).
fn derive_key(shared_x: &[u8; 32], ephemeral: &PublicKey, recipient: &PublicKey) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(LABEL), shared_x);
    let mut info = Vec::with_capacity(LABEL.len() + 66);
    info.extend_from_slice(LABEL);
    info.extend_from_slice(&ephemeral.to_compressed());
    info.extend_from_slice(&recipient.to_compressed());
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 × 32 (RFC 5869 §2.3).
    if hk.expand(&info, &mut key).is_err() {
        unreachable!("32-byte HKDF output is always valid");
    }
    key
}

/// Encrypts `plaintext` to `recipient` with the ephemeral key `ephemeral`.
///
/// Returns the body: `nonce (12) ‖ ciphertext (len(plaintext)) ‖ tag (16)`.
pub(crate) fn seal(
    ephemeral: &Identity,
    recipient: &PublicKey,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    seal_with_nonce(ephemeral, recipient, plaintext, &nonce)
}

/// [`seal`] with a given nonce (tests and vectors only need this directly).
pub(crate) fn seal_with_nonce(
    ephemeral: &Identity,
    recipient: &PublicKey,
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let key = derive_key(
        &ephemeral.shared_x(recipient),
        &ephemeral.public_key(),
        recipient,
    );
    let cipher = Aes256Gcm::new(&key.into());
    let sealed = cipher
        .encrypt(&Nonce::from(*nonce), plaintext)
        .map_err(|_| CryptoError::MalformedBody)?;
    let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
    body.extend_from_slice(nonce);
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// Decrypts a body sealed to `recipient` with ephemeral key `ephemeral`.
///
/// # Errors
/// [`CryptoError::MalformedBody`] when the body is shorter than 28 bytes,
/// [`CryptoError::Decrypt`] when the tag does not verify.
pub(crate) fn open(
    recipient: &Identity,
    ephemeral: &PublicKey,
    body: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if body.len() < OVERHEAD {
        return Err(CryptoError::MalformedBody);
    }
    let (nonce, sealed) = body.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::MalformedBody)?;
    let key = derive_key(
        &recipient.shared_x(ephemeral),
        ephemeral,
        &recipient.public_key(),
    );
    let cipher = Aes256Gcm::new(&key.into());
    cipher
        .decrypt(&Nonce::from(nonce), sealed)
        .map_err(|_| CryptoError::Decrypt)
}

/// A SHA-256 over length-prefixed fields: each field is `u32 big-endian length ‖ bytes`.
struct Fields(Sha256);

impl Fields {
    fn new(label: &[u8]) -> Self {
        let mut f = Fields(Sha256::new());
        f.push(label);
        f
    }

    fn push(&mut self, bytes: &[u8]) {
        // A field longer than 4 GiB cannot occur: bodies are bounded by the preset far below it.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.update(len.to_be_bytes());
        self.0.update(bytes);
    }

    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The parts of a request that its signature covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestParts<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) timestamp: &'a str,
    pub(crate) ephemeral: &'a PublicKey,
    pub(crate) sender: &'a PublicKey,
    pub(crate) reply_to: Option<&'a PublicKey>,
    pub(crate) body: &'a [u8],
}

/// Returns the digest the request signature signs (see the module doc for the layout).
pub(crate) fn request_digest(p: &RequestParts<'_>) -> [u8; 32] {
    let mut f = Fields::new(REQUEST_LABEL);
    f.push(p.method.as_bytes());
    f.push(p.target.as_bytes());
    f.push(p.timestamp.as_bytes());
    f.push(&p.ephemeral.to_compressed());
    f.push(&p.sender.to_compressed());
    match p.reply_to {
        Some(k) => f.push(&k.to_compressed()),
        None => f.push(&[]),
    }
    f.push(p.body);
    f.finish()
}

/// The parts of a response that its signature covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseParts<'a> {
    pub(crate) status: u16,
    pub(crate) in_reply_to: &'a [u8; 32],
    pub(crate) ephemeral: &'a PublicKey,
    pub(crate) sender: &'a PublicKey,
    pub(crate) recipient: &'a PublicKey,
    pub(crate) body: &'a [u8],
}

/// Returns the digest the response signature signs (see the module doc for the layout).
pub(crate) fn response_digest(p: &ResponseParts<'_>) -> [u8; 32] {
    let mut f = Fields::new(RESPONSE_LABEL);
    f.push(format!("{:03}", p.status).as_bytes());
    f.push(p.in_reply_to);
    f.push(&p.ephemeral.to_compressed());
    f.push(&p.sender.to_compressed());
    f.push(&p.recipient.to_compressed());
    f.push(p.body);
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_recovers_the_plaintext() {
        let server = Identity::random().unwrap();
        let eph = Identity::random().unwrap();
        for plain in [&b""[..], b"x", &[7u8; 1000]] {
            let body = seal(&eph, &server.public_key(), plain).unwrap();
            assert_eq!(body.len(), OVERHEAD + plain.len());
            let out = open(&server, &eph.public_key(), &body).unwrap();
            assert_eq!(out, plain);
        }
    }

    #[test]
    fn flipping_any_body_byte_fails_to_decrypt() {
        let server = Identity::random().unwrap();
        let eph = Identity::random().unwrap();
        let body = seal(&eph, &server.public_key(), b"secret body").unwrap();
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x01;
            assert!(matches!(
                open(&server, &eph.public_key(), &bad),
                Err(CryptoError::Decrypt)
            ));
        }
    }

    #[test]
    fn short_bodies_are_malformed() {
        let server = Identity::random().unwrap();
        let eph = Identity::random().unwrap();
        for n in 0..OVERHEAD {
            assert!(matches!(
                open(&server, &eph.public_key(), &vec![0u8; n]),
                Err(CryptoError::MalformedBody)
            ));
        }
    }

    #[test]
    fn another_recipient_cannot_decrypt() {
        let server = Identity::random().unwrap();
        let other = Identity::random().unwrap();
        let eph = Identity::random().unwrap();
        let body = seal(&eph, &server.public_key(), b"for server only").unwrap();
        assert!(matches!(
            open(&other, &eph.public_key(), &body),
            Err(CryptoError::Decrypt)
        ));
    }
}

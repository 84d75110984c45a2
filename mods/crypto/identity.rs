//! secp256k1 keys: the [`PublicKey`] that travels in headers and the secret [`Identity`].
//!
//! In scope: key generation, usrv's passphrase derivation, the wire encodings of a public key,
//! ECDH and signing with the identity's key.
//! Out of scope: key files (see `keyfile.rs`), the schemes' message layouts.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::{NonZeroScalar, Scalar, SecretKey, WideBytes};
use sha2::{Digest, Sha256, Sha512};
use unicode_normalization::UnicodeNormalization;

use super::error::CryptoError;

/// Salt of usrv's passphrase derivation: `"mnemonic" + "SALT"` (usrv's `bip39_hash` default).
const USRV_SALT: &str = "mnemonicSALT";
/// PBKDF2 rounds of usrv's passphrase derivation (BIP-39's figure).
const USRV_ROUNDS: u32 = 2048;

/// A secp256k1 public key, as carried in the `*-Public-Key` headers.
///
/// On the wire it is base64 (standard alphabet, padded) of the 64 bytes `X ‖ Y`, usrv's encoding;
/// inside hashes and key derivation it is its 33-byte SEC1 compressed form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) k256::PublicKey);

impl PublicKey {
    /// Parses a key from its header form: base64 of the 64 bytes `X ‖ Y`.
    ///
    /// # Errors
    /// [`CryptoError::MalformedHeader`] when the text is not base64 of 64 bytes,
    /// [`CryptoError::InvalidPoint`] when the bytes are not a point on the curve.
    pub fn from_b64(text: &str) -> Result<Self, CryptoError> {
        Self::from_header(text, "public key")
    }

    /// Parses a key from a header, naming the header in the error.
    pub(crate) fn from_header(text: &str, header: &'static str) -> Result<Self, CryptoError> {
        let raw = B64
            .decode(text)
            .map_err(|_| CryptoError::MalformedHeader(header))?;
        if raw.len() != 64 {
            return Err(CryptoError::MalformedHeader(header));
        }
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice(&raw);
        k256::PublicKey::from_sec1_bytes(&sec1)
            .map(PublicKey)
            .map_err(|_| CryptoError::InvalidPoint(header))
    }

    /// Parses a key from its 33-byte SEC1 compressed form.
    ///
    /// # Errors
    /// [`CryptoError::InvalidPoint`] when the bytes are not a compressed point on the curve.
    pub fn from_compressed(bytes: &[u8; 33]) -> Result<Self, CryptoError> {
        k256::PublicKey::from_sec1_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| CryptoError::InvalidPoint("public key"))
    }

    /// Returns the header form: base64 of the 64 bytes `X ‖ Y`.
    #[must_use]
    pub fn to_b64(&self) -> String {
        let point = self.0.to_sec1_point(false);
        B64.encode(point.as_bytes().get(1..).unwrap_or_default())
    }

    /// Returns the 33-byte SEC1 compressed form (`0x02`/`0x03` ‖ X).
    #[must_use]
    pub fn to_compressed(&self) -> [u8; 33] {
        let point = self.0.to_sec1_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// Returns the 32-byte x-coordinate, the BIP-340 (x-only) form of the key.
    pub(crate) fn x_only(&self) -> [u8; 32] {
        let c = self.to_compressed();
        let mut x = [0u8; 32];
        x.copy_from_slice(&c[1..]);
        x
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_compressed().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_b64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b64())
    }
}

/// A secp256k1 key pair: the server's (or a client's) identity.
///
/// The secret never leaves it; it decrypts what was encrypted to its public key and signs.
#[derive(Clone)]
pub struct Identity {
    secret: SecretKey,
    public: PublicKey,
}

/// The server's identity; the same type as a client's.
pub type ServerIdentity = Identity;

impl Identity {
    /// Generates a fresh identity from the system's random number generator.
    ///
    /// # Errors
    /// [`CryptoError::Random`] when the system generator fails.
    pub fn random() -> Result<Self, CryptoError> {
        Ok(Self::from_secret(random_secret()?))
    }

    /// Derives an identity from a passphrase exactly as usrv does, so usrv identities carry over.
    ///
    /// The secret is PBKDF2-HMAC-SHA512(NFKD(passphrase), salt `"mnemonicSALT"`, 2048 rounds,
    /// 64 bytes), read as a big-endian integer and reduced modulo the group order n.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if the derivation reduces to zero (never seen in practice).
    pub fn from_passphrase(passphrase: &str) -> Result<Self, CryptoError> {
        let phrase: String = passphrase.nfkd().collect();
        let salt: String = USRV_SALT.nfkd().collect();
        let mut wide = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(phrase.as_bytes(), salt.as_bytes(), USRV_ROUNDS, &mut wide);
        let scalar = <Scalar as Reduce<WideBytes>>::reduce(&WideBytes::from(wide));
        let nz = Option::<NonZeroScalar>::from(NonZeroScalar::new(scalar))
            .ok_or(CryptoError::InvalidKey)?;
        Ok(Self::from_secret(SecretKey::from(nz)))
    }

    /// Builds an identity from a 32-byte big-endian secret scalar.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when the scalar is zero or not below the group order.
    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        SecretKey::from_slice(bytes)
            .map(Self::from_secret)
            .map_err(|_| CryptoError::InvalidKey)
    }

    /// Reads an identity from a passphrase-protected key file written by [`keygen`](super::keygen).
    ///
    /// # Errors
    /// [`CryptoError::Io`] when the file cannot be read, [`CryptoError::WrongPassphrase`] when the
    /// passphrase does not open it, [`CryptoError::MalformedKeyFile`] or
    /// [`CryptoError::UnsupportedKeyFileVersion`] when it is not a key file this build reads.
    pub fn from_key_file(path: impl AsRef<Path>, passphrase: &str) -> Result<Self, CryptoError> {
        let secret = super::keyfile::read_key_file(path.as_ref(), passphrase)?;
        Self::from_secret_bytes(&secret)
    }

    /// Returns the public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Returns the public key in its header form (base64 of `X ‖ Y`, usrv's encoding).
    #[must_use]
    pub fn public_key_b64(&self) -> String {
        self.public.to_b64()
    }

    /// Returns the 32-byte big-endian secret scalar (for writing key files).
    pub(crate) fn secret_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.secret.to_bytes());
        out
    }

    /// Returns the ECDH shared x-coordinate with `peer` (SEC1 §3.3.1).
    pub(crate) fn shared_x(&self, peer: &PublicKey) -> [u8; 32] {
        let shared =
            k256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.0.as_affine());
        let mut out = [0u8; 32];
        out.copy_from_slice(shared.raw_secret_bytes());
        out
    }

    /// Signs a 32-byte message with BIP-340 Schnorr and fresh auxiliary randomness.
    pub(crate) fn sign_schnorr(&self, msg32: &[u8; 32]) -> Result<[u8; 64], CryptoError> {
        use k256::schnorr::signature::hazmat::RandomizedPrehashSigner;
        let key = k256::schnorr::SigningKey::from(&self.secret);
        // BIP-340 signs the 32-byte message as given; `aux_rand` comes from the system generator.
        key.sign_prehash_with_rng(&mut getrandom::SysRng, msg32)
            .map(|s| s.to_bytes())
            .map_err(|_| CryptoError::Random)
    }

    /// Signs a 32-byte message with BIP-340 Schnorr and the given auxiliary randomness.
    #[cfg(test)]
    pub(crate) fn sign_schnorr_with_aux(
        &self,
        msg32: &[u8; 32],
        aux: &[u8; 32],
    ) -> Result<[u8; 64], CryptoError> {
        let key = k256::schnorr::SigningKey::from(&self.secret);
        key.sign_raw(msg32, aux)
            .map(|s| s.to_bytes())
            .map_err(|_| CryptoError::InvalidKey)
    }

    fn from_secret(secret: SecretKey) -> Self {
        let public = PublicKey(secret.public_key());
        Identity { secret, public }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Fills `buf` from the system's random number generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}

/// Draws a uniformly random non-zero secret scalar.
pub(crate) fn random_secret() -> Result<SecretKey, CryptoError> {
    // Rejection sampling: a 32-byte draw is at or above n with probability about 2^-128.
    for _ in 0..64 {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        if let Ok(secret) = SecretKey::from_slice(&bytes) {
            return Ok(secret);
        }
    }
    Err(CryptoError::Random)
}

/// Returns SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Verifies a BIP-340 Schnorr signature over a 32-byte message against `key`'s x-coordinate.
pub(crate) fn verify_schnorr(key: &PublicKey, msg32: &[u8; 32], sig: &[u8; 64]) -> bool {
    let Ok(vk) = k256::schnorr::VerifyingKey::from_bytes(&key.x_only().into()) else {
        return false;
    };
    let Ok(sig) = k256::schnorr::Signature::from_bytes(sig) else {
        return false;
    };
    vk.verify_raw(msg32, &sig).is_ok()
}

/// Verifies an ECDSA signature `r ‖ s` over the digest `z`, after normalising `s` to low-S.
#[cfg(feature = "crypto-usrv")]
pub(crate) fn verify_ecdsa(key: &PublicKey, z: &[u8; 32], sig: &[u8; 64]) -> bool {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let Ok(sig) = k256::ecdsa::Signature::from_slice(sig) else {
        return false;
    };
    // usrv emits high-S about half the time; BIP-62 low-S is the canonical form k256 verifies.
    let sig = sig.normalize_s();
    let vk = k256::ecdsa::VerifyingKey::from(&key.0);
    vk.verify_prehash(z, &sig).is_ok()
}

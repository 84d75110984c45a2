//! The body encryption layer's error, and its one mapping to an HTTP status.
//!
//! In scope: every way opening a request, sealing a response or reading a key file can fail.
//! Out of scope: transport failures of the client (see [`ClientError`](super::ClientError)).

use std::fmt;
use std::io;

use http::StatusCode;

/// Everything that can go wrong in the body encryption module.
///
/// [`CryptoError::status`] maps each variant to the status the server answers with:
/// malformed input is 400, failed authentication (bad signature, unknown sender, stale timestamp)
/// is 401, a replay is 409, a full replay store is 503.
#[derive(Debug)]
#[non_exhaustive]
pub enum CryptoError {
    /// A header the scheme needs is missing (its name is given).
    MissingHeader(&'static str),
    /// A header is not valid base64 or has the wrong decoded length (its name is given).
    MalformedHeader(&'static str),
    /// A public key header is not a point on secp256k1 (its name is given).
    InvalidPoint(&'static str),
    /// The `Encryption-Scheme` header names a scheme microweb does not speak.
    UnknownScheme,
    /// The request uses the usrv scheme, which this server has not enabled.
    SchemeDisabled,
    /// The request carries none of the encryption headers.
    NotEncrypted,
    /// The `Nonce` header is not an RFC 3339 timestamp.
    MalformedTimestamp,
    /// The body is shorter than the scheme's fixed overhead, or is not the scheme's encoding.
    MalformedBody,
    /// The signature does not verify against the sender's key.
    BadSignature,
    /// The sender's key is not on the server's allow-list.
    UnknownSender,
    /// The timestamp is outside the accepted window around the server's clock.
    StaleTimestamp,
    /// The same signed request was already accepted within the window.
    Replay,
    /// The replay store is full of unexpired entries; the request cannot be recorded.
    ReplayStoreFull,
    /// The body does not decrypt (authentication tag mismatch): not encrypted to this key.
    Decrypt,
    /// A response is not signed by the pinned server key, or is not bound to the request.
    BadResponse,
    /// A passphrase-derived key reduced to zero (probability about 2^-256).
    InvalidKey,
    /// The system random number generator failed.
    Random,
    /// The key file could not be read or written.
    Io(io::Error),
    /// The key file is not a microweb key file, or is damaged.
    MalformedKeyFile,
    /// The key file has a format version this build does not read.
    UnsupportedKeyFileVersion(u8),
    /// The passphrase does not open the key file.
    WrongPassphrase,
}

impl CryptoError {
    /// Returns the HTTP status the server answers with when a request fails this way.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            CryptoError::MissingHeader(_)
            | CryptoError::MalformedHeader(_)
            | CryptoError::InvalidPoint(_)
            | CryptoError::UnknownScheme
            | CryptoError::SchemeDisabled
            | CryptoError::NotEncrypted
            | CryptoError::MalformedTimestamp
            | CryptoError::MalformedBody
            | CryptoError::Decrypt => StatusCode::BAD_REQUEST,
            CryptoError::BadSignature
            | CryptoError::UnknownSender
            | CryptoError::StaleTimestamp => StatusCode::UNAUTHORIZED,
            CryptoError::Replay => StatusCode::CONFLICT,
            CryptoError::ReplayStoreFull => StatusCode::SERVICE_UNAVAILABLE,
            CryptoError::BadResponse
            | CryptoError::InvalidKey
            | CryptoError::Random
            | CryptoError::Io(_)
            | CryptoError::MalformedKeyFile
            | CryptoError::UnsupportedKeyFileVersion(_)
            | CryptoError::WrongPassphrase => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::MissingHeader(name) => write!(f, "missing header {name}"),
            CryptoError::MalformedHeader(name) => write!(f, "malformed header {name}"),
            CryptoError::InvalidPoint(name) => write!(f, "header {name} is not a secp256k1 point"),
            CryptoError::UnknownScheme => f.write_str("unknown encryption scheme"),
            CryptoError::SchemeDisabled => f.write_str("encryption scheme not enabled"),
            CryptoError::NotEncrypted => f.write_str("request is not encrypted"),
            CryptoError::MalformedTimestamp => f.write_str("nonce is not an rfc 3339 timestamp"),
            CryptoError::MalformedBody => f.write_str("malformed encrypted body"),
            CryptoError::BadSignature => f.write_str("bad signature"),
            CryptoError::UnknownSender => f.write_str("unknown sender key"),
            CryptoError::StaleTimestamp => f.write_str("timestamp outside the accepted window"),
            CryptoError::Replay => f.write_str("replayed request"),
            CryptoError::ReplayStoreFull => f.write_str("replay store full"),
            CryptoError::Decrypt => f.write_str("body does not decrypt with this key"),
            CryptoError::BadResponse => f.write_str("response not signed by the pinned server key"),
            CryptoError::InvalidKey => f.write_str("invalid secret key"),
            CryptoError::Random => f.write_str("system random number generator failed"),
            CryptoError::Io(e) => write!(f, "key file io error: {e}"),
            CryptoError::MalformedKeyFile => f.write_str("not a microweb key file"),
            CryptoError::UnsupportedKeyFileVersion(v) => {
                write!(f, "unsupported key file version {v}")
            }
            CryptoError::WrongPassphrase => f.write_str("wrong passphrase for key file"),
        }
    }
}

impl std::error::Error for CryptoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CryptoError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for CryptoError {
    fn from(e: io::Error) -> Self {
        CryptoError::Io(e)
    }
}

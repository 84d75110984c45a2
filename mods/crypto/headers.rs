//! Header names, the scheme names, and the `Nonce` timestamp format shared by both schemes.
//!
//! In scope: the spelling of every header and scheme name, RFC 3339 timestamps.
//! Out of scope: what a header's value means to a scheme (see `server.rs`, `gcm.rs`, `usrv.rs`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::CryptoError;

/// Names the scheme of an encrypted request or response (`aes-256-gcm` or `usrv`).
///
/// usrv clients never send it; a request with usrv's headers and no `Encryption-Scheme` is usrv.
pub const ENCRYPTION_SCHEME: &str = "Encryption-Scheme";
/// The sender's ephemeral public key for this one message (base64 of `X ‖ Y`).
pub const EPHEMERAL_PUBLIC_KEY: &str = "Ephemeral-Public-Key";
/// The sender's long-term public key (base64 of `X ‖ Y`); its signature authenticates the message.
pub const SENDER_PUBLIC_KEY: &str = "Sender-Public-Key";
/// The sender's signature (base64 of 64 bytes).
pub const SENDER_SIGNATURE: &str = "Sender-Signature";
/// The request's timestamp, RFC 3339 (e.g. `2025-01-01T00:00:00.000000+00:00`), usrv's nonce.
pub const NONCE: &str = "Nonce";
/// The key a client asks the response to be encrypted to (scheme `aes-256-gcm`; signed).
pub const RESPONSE_PUBLIC_KEY: &str = "Response-Public-Key";

/// An encryption scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// ECDH + HKDF-SHA256 + AES-256-GCM with BIP-340 Schnorr signatures (the default).
    Aes256Gcm,
    /// usrv's AES-256-CTR format, for existing usrv clients (off unless enabled).
    Usrv,
}

impl Scheme {
    /// Returns the scheme's name as sent in `Encryption-Scheme`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Aes256Gcm => "aes-256-gcm",
            Scheme::Usrv => "usrv",
        }
    }

    /// Parses a scheme name (exactly as [`as_str`](Self::as_str) spells it).
    ///
    /// # Errors
    /// [`CryptoError::UnknownScheme`] for any other name.
    pub fn from_name(name: &str) -> Result<Self, CryptoError> {
        if name == "aes-256-gcm" {
            Ok(Scheme::Aes256Gcm)
        } else if name == "usrv" {
            Ok(Scheme::Usrv)
        } else {
            Err(CryptoError::UnknownScheme)
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses an RFC 3339 timestamp (RFC 3339 §5.6) into a point in time.
pub(crate) fn parse_timestamp(text: &str) -> Result<SystemTime, CryptoError> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| CryptoError::MalformedTimestamp)?;
    Ok(SystemTime::from(t))
}

/// Formats a point in time as usrv does (`datetime.isoformat()` in UTC, microseconds).
#[must_use]
pub fn format_timestamp(at: SystemTime) -> String {
    let t = OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Milliseconds since the Unix epoch (0 before it), the replay store's clock.
pub(crate) fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usrv_nonce_parses_to_its_instant() {
        let t = parse_timestamp("2025-01-01T00:00:00.000000+00:00").unwrap();
        assert_eq!(unix_millis(t), 1_735_689_600_000);
        let z = parse_timestamp("2025-01-01T01:00:00Z").unwrap();
        let off = parse_timestamp("2025-01-01T02:00:00+01:00").unwrap();
        assert_eq!(z, off);
    }

    #[test]
    fn format_round_trips_and_matches_usrv_shape() {
        let t = UNIX_EPOCH + Duration::from_micros(1_735_689_600_123_456);
        let s = format_timestamp(t);
        assert_eq!(s, "2025-01-01T00:00:00.123456+00:00");
        assert_eq!(parse_timestamp(&s).unwrap(), t);
    }

    #[test]
    fn garbage_timestamps_are_malformed() {
        for s in [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-01-01 00:00:00",
        ] {
            assert!(matches!(
                parse_timestamp(s),
                Err(CryptoError::MalformedTimestamp)
            ));
        }
    }

    #[test]
    fn scheme_names_round_trip() {
        for s in [Scheme::Aes256Gcm, Scheme::Usrv] {
            assert_eq!(Scheme::from_name(s.as_str()).unwrap(), s);
        }
        assert!(Scheme::from_name("aes-128-cbc").is_err());
    }
}

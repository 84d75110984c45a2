//! `Authorization` checks: Basic (RFC 7617) and Bearer (RFC 6750), in constant time.
//!
//! In scope: parsing the credentials of an `Authorization` field value and comparing them
//! with the expected ones without leaking, through timing, how much of them matched.
//! Out of scope: the `WWW-Authenticate` challenge (the server writes it), user databases,
//! token issuing.
//!
//! Both sides are hashed with SHA-256 and the digests compared with `subtle`, so the time
//! taken depends neither on where the first difference is nor on the secret's length.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest decoded `user:password` accepted, in bytes; longer credentials never match.
const MAX_BASIC_CREDENTIALS: usize = 512;

/// Tells whether an `Authorization` value carries Basic credentials equal to `user` and
/// `password`.
///
/// The scheme name is case-insensitive (RFC 9110 §11.1); the credentials are
/// `base64(user ":" password)` (RFC 7617 §2). Malformed values simply do not match.
///
/// # Examples
///
/// ```
/// use microweb::http::check_basic_auth;
///
/// // base64("alice:s3cret")
/// assert!(check_basic_auth(b"Basic YWxpY2U6czNjcmV0", "alice", "s3cret"));
/// assert!(!check_basic_auth(b"Basic YWxpY2U6czNjcmV0", "alice", "guess"));
/// ```
#[must_use]
pub fn check_basic_auth(authorization: &[u8], user: &str, password: &str) -> bool {
    let Some(encoded) = credentials(authorization, b"basic") else {
        return false;
    };
    let mut decoded = [0u8; MAX_BASIC_CREDENTIALS];
    let Ok(len) = STANDARD.decode_slice(encoded, &mut decoded) else {
        return false;
    };
    let decoded = decoded.get(..len).unwrap_or_default();
    // RFC 7617 §2: the user-id cannot contain a colon; the password may.
    let Some(colon) = memchr::memchr(b':', decoded) else {
        return false;
    };
    let (got_user, got_pass) = decoded.split_at(colon);
    let got_pass = got_pass.get(1..).unwrap_or_default();
    // Both comparisons always run: `&` on `Choice` does not short-circuit.
    let user_ok = digest(got_user).ct_eq(&digest(user.as_bytes()));
    let pass_ok = digest(got_pass).ct_eq(&digest(password.as_bytes()));
    bool::from(user_ok & pass_ok)
}

/// Tells whether an `Authorization` value carries the Bearer token `token` (RFC 6750 §2.1).
///
/// # Examples
///
/// ```
/// use microweb::http::check_bearer_auth;
///
/// assert!(check_bearer_auth(b"Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"));
/// assert!(!check_bearer_auth(b"Bearer mF_9", "mF_9.B5f-4.1JqM"));
/// ```
#[must_use]
pub fn check_bearer_auth(authorization: &[u8], token: &str) -> bool {
    match credentials(authorization, b"bearer") {
        Some(got) if !token.is_empty() => bool::from(digest(got).ct_eq(&digest(token.as_bytes()))),
        _ => false,
    }
}

/// Splits `<scheme> 1*SP <credentials>`, checking the scheme ignoring case.
fn credentials<'a>(authorization: &'a [u8], scheme: &[u8]) -> Option<&'a [u8]> {
    let value = super::request::trim(authorization);
    let space = memchr::memchr(b' ', value)?;
    let (name, rest) = value.split_at(space);
    if !name.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let rest = super::request::trim(rest);
    (!rest.is_empty()).then_some(rest)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_basic_credentials() {
        // base64("Aladdin:open sesame") from RFC 7617 §2.
        let good = b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
        let cases: [(&[u8], &str, &str, bool); 10] = [
            (good, "Aladdin", "open sesame", true),
            (
                b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
                "Aladdin",
                "open sesame",
                true,
            ),
            (
                b"BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ==  ",
                "Aladdin",
                "open sesame",
                true,
            ),
            (good, "aladdin", "open sesame", false),
            (good, "Aladdin", "open sesam", false),
            (good, "Aladdin", "open sesame!", false),
            (
                b"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
                "Aladdin",
                "open sesame",
                false,
            ),
            (b"Basic !!!notbase64", "Aladdin", "open sesame", false),
            (b"Basic", "", "", false),
            // base64("nocolon")
            (b"Basic bm9jb2xvbg==", "nocolon", "", false),
        ];
        for (header, user, pass, expected) in cases {
            assert_eq!(
                check_basic_auth(header, user, pass),
                expected,
                "{:?} {user} {pass}",
                String::from_utf8_lossy(header)
            );
        }
        // A password may contain colons: base64("u:p:q").
        assert!(check_basic_auth(b"Basic dTpwOnE=", "u", "p:q"));
        // Empty user and password: base64(":").
        assert!(check_basic_auth(b"Basic Og==", "", ""));
    }

    #[test]
    fn refuses_oversized_basic_credentials() {
        let long = STANDARD.encode(format!("u:{}", "p".repeat(600)));
        let header = format!("Basic {long}");
        assert!(!check_basic_auth(header.as_bytes(), "u", &"p".repeat(600)));
    }

    #[test]
    fn checks_bearer_tokens() {
        assert!(check_bearer_auth(b"Bearer abc.def", "abc.def"));
        assert!(check_bearer_auth(b"bearer abc.def", "abc.def"));
        assert!(!check_bearer_auth(b"Bearer abc.deg", "abc.def"));
        assert!(!check_bearer_auth(b"Bearer ", ""));
        assert!(!check_bearer_auth(b"Bearer x", ""));
        assert!(!check_bearer_auth(b"Basic abc.def", "abc.def"));
        assert!(!check_bearer_auth(b"", "abc.def"));
    }
}

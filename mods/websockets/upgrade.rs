//! The opening handshake, server side: checks an upgrade request and derives its answer.
//!
//! In scope: RFC 6455 §4.2.1 (what a client's opening handshake must hold) and §4.2.2 (the
//! `Sec-WebSocket-Accept` value, through `tungstenite::handshake::derive_accept_key`), and the
//! offered sub-protocols. Pure: it reads header values the HTTP core already parsed, so the
//! request head is never parsed twice.
//! Out of scope: writing the 101 (the server does), choosing a sub-protocol (the user's callback
//! does), and everything after the handshake (see `session`).

use std::fmt;

use ::http::{Method, StatusCode};
use base64::Engine as _;

/// Why an upgrade request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The method is not GET.
    NotGet,
    /// The request is not HTTP/1.1.
    NotHttp11,
    /// `Connection` does not list `upgrade`.
    MissingConnectionUpgrade,
    /// `Upgrade` does not list `websocket`.
    MissingUpgradeWebSocket,
    /// `Sec-WebSocket-Version` is missing or not 13.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing.
    MissingKey,
    /// `Sec-WebSocket-Key` is not the base64 of 16 bytes.
    InvalidKey,
}

impl UpgradeError {
    /// Returns the status that answers this error: 426 for a version this server does not speak
    /// (with `Sec-WebSocket-Version: 13`, RFC 6455 §4.4), 400 for the rest.
    #[must_use]
    pub fn status(self) -> StatusCode {
        match self {
            UpgradeError::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpgradeError::NotGet => "a websocket upgrade must use GET",
            UpgradeError::NotHttp11 => "a websocket upgrade must use HTTP/1.1",
            UpgradeError::MissingConnectionUpgrade => "missing `Connection: upgrade`",
            UpgradeError::MissingUpgradeWebSocket => "missing `Upgrade: websocket`",
            UpgradeError::UnsupportedVersion => "unsupported Sec-WebSocket-Version (expected 13)",
            UpgradeError::MissingKey => "missing Sec-WebSocket-Key",
            UpgradeError::InvalidKey => "invalid Sec-WebSocket-Key (expected base64 of 16 bytes)",
        })
    }
}

impl std::error::Error for UpgradeError {}

/// What an accepted handshake needs to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handshake {
    /// The `Sec-WebSocket-Accept` value.
    pub(crate) accept: String,
    /// The sub-protocols the client offered, in its order of preference.
    pub(crate) protocols: Vec<String>,
}

/// Returns whether a comma-separated header value lists `token` (case-insensitive).
pub(crate) fn lists_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Checks an upgrade request (RFC 6455 §4.2.1) given its method, whether it is HTTP/1.1, and
/// every header field in order (repeated fields are all seen).
pub(crate) fn check<'h>(
    method: &Method,
    is_http11: bool,
    headers: impl Iterator<Item = (&'h str, &'h [u8])>,
) -> Result<Handshake, UpgradeError> {
    // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if *method != Method::GET {
        return Err(UpgradeError::NotGet);
    }
    if !is_http11 {
        return Err(UpgradeError::NotHttp11);
    }
    let (mut connection, mut upgrade, mut version_ok, mut version_seen) =
        (false, false, false, false);
    let mut key: Option<&[u8]> = None;
    let mut protocols = Vec::new();
    for (name, value) in headers {
        let text = std::str::from_utf8(value).unwrap_or("");
        if name.eq_ignore_ascii_case("connection") {
            connection |= lists_token(text, "upgrade"); // item 4
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= lists_token(text, "websocket"); // item 3
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            version_seen = true;
            version_ok |= text.trim() == "13"; // item 6
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            key = Some(value); // item 5
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            protocols.extend(
                text.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    if !connection {
        return Err(UpgradeError::MissingConnectionUpgrade);
    }
    if !upgrade {
        return Err(UpgradeError::MissingUpgradeWebSocket);
    }
    if !version_seen || !version_ok {
        return Err(UpgradeError::UnsupportedVersion);
    }
    let key = key.ok_or(UpgradeError::MissingKey)?;
    let key = key.trim_ascii();
    // §4.2.1 item 5: "a base64-encoded value that, when decoded, is 16 bytes in length".
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(UpgradeError::InvalidKey),
    }
    Ok(Handshake {
        accept: tungstenite::handshake::derive_accept_key(key),
        protocols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn run(
        method: Method,
        http11: bool,
        headers: &[(&str, &str)],
    ) -> Result<Handshake, UpgradeError> {
        check(
            &method,
            http11,
            headers.iter().map(|(n, v)| (*n, v.as_bytes())),
        )
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Host", "x"),
            ("Connection", "keep-alive, Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", KEY),
        ]
    }

    #[test]
    fn accepts_the_rfc_sample_and_derives_its_accept_key() {
        let hs = run(Method::GET, true, &good()).unwrap();
        // RFC 6455 §1.3's worked example.
        assert_eq!(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(hs.protocols.is_empty());
    }

    #[test]
    fn collects_offered_protocols_across_repeated_fields() {
        let mut h = good();
        h.push(("Sec-WebSocket-Protocol", "chat, superchat"));
        h.push(("Sec-WebSocket-Protocol", "v3"));
        let hs = run(Method::GET, true, &h).unwrap();
        assert_eq!(hs.protocols, ["chat", "superchat", "v3"]);
    }

    #[test]
    fn rejects_each_missing_piece_with_its_reason() {
        assert_eq!(run(Method::POST, true, &good()), Err(UpgradeError::NotGet));
        assert_eq!(
            run(Method::GET, false, &good()),
            Err(UpgradeError::NotHttp11)
        );
        let without = |name: &str| {
            let h: Vec<_> = good().into_iter().filter(|(n, _)| *n != name).collect();
            run(Method::GET, true, &h)
        };
        assert_eq!(
            without("Connection"),
            Err(UpgradeError::MissingConnectionUpgrade)
        );
        assert_eq!(
            without("Upgrade"),
            Err(UpgradeError::MissingUpgradeWebSocket)
        );
        assert_eq!(
            without("Sec-WebSocket-Version"),
            Err(UpgradeError::UnsupportedVersion)
        );
        assert_eq!(without("Sec-WebSocket-Key"), Err(UpgradeError::MissingKey));
    }

    #[test]
    fn answers_a_wrong_version_with_426_and_a_bad_key_with_400() {
        let mut h = good();
        h[3] = ("Sec-WebSocket-Version", "8");
        let e = run(Method::GET, true, &h).unwrap_err();
        assert_eq!(e.status(), StatusCode::UPGRADE_REQUIRED);
        let mut h = good();
        h[4] = ("Sec-WebSocket-Key", "c2hvcnQ="); // "short": 5 bytes
        let e = run(Method::GET, true, &h).unwrap_err();
        assert_eq!(e, UpgradeError::InvalidKey);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}

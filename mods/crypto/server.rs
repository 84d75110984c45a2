//! The server side: open signed encrypted requests, seal signed encrypted responses.
//!
//! In scope: header parsing, the timestamp window, the allow-list, signature checks, the replay
//! store, and choosing between the schemes. Sans-IO: the clock is a parameter, headers come through
//! a lookup function, bodies are byte slices.
//! Out of scope: reading requests or writing responses (the HTTP side, `module.rs`), key files.
//!
//! ```text
//! request ──► scheme? ──► parse headers (400) ──► window (401) ──► allow-list (401)
//!                     ──► signature (401) ──► decrypt (400) ──► replay store (409 / 503)
//!                     ──► OpenedRequest { plaintext, sender, reply_to }
//! ```

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::error::CryptoError;
use super::gcm;
use super::headers::{
    self, ENCRYPTION_SCHEME, EPHEMERAL_PUBLIC_KEY, NONCE, RESPONSE_PUBLIC_KEY, SENDER_PUBLIC_KEY,
    SENDER_SIGNATURE, Scheme,
};
use super::identity::{Identity, PublicKey, sha256, verify_schnorr};
use super::replay::ReplayStore;
#[cfg(feature = "crypto-usrv")]
use super::usrv;

/// Configuration of the server side of the body encryption module.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CryptoConfig {
    /// How far a request's timestamp may be from the server's clock, either way.
    /// Default 30 s: enough for clock skew and slow links, short enough to bound the replay store.
    pub window: Duration,
    /// Whether usrv's scheme is accepted. Default `false`: it has no MAC and weaker framing.
    /// Needs the `crypto-usrv` feature (without it, usrv requests are refused as disabled).
    #[cfg(feature = "crypto-usrv")]
    pub usrv: bool,
    /// The most requests the replay store remembers at once. Default 65 536 (about 6 MiB at most);
    /// past it, new requests get 503 until entries expire.
    pub replay_capacity: usize,
    /// The only sender keys accepted, or `None` (the default) to accept any signed sender.
    pub allowed_senders: Option<Vec<PublicKey>>,
}

impl Default for CryptoConfig {
    fn default() -> Self {
        CryptoConfig {
            window: Duration::from_secs(30),
            #[cfg(feature = "crypto-usrv")]
            usrv: false,
            replay_capacity: 65_536,
            allowed_senders: None,
        }
    }
}

impl CryptoConfig {
    /// Sets the timestamp window.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Enables or disables usrv's scheme.
    #[cfg(feature = "crypto-usrv")]
    #[must_use]
    pub fn with_usrv(mut self, enabled: bool) -> Self {
        self.usrv = enabled;
        self
    }

    /// Sets the replay store's capacity.
    #[must_use]
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Accepts only requests signed by one of `keys`; others get 401.
    #[must_use]
    pub fn with_allowed_senders(mut self, keys: impl IntoIterator<Item = PublicKey>) -> Self {
        self.allowed_senders = Some(keys.into_iter().collect());
        self
    }
}

/// Where and how a response is to be sealed: the scheme, the client's key, the request it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    scheme: Scheme,
    key: PublicKey,
    in_reply_to: [u8; 32],
}

impl ReplyTo {
    /// Returns the scheme the response is sealed with.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Returns the key the response is encrypted to.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.key
    }
}

/// A request whose signature, timestamp and freshness were checked, with its decrypted body.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenedRequest {
    /// The decrypted body.
    pub plaintext: Vec<u8>,
    /// The authenticated sender's key: handlers may authorise on it.
    pub sender_public_key: PublicKey,
    /// The scheme the request used.
    pub scheme: Scheme,
    /// Where the response goes, if the client asked for an encrypted one.
    pub reply_to: Option<ReplyTo>,
}

impl OpenedRequest {
    /// Parses the decrypted body as JSON into `T`.
    ///
    /// # Errors
    /// The `serde_json` error when the plaintext is not JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.plaintext)
    }

    /// Returns the decrypted body as UTF-8 text.
    ///
    /// # Errors
    /// The UTF-8 error when the plaintext is not valid UTF-8.
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.plaintext)
    }
}

/// A sealed response: headers to add (replacing any of the same name) and the body to send.
///
/// The status is the one given to [`ServerCrypto::seal_response`]; it is signed. `Content-Type` is
/// left to the caller (it travels in clear); `Content-Length` is the length of `body`.
#[derive(Debug)]
#[non_exhaustive]
pub struct SealedResponse {
    /// Headers to add: `Encryption-Scheme` (aes-256-gcm only), `Ephemeral-Public-Key`,
    /// `Sender-Public-Key`, `Sender-Signature`.
    pub headers: Vec<(&'static str, String)>,
    /// The encrypted body.
    pub body: Vec<u8>,
}

/// The server-side state of the body encryption module: identity, configuration, replay store.
///
/// Share one per server (it is `Sync`); every method takes `&self`.
#[derive(Debug)]
pub struct ServerCrypto {
    identity: Identity,
    config: CryptoConfig,
    allowed: Option<HashSet<[u8; 33]>>,
    replay: ReplayStore,
}

impl ServerCrypto {
    /// Creates the server side with its identity and configuration.
    #[must_use]
    pub fn new(identity: Identity, config: CryptoConfig) -> Self {
        let allowed = config
            .allowed_senders
            .as_ref()
            .map(|keys| keys.iter().map(PublicKey::to_compressed).collect());
        ServerCrypto {
            replay: ReplayStore::new(config.replay_capacity),
            identity,
            config,
            allowed,
        }
    }

    /// Returns the server's identity.
    #[must_use]
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Returns the configuration.
    #[must_use]
    pub fn config(&self) -> &CryptoConfig {
        &self.config
    }

    /// Tells whether a request carries any encryption header (so must go through
    /// [`open_request`](Self::open_request)) or is a plain request.
    pub fn is_encrypted<'h>(headers: impl Fn(&str) -> Option<&'h str>) -> bool {
        [ENCRYPTION_SCHEME, EPHEMERAL_PUBLIC_KEY, SENDER_SIGNATURE]
            .iter()
            .any(|name| headers(name).is_some())
    }

    /// Authenticates and decrypts a request.
    ///
    /// `target` is the request-target exactly as received (path and query); `headers` looks a
    /// header up by name (ASCII case-insensitively; the caller's job) and returns its value;
    /// `now` is the server's clock.
    ///
    /// # Errors
    /// A [`CryptoError`] whose [`status`](CryptoError::status) is the answer: 400 for malformed
    /// headers, points off the curve, short or undecryptable bodies, an unknown or disabled
    /// scheme; 401 for a bad signature, an unknown sender or a timestamp outside the window; 409
    /// for a replay; 503 when the replay store is full. Never returns ciphertext as plaintext.
    pub fn open_request<'h>(
        &self,
        method: &str,
        target: &str,
        headers: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<OpenedRequest, CryptoError> {
        let scheme = match headers(ENCRYPTION_SCHEME) {
            Some(name) => Scheme::from_name(name)?,
            None if headers(EPHEMERAL_PUBLIC_KEY).is_some() => Scheme::Usrv,
            None if Self::is_encrypted(&headers) => {
                return Err(CryptoError::MissingHeader(ENCRYPTION_SCHEME));
            }
            None => return Err(CryptoError::NotEncrypted),
        };
        match scheme {
            Scheme::Aes256Gcm => self.open_gcm(method, target, &headers, body, now),
            #[cfg(feature = "crypto-usrv")]
            Scheme::Usrv if self.config.usrv => self.open_usrv(&headers, body, now),
            Scheme::Usrv => Err(CryptoError::SchemeDisabled),
        }
    }

    /// Returns where an error response should be sealed to, from the request's headers alone.
    ///
    /// For requests [`open_request`](Self::open_request) refused: the key is not authenticated,
    /// which is harmless (an error response holds nothing secret) and lets the client read it.
    pub fn reply_to<'h>(&self, headers: impl Fn(&str) -> Option<&'h str>) -> Option<ReplyTo> {
        let scheme = match headers(ENCRYPTION_SCHEME) {
            Some(name) => Scheme::from_name(name).ok()?,
            None if headers(EPHEMERAL_PUBLIC_KEY).is_some() => Scheme::Usrv,
            None => return None,
        };
        match scheme {
            Scheme::Aes256Gcm => Some(ReplyTo {
                scheme,
                key: PublicKey::from_header(headers(RESPONSE_PUBLIC_KEY)?, RESPONSE_PUBLIC_KEY)
                    .ok()?,
                in_reply_to: in_reply_to(headers(SENDER_SIGNATURE)),
            }),
            #[cfg(feature = "crypto-usrv")]
            Scheme::Usrv if self.config.usrv => Some(ReplyTo {
                scheme,
                key: PublicKey::from_header(headers(SENDER_PUBLIC_KEY)?, SENDER_PUBLIC_KEY).ok()?,
                in_reply_to: [0; 32],
            }),
            Scheme::Usrv => None,
        }
    }

    /// Encrypts and signs a response (error responses included) for `reply_to`.
    ///
    /// # Errors
    /// [`CryptoError::Random`] when the system random number generator fails.
    pub fn seal_response(
        &self,
        status: u16,
        body: &[u8],
        reply_to: &ReplyTo,
    ) -> Result<SealedResponse, CryptoError> {
        let ephemeral = Identity::random()?;
        let eph_b64 = ephemeral.public_key_b64();
        match reply_to.scheme {
            Scheme::Aes256Gcm => {
                let sealed = gcm::seal(&ephemeral, &reply_to.key, body)?;
                let digest = gcm::response_digest(&gcm::ResponseParts {
                    status,
                    in_reply_to: &reply_to.in_reply_to,
                    ephemeral: &ephemeral.public_key(),
                    sender: &self.identity.public_key(),
                    recipient: &reply_to.key,
                    body: &sealed,
                });
                let sig = self.identity.sign_schnorr(&digest)?;
                Ok(SealedResponse {
                    headers: vec![
                        (ENCRYPTION_SCHEME, Scheme::Aes256Gcm.as_str().to_owned()),
                        (EPHEMERAL_PUBLIC_KEY, eph_b64),
                        (SENDER_PUBLIC_KEY, self.identity.public_key_b64()),
                        (SENDER_SIGNATURE, B64.encode(sig)),
                    ],
                    body: sealed,
                })
            }
            #[cfg(not(feature = "crypto-usrv"))]
            Scheme::Usrv => Err(CryptoError::SchemeDisabled),
            #[cfg(feature = "crypto-usrv")]
            Scheme::Usrv => {
                let body_hex = usrv::encrypt_with(&ephemeral, &reply_to.key, body);
                let sig = usrv::sign(&self.identity, format!("{body_hex}{eph_b64}").as_bytes())?;
                Ok(SealedResponse {
                    headers: vec![
                        (EPHEMERAL_PUBLIC_KEY, eph_b64),
                        (SENDER_PUBLIC_KEY, self.identity.public_key_b64()),
                        (SENDER_SIGNATURE, B64.encode(sig)),
                    ],
                    body: body_hex.into_bytes(),
                })
            }
        }
    }

    fn open_gcm<'h>(
        &self,
        method: &str,
        target: &str,
        headers: &impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<OpenedRequest, CryptoError> {
        let eph = key_header(headers, EPHEMERAL_PUBLIC_KEY)?;
        let sender = key_header(headers, SENDER_PUBLIC_KEY)?;
        let sig_text = required(headers, SENDER_SIGNATURE)?;
        let sig = signature(sig_text)?;
        let nonce = required(headers, NONCE)?;
        let reply_key = headers(RESPONSE_PUBLIC_KEY)
            .map(|v| PublicKey::from_header(v, RESPONSE_PUBLIC_KEY))
            .transpose()?;
        // An empty body is an empty plaintext; anything shorter than nonce + tag is malformed.
        if !body.is_empty() && body.len() < gcm::OVERHEAD {
            return Err(CryptoError::MalformedBody);
        }
        let at = self.check_window(nonce, now)?;
        self.check_sender(&sender)?;
        let digest = gcm::request_digest(&gcm::RequestParts {
            method,
            target,
            timestamp: nonce,
            ephemeral: &eph,
            sender: &sender,
            reply_to: reply_key.as_ref(),
            body,
        });
        if !verify_schnorr(&sender, &digest, &sig) {
            return Err(CryptoError::BadSignature);
        }
        let plaintext = if body.is_empty() {
            Vec::new()
        } else {
            gcm::open(&self.identity, &eph, body)?
        };
        // The ephemeral key is fresh per message and signed: with the sender it names the request.
        let mut key_material = Vec::with_capacity(80);
        key_material.extend_from_slice(b"aes-256-gcm");
        key_material.extend_from_slice(&sender.to_compressed());
        key_material.extend_from_slice(&eph.to_compressed());
        self.remember(sha256(&key_material), at, now)?;
        Ok(OpenedRequest {
            plaintext,
            sender_public_key: sender,
            scheme: Scheme::Aes256Gcm,
            reply_to: reply_key.map(|key| ReplyTo {
                scheme: Scheme::Aes256Gcm,
                key,
                in_reply_to: in_reply_to(Some(sig_text)),
            }),
        })
    }

    #[cfg(feature = "crypto-usrv")]
    fn open_usrv<'h>(
        &self,
        headers: &impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<OpenedRequest, CryptoError> {
        let eph_text = required(headers, EPHEMERAL_PUBLIC_KEY)?;
        let eph = PublicKey::from_header(eph_text, EPHEMERAL_PUBLIC_KEY)?;
        let sender = key_header(headers, SENDER_PUBLIC_KEY)?;
        let sig = signature(required(headers, SENDER_SIGNATURE)?)?;
        let nonce = required(headers, NONCE)?;
        let at = self.check_window(nonce, now)?;
        self.check_sender(&sender)?;
        // usrv signs body_hex ‖ Ephemeral-Public-Key ‖ Nonce, header texts as sent.
        let mut message = Vec::with_capacity(body.len() + eph_text.len() + nonce.len());
        message.extend_from_slice(body);
        message.extend_from_slice(eph_text.as_bytes());
        message.extend_from_slice(nonce.as_bytes());
        if !usrv::verify(&sender, &message, &sig) {
            return Err(CryptoError::BadSignature);
        }
        let plaintext = usrv::decrypt(&self.identity, &eph, body)?;
        // usrv's own replay key: the nonce per sender.
        let mut key_material = Vec::with_capacity(40 + nonce.len());
        key_material.extend_from_slice(b"usrv");
        key_material.extend_from_slice(&sender.to_compressed());
        key_material.extend_from_slice(nonce.as_bytes());
        self.remember(sha256(&key_material), at, now)?;
        Ok(OpenedRequest {
            plaintext,
            sender_public_key: sender,
            scheme: Scheme::Usrv,
            reply_to: Some(ReplyTo {
                scheme: Scheme::Usrv,
                key: sender,
                in_reply_to: [0; 32],
            }),
        })
    }

    /// Parses the timestamp and checks it is within the window around `now`.
    fn check_window(&self, nonce: &str, now: SystemTime) -> Result<SystemTime, CryptoError> {
        let at = headers::parse_timestamp(nonce)?;
        let skew = match at.duration_since(now) {
            Ok(ahead) => ahead,
            Err(behind) => behind.duration(),
        };
        if skew > self.config.window {
            return Err(CryptoError::StaleTimestamp);
        }
        Ok(at)
    }

    fn check_sender(&self, sender: &PublicKey) -> Result<(), CryptoError> {
        match &self.allowed {
            Some(set) if !set.contains(&sender.to_compressed()) => Err(CryptoError::UnknownSender),
            _ => Ok(()),
        }
    }

    /// Records the request until its timestamp leaves the window.
    fn remember(&self, key: [u8; 32], at: SystemTime, now: SystemTime) -> Result<(), CryptoError> {
        let expires = headers::unix_millis(at)
            .saturating_add(u64::try_from(self.config.window.as_millis()).unwrap_or(u64::MAX));
        self.replay
            .check_and_insert(key, expires, headers::unix_millis(now))
    }
}

/// The request a response answers: SHA-256 of the request's `Sender-Signature` text (or of "").
pub(crate) fn in_reply_to(signature_header: Option<&str>) -> [u8; 32] {
    sha256(signature_header.unwrap_or("").as_bytes())
}

fn required<'h>(
    headers: &impl Fn(&str) -> Option<&'h str>,
    name: &'static str,
) -> Result<&'h str, CryptoError> {
    headers(name).ok_or(CryptoError::MissingHeader(name))
}

fn key_header<'h>(
    headers: &impl Fn(&str) -> Option<&'h str>,
    name: &'static str,
) -> Result<PublicKey, CryptoError> {
    PublicKey::from_header(required(headers, name)?, name)
}

/// Decodes a 64-byte signature header.
pub(crate) fn signature(text: &str) -> Result<[u8; 64], CryptoError> {
    B64.decode(text)
        .ok()
        .and_then(|raw| <[u8; 64]>::try_from(raw).ok())
        .ok_or(CryptoError::MalformedHeader(SENDER_SIGNATURE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usrv_response_is_what_a_usrv_client_verifies_and_decrypts() {
        let server = ServerCrypto::new(
            Identity::from_passphrase("server test secret words").unwrap(),
            CryptoConfig::default().with_usrv(true),
        );
        let client = Identity::from_passphrase("client test secret words").unwrap();
        let reply = ReplyTo {
            scheme: Scheme::Usrv,
            key: client.public_key(),
            in_reply_to: [0; 32],
        };
        let sealed = server
            .seal_response(200, br#"{"ok": true}"#, &reply)
            .unwrap();
        let get = |name: &str| {
            sealed
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert!(!sealed.headers.iter().any(|(n, _)| *n == ENCRYPTION_SCHEME));
        assert_eq!(get(SENDER_PUBLIC_KEY), server.identity().public_key_b64());
        // usrv's manage_response: verify(body + R, signature, sender), then decrypt(prk, R, body).
        let eph_text = get(EPHEMERAL_PUBLIC_KEY);
        let mut message = sealed.body.clone();
        message.extend_from_slice(eph_text.as_bytes());
        let sig = signature(&get(SENDER_SIGNATURE)).unwrap();
        assert!(usrv::verify(
            &server.identity().public_key(),
            &message,
            &sig
        ));
        let eph = PublicKey::from_b64(&eph_text).unwrap();
        let plain = usrv::decrypt(&client, &eph, &sealed.body).unwrap();
        assert_eq!(plain, br#"{"ok": true}"#);
        assert!(
            sealed
                .body
                .iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}

//! The client: usrv's endpoint builder in Rust, speaking scheme `aes-256-gcm` to a pinned server.
//!
//! In scope: building endpoint paths and queries, sealing and signing requests, asking for an
//! encrypted response, verifying the response signature against the pinned server key, and
//! decrypting. The sans-IO half ([`RequestBuilder::seal`], [`SealedRequest::open_response`]) is
//! usable over any transport; [`RequestBuilder::send`] drives it over `ureq`, blocking.
//! Out of scope: the usrv scheme on the client side (usrv clients exist), retries, redirects
//! (refused: a redirect changes the signed request-target).
#![allow(clippy::disallowed_methods)] // IO edge: `send` reads the clock for the request timestamp

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::CryptoError;
use super::gcm;
use super::headers::{
    ENCRYPTION_SCHEME, EPHEMERAL_PUBLIC_KEY, NONCE, RESPONSE_PUBLIC_KEY, SENDER_PUBLIC_KEY,
    SENDER_SIGNATURE, Scheme, format_timestamp,
};
use super::identity::{Identity, PublicKey, verify_schnorr};
use super::server::{in_reply_to, signature};

/// RFC 3986 §2.3 unreserved characters stay as they are; everything else is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What can go wrong with a client call.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// Sealing the request or opening the response failed (a bad response signature included).
    Crypto(CryptoError),
    /// The HTTP exchange failed (connection, TLS, protocol).
    Transport(ureq::Error),
    /// The request body could not be serialised, or the response body is not the expected JSON.
    Json(serde_json::Error),
    /// The server answered without sealing the response (e.g. a 404 before the crypto module).
    Unsealed {
        /// The status of the unsealed response.
        status: u16,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Crypto(e) => write!(f, "crypto error: {e}"),
            ClientError::Transport(e) => write!(f, "transport error: {e}"),
            ClientError::Json(e) => write!(f, "json error: {e}"),
            ClientError::Unsealed { status } => write!(f, "unsealed response with status {status}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Crypto(e) => Some(e),
            ClientError::Transport(e) => Some(e),
            ClientError::Json(e) => Some(e),
            ClientError::Unsealed { .. } => None,
        }
    }
}

impl From<CryptoError> for ClientError {
    fn from(e: CryptoError) -> Self {
        ClientError::Crypto(e)
    }
}

impl From<ureq::Error> for ClientError {
    fn from(e: ureq::Error) -> Self {
        ClientError::Transport(e)
    }
}

impl From<serde_json::Error> for ClientError {
    fn from(e: serde_json::Error) -> Self {
        ClientError::Json(e)
    }
}

/// A blocking client for a microweb server speaking scheme `aes-256-gcm`.
///
/// # Examples
/// ```no_run
/// use microweb::mods::crypto::{Client, Identity, PublicKey};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = PublicKey::from_b64("4nI6zWpHStH5WLY8Y7GC9W/GwOq87bXPekklsNdQZ+WAnO60Luvua6l9RZ6JiQ3d2TEu3repp6qOcIpzp7l2dA==")?;
/// let client = Client::new("http://127.0.0.1:8080", server, Identity::random()?);
/// let users = client.get(["api", "users"]).query("page", "2").send()?;
/// let created = client
///     .post(["api", "users"])
///     .json(&serde_json::json!({"name": "ada"}))
///     .send()?;
/// println!("{} {}", users.status(), created.status());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Client {
    origin: String,
    base_path: String,
    server_key: PublicKey,
    identity: Identity,
    agent: ureq::Agent,
}

impl Client {
    /// Creates a client for the server at `base_url` (e.g. `http://host:8080` or
    /// `https://host/prefix`), pinned to `server_public_key`, signing with `client_identity`.
    #[must_use]
    pub fn new(
        base_url: impl Into<String>,
        server_public_key: PublicKey,
        client_identity: Identity,
    ) -> Self {
        let base_url = base_url.into();
        let after_scheme = base_url.find("://").map_or(0, |i| i + 3);
        let (origin, base_path) = match base_url.get(after_scheme..).and_then(|r| r.find('/')) {
            Some(slash) => base_url.split_at(after_scheme + slash),
            None => (base_url.as_str(), ""),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Client {
            origin: origin.to_owned(),
            base_path: base_path.trim_end_matches('/').to_owned(),
            server_key: server_public_key,
            identity: client_identity,
            agent,
        }
    }

    /// Starts a GET to the endpoint made of `segments` (each percent-encoded).
    pub fn get<I>(&self, segments: I) -> RequestBuilder<'_>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.request("GET", segments)
    }

    /// Starts a POST to the endpoint made of `segments`.
    pub fn post<I>(&self, segments: I) -> RequestBuilder<'_>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.request("POST", segments)
    }

    /// Starts a PUT to the endpoint made of `segments`.
    pub fn put<I>(&self, segments: I) -> RequestBuilder<'_>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.request("PUT", segments)
    }

    /// Starts a DELETE to the endpoint made of `segments`.
    pub fn delete<I>(&self, segments: I) -> RequestBuilder<'_>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.request("DELETE", segments)
    }

    /// Starts a request with any method to the endpoint made of `segments`.
    pub fn request<I>(&self, method: &str, segments: I) -> RequestBuilder<'_>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut path = self.base_path.clone();
        for segment in segments {
            path.push('/');
            path.extend(utf8_percent_encode(segment.as_ref(), COMPONENT));
        }
        if path.is_empty() {
            path.push('/');
        }
        RequestBuilder {
            client: self,
            method: method.to_ascii_uppercase(),
            path,
            query: Vec::new(),
            body: Ok(Vec::new()),
        }
    }
}

/// A request being built: endpoint, query, body.
#[derive(Debug)]
#[must_use]
pub struct RequestBuilder<'c> {
    client: &'c Client,
    method: String,
    path: String,
    query: Vec<(String, String)>,
    body: Result<Vec<u8>, String>,
}

impl RequestBuilder<'_> {
    /// Appends `key=value` to the query string (both percent-encoded).
    pub fn query(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.query
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets the plaintext body to `value` serialised as JSON.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value).map_err(|e| e.to_string());
        self
    }

    /// Sets the plaintext body.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Ok(bytes.into());
        self
    }

    /// Returns the request-target: path and query, as sent and signed.
    #[must_use]
    pub fn target(&self) -> String {
        let mut target = self.path.clone();
        for (i, (k, v)) in self.query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.extend(utf8_percent_encode(k, COMPONENT));
            target.push('=');
            target.extend(utf8_percent_encode(v, COMPONENT));
        }
        target
    }

    /// Seals the request at time `now` without sending it (the sans-IO half of [`send`](Self::send)).
    ///
    /// # Errors
    /// [`ClientError::Json`] if the JSON body could not be serialised, [`ClientError::Crypto`] if
    /// the system random number generator fails.
    pub fn seal(&self, now: SystemTime) -> Result<SealedRequest, ClientError> {
        let plaintext = match &self.body {
            Ok(b) => b,
            Err(msg) => return Err(ClientError::Json(serde::ser::Error::custom(msg))),
        };
        let client = self.client;
        let ephemeral = Identity::random()?;
        let target = self.target();
        let timestamp = format_timestamp(now);
        // An empty plaintext is sent as an empty body: nothing to hide, and it is still signed.
        let body = if plaintext.is_empty() {
            Vec::new()
        } else {
            gcm::seal(&ephemeral, &client.server_key, plaintext)?
        };
        let me = client.identity.public_key();
        let digest = gcm::request_digest(&gcm::RequestParts {
            method: &self.method,
            target: &target,
            timestamp: &timestamp,
            ephemeral: &ephemeral.public_key(),
            sender: &me,
            reply_to: Some(&me),
            body: &body,
        });
        let sig = B64.encode(client.identity.sign_schnorr(&digest)?);
        let headers = vec![
            (ENCRYPTION_SCHEME, Scheme::Aes256Gcm.as_str().to_owned()),
            (EPHEMERAL_PUBLIC_KEY, ephemeral.public_key_b64()),
            (SENDER_PUBLIC_KEY, me.to_b64()),
            (NONCE, timestamp),
            (RESPONSE_PUBLIC_KEY, me.to_b64()),
            (SENDER_SIGNATURE, sig.clone()),
        ];
        Ok(SealedRequest {
            method: self.method.clone(),
            target,
            headers,
            body,
            in_reply_to: in_reply_to(Some(&sig)),
            server_key: client.server_key,
            identity: client.identity.clone(),
        })
    }

    /// Seals the request, sends it, and opens the response.
    ///
    /// # Errors
    /// [`ClientError::Transport`] when the exchange fails, [`ClientError::Unsealed`] when the
    /// server answered in clear, [`ClientError::Crypto`] when the response is not signed by the
    /// pinned server key for this request or does not decrypt.
    pub fn send(self) -> Result<Response, ClientError> {
        let sealed = self.seal(SystemTime::now())?;
        let url = format!("{}{}", self.client.origin, sealed.target);
        let mut builder = http::Request::builder()
            .method(sealed.method.as_str())
            .uri(url);
        for (name, value) in &sealed.headers {
            builder = builder.header(*name, value.as_str());
        }
        let request = builder
            .body(sealed.body.clone())
            .map_err(|e| ClientError::Transport(ureq::Error::Http(e)))?;
        let mut response = self.client.agent.run(request)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.body_mut().read_to_vec()?;
        sealed.open_response(
            status,
            |name| headers.get(name).and_then(|v| v.to_str().ok()),
            &body,
        )
    }
}

/// A sealed request ready for any transport, and what is needed to open its response.
#[derive(Debug)]
#[non_exhaustive]
pub struct SealedRequest {
    /// The method, upper case.
    pub method: String,
    /// The request-target (path and query) the signature covers: send it unchanged.
    pub target: String,
    /// Headers to send.
    pub headers: Vec<(&'static str, String)>,
    /// The body to send: `nonce ‖ ciphertext ‖ tag`, or empty for an empty plaintext.
    pub body: Vec<u8>,
    in_reply_to: [u8; 32],
    server_key: PublicKey,
    identity: Identity,
}

impl SealedRequest {
    /// Returns the value of one of [`headers`](Self::headers) by name (ASCII case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Verifies and decrypts the response to this request.
    ///
    /// The response must carry `Encryption-Scheme: aes-256-gcm`, be signed by the pinned server
    /// key over its status, this request's signature, its ephemeral key and its body, and decrypt
    /// with the client's key.
    ///
    /// # Errors
    /// [`ClientError::Unsealed`] when the response has no encryption headers,
    /// [`ClientError::Crypto`] with [`CryptoError::BadResponse`] when it is not signed by the
    /// pinned key for this request, or another [`CryptoError`] when it is malformed.
    pub fn open_response<'h>(
        &self,
        status: u16,
        headers: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let Some(scheme) = headers(ENCRYPTION_SCHEME) else {
            return Err(ClientError::Unsealed { status });
        };
        if Scheme::from_name(scheme)? != Scheme::Aes256Gcm {
            return Err(CryptoError::UnknownScheme.into());
        }
        let eph = PublicKey::from_header(
            headers(EPHEMERAL_PUBLIC_KEY)
                .ok_or(CryptoError::MissingHeader(EPHEMERAL_PUBLIC_KEY))?,
            EPHEMERAL_PUBLIC_KEY,
        )?;
        let sender = PublicKey::from_header(
            headers(SENDER_PUBLIC_KEY).ok_or(CryptoError::MissingHeader(SENDER_PUBLIC_KEY))?,
            SENDER_PUBLIC_KEY,
        )?;
        let sig = signature(
            headers(SENDER_SIGNATURE).ok_or(CryptoError::MissingHeader(SENDER_SIGNATURE))?,
        )?;
        // The pinned key decides; the header only has to agree with it.
        if sender != self.server_key {
            return Err(CryptoError::BadResponse.into());
        }
        let digest = gcm::response_digest(&gcm::ResponseParts {
            status,
            in_reply_to: &self.in_reply_to,
            ephemeral: &eph,
            sender: &self.server_key,
            recipient: &self.identity.public_key(),
            body,
        });
        if !verify_schnorr(&self.server_key, &digest, &sig) {
            return Err(CryptoError::BadResponse.into());
        }
        let plaintext = gcm::open(&self.identity, &eph, body)?;
        Ok(Response {
            status,
            body: plaintext,
        })
    }
}

/// A verified, decrypted response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    body: Vec<u8>,
}

impl Response {
    /// Returns the status code (signed by the server).
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Returns the decrypted body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Returns the decrypted body, consuming the response.
    #[must_use]
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Parses the decrypted body as JSON.
    ///
    /// # Errors
    /// [`ClientError::Json`] when the body is not JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

//! The HTTP side of body encryption: protected route handlers and the `Crypto` module.
//!
//! In scope: running [`ServerCrypto::open_request`] on a request as the server received it,
//! handing the plaintext and the authenticated sender key to the handler, sealing the handler's
//! answer (errors included) with [`ServerCrypto::seal_response`], and refusing plain requests on
//! protected routes and prefixes.
//! Out of scope: the cryptography and the wire format (see `server.rs`, `gcm.rs`, `usrv.rs`), and
//! reading or writing sockets (the server does it).
//!
//! ```text
//! request ──► open_request ──► Err(e) ──► e.status(), sealed to Response-Public-Key if any
//!                          └─► Ok(opened) ──► handler(req, &opened, resp)
//!                                         ──► seal_response(status, body) into resp
//!                                             (in clear if the client asked for no sealing)
//! ```
#![allow(clippy::disallowed_methods)] // IO edge: reads the clock for the timestamp window

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::SystemTime;

use ::http::StatusCode;
use parking_lot::RwLock;

use super::error::CryptoError;
use super::identity::{Identity, PublicKey};
use super::server::{CryptoConfig, OpenedRequest, ReplyTo, ServerCrypto};
use crate::IntoResponse;
use crate::module::{Module, ServerInfo};
use crate::server::{Body, Request, Response};

/// The body encryption module: one server identity and replay store, shared by every protected
/// route of a server.
///
/// Cloning is cheap (the state is behind an `Arc`): every handler made by
/// [`protect`](Self::protect) and the module itself share one [`ServerCrypto`], so a request
/// replayed to any protected route is refused.
///
/// # Examples
/// ```no_run
/// use microweb::mods::crypto::{Crypto, CryptoConfig, Identity};
/// use microweb::{Json, Method, WebServer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let crypto = Crypto::new(Identity::random()?, CryptoConfig::default());
/// let mut server = WebServer::new();
/// server.route(
///     Method::POST,
///     "/api/echo",
///     crypto.protect(|_req, msg, _resp| {
///         Json(serde_json::json!({
///             "from": msg.sender_public_key.to_b64(),
///             "said": String::from_utf8_lossy(&msg.plaintext),
///         }))
///     }),
/// )?;
/// // Optional: refuse every plain request under /api/ before routing.
/// crypto.require_encryption("/api/");
/// server.add_module(std::sync::Arc::new(crypto.clone()));
/// server.start_managed(2, None)?;
/// println!("server key {}", crypto.public_key());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Crypto {
    shared: Arc<Shared>,
}

struct Shared {
    server: ServerCrypto,
    /// Path prefixes under which plain requests are refused by the module.
    required: RwLock<Vec<String>>,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypto")
            .field("public_key", &self.public_key())
            .field("required", &*self.shared.required.read())
            .finish_non_exhaustive()
    }
}

impl Crypto {
    /// Creates the module with the server's identity and configuration.
    #[must_use]
    pub fn new(identity: Identity, config: CryptoConfig) -> Crypto {
        Crypto::from_server(ServerCrypto::new(identity, config))
    }

    /// Creates the module as `load_module("Crypto")` does: a random identity (a new key at every
    /// start, so clients cannot pin it across restarts) and the default configuration. Build it
    /// with [`Crypto::new`] for a key file or a passphrase.
    ///
    /// # Errors
    /// [`CryptoError`] when the system gives no randomness.
    pub fn for_server(_server: &ServerInfo) -> Result<Crypto, CryptoError> {
        Ok(Crypto::new(Identity::random()?, CryptoConfig::default()))
    }

    /// Wraps an existing server core.
    #[must_use]
    pub fn from_server(server: ServerCrypto) -> Crypto {
        Crypto {
            shared: Arc::new(Shared {
                server,
                required: RwLock::new(Vec::new()),
            }),
        }
    }

    /// Returns the server core (identity, configuration, replay store).
    #[must_use]
    pub fn server(&self) -> &ServerCrypto {
        &self.shared.server
    }

    /// Returns the server's public key, the one clients pin.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.shared.server.identity().public_key()
    }

    /// Refuses plain (unencrypted) requests whose decoded path starts with `prefix`, before the
    /// routes, with `400 Bad Request`. Takes effect when this `Crypto` is loaded as a module
    /// ([`WebServer::add_module`](crate::WebServer::add_module) or `load_module("Crypto")`).
    ///
    /// Encrypted requests under the prefix go on to the routes: register each of those routes
    /// through [`protect`](Self::protect), or its handler sees the ciphertext.
    pub fn require_encryption(&self, prefix: impl Into<String>) -> &Self {
        self.shared.required.write().push(prefix.into());
        self
    }

    /// Returns true when plain requests to `path` are refused by the module.
    #[must_use]
    pub fn requires_encryption(&self, path: &str) -> bool {
        self.shared
            .required
            .read()
            .iter()
            .any(|prefix| path.starts_with(prefix.as_str()))
    }

    /// Wraps a handler so it receives the decrypted body and the authenticated sender key, and
    /// its answer goes back sealed; register the result like any handler.
    ///
    /// The wrapper, for each request:
    /// 1. opens it with [`ServerCrypto::open_request`] (method and request-target as received,
    ///    the server's clock). A refused request (a plain one included) is answered with
    ///    [`CryptoError::status`] (400, 401, 409 or 503) and the error's text, sealed to the
    ///    request's `Response-Public-Key` when it has a usable one, in clear otherwise. The
    ///    handler is not called.
    /// 2. calls `handler(request, &opened, response)`; the handler answers as any handler does
    ///    (through the response or by returning a value). `request.content()` is still the
    ///    ciphertext: read the plaintext from [`OpenedRequest::plaintext`].
    /// 3. when the client asked for an encrypted answer, seals the answer's status and body
    ///    ([`ServerCrypto::seal_response`]) into the response: the body is replaced by the
    ///    sealed one and the signature headers are added. Other headers, `Content-Type`
    ///    included, travel in clear and unsigned. A `204 No Content` answer goes out as
    ///    `200 OK` with a sealed empty body (a 204 cannot carry one, RFC 9110 §15.3.5).
    ///    An answer that cannot be sealed — a streamed body ([`Body::Reader`], e.g.
    ///    `return_file`), a deferred answer, a protocol switch, a 1xx or 304 status — is
    ///    replaced by a sealed `500 Internal Server Error`.
    ///
    /// A `HEAD` request routed to a protected GET handler is opened like any request, but the
    /// server sends no body for HEAD, so its sealed answer cannot be verified by a client.
    ///
    /// `after_request` hooks and `on_error` handlers run after the wrapper: if they change the
    /// status or the body of a sealed answer, clients refuse it (the signature no longer
    /// matches).
    pub fn protect<F, R>(
        &self,
        handler: F,
    ) -> impl Fn(&Request<'_>, &mut Response) + Send + Sync + 'static
    where
        F: Fn(&Request<'_>, &OpenedRequest, &mut Response) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        let shared = Arc::clone(&self.shared);
        move |request: &Request<'_>, response: &mut Response| {
            serve(&shared.server, request, response, |opened, response| {
                handler(request, opened, response).into_response(response);
            });
        }
    }
}

impl Module for Crypto {
    fn name(&self) -> &'static str {
        "Crypto"
    }

    fn on_start(&self, _server: &ServerInfo) {
        log::info!("body encryption: server public key {}", self.public_key());
    }

    /// Refuses plain requests under the prefixes given to [`Crypto::require_encryption`].
    fn on_request(&self, request: &Request<'_>, response: &mut Response) {
        if !self.requires_encryption(request.path()) {
            return;
        }
        if ServerCrypto::is_encrypted(|name| request.get_header(name)) {
            // A protected route opens it; opening it here too would record it as a replay.
            return;
        }
        refuse(
            &self.shared.server,
            request,
            response,
            &CryptoError::NotEncrypted,
        );
    }
}

/// Opens the request, runs `handler` on it, and seals the answer.
fn serve(
    server: &ServerCrypto,
    request: &Request<'_>,
    response: &mut Response,
    handler: impl FnOnce(&OpenedRequest, &mut Response),
) {
    let opened = server.open_request(
        request.method().as_str(),
        request.raw_target(),
        |name| request.get_header(name),
        request.content(),
        SystemTime::now(),
    );
    let opened = match opened {
        Ok(opened) => opened,
        Err(e) => {
            refuse(server, request, response, &e);
            return;
        }
    };
    let ran = catch_unwind(AssertUnwindSafe(|| handler(&opened, response)));
    if ran.is_err() {
        log::error!("a protected handler panicked; answering 500");
        *response = Response::new();
        response.return_internal_server_error();
    }
    if let Some(reply) = &opened.reply_to {
        seal_answer(server, reply, response);
    }
}

/// Answers a refused request with the error's status and text, sealed when the request says how.
fn refuse(server: &ServerCrypto, request: &Request<'_>, response: &mut Response, e: &CryptoError) {
    let status = e.status();
    log::debug!(
        "refused {} {}: {e} ({status})",
        request.method(),
        request.raw_path()
    );
    *response = Response::new();
    let text = e.to_string();
    match server.reply_to(|name| request.get_header(name)) {
        Some(reply) => answer_sealed(server, &reply, response, status, text.as_bytes()),
        None => (status, text).into_response(response),
    }
}

/// Replaces the handler's answer in `response` by its sealed form.
fn seal_answer(server: &ServerCrypto, reply: &ReplyTo, response: &mut Response) {
    let status = match response.status() {
        StatusCode::NO_CONTENT => StatusCode::OK,
        s => s,
    };
    // A takeover is an upgrade too: `take_over` switches protocols first.
    let sealable = !response.is_deferred()
        && !response.is_upgrade()
        && !status.is_informational()
        && status != StatusCode::NOT_MODIFIED;
    let body: Option<&[u8]> = match response.body() {
        _ if !sealable => None,
        Body::Empty => Some(&[]),
        Body::Static(bytes) => Some(bytes),
        Body::Bytes(bytes) => Some(bytes),
        Body::Shared(bytes) => Some(bytes),
        _ => None,
    };
    let Some(body) = body else {
        log::error!(
            "a protected handler answered {status} with a body that cannot be sealed \
             (stream, deferred answer or protocol switch); answering 500"
        );
        *response = Response::new();
        answer_sealed(
            server,
            reply,
            response,
            StatusCode::INTERNAL_SERVER_ERROR,
            b"response cannot be sealed",
        );
        return;
    };
    match server.seal_response(status.as_u16(), body, reply) {
        Ok(sealed) => {
            if response.content_type().is_none() {
                // A constant type: it cannot be refused.
                let _ = response.set_content_type("application/octet-stream");
            }
            response.return_(status, Body::Bytes(sealed.body));
            for (name, value) in sealed.headers {
                if response.set_header(name, value).is_err() {
                    log::error!("sealed response header {name} is not a valid header");
                }
            }
        }
        Err(e) => {
            log::error!("cannot seal a response: {e}; answering 500 in clear");
            *response = Response::new();
            response.return_internal_server_error();
        }
    }
}

/// Answers `status` with `text` sealed to `reply` (`text/plain`).
fn answer_sealed(
    server: &ServerCrypto,
    reply: &ReplyTo,
    response: &mut Response,
    status: StatusCode,
    text: &[u8],
) {
    let _ = response.set_content_type("text/plain; charset=utf-8");
    response.return_(status, Body::Bytes(text.to_vec()));
    seal_answer(server, reply, response);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use crate::TestRequest;

    fn crypto() -> Crypto {
        Crypto::new(Identity::random().unwrap(), CryptoConfig::default())
    }

    #[test]
    fn plain_request_on_a_protected_handler_is_refused_without_calling_it() {
        let c = crypto();
        let called = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = Arc::clone(&called);
        let handler = c.protect(move |_, _, _| {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            "secret"
        });
        let r = TestRequest::new(Method::POST, "/api")
            .body("hello")
            .run(handler);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.header("Sender-Signature").is_none());
        assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
    }

    /// A client's POST /api of `body` sealed for `c`, and that request as a TestRequest.
    fn sealed_post(c: &Crypto, body: &str) -> (super::super::SealedRequest, TestRequest) {
        let client =
            super::super::Client::new("http://test", c.public_key(), Identity::random().unwrap());
        let sealed = client
            .post(["api"])
            .body(body.to_owned())
            .seal(SystemTime::now())
            .unwrap();
        let mut test = TestRequest::new(Method::POST, &sealed.target).body(sealed.body.clone());
        for (name, value) in &sealed.headers {
            test = test.header(name, value);
        }
        (sealed, test)
    }

    #[test]
    fn sealed_request_reaches_the_handler_and_the_answer_is_sealed() {
        let c = crypto();
        let (sealed, test) = sealed_post(&c, "ping");
        let r = test.run(c.protect(|_, msg, _| {
            assert_eq!(msg.plaintext, b"ping");
            "pong"
        }));
        let body = match r.body() {
            Body::Bytes(b) => b.clone(),
            other => panic!("{other:?}"),
        };
        let opened = sealed
            .open_response(r.status().as_u16(), |h| r.header(h), &body)
            .unwrap();
        assert_eq!(opened.body(), b"pong");
        assert_eq!(r.content_type(), Some("text/plain; charset=utf-8"));
    }

    #[test]
    fn module_refuses_plain_requests_under_required_prefixes_only() {
        let c = crypto();
        c.require_encryption("/api/");
        assert!(c.requires_encryption("/api/users"));
        assert!(!c.requires_encryption("/apix"));
        let module = c.clone();
        let r = TestRequest::new(Method::GET, "/api/users").run(|req, resp| {
            module.on_request(req, resp);
        });
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // Untouched: the unit return value answers 204, as for any handler that sets nothing.
        let r = TestRequest::new(Method::GET, "/index.html").run(|req, resp| {
            c.on_request(req, resp);
        });
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    #[test]
    fn usrv_request_through_a_protected_handler_gets_a_usrv_sealed_answer() {
        use super::super::headers::format_timestamp;
        use super::super::usrv;
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD as B64;

        let c = Crypto::new(
            Identity::random().unwrap(),
            CryptoConfig::default().with_usrv(true),
        );
        let client = Identity::random().unwrap();
        let eph = Identity::random().unwrap();
        let nonce = format_timestamp(SystemTime::now());
        let body_hex = usrv::encrypt_with(&eph, &c.public_key(), b"from usrv");
        let eph_b64 = eph.public_key_b64();
        let sig = usrv::sign(&client, format!("{body_hex}{eph_b64}{nonce}").as_bytes()).unwrap();
        let r = TestRequest::new(Method::POST, "/api")
            .header("Ephemeral-Public-Key", &eph_b64)
            .header("Sender-Public-Key", &client.public_key_b64())
            .header("Sender-Signature", &B64.encode(sig))
            .header("Nonce", &nonce)
            .body(body_hex)
            .run(c.protect(|_, msg, _| {
                assert_eq!(msg.scheme, super::super::Scheme::Usrv);
                format!("got {}", msg.text().unwrap())
            }));
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.header("Encryption-Scheme").is_none(),
            "usrv answers carry none"
        );
        let body = match r.body() {
            Body::Bytes(b) => b.clone(),
            other => panic!("{other:?}"),
        };
        let resp_eph = PublicKey::from_b64(r.header("Ephemeral-Public-Key").unwrap()).unwrap();
        let mut signed = body.clone();
        signed.extend_from_slice(r.header("Ephemeral-Public-Key").unwrap().as_bytes());
        let resp_sig: [u8; 64] = B64
            .decode(r.header("Sender-Signature").unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        assert!(usrv::verify(&c.public_key(), &signed, &resp_sig));
        assert_eq!(
            usrv::decrypt(&client, &resp_eph, &body).unwrap(),
            b"got from usrv"
        );
    }

    #[test]
    fn a_panicking_handler_answers_a_sealed_500() {
        let c = crypto();
        let (sealed, test) = sealed_post(&c, "boom");
        let r = test.run(c.protect(|_, _, _| -> &'static str { panic!("handler bug") }));
        let body = match r.body() {
            Body::Bytes(b) => b.clone(),
            other => panic!("{other:?}"),
        };
        let opened = sealed
            .open_response(r.status().as_u16(), |h| r.header(h), &body)
            .unwrap();
        assert_eq!(opened.status(), 500);
    }
}

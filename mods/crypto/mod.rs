//! The body encryption module: secp256k1 ECDH with AES-256-GCM, and usrv's scheme for compatibility.
//!
//! In scope: the sans-IO core a server needs to accept signed, encrypted request bodies and answer
//! with signed, encrypted responses ([`ServerCrypto`]); server identities ([`Identity`]) from a
//! random key, usrv's passphrase derivation, or a passphrase-protected key file ([`keygen`]); a
//! blocking [`Client`]; and the HTTP side ([`Crypto`]): protected route handlers that receive the
//! plaintext and the authenticated sender key, and whose answers go back sealed.
//! Out of scope: sockets and the request pipeline (the server's), TLS.
//!
//! # On a server
//!
//! [`Crypto::protect`] wraps a handler `Fn(&Request, &OpenedRequest, &mut Response) -> impl
//! IntoResponse` into an ordinary route handler: it calls [`ServerCrypto::open_request`] on the
//! request as received, answers a refused request with [`CryptoError::status`] (sealed to the
//! client when it sent a `Response-Public-Key`), and otherwise runs the handler and seals its
//! status and body with [`ServerCrypto::seal_response`]. Plain requests to a protected route are
//! refused with 400, and the handler never sees them. Loaded as a module (`load_module("Crypto")`
//! or [`WebServer::add_module`](crate::WebServer::add_module)), [`Crypto`] also refuses plain
//! requests under the prefixes given to [`Crypto::require_encryption`] before any route runs.
//!
//! # Scheme `aes-256-gcm` (the default), version 1
//!
//! **Keys.** secp256k1. In headers a public key is base64 (RFC 4648 §4, standard alphabet, with
//! padding) of the 64 bytes `X ‖ Y` — usrv's encoding, the SEC1 uncompressed point without its
//! `0x04` prefix. Inside hashes and key derivation a key `P` is written `K(P)`: its 33-byte SEC1
//! compressed form (`0x02`/`0x03` ‖ X).
//!
//! **Encrypting a body `B` to a recipient key `R`:**
//! 1. draw a fresh ephemeral key pair `(e, E = e·G)` for this one message;
//! 2. `z` = the 32-byte big-endian x-coordinate of `e·R` (ECDH, SEC1 §3.3.1);
//! 3. `k` = HKDF-SHA256 (RFC 5869) with salt = ASCII `microweb/aes-256-gcm/v1`, IKM = `z`,
//!    info = ASCII `microweb/aes-256-gcm/v1` ‖ `K(E)` ‖ `K(R)`, output length 32 bytes;
//! 4. draw a random 96-bit nonce `n`;
//! 5. the body on the wire is `n` (12 bytes) ‖ AES-256-GCM ciphertext of `B` under `k`, `n`, with
//!    empty associated data (`len(B)` bytes) ‖ the GCM tag (16 bytes). Total `len(B) + 28` bytes.
//!
//! A request with an empty plaintext may instead carry an empty body (it is still signed and its
//! ephemeral key still names it in the replay store); any other body shorter than 28 bytes is 400.
//!
//! **Fields.** The signed messages below are sequences of fields; each field is its length as a
//! 4-byte big-endian unsigned integer followed by its bytes.
//!
//! **Request.** Headers:
//!
//! | header | value |
//! | --- | --- |
//! | `Encryption-Scheme` | `aes-256-gcm` |
//! | `Ephemeral-Public-Key` | `E`, base64 of `X ‖ Y` |
//! | `Sender-Public-Key` | the client's long-term key `S`, base64 of `X ‖ Y` |
//! | `Nonce` | the timestamp, RFC 3339, e.g. `2025-01-01T00:00:00.000000+00:00` |
//! | `Response-Public-Key` | optional: the key `C` the response is to be encrypted to |
//! | `Sender-Signature` | base64 of the 64-byte BIP-340 signature below |
//!
//! The signature is BIP-340 Schnorr by `S` (x-only key, as BIP-340 defines) over the 32-byte
//! message `SHA-256(M)`, where `M` is the fields, in this order:
//! 1. ASCII `microweb/aes-256-gcm/v1 request`;
//! 2. the method, as sent (e.g. `POST`);
//! 3. the request-target, as sent: path and query (e.g. `/api/users?page=2`);
//! 4. the `Nonce` header's value;
//! 5. `K(E)`;
//! 6. `K(S)` (binding the parity BIP-340's x-only keys leave out);
//! 7. `K(C)`, or an empty field when there is no `Response-Public-Key`;
//! 8. the body as sent (`n ‖ ciphertext ‖ tag`, or empty).
//!
//! **Response.** When the request asked for one (a `Response-Public-Key`), the response body is
//! encrypted to `C` as above with a fresh server ephemeral key `E'`, and the headers are
//! `Encryption-Scheme: aes-256-gcm`, `Ephemeral-Public-Key: E'`, `Sender-Public-Key: V` (the
//! server's key) and `Sender-Signature`: BIP-340 by `V` over `SHA-256(M')`, `M'` being the fields:
//! 1. ASCII `microweb/aes-256-gcm/v1 response`;
//! 2. the status code as three ASCII digits (e.g. `200`);
//! 3. `SHA-256` of the request's `Sender-Signature` header value as sent (ASCII bytes; empty text
//!    if it had none), which binds the response to its request;
//! 4. `K(E')`; 5. `K(V)`; 6. `K(C)`; 7. the response body as sent.
//!
//! Error responses (a refused request included, see [`ServerCrypto::reply_to`]) are sealed the
//! same way. A client verifies against the server key it pinned, never the header's.
//!
//! **Server checks and statuses** ([`CryptoError::status`]): missing or malformed headers, keys
//! off the curve, short bodies, an unknown or disabled scheme, a body that does not decrypt: 400.
//! A timestamp further than the window (default 30 s, [`CryptoConfig::window`]) from the server's
//! clock, a bad signature, a sender not on the allow-list: 401. A request whose
//! (`Sender-Public-Key`, `Ephemeral-Public-Key`) pair was already accepted within the window: 409.
//! A full replay store: 503. The replay store is bounded ([`CryptoConfig::replay_capacity`]) and
//! forgets an entry once its timestamp leaves the window.
//!
//! # Scheme `usrv` (compatibility, off unless [`CryptoConfig::usrv`])
//!
//! usrv's format exactly (`shared/vectors/README.md`): AES-256-CTR under
//! `SHA-256(hex(SHA-256(z)))`, counter from `00…01`, body in lower-case hex, no tag; the request
//! signs `body_hex ‖ Ephemeral-Public-Key ‖ Nonce` with BIP-340 Schnorr or ECDSA (high-S
//! normalised) over SHA-256 of that text; responses are encrypted to `Sender-Public-Key` and signed
//! (Schnorr) over `body_hex ‖ Ephemeral-Public-Key`. usrv requests carry no `Encryption-Scheme`
//! (or `Encryption-Scheme: usrv`). microweb adds what usrv lacks: a bad signature is 401, never
//! passed through as plaintext; the timestamp window applies both ways; replays of a
//! (`Sender-Public-Key`, `Nonce`) pair are 409.
//!
//! # Example
//! ```
//! use std::time::SystemTime;
//! use microweb::mods::crypto::{Client, CryptoConfig, Identity, ServerCrypto};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ServerCrypto::new(Identity::random()?, CryptoConfig::default());
//! let client = Client::new("http://127.0.0.1:8080", server.identity().public_key(), Identity::random()?);
//! let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_750_000_000);
//!
//! let request = client.post(["api", "echo"]).body("hello").seal(now)?;
//! let opened = server.open_request(&request.method, &request.target, |h| request.header(h), &request.body, now)?;
//! assert_eq!(opened.plaintext, b"hello");
//!
//! let reply_to = opened.reply_to.expect("the client asks for an encrypted response");
//! let sealed = server.seal_response(200, b"world", &reply_to)?;
//! let header = |h: &str| sealed.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(h)).map(|(_, v)| v.as_str());
//! let response = request.open_response(200, header, &sealed.body)?;
//! assert_eq!(response.body(), b"world");
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "crypto-client")]
mod client;
mod error;
mod gcm;
pub mod headers;
mod identity;
mod keyfile;
mod module;
mod replay;
mod server;
#[cfg(feature = "crypto-usrv")]
mod usrv;

#[cfg(feature = "crypto-client")]
pub use client::{Client, ClientError, RequestBuilder, Response, SealedRequest};
pub use error::CryptoError;
pub use headers::Scheme;
pub use identity::{Identity, PublicKey, ServerIdentity};
pub use keyfile::{keygen, write_key_file};
pub use module::Crypto;
pub use server::{CryptoConfig, OpenedRequest, ReplyTo, SealedResponse, ServerCrypto};

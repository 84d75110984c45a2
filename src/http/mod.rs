//! The sans-IO HTTP/1.1 core: bytes in, events out. No socket, no clock, no thread here.
//!
//! In scope: parsing request heads ([`parse_head`] → [`RequestHead`]), decoding bodies
//! ([`BodyDecoder`]), writing responses into a caller's buffer ([`ResponseWriter`]), the
//! connection rules ([`keep_alive`], [`should_send_continue`]), limits and errors ([`Limits`],
//! [`HttpError`]), and the request helpers the server exposes (forms, multipart, cookies,
//! authorization, content negotiation lists, CORS).
//! Out of scope: sockets, buffer slots, timers and threads (`pool`, `server`); routing; the
//! `Request`/`Response` objects handed to user handlers (`server`).
//!
//! # Handling one request
//!
//! ```text
//! parse_head(buf)            ──Partial──► read more (buffer full → 431 via HttpError::HeadTooLarge)
//!    │Complete(head)          ──Err(e)───► write_error_response(e.status()), close
//!    ▼
//! should_send_continue(&head, will_read) ─yes─► send CONTINUE_100
//!    ▼
//! BodyDecoder::new(head.body(), &limits).decode(&buf[at..]) ─► Data(range)… Done
//!    ▼
//! keep_alive(&head, served, &limits, status)  ─► ResponseWriter: status, headers, end_head, body
//!    ▼
//! keep alive? parse_head(tail) : close
//! ```

mod auth;
mod body;
mod conn;
mod cookies;
mod forms;
mod headers;
mod limits;
mod multipart;
mod request;
mod response;

pub use auth::{check_basic_auth, check_bearer_auth};
pub use body::{BodyDecoder, BodyEvent};
pub use conn::{keep_alive, response_framing, should_send_continue};
pub use cookies::{SameSite, SetCookie, cookies};
pub use forms::{FormPairs, decode_path, form_pairs};
pub use headers::{
    QualityItem, cache_directives, is_cors_preflight, list_items, media_type, param, quality_items,
    write_allow_origin, write_cors_preflight,
};
pub use limits::{HttpError, Limits, MAX_HEADERS};
pub use multipart::{DEFAULT_MAX_PARTS, FormPart, Multipart, multipart_boundary};
pub use request::{BodyKind, Headers, RequestHead, Span, Status, parse_head};
pub use response::{
    CONTINUE_100, ChunkHeader, Framing, HttpDate, LAST_CHUNK, ResponseWriter, SERVER_NAME,
    is_valid_header_name, is_valid_header_value, write_chunk, write_error_response,
};

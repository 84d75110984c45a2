//! The sans-IO HTTP/1.1 core: bytes in, events out. No socket, no clock, no thread here.
//!
//! In scope: parsing request heads ([`parse_head`] → [`RequestHead`]), decoding bodies
//! ([`BodyDecoder`]), writing responses into a caller's buffer ([`ResponseWriter`]), the
//! connection rules ([`keep_alive`], [`should_send_continue`]), limits and errors ([`Limits`],
//! [`HttpError`]), and the request helpers the server exposes (forms, multipart, cookies,
//! authorization, content negotiation lists, CORS), and the RFC 9110 rules for serving a
//! representation: conditional requests ([`Preconditions`], [`if_range_holds`]), byte ranges
//! ([`parse_range`]) and content codings ([`preferred_coding`]).
//! Out of scope: sockets, buffer slots, timers and threads (`pool`, `server`); routing; the
//! `Request`/`Response` objects handed to user handlers (`server`).
//!
//! # Handling one request
//!
//! What the server calls, in order, for each request on a connection (`buf` is the slot's
//! filled bytes, `served` the number of requests already answered on this connection):
//!
//! 1. [`parse_head`]`(buf, &limits)`:
//!    - `Ok(Status::Partial)`: re-arm the read and call again with the longer buffer;
//!    - `Err(e)`: [`write_error_response`]`(out, e, &date)`, send it, close;
//!    - `Ok(Status::Complete(head))`: go on; the body starts at `head.head_len()`.
//!
//!    A connection parsing many requests can keep one head and call [`parse_head_into`]
//!    instead: nothing is initialised or moved per request.
//! 2. Route the request (method, [`decode_path`] of `head.path(buf)`); modules and handlers
//!    may answer before reading the body (401, 404, 413, 417…).
//! 3. If the body will be read and [`should_send_continue`]`(&head, true)`, send
//!    [`CONTINUE_100`].
//! 4. `let mut dec = `[`BodyDecoder::new`]`(head.body(), &limits)`; feed it the bytes after the
//!    head, then each new read, until [`BodyEvent::Done`]: stream each `Data(range)` to the
//!    handler, or buffer the body in the slot with [`BodyDecoder::decode_in_place`] (bounded
//!    by [`Limits::max_body_bytes`]). Errors: answer `e.status()` and close.
//! 5. `let keep = `[`keep_alive`]`(&head, served, &limits, dec.is_done())`.
//! 6. Write the response: `ResponseWriter::new(out).head_request(head.is_head())`, then
//!    `start(status, &date)`, the handler's `header`s (with [`default_cache_control`] when it
//!    set none), `framing(`[`response_framing`]`(head.version(), len))` (`NoBody` where
//!    [`status_carries_body`] says no), `connection(keep, head.version())`, `end_head()`,
//!    `body(..)` — or chunks with [`write_chunk`] (or [`frame_chunk_in_place`]) and
//!    [`LAST_CHUNK`].
//! 7. If `keep` (and the writer's [`ResponseWriter::closes_connection`] is false), the bytes
//!    left after the body are the next pipelined request: go to 1 with that tail; otherwise
//!    close once the response is sent.
//!
//! Steps 1, 5 and 6 allocate nothing; `benches/http.rs` counts allocations to show it.

mod auth;
mod body;
mod conditional;
mod conn;
mod cookies;
mod escape;
mod forms;
mod headers;
mod limits;
mod multipart;
mod negotiation;
mod ranges;
mod request;
mod response;

pub use auth::{check_basic_auth, check_bearer_auth};
pub use body::{BodyDecoder, BodyEvent};
pub use conditional::{Comparison, Precondition, Preconditions, etag_list_matches, if_range_holds};
pub use conn::{
    default_cache_control, keep_alive, response_framing, should_send_continue, status_carries_body,
};
pub use cookies::{SameSite, SetCookie, cookies};
pub use escape::{escape_html_into, html_entity};
pub use forms::{FormPairs, decode_path, form_pairs};
pub use headers::{
    QualityItem, cache_directives, is_cors_preflight, list_items, media_type, param, quality_items,
    write_allow_origin, write_cors_preflight,
};
pub use limits::{HttpError, Limits, MAX_HEADERS};
pub use multipart::{DEFAULT_MAX_PARTS, FormPart, Multipart, multipart_boundary};
pub use negotiation::{coding_quality, preferred_coding};
pub use ranges::{RangeAnswer, parse_range};
pub(crate) use request::is_unreserved_or_sub_delim;
pub use request::{BodyKind, Headers, RequestHead, Span, Status, parse_head, parse_head_into};
pub use response::{
    CHUNK_HEAD_ROOM, CONTINUE_100, ChunkHeader, Framing, HttpDate, LAST_CHUNK, ResponseWriter,
    SERVER_NAME, frame_chunk_in_place, is_valid_header_name, is_valid_header_value, write_chunk,
    write_error_response,
};

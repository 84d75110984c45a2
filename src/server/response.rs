//! The response a handler builds: MicroWebSrv2's `HttpResponse`, in Rust spelling.
//!
//! In scope: status, headers, cookies, the body source, and the `return_*` family.
//! Out of scope: writing bytes to a socket (the connection does that, through `http::response`).
//!
//! A handler answers once: the first `return_*` call fixes the answer, and later calls replace it
//! only until the connection has started sending (see [`Response::headers_sent`]).

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use ::http::{Extensions, StatusCode};
use serde::Serialize;

use super::deferred::DeferredResponse;
use super::file_body::FileRange;
use super::static_files;
use super::stream::ResponseStream;

/// Where a response body comes from.
#[non_exhaustive]
pub enum Body {
    /// No body.
    Empty,
    /// Bytes that live for the whole program (no copy, no allocation).
    Static(&'static [u8]),
    /// Bytes the handler owns.
    Bytes(Vec<u8>),
    /// Bytes shared with other responses (a cache's), sent without a copy.
    Shared(Arc<[u8]>),
    /// A reader streamed through one buffer slot at a time: with a known length, or chunked when
    /// the length is `None`.
    Reader {
        /// The source of the body.
        reader: Box<dyn Read + Send>,
        /// The length in bytes, when known.
        len: Option<u64>,
    },
    /// A range of an open file: sent with `sendfile(2)` on plain sockets (no copy through a
    /// buffer slot), read through the slots over TLS.
    File(FileRange),
    /// Bytes other threads write over time through a [`ResponseStream`] (always chunked).
    Stream(ResponseStream),
}

impl Body {
    /// Returns the length of the body when it is known before sending.
    #[must_use]
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Static(b) => Some(b.len() as u64),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Shared(b) => Some(b.len() as u64),
            Body::Reader { len, .. } => *len,
            Body::File(range) => Some(range.remaining()),
            Body::Stream(_) => None,
        }
    }

    /// Returns true when the body is known to be empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Static(b) => write!(f, "Body::Static({} bytes)", b.len()),
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::Shared(b) => write!(f, "Body::Shared({} bytes)", b.len()),
            Body::Reader { len, .. } => write!(f, "Body::Reader(len: {len:?})"),
            Body::File(range) => write!(f, "Body::File({} bytes)", range.remaining()),
            Body::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl From<FileRange> for Body {
    fn from(range: FileRange) -> Body {
        Body::File(range)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Static(s.as_bytes())
    }
}

impl From<&'static [u8]> for Body {
    fn from(b: &'static [u8]) -> Self {
        Body::Static(b)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Bytes(s.into_bytes())
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::Bytes(b)
    }
}

impl From<Arc<[u8]>> for Body {
    fn from(b: Arc<[u8]>) -> Self {
        Body::Shared(b)
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Body::Empty
    }
}

/// A header name or value that would break the response framing (CR, LF or NUL, or an empty or
/// non-token name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidHeader;

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid header name or value")
    }
}

impl std::error::Error for InvalidHeader {}

/// Returns true when `s` is an RFC 9110 §5.6.2 token (a valid header or cookie name).
pub(crate) fn is_token(s: &str) -> bool {
    crate::http::is_valid_header_name(s)
}

/// Returns true when `s` can stand as a header value: no CR, LF, NUL or other control byte but
/// horizontal tab (RFC 9110 §5.5).
pub(crate) fn is_header_value(s: &str) -> bool {
    crate::http::is_valid_header_value(s.as_bytes())
}

/// A callback run once the response has been fully sent.
pub type OnSent = Box<dyn FnOnce() + Send>;

/// Builds the handler that takes the connection over after a `101 Switching Protocols`: it is
/// given the [`Handover`] (the bytes the client sent right after its upgrade request, the
/// server's memory budget), and gets every later event of the connection.
pub type Takeover = Box<dyn FnOnce(Handover) -> Box<dyn crate::pool::ConnHandler> + Send>;

/// What a connection hands to the handler that takes it over.
#[derive(Debug)]
#[non_exhaustive]
pub struct Handover {
    /// The bytes the client sent right after its upgrade request (already read from the socket).
    pub leftover: Vec<u8>,
    /// The server's memory budget: what the handler buffers beyond its slot is reserved from it.
    pub budget: crate::pool::MemoryBudget,
    /// How long the handler may wait for the budget before it gives up on the peer
    /// (`ServerConfig::memory_wait_timeout`).
    pub memory_wait_timeout: std::time::Duration,
}

/// The response to one request.
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<Cow<'static, str>>,
    pub(crate) content_charset: Option<Cow<'static, str>>,
    pub(crate) content_length: Option<u64>,
    pub(crate) headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    pub(crate) cookies: Vec<String>,
    pub(crate) body: Body,
    pub(crate) allow_caching: bool,
    pub(crate) access_control_allow_origin: Option<Cow<'static, str>>,
    pub(crate) answered: bool,
    pub(crate) headers_sent: bool,
    pub(crate) close: bool,
    pub(crate) upgrade: Option<Cow<'static, str>>,
    pub(crate) on_sent: Option<OnSent>,
    pub(crate) deferred: Option<DeferredResponse>,
    pub(crate) takeover: Option<Takeover>,
    /// INVARIANT: emptied by every new answer (see [`Response::extensions`]).
    extensions: Extensions,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("answered", &self.answered)
            .finish_non_exhaustive()
    }
}

impl Default for Response {
    fn default() -> Self {
        Response::new()
    }
}

impl Response {
    /// Creates an unanswered response (status 200, no body).
    #[must_use]
    pub fn new() -> Response {
        Response {
            status: StatusCode::OK,
            content_type: None,
            content_charset: None,
            content_length: None,
            headers: Vec::new(),
            cookies: Vec::new(),
            body: Body::Empty,
            allow_caching: false,
            access_control_allow_origin: None,
            answered: false,
            headers_sent: false,
            close: false,
            upgrade: None,
            on_sent: None,
            deferred: None,
            takeover: None,
            extensions: Extensions::new(),
        }
    }

    /// Returns the status code of the answer (200 until a `return_*` call sets one).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns true once a `return_*` method (or a returned value) has answered the request.
    #[must_use]
    pub fn is_answered(&self) -> bool {
        self.answered
    }

    /// Returns true once the response head has left for the client.
    #[must_use]
    pub fn headers_sent(&self) -> bool {
        self.headers_sent
    }

    /// Returns the body the response will send.
    #[must_use]
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Returns the value of a header set with [`Response::set_header`] (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// Sets a response header, replacing one of the same name.
    ///
    /// # Errors
    /// [`InvalidHeader`] when the name is not a token or the value holds CR, LF or NUL (so no
    /// handler can split a response).
    pub fn set_header(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Result<(), InvalidHeader> {
        let (name, value) = (name.into(), value.into());
        if !is_token(&name) || !is_header_value(&value) {
            return Err(InvalidHeader);
        }
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value));
        Ok(())
    }

    /// Adds a `Set-Cookie` header built with [`SetCookie`](crate::http::SetCookie).
    ///
    /// # Errors
    /// [`InvalidHeader`] when the cookie would break the header (a name that is not a token, a
    /// value or attribute with a forbidden character).
    pub fn set_cookie(&mut self, cookie: &crate::http::SetCookie<'_>) -> Result<(), InvalidHeader> {
        self.cookies
            .push(cookie.build().map_err(|_| InvalidHeader)?);
        Ok(())
    }

    /// Returns whether the client may cache this response (`Cache-Control`); off by default.
    #[must_use]
    pub fn allow_caching(&self) -> bool {
        self.allow_caching
    }

    /// Lets the client cache this response (`Cache-Control: public, max-age=…`) or not
    /// (`Cache-Control: no-cache, no-store, must-revalidate`).
    pub fn set_allow_caching(&mut self, allow: bool) {
        self.allow_caching = allow;
    }

    /// Returns the `Access-Control-Allow-Origin` value, if any.
    #[must_use]
    pub fn access_control_allow_origin(&self) -> Option<&str> {
        self.access_control_allow_origin.as_deref()
    }

    /// Sets the `Access-Control-Allow-Origin` value.
    ///
    /// # Errors
    /// [`InvalidHeader`] when the value holds CR, LF or NUL.
    pub fn set_access_control_allow_origin(
        &mut self,
        origin: impl Into<Cow<'static, str>>,
    ) -> Result<(), InvalidHeader> {
        let origin = origin.into();
        if !is_header_value(&origin) {
            return Err(InvalidHeader);
        }
        self.access_control_allow_origin = Some(origin);
        Ok(())
    }

    /// Returns the `Content-Type` of the answer, without its charset.
    #[must_use]
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Sets the `Content-Type` (without charset; see [`Response::set_content_charset`]).
    ///
    /// # Errors
    /// [`InvalidHeader`] when the value holds CR, LF or NUL.
    pub fn set_content_type(
        &mut self,
        content_type: impl Into<Cow<'static, str>>,
    ) -> Result<(), InvalidHeader> {
        let ct = content_type.into();
        if !is_header_value(&ct) {
            return Err(InvalidHeader);
        }
        self.content_type = Some(ct);
        Ok(())
    }

    /// Returns the charset appended to the `Content-Type`, if any.
    #[must_use]
    pub fn content_charset(&self) -> Option<&str> {
        self.content_charset.as_deref()
    }

    /// Sets the charset appended to the `Content-Type` (`; charset=…`).
    ///
    /// # Errors
    /// [`InvalidHeader`] when the value is not a token.
    pub fn set_content_charset(
        &mut self,
        charset: impl Into<Cow<'static, str>>,
    ) -> Result<(), InvalidHeader> {
        let cs = charset.into();
        if !is_token(&cs) {
            return Err(InvalidHeader);
        }
        self.content_charset = Some(cs);
        Ok(())
    }

    /// Returns the content length the response declares, when known.
    #[must_use]
    pub fn content_length(&self) -> Option<u64> {
        self.content_length.or_else(|| self.body.len())
    }

    /// Sets a callback run once the whole response has been sent, replacing an earlier one.
    pub fn on_sent(&mut self, callback: impl FnOnce() + Send + 'static) {
        self.on_sent = Some(Box::new(callback));
    }

    /// Takes the callback set with [`Response::on_sent`], so a module can run it before its own.
    pub fn take_on_sent(&mut self) -> Option<OnSent> {
        self.on_sent.take()
    }

    /// Returns true once [`Response::defer`] has left the answer to another thread.
    #[must_use]
    pub fn is_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    /// Returns true once the answer has switched protocols ([`Response::switching_protocols`],
    /// or [`Response::take_over`], which hands the connection over too), whatever was answered
    /// afterwards.
    #[must_use]
    pub fn is_upgrade(&self) -> bool {
        self.upgrade.is_some()
    }

    /// Asks the connection to close after this response, whatever keep-alive says.
    pub fn set_close(&mut self) {
        self.close = true;
    }

    /// Returns the typed values attached to the answer, such as the template a handler asked
    /// the Templates module for.
    ///
    /// They belong to the answer, not to the request: every `return_*` call (any new answer)
    /// starts with none, so what a module attached to an answer never outlives it. Headers, the
    /// content type and the `on_sent` callback are kept as before.
    #[must_use]
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Returns the typed values attached to the answer, to add, change or take one (see
    /// [`Response::extensions`]).
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    fn answer(&mut self, status: StatusCode, body: Body) {
        self.status = status;
        self.body = body;
        self.content_length = None;
        self.answered = true;
        self.extensions.clear();
    }

    fn answer_typed(&mut self, status: StatusCode, content_type: &'static str, body: Body) {
        self.answer(status, body);
        if self.content_type.is_none() {
            self.content_type = Some(Cow::Borrowed(content_type));
        }
    }

    /// Answers with a status and a body (`text/html` unless a content type was set).
    pub fn return_(&mut self, status: StatusCode, content: impl Into<Body>) {
        self.answer_typed(status, "text/html; charset=utf-8", content.into());
    }

    /// Answers 200 with a body (`text/html` unless a content type was set).
    pub fn return_ok(&mut self, content: impl Into<Body>) {
        self.return_(StatusCode::OK, content);
    }

    /// Answers with a status and a value serialized as JSON (`application/json`).
    pub fn return_json<T: Serialize + ?Sized>(&mut self, status: StatusCode, value: &T) {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.content_type = None;
                self.answer_typed(status, "application/json", Body::Bytes(bytes));
            }
            Err(e) => {
                log::error!("could not serialize a JSON response: {e}");
                self.return_internal_server_error();
            }
        }
    }

    /// Answers 200 with a value serialized as JSON.
    pub fn return_ok_json<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.return_json(StatusCode::OK, value);
    }

    /// Answers with a status and a stream: `len` known gives `Content-Length`, `None` gives a
    /// chunked body. The stream goes out one buffer slot at a time.
    pub fn return_stream(
        &mut self,
        status: StatusCode,
        reader: impl Read + Send + 'static,
        len: Option<u64>,
    ) {
        self.answer_typed(
            status,
            "application/octet-stream",
            Body::Reader {
                reader: Box::new(reader),
                len,
            },
        );
    }

    /// Answers 200 with a body that other threads write over time (chunked): give the returned
    /// stream to the producer. See [`ResponseStream`].
    pub fn response_stream(&mut self, content_type: &str) -> ResponseStream {
        self.start_stream(content_type, None)
    }

    /// Answers 200 with a Server-Sent Events stream (`text/event-stream`); send with
    /// [`ResponseStream::send_event`]. The client's `Last-Event-ID` is in the request headers.
    pub fn event_stream(&mut self) -> ResponseStream {
        let stream = self.start_stream("text/event-stream", None);
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("cache-control"));
        self.headers
            .push((Cow::Borrowed("Cache-Control"), Cow::Borrowed("no-cache")));
        stream
    }

    /// Answers 200 with an NDJSON stream (`application/x-ndjson`); send with
    /// [`ResponseStream::send_json_line`].
    pub fn ndjson_stream(&mut self) -> ResponseStream {
        self.start_stream("application/x-ndjson", None)
    }

    /// Answers 200 with a `multipart/x-mixed-replace` stream (MJPEG-style) whose parts are
    /// separated by `boundary`; send with [`ResponseStream::send_part`].
    pub fn multipart_stream(&mut self, boundary: &str) -> ResponseStream {
        let boundary: String = boundary
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "'()+_,-./:=?".contains(*c))
            .take(70)
            .collect();
        let boundary = if boundary.is_empty() {
            "frame".to_owned()
        } else {
            boundary
        };
        let content_type = format!("multipart/x-mixed-replace; boundary={boundary}");
        self.start_stream(&content_type, Some(&boundary))
    }

    fn start_stream(&mut self, content_type: &str, boundary: Option<&str>) -> ResponseStream {
        let stream = ResponseStream::new(boundary);
        self.content_type = None;
        self.answer(StatusCode::OK, Body::Stream(stream.clone()));
        if is_header_value(content_type) {
            self.content_type = Some(Cow::Owned(content_type.to_owned()));
        }
        stream
    }

    /// Answers with a file, streamed; with `attachment_name`, the client is asked to save it
    /// (`Content-Disposition: attachment`). A missing or unreadable file answers 404.
    ///
    /// The `Content-Type` comes from the file's extension in the process-wide table (the
    /// built-in types and [`add_mime_type`](crate::server::add_mime_type)'s): a response
    /// belongs to no one server, so a server's own additions
    /// ([`WebServer::add_mime_type`](crate::WebServer::add_mime_type)) type the files of its
    /// root only.
    pub fn return_file(&mut self, path: impl AsRef<Path>, attachment_name: Option<&str>) {
        let path = path.as_ref();
        let opened = File::open(path).and_then(|f| {
            let meta = f.metadata()?;
            if meta.is_file() {
                Ok((f, meta.len()))
            } else {
                Err(io::Error::new(io::ErrorKind::NotFound, "not a file"))
            }
        });
        match opened {
            Ok((file, len)) => {
                self.content_type = Some(static_files::process_content_type(path));
                if let Some(name) = attachment_name {
                    self.headers
                        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-disposition"));
                    self.headers.push((
                        Cow::Borrowed("Content-Disposition"),
                        Cow::Owned(content_disposition(name)),
                    ));
                }
                self.answer(StatusCode::OK, Body::File(FileRange::new(file, 0, len)));
            }
            Err(e) => {
                log::debug!("return_file {}: {e}", path.display());
                self.return_not_found();
            }
        }
    }

    /// Answers 304 Not Modified: no body and no `Content-Type` (RFC 9110 §15.4.5); validators
    /// such as `ETag` set with [`Response::set_header`] are kept.
    pub fn return_not_modified(&mut self) {
        self.answer(StatusCode::NOT_MODIFIED, Body::Empty);
        self.content_type = None;
        self.content_charset = None;
    }

    /// Answers 307 Temporary Redirect to `location`.
    pub fn return_redirect(&mut self, location: &str) {
        if !is_header_value(location) || location.is_empty() {
            self.return_internal_server_error();
            return;
        }
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("location"));
        self.headers
            .push((Cow::Borrowed("Location"), Cow::Owned(location.to_owned())));
        self.return_error_page(StatusCode::TEMPORARY_REDIRECT, None);
    }

    /// Answers with a small HTML error page for `status`.
    pub(crate) fn return_error_page(&mut self, status: StatusCode, detail: Option<&str>) {
        let reason = status.canonical_reason().unwrap_or("Error");
        let code = status.as_u16();
        let detail = detail.map(html_escape).unwrap_or_default();
        let page = format!(
            "<!doctype html>\n<html><head><title>{code} {reason}</title></head>\
             <body><h1>{code} {reason}</h1>{detail}</body></html>\n"
        );
        self.content_type = None;
        self.answer_typed(
            status,
            "text/html; charset=utf-8",
            Body::Bytes(page.into_bytes()),
        );
    }

    /// Answers 400 Bad Request.
    pub fn return_bad_request(&mut self) {
        self.return_error_page(StatusCode::BAD_REQUEST, None);
    }

    /// Answers 401 Unauthorized with `WWW-Authenticate: <type_name> [realm="…"]`.
    pub fn return_unauthorized(&mut self, type_name: &str, realm: Option<&str>) {
        let challenge = match realm {
            Some(r) => format!("{type_name} realm=\"{}\"", r.replace(['"', '\\'], "_")),
            None => type_name.to_owned(),
        };
        if is_token(type_name) && is_header_value(&challenge) {
            self.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("www-authenticate"));
            self.headers
                .push((Cow::Borrowed("WWW-Authenticate"), Cow::Owned(challenge)));
        }
        self.return_error_page(StatusCode::UNAUTHORIZED, None);
    }

    /// Answers 403 Forbidden.
    pub fn return_forbidden(&mut self) {
        self.return_error_page(StatusCode::FORBIDDEN, None);
    }

    /// Answers 404 Not Found.
    pub fn return_not_found(&mut self) {
        self.return_error_page(StatusCode::NOT_FOUND, None);
    }

    /// Answers 405 Method Not Allowed.
    pub fn return_method_not_allowed(&mut self) {
        self.return_error_page(StatusCode::METHOD_NOT_ALLOWED, None);
    }

    /// Answers 413 Content Too Large.
    pub fn return_entity_too_large(&mut self) {
        self.return_error_page(StatusCode::PAYLOAD_TOO_LARGE, None);
    }

    /// Answers 500 Internal Server Error.
    pub fn return_internal_server_error(&mut self) {
        self.return_error_page(StatusCode::INTERNAL_SERVER_ERROR, None);
    }

    /// Answers 501 Not Implemented.
    pub fn return_not_implemented(&mut self) {
        self.return_error_page(StatusCode::NOT_IMPLEMENTED, None);
    }

    /// Answers 503 Service Unavailable.
    pub fn return_service_unavailable(&mut self) {
        self.return_error_page(StatusCode::SERVICE_UNAVAILABLE, None);
    }

    /// Answers 401 asking for Basic authentication.
    pub fn return_basic_auth_required(&mut self) {
        self.return_unauthorized("Basic", Some("microweb"));
    }

    /// Answers 401 asking for Bearer authentication.
    pub fn return_bearer_auth_required(&mut self) {
        self.return_unauthorized("Bearer", None);
    }

    /// Answers 101 Switching Protocols to `upgrade` (the module taking over the connection sets
    /// its own headers, such as `Sec-WebSocket-Accept`).
    pub fn switching_protocols(&mut self, upgrade: &str) {
        if !is_token(upgrade) {
            self.return_bad_request();
            return;
        }
        self.upgrade = Some(Cow::Owned(upgrade.to_owned()));
        self.answer(StatusCode::SWITCHING_PROTOCOLS, Body::Empty);
    }

    /// Answers 101 Switching Protocols to `upgrade`, then hands the connection to the handler
    /// `takeover` builds (a WebSocket session, for instance). The module sets its own headers
    /// (such as `Sec-WebSocket-Accept`) with [`Response::set_header`].
    pub fn take_over(&mut self, upgrade: &str, takeover: Takeover) {
        self.switching_protocols(upgrade);
        if self.status == StatusCode::SWITCHING_PROTOCOLS {
            self.takeover = Some(takeover);
        }
    }

    /// Keeps the response open so another thread can answer later (uHTTP's delayed response).
    ///
    /// The connection waits for the answer, bounded by the server's request timeout (then it
    /// answers 503). The returned handle is `Send`: answer through [`DeferredResponse::send`].
    pub fn defer(&mut self) -> DeferredResponse {
        let deferred = DeferredResponse::new();
        self.deferred = Some(deferred.clone());
        self.answered = true;
        deferred
    }
}

/// The characters RFC 8187 §3.2.1 lets stand unencoded in an `ext-value` (`attr-char`).
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Builds `attachment; filename="…"` (RFC 6266 §4.1): an ASCII fallback where `"`, `\`,
/// control and non-ASCII characters become `_`, plus `filename*=UTF-8''…` (RFC 8187) when the
/// name is not plain ASCII.
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() || !c.is_ascii() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if fallback == name {
        format!("attachment; filename=\"{fallback}\"")
    } else {
        let encoded = percent_encoding::utf8_percent_encode(name, ATTR_CHAR);
        format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
    }
}

/// Escapes `& < > " '` for HTML text and attribute values.
#[must_use]
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    crate::http::escape_html_into(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_header_refuses_crlf_and_bad_names() {
        let mut r = Response::new();
        assert_eq!(r.set_header("X-A", "ok\r\nInjected: 1"), Err(InvalidHeader));
        assert_eq!(r.set_header("X A", "v"), Err(InvalidHeader));
        assert_eq!(r.set_header("", "v"), Err(InvalidHeader));
        assert_eq!(r.set_header("X-A", "a\0b"), Err(InvalidHeader));
        assert!(r.set_header("X-A", "one").is_ok());
        assert!(r.set_header("x-a", "two").is_ok());
        assert_eq!(r.header("X-A"), Some("two"));
        assert_eq!(r.headers.len(), 1);
    }

    #[test]
    fn return_json_sets_type_and_body() {
        let mut r = Response::new();
        r.return_ok_json(&serde_json::json!({"a": 1}));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.content_type(), Some("application/json"));
        assert!(matches!(&r.body, Body::Bytes(b) if b == br#"{"a":1}"#));
        assert!(r.is_answered());
    }

    #[test]
    fn attachment_names_get_an_ascii_fallback_and_an_rfc8187_form() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\""
        );
        assert_eq!(
            content_disposition("a\"b\r.txt"),
            "attachment; filename=\"a_b_.txt\"; filename*=UTF-8''a%22b%0D.txt"
        );
        assert_eq!(
            content_disposition("résumé €.txt"),
            "attachment; filename=\"r_sum_ _.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.txt"
        );
    }

    #[test]
    fn a_new_answer_drops_the_extensions() {
        let mut r = Response::new();
        r.return_ok("first");
        r.extensions_mut().insert(7_u32);
        let _ = r.set_header("X-Kept", "yes");
        assert_eq!(r.extensions().get::<u32>(), Some(&7));
        r.return_ok("second");
        assert!(r.extensions().get::<u32>().is_none());
        assert_eq!(r.header("X-Kept"), Some("yes"));
    }

    #[test]
    fn missing_file_answers_not_found() {
        let mut r = Response::new();
        r.return_file("/definitely/not/here.txt", None);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn redirect_sets_location_and_refuses_injection() {
        let mut r = Response::new();
        r.return_redirect("/home");
        assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(r.header("location"), Some("/home"));
        let mut r = Response::new();
        r.return_redirect("/a\r\nSet-Cookie: x=1");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn unauthorized_carries_the_challenge() {
        let mut r = Response::new();
        r.return_basic_auth_required();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.header("WWW-Authenticate"),
            Some("Basic realm=\"microweb\"")
        );
    }
}

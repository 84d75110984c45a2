//! The request head: httparse → [`RequestHead`], a set of byte offsets into the caller's buffer.
//!
//! In scope: the request line, the header fields, and the framing facts RFC 9112 derives from
//! them (body length, keep-alive, `Expect: 100-continue`, upgrade), computed once per request.
//! Out of scope: the body ([`crate::http::BodyDecoder`]), percent-decoding and the other
//! request helpers, and anything about sockets or time.
//!
//! A [`RequestHead`] holds no borrowed data and no heap allocation: every string is a [`Span`]
//! into the buffer the head was parsed from, and accessors take that buffer again. It can
//! therefore travel with the buffer slot that holds the bytes.
//!
//! # Pipelining
//!
//! [`parse_head`] reads one head from the start of `buf` and reports its length
//! ([`RequestHead::head_len`]). The body (if any) follows; once the body decoder is done, the
//! bytes left in the buffer are the start of the next pipelined request: call [`parse_head`]
//! again on that tail (`&buf[consumed..]`). Offsets in the new head are relative to the tail.
//!
//! # Line endings
//!
//! RFC 9112 §2.2 lets a recipient accept a bare LF as a line terminator; httparse does, and so
//! do we for the request line and header fields. A bare CR (not followed by LF) is refused
//! (400). Chunk framing inside bodies is stricter (see [`crate::http::BodyDecoder`]).

use std::mem::MaybeUninit;
use std::ops::Range;

use ::http::{Method, Version};

use super::limits::{HttpError, Limits, MAX_HEADERS};

/// Whether a parser had enough bytes: the result, or a request for more.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Status<T> {
    /// The input held a whole item.
    Complete(T),
    /// The input is a valid prefix; read more bytes and call again with all of them.
    Partial,
}

/// A byte range in the buffer a head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Returns the range as `usize` offsets.
    #[must_use]
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Returns the number of bytes spanned.
    #[must_use]
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// Tells whether the span is empty.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.end == self.start
    }

    /// Returns the spanned bytes of `buf` (empty if `buf` is not the parsed buffer).
    #[must_use]
    pub fn get(self, buf: &[u8]) -> &[u8] {
        buf.get(self.range()).unwrap_or_default()
    }

    fn get_str(self, buf: &[u8]) -> &str {
        std::str::from_utf8(self.get(buf)).unwrap_or_default()
    }

    /// Builds the span of `part`, a sub-slice of `buf`.
    fn within(buf: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        // INVARIANT: heads are bounded by `max_head_bytes`, far below u32::MAX; a slice that is
        // not inside `buf` gives an empty span rather than a wrong one.
        let end = start.checked_add(part.len()).filter(|&e| e <= buf.len());
        match (u32::try_from(start), end.map(u32::try_from)) {
            (Ok(s), Some(Ok(e))) => Span { start: s, end: e },
            _ => Span::default(),
        }
    }

    fn sub(self, range: Range<usize>) -> Span {
        let start = self.start + range.start as u32;
        Span {
            start,
            end: (self.start + range.end as u32).min(self.end),
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyKind {
    /// No body (no framing field, or `Content-Length: 0`).
    None,
    /// Exactly this many bytes follow the head (never 0).
    Length(u64),
    /// A chunked body follows (`Transfer-Encoding: chunked`).
    Chunked,
}

#[derive(Debug, Clone, Copy, Default)]
struct HeaderIndex {
    name: Span,
    value: Span,
}

/// A parsed request head: offsets into its buffer plus the framing facts, computed once.
///
/// Built by [`parse_head`] or [`parse_head_into`]. Accessors that return bytes take the buffer
/// the head was parsed from; given another buffer they return empty values and never panic.
#[derive(Debug, Clone)]
pub struct RequestHead {
    method: Method,
    target: Span,
    path: Span,
    query: Option<Span>,
    version: Version,
    head_len: usize,
    body: BodyKind,
    content_length: Option<u64>,
    keep_alive: bool,
    expect_continue: bool,
    upgrade: Option<Span>,
    host: Option<Span>,
    header_count: usize,
    // INVARIANT: only the first `header_count` entries are meaningful.
    headers: [HeaderIndex; MAX_HEADERS],
}

impl Default for RequestHead {
    /// An empty head (`GET`, no target, no fields), to parse into with [`parse_head_into`].
    fn default() -> RequestHead {
        RequestHead {
            method: Method::GET,
            target: Span::default(),
            path: Span::default(),
            query: None,
            version: Version::HTTP_11,
            head_len: 0,
            body: BodyKind::None,
            content_length: None,
            keep_alive: false,
            expect_continue: false,
            upgrade: None,
            host: None,
            header_count: 0,
            headers: [HeaderIndex::default(); MAX_HEADERS],
        }
    }
}

impl RequestHead {
    /// Returns the request method.
    #[must_use]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Tells whether the method is HEAD (the response then carries no body).
    #[must_use]
    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// Returns the protocol version: `HTTP_10` or `HTTP_11`.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// Returns the raw request target, as sent (`/a%20b?x=1`).
    #[must_use]
    pub fn target<'b>(&self, buf: &'b [u8]) -> &'b str {
        self.target.get_str(buf)
    }

    /// Returns the raw (not percent-decoded) path of the target, without the query.
    ///
    /// For the absolute form (`http://host/p`) this is the path after the authority, and `/`
    /// when there is none. Decode it with [`crate::http::decode_path`].
    #[must_use]
    pub fn path<'b>(&self, buf: &'b [u8]) -> &'b str {
        match self.path.get_str(buf) {
            "" => "/",
            p => p,
        }
    }

    /// Returns the raw query string after `?`, or `""` when there is none.
    #[must_use]
    pub fn query<'b>(&self, buf: &'b [u8]) -> &'b str {
        self.query.map_or("", |q| q.get_str(buf))
    }

    /// Returns the length of the head in bytes: where the body (or the next request) starts.
    #[must_use]
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// Returns how the body is delimited.
    #[must_use]
    pub fn body(&self) -> BodyKind {
        self.body
    }

    /// Returns the declared `Content-Length`, if any.
    #[must_use]
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Tells whether the client wishes to keep the connection open after this request.
    ///
    /// HTTP/1.1 defaults to yes unless `Connection: close`; HTTP/1.0 defaults to no unless
    /// `Connection: keep-alive` (RFC 9112 §9.3). The final decision is
    /// [`crate::http::keep_alive`].
    #[must_use]
    pub fn is_keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Tells whether the client sent `Expect: 100-continue` (ignored for HTTP/1.0, RFC 9110
    /// §10.1.1). See [`crate::http::should_send_continue`].
    #[must_use]
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }

    /// Tells whether the client asks to switch protocols (`Connection: upgrade` + `Upgrade`).
    #[must_use]
    pub fn is_upgrade(&self) -> bool {
        self.upgrade.is_some()
    }

    /// Returns the `Upgrade` field value when the request asks to switch protocols.
    #[must_use]
    pub fn upgrade<'b>(&self, buf: &'b [u8]) -> Option<&'b str> {
        self.upgrade.map(|s| s.get_str(buf))
    }

    /// Returns the `Host` field value, if any.
    #[must_use]
    pub fn host<'b>(&self, buf: &'b [u8]) -> Option<&'b str> {
        self.host.map(|s| s.get_str(buf))
    }

    /// Returns the value of the first header field named `name` (ASCII case-insensitive).
    #[must_use]
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.index()
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.get(buf))
    }

    /// Returns the value of the first header field named `name` as text, if it is UTF-8.
    #[must_use]
    pub fn header_str<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b str> {
        self.header(buf, name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Returns an iterator over the header fields, in order, as (name, value).
    #[must_use]
    pub fn headers<'a, 'b>(&'a self, buf: &'b [u8]) -> Headers<'a, 'b> {
        Headers {
            iter: self.index().iter(),
            buf,
        }
    }

    /// Returns the number of header fields.
    #[must_use]
    pub fn header_count(&self) -> usize {
        self.header_count
    }

    fn index(&self) -> &[HeaderIndex] {
        self.headers.get(..self.header_count).unwrap_or_default()
    }
}

/// The header fields of a [`RequestHead`], as (name, value); from [`RequestHead::headers`].
#[derive(Debug, Clone)]
pub struct Headers<'a, 'b> {
    iter: std::slice::Iter<'a, HeaderIndex>,
    buf: &'b [u8],
}

impl<'b> Iterator for Headers<'_, 'b> {
    type Item = (&'b str, &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.iter
            .next()
            .map(|h| (h.name.get_str(self.buf), h.value.get(self.buf)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

/// Parses the request head at the start of `buf`.
///
/// Returns [`Status::Partial`] while `buf` holds a valid prefix of a head shorter than
/// [`Limits::max_head_bytes`]; the caller reads more and calls again with the whole buffer.
/// For pipelined requests, call it on the tail left after the previous request (see the
/// module documentation).
///
/// # Errors
///
/// Every [`HttpError`] a head can cause: `Malformed`/`ObsFold`/`MissingHost`/`InvalidHost`/
/// framing errors (400), `HeadTooLarge`/`TooManyHeaders` (431), `BodyTooLarge` when the
/// declared length is over the limit (413), `UnknownMethod`/`UnknownTransferCoding` (501),
/// `UnsupportedVersion` (505). Answer with [`HttpError::status`] and close.
///
/// # Examples
///
/// ```
/// use microweb::http::{parse_head, BodyKind, Limits, Status};
///
/// let buf = b"POST /form?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
/// let Ok(Status::Complete(head)) = parse_head(buf, &Limits::default()) else { panic!() };
/// assert_eq!(head.path(buf), "/form");
/// assert_eq!(head.query(buf), "x=1");
/// assert_eq!(head.body(), BodyKind::Length(3));
/// assert_eq!(&buf[head.head_len()..], b"abc");
/// ```
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Status<RequestHead>, HttpError> {
    let mut head = RequestHead::default();
    Ok(match parse_head_into(buf, limits, &mut head)? {
        Status::Complete(()) => Status::Complete(head),
        Status::Partial => Status::Partial,
    })
}

/// Parses the request head at the start of `buf` into `head`, overwriting what it held.
///
/// The same as [`parse_head`], for a caller that keeps one [`RequestHead`] for many parses: the
/// head (about 1 KiB with its header index) is neither initialised nor moved per request. After
/// [`Status::Partial`] or an error, `head` holds nothing meaningful.
///
/// # Errors
///
/// Those of [`parse_head`].
///
/// # Examples
///
/// ```
/// use microweb::http::{parse_head_into, Limits, RequestHead, Status};
///
/// let mut head = RequestHead::default();
/// let buf = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
/// assert_eq!(parse_head_into(buf, &Limits::default(), &mut head), Ok(Status::Complete(())));
/// assert_eq!(head.path(buf), "/a");
/// ```
pub fn parse_head_into(
    buf: &[u8],
    limits: &Limits,
    head: &mut RequestHead,
) -> Result<Status<()>, HttpError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let max = limits.max_headers.min(MAX_HEADERS);
    // Only the first `max_head_bytes` can hold the head: parsing no further makes the outcome
    // the same however the bytes arrived (an error past the limit is the limit's).
    let window = buf.get(..limits.max_head_bytes).unwrap_or(buf);
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(window, slots.get_mut(..max).unwrap_or_default());
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) if n > limits.max_head_bytes => {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() >= limits.max_head_bytes => {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(Status::Partial),
        Err(e) => {
            return match classify(window, e) {
                Ok(()) if window.len() >= limits.max_head_bytes => Err(HttpError::HeadTooLarge),
                Ok(()) => Ok(Status::Partial),
                Err(e) => Err(e),
            };
        }
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HttpError::Malformed);
    };
    head.method = parse_method(method.as_bytes(), limits)?;
    head.version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let target = Span::within(buf, target.as_bytes());
    (head.path, head.query) = split_target(target, target.get(buf));
    head.target = target;
    head.head_len = head_len;
    head.header_count = req.headers.len();
    let mut facts = Facts::default();
    for (slot, h) in head.headers.iter_mut().zip(req.headers.iter()) {
        let index = HeaderIndex {
            name: Span::within(buf, h.name.as_bytes()),
            value: Span::within(buf, h.value),
        };
        *slot = index;
        facts.read(h.name.as_bytes(), h.value, index.value)?;
    }
    facts.apply(head, limits)?;
    Ok(Status::Complete(()))
}

/// What the header fields say about framing and the connection, gathered in one pass.
#[derive(Default)]
struct Facts {
    hosts: u32,
    host: Option<Span>,
    content_length: Option<u64>,
    te_seen: bool,
    te_chunked: bool,
    te_last_chunked: bool,
    te_unknown: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    upgrade: Option<Span>,
    expect_continue: bool,
}

impl Facts {
    fn read(&mut self, name: &[u8], value: &[u8], span: Span) -> Result<(), HttpError> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        match name.len() {
            4 if is("host") => {
                // RFC 9112 §3.2: Host = uri-host [ ":" port ]; an invalid value → 400.
                if !value.iter().all(|&b| is_host_byte(b)) {
                    return Err(HttpError::InvalidHost);
                }
                self.hosts += 1;
                self.host = Some(span);
            }
            14 if is("content-length") => self.read_content_length(value)?,
            17 if is("transfer-encoding") => self.read_transfer_encoding(value)?,
            10 if is("connection") => {
                for token in list(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.conn_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.conn_keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        self.conn_upgrade = true;
                    }
                }
            }
            7 if is("upgrade") && self.upgrade.is_none() && !trim(value).is_empty() => {
                self.upgrade = Some(span);
            }
            // RFC 9110 §10.1.1: the only expectation defined is 100-continue; others are
            // ignored (a server MAY answer them with 417, we do not).
            6 if is("expect") && list(value).any(|t| t.eq_ignore_ascii_case(b"100-continue")) => {
                self.expect_continue = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn read_content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        // RFC 9110 §8.6: Content-Length = 1*DIGIT. A list of identical values (from repeated
        // fields or a comma list) MAY be taken as that one value, and we do; values that differ
        // make the framing unknowable: RFC 9112 §6.3 item 5 → 400.
        let mut any = false;
        for item in value.split(|&b| b == b',') {
            let item = trim(item);
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                // Signs (`+5`, `-1`), spaces inside, hex and empty values are all malformed.
                return Err(HttpError::InvalidContentLength);
            }
            let mut n: u64 = 0;
            for &d in item {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d - b'0')))
                    .ok_or(HttpError::InvalidContentLength)?;
            }
            match self.content_length {
                Some(prev) if prev != n => return Err(HttpError::InvalidContentLength),
                _ => self.content_length = Some(n),
            }
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err(HttpError::InvalidContentLength)
        }
    }

    fn read_transfer_encoding(&mut self, value: &[u8]) -> Result<(), HttpError> {
        self.te_seen = true;
        // RFC 9110 §5.6.1: empty list elements are ignored. A coding may carry parameters after
        // `;`; only its name matters here.
        for item in list(value) {
            let coding = trim(item.split(|&b| b == b';').next().unwrap_or_default());
            if coding.eq_ignore_ascii_case(b"chunked") {
                // RFC 9112 §7: a sender MUST NOT apply chunked more than once.
                if self.te_chunked {
                    return Err(HttpError::InvalidTransferEncoding);
                }
                self.te_chunked = true;
                self.te_last_chunked = true;
            } else {
                self.te_unknown = true;
                self.te_last_chunked = false;
            }
        }
        Ok(())
    }

    /// Checks the facts and sets every framing and connection field of `head` from them (a head
    /// parsed into again keeps nothing of the previous request).
    fn apply(self, head: &mut RequestHead, limits: &Limits) -> Result<(), HttpError> {
        let http11 = head.version == Version::HTTP_11;
        // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with more
        // than one Host field line.
        if self.hosts > 1 {
            return Err(HttpError::InvalidHost);
        }
        if http11 && self.hosts == 0 {
            return Err(HttpError::MissingHost);
        }
        head.host = self.host;
        if self.te_seen {
            // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
            if !http11 {
                return Err(HttpError::InvalidTransferEncoding);
            }
            // RFC 9112 §6.1: a server MAY reject Content-Length with Transfer-Encoding as a
            // smuggling attempt (§11.2); we always do.
            if self.content_length.is_some() {
                return Err(HttpError::ContentLengthWithTransferEncoding);
            }
            // RFC 9112 §6.3 item 4: in a request, Transfer-Encoding whose final coding is not
            // chunked → 400 and close.
            if !self.te_last_chunked {
                return Err(HttpError::InvalidTransferEncoding);
            }
            // RFC 9112 §6.1: a transfer coding the server does not understand → 501.
            if self.te_unknown {
                return Err(HttpError::UnknownTransferCoding);
            }
            head.body = BodyKind::Chunked;
        } else {
            // RFC 9112 §6.3 item 6: the body is exactly Content-Length bytes. Refuse an
            // oversized one before reading it. Item 7: no framing field means no body.
            if self
                .content_length
                .is_some_and(|n| n > limits.max_body_bytes)
            {
                return Err(HttpError::BodyTooLarge);
            }
            head.body = match self.content_length {
                Some(n) if n > 0 => BodyKind::Length(n),
                _ => BodyKind::None,
            };
        }
        head.content_length = self.content_length;

        // RFC 9112 §9.3: `close` wins; HTTP/1.1 persists by default, HTTP/1.0 only with
        // `keep-alive`.
        head.keep_alive = !self.conn_close && (http11 || self.conn_keep_alive);
        // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
        head.expect_continue = http11 && self.expect_continue;
        // RFC 9110 §7.8: Upgrade is honoured only with `Connection: upgrade`, and a server MUST
        // ignore it in an HTTP/1.0 request.
        head.upgrade = self.upgrade.filter(|_| http11 && self.conn_upgrade);
        Ok(())
    }
}

/// Maps a method token to a `Method`, refusing unregistered ones unless allowed (501).
fn parse_method(token: &[u8], limits: &Limits) -> Result<Method, HttpError> {
    Ok(match token {
        b"GET" => Method::GET,
        b"HEAD" => Method::HEAD,
        b"POST" => Method::POST,
        b"PUT" => Method::PUT,
        b"DELETE" => Method::DELETE,
        b"OPTIONS" => Method::OPTIONS,
        b"PATCH" => Method::PATCH,
        b"TRACE" => Method::TRACE,
        b"CONNECT" => Method::CONNECT,
        // RFC 9110 §9.1: method tokens are case-sensitive, so `get` is a custom method.
        _ if limits.allow_custom_methods => {
            Method::from_bytes(token).map_err(|_| HttpError::Malformed)?
        }
        // RFC 9110 §9.1: an unrecognised method SHOULD get 501.
        _ => return Err(HttpError::UnknownMethod),
    })
}

/// Splits a request target into path and query spans (RFC 9112 §3.2).
fn split_target(target: Span, bytes: &[u8]) -> (Span, Option<Span>) {
    // RFC 9112 §3.2.2: a server MUST accept the absolute form; its path follows the authority.
    let mut path_start = 0;
    let lower_starts = |p: &[u8]| {
        bytes
            .get(..p.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(p))
    };
    for scheme in [&b"http://"[..], b"https://"] {
        if lower_starts(scheme) {
            let after = scheme.len();
            path_start = bytes
                .get(after..)
                .and_then(|rest| rest.iter().position(|&b| b == b'/' || b == b'?'))
                .map_or(bytes.len(), |p| after + p);
        }
    }
    match memchr::memchr(b'?', bytes) {
        Some(q) if q >= path_start => (
            target.sub(path_start..q),
            Some(target.sub(q + 1..bytes.len())),
        ),
        _ => (target.sub(path_start..bytes.len()), None),
    }
}

/// Refines an httparse error: obs-fold, unsupported versions, or `Ok(())` when the bytes so far
/// are still a valid prefix (so the answer depends on bytes not yet read).
fn classify(buf: &[u8], e: httparse::Error) -> Result<(), HttpError> {
    match e {
        httparse::Error::TooManyHeaders => Err(HttpError::TooManyHeaders),
        httparse::Error::Version => classify_version(buf),
        httparse::Error::HeaderName => Err(classify_header_name(buf)),
        _ => Err(HttpError::Malformed),
    }
}

/// Tells a well-formed but unsupported `HTTP/x.y` (505) from garbage (400).
fn classify_version(buf: &[u8]) -> Result<(), HttpError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = buf.get(start..).unwrap_or_default();
    let (line, complete) = match line.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) => (line.get(..end).unwrap_or_default(), true),
        None => (line, false),
    };
    // method SP request-target SP HTTP-version (RFC 9112 §3).
    let version = line.splitn(3, |&b| b == b' ').nth(2).unwrap_or_default();
    // RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT.
    const PATTERN: &[u8] = b"HTTP/d.d";
    let fits = |v: &[u8]| {
        v.len() <= PATTERN.len()
            && v.iter().zip(PATTERN).all(|(&b, &p)| match p {
                b'd' => b.is_ascii_digit(),
                _ => b == p,
            })
    };
    if !fits(version) {
        return Err(HttpError::Malformed);
    }
    match (complete, version.len() == PATTERN.len()) {
        // RFC 9110 §15.6.6: 505 for a major version the server does not support.
        (true, true) => Err(HttpError::UnsupportedVersion),
        (true, false) => Err(HttpError::Malformed),
        (false, _) => Ok(()),
    }
}

/// Tells obsolete line folding (a field line starting with whitespace) from a bad name.
fn classify_header_name(buf: &[u8]) -> HttpError {
    let mut lines = buf
        .split(|&b| b == b'\n')
        .skip_while(|l| l.is_empty() || *l == b"\r");
    lines.next(); // the request line
    for line in lines {
        match line.first() {
            // RFC 9112 §5.2: a server MUST reject obs-fold in a request with 400 (or replace it,
            // which we do not). RFC 9112 §2.2: whitespace before the first field line is
            // refused the same way.
            Some(b' ' | b'\t') => return HttpError::ObsFold,
            None | Some(b'\r') => break,
            Some(_) => {
                let name = line.split(|&b| b == b':').next().unwrap_or_default();
                let whole = line.len() > name.len();
                if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) || !whole {
                    break;
                }
            }
        }
    }
    HttpError::Malformed
}

/// RFC 3986 §3.2.2 and §3.2.3: the bytes of `host [":" port]` — unreserved, pct-encoded,
/// sub-delims, `:` and the brackets of an IP literal.
fn is_host_byte(b: u8) -> bool {
    is_unreserved_or_sub_delim(b) || matches!(b, b'%' | b':' | b'[' | b']')
}

/// RFC 3986 §2.2–2.3: an unreserved character or a sub-delim, the bytes URI parts share.
pub(crate) fn is_unreserved_or_sub_delim(b: u8) -> bool {
    // A `matches!` compiles to a range test; `b"…".contains` would be a `memchr` per byte.
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// RFC 9110 §5.6.2: tchar.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Trims optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

/// Iterates the non-empty elements of a comma-separated list (RFC 9110 §5.6.1), trimmed.
pub(crate) fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn a_head_parsed_into_again_keeps_nothing_of_the_previous_request() {
        let mut head = RequestHead::default();
        let first = b"POST /up?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\
                      Connection: upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\
                      X-One: 1\r\n\r\nabc";
        assert_eq!(
            parse_head_into(first, &limits(), &mut head),
            Ok(Status::Complete(()))
        );
        assert_eq!(head.body(), BodyKind::Length(3));
        assert_eq!(head.upgrade(first), Some("websocket"));
        assert!(head.expects_continue());
        assert_eq!(head.header_count(), 6);

        let second = b"GET / HTTP/1.0\r\n\r\n";
        assert_eq!(
            parse_head_into(second, &limits(), &mut head),
            Ok(Status::Complete(()))
        );
        assert_eq!(*head.method(), Method::GET);
        assert_eq!(head.version(), Version::HTTP_10);
        assert_eq!(head.path(second), "/");
        assert_eq!(head.query(second), "");
        assert_eq!(head.body(), BodyKind::None);
        assert_eq!(head.content_length(), None);
        assert!(!head.is_upgrade() && !head.expects_continue() && !head.is_keep_alive());
        assert_eq!(head.host(second), None);
        assert_eq!(head.header_count(), 0);
        assert_eq!(head.header(second, "x-one"), None);
        assert_eq!(head.head_len(), second.len());

        // A partial head is only reported; a later complete one parses as usual.
        assert_eq!(
            parse_head_into(b"GET /a HTTP/1.1\r\nHo", &limits(), &mut head),
            Ok(Status::Partial)
        );
    }

    /// Parses `input` whole, then fed in two pieces at every split point, then byte by byte,
    /// and asserts every way gives the same outcome. Returns it.
    fn parse_all_ways(
        input: &[u8],
        limits: &Limits,
    ) -> Result<Option<(RequestHead, usize)>, HttpError> {
        let whole = feed(input, limits, &[input.len()]);
        for split in 0..input.len() {
            let two = feed(input, limits, &[split, input.len()]);
            assert_eq!(summary(&two), summary(&whole), "split at {split}");
        }
        let bytes: Vec<usize> = (1..=input.len()).collect();
        assert_eq!(
            summary(&feed(input, limits, &bytes)),
            summary(&whole),
            "byte by byte"
        );
        whole
    }

    /// Feeds growing prefixes ending at each mark; the first non-Partial answer wins.
    fn feed(
        input: &[u8],
        limits: &Limits,
        marks: &[usize],
    ) -> Result<Option<(RequestHead, usize)>, HttpError> {
        for &m in marks {
            match parse_head(&input[..m], limits)? {
                Status::Complete(h) => {
                    let n = h.head_len();
                    return Ok(Some((h, n)));
                }
                Status::Partial => {}
            }
        }
        Ok(None)
    }

    fn summary(r: &Result<Option<(RequestHead, usize)>, HttpError>) -> String {
        match r {
            Ok(Some((h, n))) => format!(
                "{} {:?} {n} {:?} {:?} {:?} ka={} ex={} up={:?} hc={}",
                h.method,
                h.version,
                h.target,
                h.body,
                h.content_length,
                h.keep_alive,
                h.expect_continue,
                h.upgrade,
                h.header_count
            ),
            Ok(None) => "partial".into(),
            Err(e) => format!("error {e:?}"),
        }
    }

    fn ok(input: &[u8]) -> RequestHead {
        match parse_all_ways(input, &limits()) {
            Ok(Some((h, _))) => h,
            other => panic!("expected a head, got {}", summary(&other)),
        }
    }

    fn status_of(input: &[u8], limits: &Limits) -> u16 {
        match parse_all_ways(input, limits) {
            Err(e) => e.status().as_u16(),
            other => panic!("expected an error, got {}", summary(&other)),
        }
    }

    macro_rules! case {
        ($($input:expr => $code:expr),* $(,)?) => {
            $( assert_eq!(status_of($input, &limits()), $code, "{:?}", String::from_utf8_lossy($input)); )*
        };
    }

    #[test]
    fn parses_a_simple_get() {
        let buf = b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.method(), Method::GET);
        assert_eq!(h.version(), Version::HTTP_11);
        assert_eq!(h.target(buf), "/a/b?x=1&y=2");
        assert_eq!(h.path(buf), "/a/b");
        assert_eq!(h.query(buf), "x=1&y=2");
        assert_eq!(h.host(buf), Some("example.com"));
        assert_eq!(h.header(buf, "ACCEPT"), Some(&b"*/*"[..]));
        assert_eq!(h.header_str(buf, "accept"), Some("*/*"));
        assert_eq!(h.header(buf, "missing"), None);
        assert_eq!(h.head_len(), buf.len());
        assert_eq!(h.body(), BodyKind::None);
        assert!(h.is_keep_alive());
        assert!(!h.expects_continue());
        assert!(!h.is_upgrade());
        let names: Vec<_> = h.headers(buf).map(|(n, _)| n).collect();
        assert_eq!(names, ["Host", "Accept"]);
    }

    #[test]
    fn heads_travel_between_threads_with_their_slot() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<RequestHead>();
        send_sync::<HttpError>();
    }

    #[test]
    fn accessors_on_a_foreign_buffer_return_empty_values() {
        let buf = b"GET /abc HTTP/1.1\r\nHost: x\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.path(b""), "/");
        assert_eq!(h.header(b"", "host"), None);
        assert_eq!(h.target(b"xy"), "");
    }

    #[test]
    fn reads_absolute_form_and_asterisk_targets() {
        let buf = b"GET http://h.example:80/p/q?z HTTP/1.1\r\nHost: h.example\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.path(buf), "/p/q");
        assert_eq!(h.query(buf), "z");
        let buf = b"GET HTTP://h.example HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(ok(buf).path(buf), "/");
        let buf = b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(ok(buf).path(buf), "*");
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").is_keep_alive());
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").is_keep_alive());
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").is_keep_alive());
        assert!(
            !ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n")
                .is_keep_alive()
        );
        assert!(ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n").is_keep_alive());
    }

    #[test]
    fn accepts_valid_host_forms() {
        for (buf, host) in [
            (
                &b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"[..],
                "[::1]:8080",
            ),
            (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "127.0.0.1"),
            (
                b"GET / HTTP/1.1\r\nHost: xn--bcher-kva.example:443\r\n\r\n",
                "xn--bcher-kva.example:443",
            ),
            (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", ""),
        ] {
            assert_eq!(ok(buf).host(buf), Some(host));
        }
    }

    #[test]
    fn http10_without_host_is_accepted() {
        assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").version(), Version::HTTP_10);
    }

    #[test]
    fn reads_expect_continue_only_for_http11() {
        let h =
            ok(b"PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n");
        assert!(h.expects_continue());
        assert_eq!(h.body(), BodyKind::Length(5));
        let h = ok(b"PUT /u HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        assert!(!h.expects_continue());
    }

    #[test]
    fn reads_upgrade_only_with_connection_upgrade() {
        let buf = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n";
        let h = ok(buf);
        assert!(h.is_upgrade());
        assert_eq!(h.upgrade(buf), Some("websocket"));
        assert!(!ok(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").is_upgrade());
        assert!(
            !ok(b"GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
                .is_upgrade()
        );
    }

    #[test]
    fn reads_content_length_forms() {
        let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
        assert_eq!(h.body(), BodyKind::Length(7));
        // Identical duplicates are one value (RFC 9110 §8.6), in one field or several.
        let h =
            ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.body(), BodyKind::Length(5));
        let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.body(), BodyKind::None);
        assert_eq!(h.content_length(), Some(0));
        let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(h.body(), BodyKind::Chunked);
        let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked ,\r\n\r\n");
        assert_eq!(h.body(), BodyKind::Chunked);
    }

    #[test]
    fn accepts_bare_lf_line_endings() {
        // RFC 9112 §2.2: a recipient MAY recognise a single LF as a line terminator.
        let buf = b"GET /lf HTTP/1.1\nHost: a\nX: y\n\n";
        let h = ok(buf);
        assert_eq!(h.path(buf), "/lf");
        assert_eq!(h.header(buf, "x"), Some(&b"y"[..]));
    }

    #[test]
    fn skips_empty_lines_before_the_request_line() {
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
        let buf = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(ok(buf).head_len(), buf.len());
    }

    #[test]
    fn custom_methods_need_the_flag() {
        assert_eq!(
            status_of(b"PURGE / HTTP/1.1\r\nHost: a\r\n\r\n", &limits()),
            501
        );
        assert_eq!(
            status_of(b"get / HTTP/1.1\r\nHost: a\r\n\r\n", &limits()),
            501
        );
        let allow = limits().with_custom_methods(true);
        let Ok(Some((h, _))) = parse_all_ways(b"PURGE / HTTP/1.1\r\nHost: a\r\n\r\n", &allow)
        else {
            panic!()
        };
        assert_eq!(h.method().as_str(), "PURGE");
    }

    #[test]
    fn pipelined_requests_parse_from_the_tail() {
        let buf = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut at = 0;
        let mut paths = Vec::new();
        while at < buf.len() {
            let tail = &buf[at..];
            let Ok(Status::Complete(h)) = parse_head(tail, &limits()) else {
                panic!()
            };
            paths.push(h.path(tail).to_owned());
            at += h.head_len() + h.content_length().unwrap_or(0) as usize;
        }
        assert_eq!(paths, ["/1", "/2", "/3"]);
    }

    #[test]
    fn rejects_framing_attacks_with_exact_status() {
        case! {
            // RFC 9112 §6.1 / §6.3: CL with TE.
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" => 400,
            // Conflicting and malformed Content-Length.
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n" => 400,
            // TE not ending in chunked → 400; unknown coding before chunked → 501.
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n" => 400,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => 501,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" => 501,
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n" => 400,
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => 400,
            // obs-fold and whitespace in names.
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\n Host: a\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHo\tst: a\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n" => 400,
            // Host rules.
            b"GET / HTTP/1.1\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" => 400,
            b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n" => 400,
            // Versions and request lines.
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n" => 505,
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n" => 505,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" => 505,
            b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n" => 400,
            b"GET / http/1.1\r\nHost: a\r\n\r\n" => 400,
            b"GET / HTTP/11\r\nHost: a\r\n\r\n" => 400,
            b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n" => 400,
            b"GET\r\n\r\n" => 400,
            b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n" => 400,
            b"GET / HTTP/1.1\rHost: a\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n" => 400,
            b"GET / HTTP/1.1\r\nHost: a\0\r\n\r\n" => 400,
            b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n" => 501,
        }
    }

    #[test]
    fn refuses_a_declared_body_over_the_limit() {
        let l = limits().with_max_body_bytes(10);
        assert_eq!(
            status_of(
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
                &l
            ),
            413
        );
        let ok10 = parse_all_ways(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
            &l,
        );
        assert!(matches!(ok10, Ok(Some(_))));
    }

    #[test]
    fn head_exactly_at_the_limit_passes_and_one_byte_over_is_431() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX: yyyy\r\n\r\n";
        let at = limits().with_max_head_bytes(head.len());
        assert!(matches!(parse_all_ways(head, &at), Ok(Some(_))));
        let under = limits().with_max_head_bytes(head.len() - 1);
        assert_eq!(status_of(head, &under), 431);
        // A pipelined tail after an at-limit head does not count against it.
        let mut two = head.to_vec();
        two.extend_from_slice(b"GET /next");
        assert!(matches!(parse_head(&two, &at), Ok(Status::Complete(_))));
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..4 {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(status_of(&buf, &limits().with_max_headers(4)), 431);
        assert!(matches!(
            parse_all_ways(&buf, &limits().with_max_headers(5)),
            Ok(Some(_))
        ));
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_head(&many, &limits()).unwrap_err().status().as_u16(),
            431
        );
    }

    #[test]
    fn an_endless_partial_head_becomes_431_at_the_limit() {
        let l = limits().with_max_head_bytes(64);
        let mut buf = b"GET / HTTP/1.1\r\nX: ".to_vec();
        buf.resize(63, b'a');
        assert_eq!(parse_head(&buf, &l), Ok(Status::Partial));
        buf.push(b'a');
        assert_eq!(parse_head(&buf, &l).unwrap_err(), HttpError::HeadTooLarge);
        // An error past the limit is the limit's, however the bytes arrive.
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(80, b'a');
        long.extend_from_slice(b"\0\r\n\r\n");
        assert_eq!(status_of(&long, &l), 431);
        // So do endless empty lines.
        assert_eq!(
            parse_head(&[b'\n'; 64], &l).unwrap_err(),
            HttpError::HeadTooLarge
        );
    }

    const PIECES: &[&str] = &[
        "GET ",
        "POST ",
        "/",
        "/a?b=c",
        " HTTP/1.1",
        " HTTP/1.0",
        " HTTP/2.0",
        "\r\n",
        "\n",
        "\r",
        "Host: a",
        "Host:",
        "Content-Length: ",
        "Transfer-Encoding: ",
        "chunked",
        "gzip",
        "Connection: ",
        "close",
        "keep-alive",
        "upgrade",
        "Upgrade: ws",
        "Expect: 100-continue",
        ":",
        " ",
        "\t",
        ",",
        "0",
        "5",
        "+",
        "-",
        "x",
        "\0",
        "\u{e9}",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        #[test]
        fn any_head_gives_one_outcome_whatever_the_split(
            valid_start in proptest::bool::ANY,
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
        ) {
            let mut input = String::new();
            if valid_start {
                input.push_str("POST /p HTTP/1.1\r\n");
            }
            for p in pieces {
                input.push_str(p);
            }
            let _ = parse_all_ways(input.as_bytes(), &limits().with_max_head_bytes(128));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_head(&bytes, &limits());
        }
    }

    impl PartialEq for RequestHead {
        fn eq(&self, other: &Self) -> bool {
            summary(&Ok(Some((self.clone(), 0)))) == summary(&Ok(Some((other.clone(), 0))))
        }
    }
}

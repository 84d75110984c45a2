//! Response writing: status line, header fields and body bytes into a caller's buffer.
//!
//! In scope: the response head (RFC 9112 §4 status line, RFC 9110 field rules), the `Date`
//! cache ([`HttpDate`]), framing headers, chunk encoding (RFC 9112 §7.1), interim responses
//! (100, 101), and refusing header bytes that would split a response (CR, LF, NUL).
//! Out of scope: choosing the status or the headers (the server and handlers do), sockets,
//! and the clock (the caller passes the current time to [`HttpDate::update`]).
//!
//! Every writer fills a `&mut [u8]` and says how many bytes it wrote, or fails with
//! [`HttpError::ResponseBufferFull`] when they do not fit; the caller then takes a bigger path
//! (a larger buffer, or writing the body in pieces). Nothing here allocates.

use std::fmt;
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::http::{StatusCode, Version};

use super::limits::HttpError;
use super::request::is_tchar;

/// The interim response that tells a client to send the body it is holding back
/// (RFC 9110 §10.1.1, §15.2.1).
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The last chunk and the empty trailer section that end a chunked body (RFC 9112 §7.1).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The `Server` field value microweb sends.
pub const SERVER_NAME: &str = "microweb";

/// The `Date` field value, formatted once and copied into every response.
///
/// IMF-fixdate is 29 bytes and changes once a second, so the pool's timer calls
/// [`HttpDate::update`] every second and writers copy the bytes. The type is `Copy`; sharing
/// it between threads is the caller's choice.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HttpDate {
    bytes: [u8; 29],
}

impl HttpDate {
    /// Formats `now` (RFC 9110 §5.6.7 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
    ///
    /// Times before 1970 or after 9999 are clamped to those bounds.
    #[must_use]
    pub fn new(now: SystemTime) -> HttpDate {
        let mut date = HttpDate { bytes: [b' '; 29] };
        date.update(now);
        date
    }

    /// Reformats the date for `now`.
    pub fn update(&mut self, now: SystemTime) {
        // httpdate panics outside 1970..=9999; clamp first.
        const LAST: Duration = Duration::from_secs(253_402_300_799);
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default().min(LAST);
        let date = httpdate::HttpDate::from(UNIX_EPOCH + since);
        let mut out = FixedWriter {
            buf: &mut self.bytes,
            len: 0,
        };
        // IMF-fixdate is always 29 bytes; a failure would leave the previous value in place.
        let _ = fmt::write(&mut out, format_args!("{date}"));
    }

    /// Returns the formatted date.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HttpDate")
            .field(&String::from_utf8_lossy(&self.bytes))
            .finish()
    }
}

/// A `fmt::Write` into a fixed byte array.
struct FixedWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for FixedWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// `Content-Length: n`, then exactly `n` body bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`; write the body with [`write_chunk`], end with
    /// [`LAST_CHUNK`]. HTTP/1.1 clients only.
    Chunked,
    /// No framing field and no body: 1xx, 204 and 304 responses (RFC 9110 §6.4.1).
    NoBody,
    /// No framing field; the body ends when the connection closes (an HTTP/1.0 client and a
    /// body of unknown length). Forces `Connection: close`.
    UntilClose,
}

/// Writes one response into a buffer: the head, field by field, then body bytes.
///
/// The usual order is [`start`](Self::start) (status line, `Date`, `Server`), the handler's
/// [`header`](Self::header)s, [`framing`](Self::framing), [`connection`](Self::connection),
/// [`end_head`](Self::end_head), then [`body`](Self::body). Each step returns `&mut Self` so
/// steps chain with `?`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use http::{StatusCode, Version};
/// use microweb::http::{Framing, HttpDate, ResponseWriter};
///
/// let date = HttpDate::new(UNIX_EPOCH + Duration::from_secs(784111777));
/// let mut buf = [0u8; 256];
/// let mut w = ResponseWriter::new(&mut buf);
/// w.start(StatusCode::OK, &date)?
///     .header("Content-Type", b"text/plain")?
///     .framing(Framing::Length(13))?
///     .connection(true, Version::HTTP_11)?
///     .end_head()?
///     .body(b"Hello, world!")?;
/// assert_eq!(
///     w.as_bytes(),
///     &b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: microweb\r\n\
///        Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"[..]
/// );
/// # Ok::<(), microweb::http::HttpError>(())
/// ```
#[derive(Debug)]
pub struct ResponseWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    omit_body: bool,
    no_body_status: bool,
    until_close: bool,
    head_ended: bool,
}

impl<'a> ResponseWriter<'a> {
    /// Creates a writer that fills `buf` from its start.
    #[must_use]
    pub fn new(buf: &'a mut [u8]) -> ResponseWriter<'a> {
        ResponseWriter {
            buf,
            len: 0,
            omit_body: false,
            no_body_status: false,
            until_close: false,
            head_ended: false,
        }
    }

    /// Makes [`body`](Self::body) write nothing: the answer to a HEAD request carries the same
    /// head as a GET, without the body (RFC 9110 §9.3.2).
    #[must_use]
    pub fn head_request(mut self, is_head: bool) -> ResponseWriter<'a> {
        self.omit_body = is_head;
        self
    }

    /// Returns the bytes written so far.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Returns the number of bytes written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Tells whether nothing has been written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Tells whether the connection must close after this response (the framing is
    /// [`Framing::UntilClose`]).
    #[must_use]
    pub fn closes_connection(&self) -> bool {
        self.until_close
    }

    /// Tells whether the head has been ended with [`end_head`](Self::end_head).
    #[must_use]
    pub fn head_ended(&self) -> bool {
        self.head_ended
    }

    /// Writes the status line (always `HTTP/1.1`, RFC 9110 §2.5) without `Date` or `Server`.
    ///
    /// # Errors
    ///
    /// `ResponseBufferFull` when it does not fit.
    pub fn status_line(&mut self, status: StatusCode) -> Result<&mut Self, HttpError> {
        let code = status.as_u16();
        self.no_body_status = status.is_informational() || code == 204 || code == 304;
        match code {
            200 => self.put(b"HTTP/1.1 200 OK\r\n")?,
            _ => {
                self.put(b"HTTP/1.1 ")?;
                self.put(status.as_str().as_bytes())?;
                self.put(b" ")?;
                // RFC 9112 §4: the reason phrase may be empty, the space before it may not.
                self.put(status.canonical_reason().unwrap_or("").as_bytes())?;
                self.put(b"\r\n")?;
            }
        }
        Ok(self)
    }

    /// Writes the status line, `Date` and `Server: microweb`.
    ///
    /// # Errors
    ///
    /// `ResponseBufferFull` when it does not fit.
    pub fn start(&mut self, status: StatusCode, date: &HttpDate) -> Result<&mut Self, HttpError> {
        self.status_line(status)?;
        self.put(b"Date: ")?;
        self.put(date.as_bytes())?;
        self.put(b"\r\nServer: microweb\r\n")?;
        Ok(self)
    }

    /// Writes a `101 Switching Protocols` status line with `Connection: Upgrade` and
    /// `Upgrade: <protocol>` (RFC 9110 §7.8, §15.2.2); add other fields, then
    /// [`end_head`](Self::end_head).
    ///
    /// # Errors
    ///
    /// `InvalidResponseHeader` for a protocol with forbidden bytes, `ResponseBufferFull`.
    pub fn switching_protocols(&mut self, protocol: &str) -> Result<&mut Self, HttpError> {
        self.status_line(StatusCode::SWITCHING_PROTOCOLS)?;
        self.put(b"Connection: Upgrade\r\n")?;
        self.header("Upgrade", protocol.as_bytes())
    }

    /// Writes one header field after checking it.
    ///
    /// # Errors
    ///
    /// `InvalidResponseHeader` when the name is not a token (RFC 9110 §5.1) or the value holds
    /// a control byte other than HTAB (RFC 9110 §5.5) — CR, LF and NUL would split the
    /// response; `ResponseBufferFull` when it does not fit.
    pub fn header(&mut self, name: &str, value: &[u8]) -> Result<&mut Self, HttpError> {
        if !is_valid_header_name(name) || !is_valid_header_value(value) {
            return Err(HttpError::InvalidResponseHeader);
        }
        self.put(name.as_bytes())?;
        self.put(b": ")?;
        self.put(value)?;
        self.put(b"\r\n")?;
        Ok(self)
    }

    /// Writes a header field whose value is `parts` one after the other (say a type, then
    /// `"; charset="`, then a charset), without building the value first.
    ///
    /// # Errors
    ///
    /// `InvalidResponseHeader` for a bad name or a part with CR, LF, NUL or another control
    /// byte; `ResponseBufferFull` when it does not fit.
    pub fn header_parts(&mut self, name: &str, parts: &[&[u8]]) -> Result<&mut Self, HttpError> {
        if !is_valid_header_name(name) || !parts.iter().all(|p| is_valid_header_value(p)) {
            return Err(HttpError::InvalidResponseHeader);
        }
        self.trusted_header(name, parts)
    }

    /// Writes a header field of parts, like [`header_parts`](Self::header_parts), without
    /// checking them: for values the server checked when they were set (a [`Response`]'s
    /// content type, say) or wrote itself. Debug builds still check.
    ///
    /// [`Response`]: crate::server::Response
    pub(crate) fn trusted_header(
        &mut self,
        name: &str,
        parts: &[&[u8]],
    ) -> Result<&mut Self, HttpError> {
        debug_assert!(is_valid_header_name(name), "bad header name {name:?}");
        debug_assert!(parts.iter().all(|p| is_valid_header_value(p)), "bad value");
        self.put(name.as_bytes())?;
        self.put(b": ")?;
        for part in parts {
            self.put(part)?;
        }
        self.put(b"\r\n")?;
        Ok(self)
    }

    /// Writes the framing field: `Content-Length` or `Transfer-Encoding: chunked`.
    ///
    /// 1xx, 204 and 304 responses get no framing field and no body, whatever `framing` says
    /// (RFC 9110 §8.6, §6.4.1).
    ///
    /// # Errors
    ///
    /// `ResponseBufferFull` when it does not fit.
    pub fn framing(&mut self, framing: Framing) -> Result<&mut Self, HttpError> {
        if self.no_body_status {
            return Ok(self);
        }
        match framing {
            Framing::Length(n) => {
                self.put(b"Content-Length: ")?;
                let mut digits = [0u8; 20];
                self.put(decimal(n, &mut digits))?;
                self.put(b"\r\n")?;
            }
            Framing::Chunked => self.put(b"Transfer-Encoding: chunked\r\n")?,
            Framing::NoBody => self.no_body_status = true,
            Framing::UntilClose => self.until_close = true,
        }
        Ok(self)
    }

    /// Writes the `Connection` field the decision needs, if any (RFC 9112 §9.3).
    ///
    /// `keep_alive` is the decision of [`crate::http::keep_alive`]; `version` is the request's.
    /// HTTP/1.1 persists by default, so only `close` is written; HTTP/1.0 closes by default, so
    /// only `keep-alive` is. [`Framing::UntilClose`] forces `close`.
    ///
    /// # Errors
    ///
    /// `ResponseBufferFull` when it does not fit.
    pub fn connection(
        &mut self,
        keep_alive: bool,
        version: Version,
    ) -> Result<&mut Self, HttpError> {
        let keep_alive = keep_alive && !self.until_close;
        match (keep_alive, version == Version::HTTP_10) {
            (false, _) => self.put(b"Connection: close\r\n")?,
            (true, true) => self.put(b"Connection: keep-alive\r\n")?,
            (true, false) => {}
        }
        Ok(self)
    }

    /// Ends the head with the empty line.
    ///
    /// # Errors
    ///
    /// `ResponseBufferFull` when it does not fit.
    pub fn end_head(&mut self) -> Result<&mut Self, HttpError> {
        self.put(b"\r\n")?;
        self.head_ended = true;
        Ok(self)
    }

    /// Writes body bytes as they are (no chunk framing); nothing for HEAD requests and
    /// bodiless statuses.
    ///
    /// # Errors
    ///
    /// `ResponseBufferFull` when they do not fit.
    pub fn body(&mut self, bytes: &[u8]) -> Result<&mut Self, HttpError> {
        if !self.omit_body && !self.no_body_status {
            self.put(bytes)?;
        }
        Ok(self)
    }

    /// Tells whether [`body`](Self::body) writes anything for this response.
    #[must_use]
    pub fn has_body(&self) -> bool {
        !self.omit_body && !self.no_body_status
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), HttpError> {
        let end = self.len + bytes.len();
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(HttpError::ResponseBufferFull)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// Formats `n` in decimal into `digits`, returning the used tail.
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    digits.get(at..).unwrap_or_default()
}

/// Tells whether `name` is a valid field name: a non-empty token (RFC 9110 §5.1).
#[must_use]
pub fn is_valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_tchar)
}

/// Tells whether `value` is a valid field value: no control byte but HTAB, so no CR, LF or NUL
/// (RFC 9110 §5.5).
#[must_use]
pub fn is_valid_header_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// The chunk-size line for `len` bytes of chunk data (`<hex>\r\n`), to write before data that is
/// already in place.
#[derive(Debug, Clone, Copy)]
pub struct ChunkHeader {
    bytes: [u8; 18],
    start: u8,
}

impl ChunkHeader {
    /// Builds the chunk-size line for `len` data bytes.
    #[must_use]
    pub fn new(len: usize) -> ChunkHeader {
        let mut bytes = [0u8; 18];
        let mut at = 16;
        let mut n = len as u64;
        loop {
            at -= 1;
            if let Some(d) = bytes.get_mut(at) {
                *d = b"0123456789abcdef"[(n & 0xf) as usize];
            }
            n >>= 4;
            if n == 0 || at == 0 {
                break;
            }
        }
        bytes[16] = b'\r';
        bytes[17] = b'\n';
        ChunkHeader {
            bytes,
            start: at as u8,
        }
    }

    /// Returns the line's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(self.start as usize..).unwrap_or_default()
    }
}

/// Writes one chunk (`<hex>\r\n<data>\r\n`) into `buf`; returns the bytes written.
///
/// Empty `data` writes nothing: a zero-size chunk would end the body, which is
/// [`LAST_CHUNK`]'s job.
///
/// # Errors
///
/// `ResponseBufferFull` when the chunk does not fit.
pub fn write_chunk(buf: &mut [u8], data: &[u8]) -> Result<usize, HttpError> {
    if data.is_empty() {
        return Ok(0);
    }
    let header = ChunkHeader::new(data.len());
    let h = header.as_bytes();
    let total = h.len() + data.len() + 2;
    let dst = buf.get_mut(..total).ok_or(HttpError::ResponseBufferFull)?;
    dst[h.len()..h.len() + data.len()].copy_from_slice(data);
    Ok(frame_chunk_at(dst, h, data.len()).len())
}

/// Room a chunk's size line needs in front of its data: up to 16 hex digits and CRLF.
pub const CHUNK_HEAD_ROOM: usize = 18;

/// Frames the `n` data bytes already at `buf[CHUNK_HEAD_ROOM..]` as one chunk, without moving
/// them: the size line goes just before them, CRLF after. Returns the range of `buf` to send.
///
/// # Errors
///
/// `ResponseBufferFull` when `buf` has no room for the data and its CRLF.
pub fn frame_chunk_in_place(buf: &mut [u8], n: usize) -> Result<Range<usize>, HttpError> {
    let header = ChunkHeader::new(n);
    let h = header.as_bytes();
    let start = CHUNK_HEAD_ROOM - h.len();
    let dst = buf
        .get_mut(start..CHUNK_HEAD_ROOM + n + 2)
        .ok_or(HttpError::ResponseBufferFull)?;
    let framed = frame_chunk_at(dst, h, n);
    Ok(start + framed.start..start + framed.end)
}

/// Writes the size line `h` at the start of `dst` and CRLF after the `n` data bytes that follow
/// it; returns the chunk's range in `dst`.
fn frame_chunk_at(dst: &mut [u8], h: &[u8], n: usize) -> Range<usize> {
    dst[..h.len()].copy_from_slice(h);
    let end = h.len() + n;
    dst[end..end + 2].copy_from_slice(b"\r\n");
    0..end + 2
}

/// Writes the complete answer to a request error: status, `Date`, `Server`, a one-line
/// `text/plain` body naming the status, and `Connection: close` ([`HttpError::must_close`]).
///
/// # Errors
///
/// `ResponseBufferFull` when it does not fit (about 150 bytes are needed).
pub fn write_error_response(
    buf: &mut [u8],
    error: HttpError,
    date: &HttpDate,
) -> Result<usize, HttpError> {
    let status = error.status();
    let reason = status.canonical_reason().unwrap_or("Error").as_bytes();
    let mut w = ResponseWriter::new(buf);
    w.start(status, date)?
        .header("Content-Type", b"text/plain; charset=utf-8")?
        .framing(Framing::Length(reason.len() as u64 + 1))?
        .connection(false, Version::HTTP_11)?
        .end_head()?
        .body(reason)?
        .body(b"\n")?;
    Ok(w.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> HttpDate {
        HttpDate::new(UNIX_EPOCH + Duration::from_secs(784_111_777))
    }

    fn text(w: &ResponseWriter<'_>) -> String {
        String::from_utf8(w.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn formats_and_clamps_the_date() {
        assert_eq!(date().as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        let early = HttpDate::new(UNIX_EPOCH - Duration::from_secs(10));
        assert_eq!(early.as_bytes(), b"Thu, 01 Jan 1970 00:00:00 GMT");
        let late = HttpDate::new(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4));
        assert_eq!(late.as_bytes(), b"Fri, 31 Dec 9999 23:59:59 GMT");
        let mut d = date();
        d.update(UNIX_EPOCH + Duration::from_secs(784_111_778));
        assert_eq!(d.as_bytes(), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn a_header_in_parts_is_written_as_one_value_and_checked_part_by_part() {
        let mut buf = [0u8; 128];
        let mut w = ResponseWriter::new(&mut buf);
        w.header_parts("Content-Type", &[b"text/plain", b"; charset=", b"utf-8"])
            .unwrap();
        assert_eq!(text(&w), "Content-Type: text/plain; charset=utf-8\r\n");
        let mut buf = [0u8; 128];
        let mut w = ResponseWriter::new(&mut buf);
        assert_eq!(
            w.header_parts("Content-Type", &[b"text/plain", b"\r\nX-Evil: 1"])
                .err(),
            Some(HttpError::InvalidResponseHeader)
        );
        assert!(w.as_bytes().is_empty());
    }

    #[test]
    fn writes_a_small_response() {
        let mut buf = [0u8; 256];
        let mut w = ResponseWriter::new(&mut buf);
        w.start(StatusCode::NOT_FOUND, &date())
            .unwrap()
            .framing(Framing::Length(0))
            .unwrap()
            .connection(false, Version::HTTP_11)
            .unwrap()
            .end_head()
            .unwrap();
        assert_eq!(
            text(&w),
            "HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: microweb\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert!(w.head_ended());
    }

    #[test]
    fn head_requests_get_the_head_without_the_body() {
        let mut buf = [0u8; 256];
        let mut w = ResponseWriter::new(&mut buf).head_request(true);
        w.status_line(StatusCode::OK).unwrap();
        w.framing(Framing::Length(5)).unwrap();
        w.end_head().unwrap().body(b"hello").unwrap();
        assert_eq!(text(&w), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert!(!w.has_body());
    }

    #[test]
    fn bodiless_statuses_get_no_framing_and_no_body() {
        for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
            let mut buf = [0u8; 256];
            let mut w = ResponseWriter::new(&mut buf);
            w.status_line(status).unwrap();
            w.framing(Framing::Length(5)).unwrap();
            w.end_head().unwrap().body(b"hello").unwrap();
            assert_eq!(text(&w), format!("HTTP/1.1 {status}\r\n\r\n"));
        }
    }

    #[test]
    fn connection_field_follows_version_and_framing() {
        let cases = [
            (true, Version::HTTP_11, Framing::Length(0), ""),
            (
                false,
                Version::HTTP_11,
                Framing::Length(0),
                "Connection: close\r\n",
            ),
            (
                true,
                Version::HTTP_10,
                Framing::Length(0),
                "Connection: keep-alive\r\n",
            ),
            (
                false,
                Version::HTTP_10,
                Framing::Length(0),
                "Connection: close\r\n",
            ),
            (
                true,
                Version::HTTP_10,
                Framing::UntilClose,
                "Connection: close\r\n",
            ),
        ];
        for (keep, version, framing, expected) in cases {
            let mut buf = [0u8; 64];
            let mut w = ResponseWriter::new(&mut buf);
            w.framing(framing)
                .unwrap()
                .connection(keep, version)
                .unwrap();
            let s = text(&w);
            assert_eq!(s.trim_start_matches("Content-Length: 0\r\n"), expected);
            assert_eq!(w.closes_connection(), framing == Framing::UntilClose);
        }
    }

    #[test]
    fn refuses_header_bytes_that_split_responses() {
        let mut buf = [0u8; 256];
        let mut w = ResponseWriter::new(&mut buf);
        for (name, value) in [
            ("X-A", &b"a\r\nSet-Cookie: evil=1"[..]),
            ("X-A", b"a\nb"),
            ("X-A", b"a\rb"),
            ("X-A", b"a\0b"),
            ("X-A", b"a\x7fb"),
            ("X\r\nA", b"v"),
            ("X A", b"v"),
            ("X:A", b"v"),
            ("", b"v"),
        ] {
            assert_eq!(
                w.header(name, value).unwrap_err(),
                HttpError::InvalidResponseHeader
            );
        }
        assert!(w.is_empty());
        w.header("X-Ok", b"tab\tand \xc3\xa9").unwrap();
        assert_eq!(w.as_bytes(), b"X-Ok: tab\tand \xc3\xa9\r\n");
    }

    #[test]
    fn reports_a_full_buffer() {
        let mut buf = [0u8; 20];
        let mut w = ResponseWriter::new(&mut buf);
        assert_eq!(
            w.start(StatusCode::OK, &date()).unwrap_err(),
            HttpError::ResponseBufferFull
        );
        let mut small = [0u8; 5];
        assert_eq!(
            write_chunk(&mut small, b"hello").unwrap_err(),
            HttpError::ResponseBufferFull
        );
        assert_eq!(
            write_error_response(&mut small, HttpError::Malformed, &date()).unwrap_err(),
            HttpError::ResponseBufferFull
        );
    }

    #[test]
    fn writes_unknown_status_codes_with_an_empty_reason() {
        let mut buf = [0u8; 64];
        let mut w = ResponseWriter::new(&mut buf);
        w.status_line(StatusCode::from_u16(599).unwrap()).unwrap();
        assert_eq!(text(&w), "HTTP/1.1 599 \r\n");
    }

    #[test]
    fn writes_interim_responses() {
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
        let mut buf = [0u8; 160];
        let mut w = ResponseWriter::new(&mut buf);
        w.switching_protocols("websocket")
            .unwrap()
            .header("Sec-WebSocket-Accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            .unwrap()
            .framing(Framing::Length(0))
            .unwrap()
            .end_head()
            .unwrap();
        assert_eq!(
            text(&w),
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        assert!(
            ResponseWriter::new(&mut buf)
                .switching_protocols("a\r\nb")
                .is_err()
        );
    }

    #[test]
    fn encodes_chunks() {
        let mut buf = [0u8; 64];
        let n = write_chunk(&mut buf, b"hello world, 26 bytes long").unwrap();
        assert_eq!(&buf[..n], b"1a\r\nhello world, 26 bytes long\r\n");
        assert_eq!(write_chunk(&mut buf, b"").unwrap(), 0);
        assert_eq!(ChunkHeader::new(0).as_bytes(), b"0\r\n");
        assert_eq!(ChunkHeader::new(4096).as_bytes(), b"1000\r\n");
        assert_eq!(
            ChunkHeader::new(usize::MAX).as_bytes(),
            b"ffffffffffffffff\r\n"
        );
        assert_eq!(LAST_CHUNK, b"0\r\n\r\n");
    }

    #[test]
    fn frames_a_chunk_where_its_data_lies() {
        let mut buf = [b'.'; 64];
        buf[CHUNK_HEAD_ROOM..CHUNK_HEAD_ROOM + 26].copy_from_slice(b"hello world, 26 bytes long");
        let range = frame_chunk_in_place(&mut buf, 26).unwrap();
        assert_eq!(&buf[range], b"1a\r\nhello world, 26 bytes long\r\n");
        let mut tight = [0u8; CHUNK_HEAD_ROOM + 3];
        assert!(
            frame_chunk_in_place(&mut tight, 1).is_ok(),
            "data and CRLF just fit"
        );
        assert_eq!(
            frame_chunk_in_place(&mut tight, 2),
            Err(HttpError::ResponseBufferFull)
        );
        assert_eq!(
            write_chunk(&mut [0u8; 8], b"too long for it"),
            Err(HttpError::ResponseBufferFull)
        );
    }

    #[test]
    fn error_responses_close_and_name_the_status() {
        let mut buf = [0u8; 256];
        let n = write_error_response(&mut buf, HttpError::HeadTooLarge, &date()).unwrap();
        let s = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(s.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(s.contains("\r\nConnection: close\r\n"));
        assert!(s.ends_with("\r\n\r\nRequest Header Fields Too Large\n"));
        assert!(s.contains("Content-Length: 32\r\n"));
    }

    #[test]
    fn formats_decimals() {
        let mut d = [0u8; 20];
        assert_eq!(decimal(0, &mut d), b"0");
        assert_eq!(decimal(13, &mut d), b"13");
        assert_eq!(decimal(u64::MAX, &mut d), b"18446744073709551615");
    }
}

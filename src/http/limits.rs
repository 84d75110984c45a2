//! Request limits and the HTTP layer's error type.
//!
//! In scope: [`Limits`] (every bound the protocol core enforces, taken from a [`Preset`]) and
//! [`HttpError`] with its one mapping to a status code, [`HttpError::status`].
//! Out of scope: timers (the server measures time and reports [`HttpError::Timeout`] itself).

use std::fmt;

use ::http::StatusCode;

use crate::config::Preset;

/// The largest number of header fields a request head may carry, whatever [`Limits`] says.
///
/// [`crate::http::RequestHead`] keeps an inline array of this many header indexes, so a
/// request never allocates for its headers.
pub const MAX_HEADERS: usize = 64;

/// The bounds the protocol core enforces on one connection.
///
/// Built from a [`Preset`] ([`Limits::from_preset`]; `Default` is the Normal preset) and then
/// adjusted field by field with the `with_*` setters.
///
/// # Examples
///
/// ```
/// use microweb::Preset;
/// use microweb::http::Limits;
///
/// let limits = Limits::from_preset(Preset::Embedded).with_max_headers(32);
/// assert_eq!(limits.max_head_bytes, 1024);
/// assert_eq!(limits.max_headers, 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request head (request line + header fields + the empty line), in bytes.
    ///
    /// Default: the preset's buffer slot size (4 KiB for Normal), because the head must fit in
    /// the slot that receives it. Over it: 431.
    pub max_head_bytes: usize,
    /// Largest number of header fields in a head (and in a chunked body's trailer section).
    ///
    /// Default: 64, which is also the ceiling ([`MAX_HEADERS`]). Over it: 431.
    pub max_headers: usize,
    /// Largest request body, in bytes (`max_request_content_length`).
    ///
    /// Default: the preset's (2 MiB for Normal). A larger declared `Content-Length` is refused
    /// before any body byte is read; a chunked body is refused when it crosses the bound. Over
    /// it: 413.
    pub max_body_bytes: u64,
    /// Largest chunk-size line of a chunked body (size, extensions and CRLF), in bytes.
    ///
    /// Default: 1 KiB; chunk extensions are ignored, so a long line is only a way to waste the
    /// slot. Over it: 400.
    pub max_chunk_line_bytes: usize,
    /// Most requests answered on one connection before it is closed.
    ///
    /// Default: 1000 (as nginx's `keepalive_requests`), so one client cannot hold a connection
    /// forever. `0` means no bound.
    pub max_requests_per_connection: u32,
    /// Whether a method outside RFC 9110's registered set is accepted.
    ///
    /// Default: `false`, so an unknown method token is answered with 501. The server turns it on
    /// when a route registers a custom method.
    pub allow_custom_methods: bool,
}

impl Limits {
    /// Returns the limits that go with a sizing preset.
    #[must_use]
    pub const fn from_preset(preset: Preset) -> Limits {
        let f = preset.figures();
        Limits {
            max_head_bytes: f.buffer_slot_size,
            max_headers: MAX_HEADERS,
            max_body_bytes: f.max_request_content_length,
            max_chunk_line_bytes: 1024,
            max_requests_per_connection: 1000,
            allow_custom_methods: false,
        }
    }

    /// Sets the largest request head, in bytes.
    #[must_use]
    pub const fn with_max_head_bytes(mut self, bytes: usize) -> Limits {
        self.max_head_bytes = bytes;
        self
    }

    /// Sets the largest number of header fields (clamped to [`MAX_HEADERS`]).
    #[must_use]
    pub const fn with_max_headers(mut self, count: usize) -> Limits {
        self.max_headers = if count > MAX_HEADERS {
            MAX_HEADERS
        } else {
            count
        };
        self
    }

    /// Sets the largest request body, in bytes.
    #[must_use]
    pub const fn with_max_body_bytes(mut self, bytes: u64) -> Limits {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the largest chunk-size line, in bytes.
    #[must_use]
    pub const fn with_max_chunk_line_bytes(mut self, bytes: usize) -> Limits {
        self.max_chunk_line_bytes = bytes;
        self
    }

    /// Sets the most requests answered on one connection (`0`: no bound).
    #[must_use]
    pub const fn with_max_requests_per_connection(mut self, count: u32) -> Limits {
        self.max_requests_per_connection = count;
        self
    }

    /// Sets whether methods outside RFC 9110's registered set are accepted.
    #[must_use]
    pub const fn with_custom_methods(mut self, allow: bool) -> Limits {
        self.allow_custom_methods = allow;
        self
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::from_preset(Preset::Normal)
    }
}

/// Everything the HTTP layer can refuse, each with one status code ([`HttpError::status`]).
///
/// Request errors are the peer's fault and are answered with a 4xx/5xx status, after which the
/// connection is closed ([`HttpError::must_close`]). The response-writing errors
/// (`ResponseBufferFull`, `InvalidResponseHeader`, `InvalidCookie`) are the program's, map to
/// 500, and tell the caller to take a bigger path or fix its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpError {
    /// The request line or a header field does not follow the grammar (400).
    Malformed,
    /// A header field line starts with whitespace: obsolete line folding (400, RFC 9112 §5.2).
    ObsFold,
    /// The head is larger than [`Limits::max_head_bytes`] (431).
    HeadTooLarge,
    /// The head has more fields than [`Limits::max_headers`] (431).
    TooManyHeaders,
    /// The body is, or declares itself, larger than [`Limits::max_body_bytes`] (413).
    BodyTooLarge,
    /// The method is a valid token but not one this server implements (501).
    UnknownMethod,
    /// The protocol version is well-formed but not HTTP/1.0 or HTTP/1.1 (505).
    UnsupportedVersion,
    /// An HTTP/1.1 request without a `Host` field (400, RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` field, or an empty one (400, RFC 9112 §3.2).
    InvalidHost,
    /// Both `Content-Length` and `Transfer-Encoding` (400, RFC 9112 §6.1 and §6.3).
    ContentLengthWithTransferEncoding,
    /// A malformed `Content-Length`, or several that differ (400, RFC 9112 §6.3).
    InvalidContentLength,
    /// A `Transfer-Encoding` that does not end in `chunked`, applies it twice, is empty, or is
    /// sent by an HTTP/1.0 client (400, RFC 9112 §6.1 and §6.3).
    InvalidTransferEncoding,
    /// A transfer coding other than `chunked` before the final `chunked` (501, RFC 9112 §6.1).
    UnknownTransferCoding,
    /// A malformed chunk-size line, or chunk data not followed by CRLF (400, RFC 9112 §7.1).
    InvalidChunk,
    /// A chunk-size line longer than [`Limits::max_chunk_line_bytes`] (400).
    ChunkLineTooLong,
    /// A chunked body's trailer section is larger than the head limits allow (431).
    TrailersTooLarge,
    /// The percent-decoded path holds `%00` or is not UTF-8 (400).
    InvalidPath,
    /// A `multipart/form-data` body or its `Content-Type` does not follow RFC 7578 (400).
    InvalidMultipart,
    /// The client stalled mid-request past the request timeout (408).
    Timeout,
    /// The response does not fit in the buffer given to the writer (500; take a bigger path).
    ResponseBufferFull,
    /// A response header name or value holds CR, LF, NUL or other bytes it may not (500).
    InvalidResponseHeader,
    /// A `Set-Cookie` name, value or attribute holds bytes RFC 6265 §4.1.1 forbids (500).
    InvalidCookie,
}

impl HttpError {
    /// Returns the status code that answers this error.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            HttpError::Malformed
            | HttpError::ObsFold
            | HttpError::MissingHost
            | HttpError::InvalidHost
            | HttpError::ContentLengthWithTransferEncoding
            | HttpError::InvalidContentLength
            | HttpError::InvalidTransferEncoding
            | HttpError::InvalidChunk
            | HttpError::ChunkLineTooLong
            | HttpError::InvalidPath
            | HttpError::InvalidMultipart => StatusCode::BAD_REQUEST,
            HttpError::HeadTooLarge | HttpError::TooManyHeaders | HttpError::TrailersTooLarge => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HttpError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::UnknownMethod | HttpError::UnknownTransferCoding => {
                StatusCode::NOT_IMPLEMENTED
            }
            HttpError::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HttpError::Timeout => StatusCode::REQUEST_TIMEOUT,
            HttpError::ResponseBufferFull
            | HttpError::InvalidResponseHeader
            | HttpError::InvalidCookie => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Tells whether the connection must be closed after answering this error.
    ///
    /// Always `true`: after a framing or limit error the server cannot tell where the next
    /// request would start (RFC 9112 §6.3 and §9.6), and a half-written response cannot be
    /// taken back. [`InvalidPath`](HttpError::InvalidPath) and
    /// [`InvalidMultipart`](HttpError::InvalidMultipart) are found after the body is framed,
    /// but closing keeps one simple rule for all of them.
    #[must_use]
    pub const fn must_close(self) -> bool {
        true
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpError::Malformed => "malformed request head",
            HttpError::ObsFold => "obsolete line folding in header field",
            HttpError::HeadTooLarge => "request head too large",
            HttpError::TooManyHeaders => "too many header fields",
            HttpError::BodyTooLarge => "request body too large",
            HttpError::UnknownMethod => "unknown method",
            HttpError::UnsupportedVersion => "unsupported http version",
            HttpError::MissingHost => "missing host header",
            HttpError::InvalidHost => "invalid or repeated host header",
            HttpError::ContentLengthWithTransferEncoding => {
                "content-length together with transfer-encoding"
            }
            HttpError::InvalidContentLength => "invalid content-length",
            HttpError::InvalidTransferEncoding => "invalid transfer-encoding",
            HttpError::UnknownTransferCoding => "unknown transfer coding",
            HttpError::InvalidChunk => "invalid chunk framing",
            HttpError::ChunkLineTooLong => "chunk-size line too long",
            HttpError::TrailersTooLarge => "trailer section too large",
            HttpError::InvalidPath => "invalid request path",
            HttpError::InvalidMultipart => "invalid multipart body",
            HttpError::Timeout => "request timed out",
            HttpError::ResponseBufferFull => "response buffer full",
            HttpError::InvalidResponseHeader => "invalid response header",
            HttpError::InvalidCookie => "invalid cookie",
        })
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! case {
        ($($err:ident => $code:expr),* $(,)?) => {
            $( assert_eq!(HttpError::$err.status().as_u16(), $code, stringify!($err)); )*
        };
    }

    #[test]
    fn each_error_maps_to_its_status() {
        case! {
            Malformed => 400, ObsFold => 400, HeadTooLarge => 431, TooManyHeaders => 431,
            BodyTooLarge => 413, UnknownMethod => 501, UnsupportedVersion => 505,
            MissingHost => 400, InvalidHost => 400, ContentLengthWithTransferEncoding => 400,
            InvalidContentLength => 400, InvalidTransferEncoding => 400,
            UnknownTransferCoding => 501, InvalidChunk => 400, ChunkLineTooLong => 400,
            TrailersTooLarge => 431, InvalidPath => 400, InvalidMultipart => 400, Timeout => 408,
            ResponseBufferFull => 500, InvalidResponseHeader => 500, InvalidCookie => 500,
        }
    }

    #[test]
    fn display_is_lowercase_without_period() {
        for e in [
            HttpError::Malformed,
            HttpError::ContentLengthWithTransferEncoding,
        ] {
            let s = e.to_string();
            assert_eq!(s, s.to_lowercase());
            assert!(!s.ends_with('.'));
            assert!(e.must_close());
        }
    }

    #[test]
    fn limits_follow_the_preset() {
        let l = Limits::from_preset(Preset::Large);
        assert_eq!(l.max_head_bytes, 16 * 1024);
        assert_eq!(l.max_body_bytes, 8 * 1024 * 1024);
        assert_eq!(Limits::default(), Limits::from_preset(Preset::Normal));
        assert_eq!(
            Limits::default().with_max_headers(1000).max_headers,
            MAX_HEADERS
        );
    }
}

//! Gzip for handler answers: text bodies of at least `ServerConfig::gzip_min_size` bytes go out
//! gzip-coded to clients that accept it, as nginx's `gzip on` does.
//!
//! In scope: when to compress (the client accepts gzip, a compressible type, a 2xx or error answer
//! with a body, no `Content-Encoding` yet, no `Cache-Control: no-transform`, not a range), doing
//! it (in-memory bodies at once, readers streamed through the slots as chunked bodies, their
//! deflate state charged to the memory budget while they stream), and the headers that say so
//! (`Content-Encoding`, `Vary: Accept-Encoding`, a weak `ETag`). Out of scope: static files,
//! which choose their own coding (pre-compressed siblings, see `static_files`), and event
//! streams (`Body::Stream`), which are sent as they come, uncompressed.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use ::http::StatusCode;
use flate2::Compression;
use flate2::read::GzEncoder;

use super::request::Request;
use super::response::{Body, Response};
use crate::http::coding_quality;
use crate::pool::{MemoryBudget, Reservation};

/// What a deflate state costs while a streamed body is compressed (miniz_oxide's compressor:
/// its hash chains and output buffers), charged to the memory budget.
const DEFLATE_STATE_BYTES: usize = 320 * 1024;

/// Returns whether a media type is worth compressing (text, JSON, XML and SVG, JavaScript, WASM).
pub(crate) fn is_compressible(content_type: &str) -> bool {
    let media = crate::http::media_type(content_type);
    media.starts_with("text/")
        || media.ends_with("+xml")
        || media.ends_with("+json")
        || matches!(
            media,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "application/typescript"
                | "application/manifest+json"
        )
}

/// A stream gzipped as it is read, its deflate state charged to the budget.
fn gzip_stream(budget: &MemoryBudget, reader: Box<dyn Read + Send>) -> Body {
    Body::Reader {
        reader: Box::new(ChargedReader {
            inner: GzEncoder::new(reader, Compression::default()),
            _charged: budget.charge(DEFLATE_STATE_BYTES),
        }),
        len: None,
    }
}

/// Gzips the answer's body when the client accepts it and it is worth it (see the module doc).
pub(crate) fn gzip_answer(
    min_size: Option<u64>,
    budget: &MemoryBudget,
    request: &Request<'_>,
    response: &mut Response,
) {
    let Some(min) = min_size else {
        return;
    };
    if !wants_gzip(request, response) {
        return;
    }
    let body = std::mem::replace(&mut response.body, Body::Empty);
    let body = match body {
        Body::Static(b) if b.len() as u64 >= min => Body::Bytes(gzip(b)),
        Body::Bytes(b) if b.len() as u64 >= min => Body::Bytes(gzip(&b)),
        Body::Shared(b) if b.len() as u64 >= min => Body::Bytes(gzip(&b)),
        Body::Reader { reader, len } if len.is_none_or(|n| n >= min) => gzip_stream(budget, reader),
        Body::File(range) if range.remaining() >= min => gzip_stream(budget, Box::new(range)),
        other => {
            response.body = other;
            return;
        }
    };
    response.content_length = body.len();
    response.body = body;
    let _ = response.set_header("Content-Encoding", "gzip");
    let vary = match response.header("vary") {
        Some(v)
            if v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding")) =>
        {
            None
        }
        Some(v) => Some(format!("{v}, Accept-Encoding")),
        None => Some("Accept-Encoding".to_owned()),
    };
    if let Some(vary) = vary {
        let _ = response.set_header("Vary", vary);
    }
    // Another representation: a strong validator of the identity one no longer holds.
    if let Some(etag) = response.header("etag").map(str::to_owned) {
        if !etag.starts_with("W/") {
            let _ = response.set_header("ETag", Cow::Owned(format!("W/{etag}")));
        }
    }
}

/// Whether this answer may go out gzip-coded to this client.
fn wants_gzip(request: &Request<'_>, response: &Response) -> bool {
    let status = response.status();
    let has_body = !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::PARTIAL_CONTENT);
    has_body
        && response.header("content-encoding").is_none()
        && response.header("content-range").is_none()
        && !response.header("cache-control").is_some_and(|c| {
            c.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
        })
        && response.content_type().is_some_and(is_compressible)
        && coding_quality(request.get_header("accept-encoding"), "gzip") > 0
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    let mut out = encoder.finish().unwrap_or_default();
    out.shrink_to_fit();
    out
}

/// A compressing reader that holds its deflate state's charge to the budget while it lives.
struct ChargedReader<R> {
    inner: R,
    _charged: Reservation,
}

impl<R: Read> Read for ChargedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

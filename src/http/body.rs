//! Request body decoding: `Content-Length` and chunked, as a state machine over byte slices.
//!
//! In scope: framing (RFC 9112 §6 and §7.1): how many bytes belong to the body, where chunk
//! data lies, the trailer section, and the body size limit.
//! Out of scope: what the body means (forms, multipart, JSON: see the request helpers) and
//! where its bytes go (the server streams them through one slot or buffers them).
//!
//! ```text
//!  Length{remaining} ──remaining = 0──────────────────────────────────────────► Done
//!
//!  ChunkSize ──size > 0──► ChunkData{remaining} ──0──► ChunkDataEnd ──CRLF──► ChunkSize
//!      │
//!      └──size = 0──► Trailers ──empty line──► Done
//! ```
//!
//! [`BodyDecoder::decode`] takes the unread bytes and returns how many it consumed and one
//! [`BodyEvent`]: the range of body data in the input, `NeedMore`, or `Done`. Framing bytes
//! are consumed silently. The caller drops (or moves) the consumed bytes, then calls again with
//! what is left plus any new bytes. Bytes after `Done` are the next pipelined request.
//!
//! Chunk framing is strict: the chunk-size line and the CRLF after chunk data must be CRLF
//! (a bare LF there is a known request-smuggling vector, RFC 9112 §11.2); only trailer field
//! lines accept a bare LF, as the head does (RFC 9112 §2.2).

use std::ops::Range;

use super::limits::{HttpError, Limits};
use super::request::{BodyKind, is_tchar};

/// What [`BodyDecoder::decode`] found in its input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyEvent {
    /// Body bytes, at this range of the input given to `decode`.
    Data(Range<usize>),
    /// The input is used up; call again with more bytes.
    NeedMore,
    /// The body is complete; later bytes belong to the next request.
    Done,
}

/// What the decoder is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `remaining` more bytes of a `Content-Length` body.
    Length { remaining: u64 },
    /// A chunk-size line (RFC 9112 §7.1).
    ChunkSize,
    /// `remaining` more bytes of chunk data.
    ChunkData { remaining: u64 },
    /// The CRLF that ends chunk data.
    ChunkDataEnd,
    /// Trailer field lines until an empty line (RFC 9112 §7.1.2).
    Trailers { bytes: usize, fields: usize },
    /// Nothing more: the body is complete.
    Done,
    /// An error was found (or the declared length was over the limit); every call fails.
    Failed(HttpError),
}

/// Decodes one request body, incrementally, without copying it.
///
/// # Examples
///
/// ```
/// use microweb::http::{BodyDecoder, BodyEvent, BodyKind, Limits};
///
/// let mut dec = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
/// let input = b"3\r\nabc\r\n0\r\n\r\nGET /next";
/// let mut at = 0;
/// let mut body = Vec::new();
/// loop {
///     let (used, event) = dec.decode(&input[at..]).unwrap();
///     match event {
///         BodyEvent::Data(r) => body.extend_from_slice(&input[at..][r]),
///         BodyEvent::Done => { at += used; break }
///         _ => unreachable!("all bytes are here"),
///     }
///     at += used;
/// }
/// assert_eq!(body, b"abc");
/// assert_eq!(&input[at..], b"GET /next");
/// ```
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    received: u64,
    max_body: u64,
    max_chunk_line: usize,
    max_trailer_bytes: usize,
    max_trailer_fields: usize,
}

impl BodyDecoder {
    /// Creates a decoder for a body framed as `kind`, bounded by `limits`.
    ///
    /// A `Length` over [`Limits::max_body_bytes`] (which [`crate::http::parse_head`] already
    /// refuses) makes every `decode` fail with `BodyTooLarge`.
    #[must_use]
    pub fn new(kind: BodyKind, limits: &Limits) -> BodyDecoder {
        let state = match kind {
            BodyKind::None => State::Done,
            BodyKind::Length(n) if n > limits.max_body_bytes => {
                State::Failed(HttpError::BodyTooLarge)
            }
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::ChunkSize,
        };
        BodyDecoder {
            state,
            received: 0,
            max_body: limits.max_body_bytes,
            max_chunk_line: limits.max_chunk_line_bytes,
            max_trailer_bytes: limits.max_head_bytes,
            max_trailer_fields: limits.max_headers,
        }
    }

    /// Tells whether the whole body has been decoded.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Returns the number of body bytes (not framing) decoded so far.
    #[must_use]
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Decodes from `buf`, the unread input; returns the bytes consumed and what was found.
    ///
    /// Consumed bytes include the framing before the data and the data itself; for
    /// `Data(range)`, `range.end` equals the consumed count. After `Done`, further calls return
    /// `(0, Done)`.
    ///
    /// # Errors
    ///
    /// `InvalidChunk` or `ChunkLineTooLong` (400) for bad chunk framing, `BodyTooLarge` (413)
    /// when the body crosses [`Limits::max_body_bytes`], `TrailersTooLarge` (431) for a trailer
    /// section over the head limits. The connection must then be closed; later calls return
    /// the same error.
    pub fn decode(&mut self, buf: &[u8]) -> Result<(usize, BodyEvent), HttpError> {
        let result = self.step(buf);
        if let Err(e) = result {
            // Errors are final: the framing is lost, so the connection must close.
            self.state = State::Failed(e);
        }
        result
    }

    fn step(&mut self, buf: &[u8]) -> Result<(usize, BodyEvent), HttpError> {
        let mut at = 0;
        loop {
            let rest = buf.get(at..).unwrap_or_default();
            match self.state {
                State::Done => return Ok((at, BodyEvent::Done)),
                State::Failed(e) => return Err(e),
                State::Length { remaining: 0 } => self.state = State::Done,
                State::Length { remaining } => {
                    let Some(n) = self.take(rest, remaining) else {
                        return Ok((at, BodyEvent::NeedMore));
                    };
                    self.state = State::Length {
                        remaining: remaining - n as u64,
                    };
                    return Ok((at + n, BodyEvent::Data(at..at + n)));
                }
                State::ChunkData { remaining: 0 } => self.state = State::ChunkDataEnd,
                State::ChunkData { remaining } => {
                    let Some(n) = self.take(rest, remaining) else {
                        return Ok((at, BodyEvent::NeedMore));
                    };
                    self.state = State::ChunkData {
                        remaining: remaining - n as u64,
                    };
                    return Ok((at + n, BodyEvent::Data(at..at + n)));
                }
                State::ChunkDataEnd => match rest {
                    // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF.
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok((at, BodyEvent::NeedMore)),
                    _ => return Err(HttpError::InvalidChunk),
                },
                State::ChunkSize => match self.chunk_size(rest)? {
                    None => return Ok((at, BodyEvent::NeedMore)),
                    Some((used, 0)) => {
                        at += used;
                        self.state = State::Trailers {
                            bytes: 0,
                            fields: 0,
                        };
                    }
                    Some((used, size)) => {
                        at += used;
                        // The limit applies to the declared size, before any data is read.
                        if self.received.saturating_add(size) > self.max_body {
                            return Err(HttpError::BodyTooLarge);
                        }
                        self.state = State::ChunkData { remaining: size };
                    }
                },
                State::Trailers { bytes, fields } => {
                    let Some(end) = memchr::memchr(b'\n', rest) else {
                        if bytes + rest.len() >= self.max_trailer_bytes {
                            return Err(HttpError::TrailersTooLarge);
                        }
                        return Ok((at, BodyEvent::NeedMore));
                    };
                    let line = rest.get(..end).unwrap_or_default();
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let bytes = bytes + end + 1;
                    if bytes > self.max_trailer_bytes {
                        return Err(HttpError::TrailersTooLarge);
                    }
                    at += end + 1;
                    if line.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    // RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ). The fields are
                    // read and dropped: none of them may change framing.
                    if !is_field_line(line) {
                        return Err(HttpError::InvalidChunk);
                    }
                    if fields + 1 > self.max_trailer_fields {
                        return Err(HttpError::TrailersTooLarge);
                    }
                    self.state = State::Trailers {
                        bytes,
                        fields: fields + 1,
                    };
                }
            }
        }
    }

    /// Decodes in place, for buffering a body inside one slot: body bytes move down to
    /// `*body_end`, framing bytes disappear.
    ///
    /// `buf` is the filled part of the slot; `*read` is where undecoded input starts and
    /// `*body_end` where the decoded body ends (`*body_end <= *read`; start both at the head's
    /// length). Both advance. Returns `true` once the body is complete; the next request then
    /// starts at `*read`. With `false`, read more bytes after `buf` (moving
    /// `buf[*read..]` down to `*body_end` first frees room) and call again.
    ///
    /// # Errors
    ///
    /// Those of [`decode`](Self::decode).
    pub fn decode_in_place(
        &mut self,
        buf: &mut [u8],
        body_end: &mut usize,
        read: &mut usize,
    ) -> Result<bool, HttpError> {
        loop {
            let (used, event) = self.decode(buf.get(*read..).unwrap_or_default())?;
            match event {
                BodyEvent::Data(r) => {
                    let len = r.len();
                    buf.copy_within(*read + r.start..*read + r.end, *body_end);
                    *body_end += len;
                    *read += used;
                }
                BodyEvent::NeedMore => {
                    *read += used;
                    return Ok(false);
                }
                BodyEvent::Done => {
                    *read += used;
                    return Ok(true);
                }
            }
        }
    }

    /// Takes up to `remaining` bytes of `rest` as body data; `None` when `rest` is empty.
    fn take(&mut self, rest: &[u8], remaining: u64) -> Option<usize> {
        if rest.is_empty() {
            return None;
        }
        let n = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
        self.received += n as u64;
        Some(n)
    }

    /// Reads a chunk-size line: `Some((line length, size))`, or `None` for more bytes.
    fn chunk_size(&self, rest: &[u8]) -> Result<Option<(usize, u64)>, HttpError> {
        // RFC 9112 §7.1: chunk-size = 1*HEXDIG. httparse takes an empty size as 0, we do not.
        match rest.first() {
            None => return Ok(None),
            Some(b) if !b.is_ascii_hexdigit() => return Err(HttpError::InvalidChunk),
            Some(_) => {}
        }
        // httparse ignores chunk extensions (RFC 9112 §7.1.1 lets a recipient ignore them) and
        // refuses sizes over 16 hex digits, so the size cannot overflow.
        match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete((used, _))) if used > self.max_chunk_line => {
                Err(HttpError::ChunkLineTooLong)
            }
            Ok(httparse::Status::Complete(found)) => Ok(Some(found)),
            Ok(httparse::Status::Partial) if rest.len() >= self.max_chunk_line => {
                Err(HttpError::ChunkLineTooLong)
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Err(httparse::InvalidChunkSize) => Err(HttpError::InvalidChunk),
        }
    }
}

/// Tells whether `line` is `field-name ":" field-value` with no CR, NUL or other CTL but HTAB.
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = memchr::memchr(b':', line) else {
        return false;
    };
    let (name, value) = line.split_at(colon);
    !name.is_empty()
        && name.iter().all(|&b| is_tchar(b))
        && value
            .iter()
            .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        /// The body bytes and how many input bytes it took.
        Body(Vec<u8>, usize),
        /// The input ended before the body did.
        Incomplete(Vec<u8>),
        Failed(u16),
    }

    /// Runs the decoder the way a server does: a buffer that receives the input in pieces
    /// ending at each of `marks`, with consumed bytes dropped from its front.
    fn run(kind: BodyKind, limits: &Limits, input: &[u8], marks: &[usize]) -> Outcome {
        let mut dec = BodyDecoder::new(kind, limits);
        let mut buf: Vec<u8> = Vec::new();
        let mut body = Vec::new();
        let mut consumed = 0;
        let mut fed = 0;
        for &m in marks {
            buf.extend_from_slice(&input[fed..m]);
            fed = m;
            loop {
                match dec.decode(&buf) {
                    Err(e) => return Outcome::Failed(e.status().as_u16()),
                    Ok((used, event)) => {
                        if let BodyEvent::Data(r) = &event {
                            assert_eq!(r.end, used);
                            body.extend_from_slice(&buf[r.clone()]);
                        }
                        buf.drain(..used);
                        consumed += used;
                        match event {
                            BodyEvent::Done => return Outcome::Body(body, consumed),
                            BodyEvent::NeedMore => break,
                            BodyEvent::Data(_) => {}
                        }
                    }
                }
            }
        }
        Outcome::Incomplete(body)
    }

    /// Asserts every split point (two pieces) and byte-by-byte feeding give the same outcome.
    fn decode_all_ways(kind: BodyKind, limits: &Limits, input: &[u8]) -> Outcome {
        let whole = run(kind, limits, input, &[input.len()]);
        for split in 0..=input.len() {
            assert_eq!(
                run(kind, limits, input, &[split, input.len()]),
                whole,
                "split at {split}"
            );
        }
        let bytes: Vec<usize> = (0..=input.len()).collect();
        assert_eq!(run(kind, limits, input, &bytes), whole, "byte by byte");
        whole
    }

    fn body(data: &[u8], used: usize) -> Outcome {
        Outcome::Body(data.to_vec(), used)
    }

    macro_rules! case {
        ($($kind:expr, $input:expr => $expected:expr;)*) => {
            $( assert_eq!(
                decode_all_ways($kind, &Limits::default(), $input), $expected,
                "{:?}", String::from_utf8_lossy($input)
            ); )*
        };
    }

    use BodyKind::{Chunked, Length};

    #[test]
    fn decodes_content_length_bodies() {
        case! {
            Length(5), b"hello" => body(b"hello", 5);
            Length(5), b"helloGET / HTTP/1.1" => body(b"hello", 5);
            Length(5), b"hel" => Outcome::Incomplete(b"hel".to_vec());
            BodyKind::None, b"GET" => body(b"", 0);
        }
    }

    #[test]
    fn decodes_chunked_bodies() {
        case! {
            Chunked, b"5\r\nhello\r\n0\r\n\r\n" => body(b"hello", 15);
            Chunked, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT" => body(b"hello world", 26);
            Chunked, b"A\r\n0123456789\r\n0\r\n\r\n" => body(b"0123456789", 20);
            Chunked, b"0\r\n\r\n" => body(b"", 5);
            Chunked, b"00005\r\nhello\r\n0000\r\n\r\n" => body(b"hello", 22);
            // Extensions are ignored (RFC 9112 §7.1.1), BWS before `;` included.
            Chunked, b"5;name=value;x=\"q\"\r\nhello\r\n0;last\r\n\r\n" => body(b"hello", 37);
            Chunked, b"5 ;ext\r\nhello\r\n0\r\n\r\n" => body(b"hello", 20);
            // Trailers are read and bounded, with CRLF or bare LF lines.
            Chunked, b"5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\n\r\n" => body(b"hello", 30);
            Chunked, b"5\r\nhel" => Outcome::Incomplete(b"hel".to_vec());
            Chunked, b"5\r\nhello\r\n0\r\nX: y\r\n" => Outcome::Incomplete(b"hello".to_vec());
        }
    }

    #[test]
    fn rejects_bad_chunk_framing_with_exact_status() {
        case! {
            Chunked, b"x\r\n" => Outcome::Failed(400);
            Chunked, b"\r\nhello\r\n0\r\n\r\n" => Outcome::Failed(400);
            Chunked, b";ext\r\n\r\n" => Outcome::Failed(400);
            Chunked, b"-5\r\nhello\r\n0\r\n\r\n" => Outcome::Failed(400);
            Chunked, b"+5\r\nhello\r\n0\r\n\r\n" => Outcome::Failed(400);
            Chunked, b"5 5\r\nhello\r\n0\r\n\r\n" => Outcome::Failed(400);
            // Bare LF after the size or after the data is refused (smuggling vector).
            Chunked, b"5\nhello\r\n0\r\n\r\n" => Outcome::Failed(400);
            Chunked, b"5\r\nhello\n0\r\n\r\n" => Outcome::Failed(400);
            Chunked, b"5\r\nhelloXX0\r\n\r\n" => Outcome::Failed(400);
            Chunked, b"3\r\nhello\r\n0\r\n\r\n" => Outcome::Failed(400);
            // Overflow: more than 16 hex digits, and a size over the body limit.
            Chunked, b"10000000000000000\r\n" => Outcome::Failed(400);
            Chunked, b"FFFFFFFFFFFFFFFF\r\n" => Outcome::Failed(413);
            // A malformed trailer line.
            Chunked, b"0\r\nnot a field\r\n\r\n" => Outcome::Failed(400);
            Chunked, b"0\r\n: empty name\r\n\r\n" => Outcome::Failed(400);
        }
    }

    #[test]
    fn enforces_the_body_limit_on_chunked_totals() {
        let l = Limits::default().with_max_body_bytes(8);
        let input = b"4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
        assert_eq!(
            decode_all_ways(Chunked, &l, input),
            body(b"abcdefgh", input.len())
        );
        let input = b"4\r\nabcd\r\n5\r\nefghi\r\n0\r\n\r\n";
        assert_eq!(decode_all_ways(Chunked, &l, input), Outcome::Failed(413));
        assert_eq!(
            decode_all_ways(Length(9), &l, b"123456789"),
            Outcome::Failed(413)
        );
    }

    #[test]
    fn bounds_chunk_lines_and_trailers() {
        let l = Limits::default()
            .with_max_chunk_line_bytes(16)
            .with_max_head_bytes(32)
            .with_max_headers(2);
        // A 16-byte line passes, 17 bytes fail.
        let at = b"5;xxxxxxxxxxxx\r\nhello\r\n0\r\n\r\n";
        assert_eq!(decode_all_ways(Chunked, &l, at), body(b"hello", at.len()));
        let over = b"5;xxxxxxxxxxxxx\r\nhello\r\n0\r\n\r\n";
        assert_eq!(decode_all_ways(Chunked, &l, over), Outcome::Failed(400));
        let fields = b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(decode_all_ways(Chunked, &l, fields), Outcome::Failed(431));
        let long = b"0\r\nA: 0123456789012345678901234567890\r\n\r\n";
        assert_eq!(decode_all_ways(Chunked, &l, long), Outcome::Failed(431));
        let endless = [b'a'; 40];
        let mut input = b"0\r\n".to_vec();
        input.extend_from_slice(&endless);
        assert_eq!(decode_all_ways(Chunked, &l, &input), Outcome::Failed(431));
    }

    const PIECES: &[&[u8]] = &[
        b"0",
        b"5",
        b"a",
        b"F",
        b"10",
        b"\r\n",
        b"\n",
        b"\r",
        b";ext=1",
        b" ",
        b"hello",
        b"X: y",
        b":",
        b"\0",
        b"-",
        b"ffffffffffffffffff",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        #[test]
        fn any_chunked_body_gives_one_outcome_whatever_the_split(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
        ) {
            let input = pieces.concat();
            let l = Limits::default()
                .with_max_body_bytes(64)
                .with_max_chunk_line_bytes(12)
                .with_max_head_bytes(24);
            let _ = decode_all_ways(Chunked, &l, &input);
        }
    }

    #[test]
    fn decodes_in_place_within_one_buffer() {
        let head = b"POST / HTTP/1.1\r\n\r\n";
        let body = b"5\r\nhello\r\n1;x\r\n \r\n5\r\nworld\r\n0\r\nT: 1\r\n\r\nNEXT";
        for split in 0..=body.len() {
            let mut slot = [0u8; 128];
            let mut filled = head.len();
            slot[..filled].copy_from_slice(head);
            let (mut body_end, mut read) = (head.len(), head.len());
            let mut dec = BodyDecoder::new(Chunked, &Limits::default());
            let mut done = false;
            for piece in [&body[..split], &body[split..]] {
                if !done {
                    // Compact, then receive the next piece after what is left.
                    slot.copy_within(read..filled, body_end);
                    filled = body_end + (filled - read);
                    read = body_end;
                }
                slot[filled..filled + piece.len()].copy_from_slice(piece);
                filled += piece.len();
                if !done {
                    done = dec
                        .decode_in_place(&mut slot[..filled], &mut body_end, &mut read)
                        .unwrap();
                }
            }
            assert!(done, "split at {split}");
            assert_eq!(
                &slot[head.len()..body_end],
                b"hello world",
                "split at {split}"
            );
            assert_eq!(&slot[read..filled], b"NEXT", "split at {split}");
        }
    }

    #[test]
    fn reports_progress_and_stays_done() {
        let mut dec = BodyDecoder::new(Length(3), &Limits::default());
        assert_eq!(dec.decode(b"ab").unwrap(), (2, BodyEvent::Data(0..2)));
        assert_eq!(dec.received(), 2);
        assert!(!dec.is_done());
        assert_eq!(dec.decode(b"").unwrap(), (0, BodyEvent::NeedMore));
        assert_eq!(dec.decode(b"cd").unwrap(), (1, BodyEvent::Data(0..1)));
        assert_eq!(dec.decode(b"d").unwrap(), (0, BodyEvent::Done));
        assert!(dec.is_done());
        assert_eq!(dec.decode(b"d").unwrap(), (0, BodyEvent::Done));
        let mut bad = BodyDecoder::new(Chunked, &Limits::default());
        assert_eq!(bad.decode(b"zz\r\n"), Err(HttpError::InvalidChunk));
        assert_eq!(bad.decode(b"0\r\n\r\n"), Err(HttpError::InvalidChunk));
    }
}

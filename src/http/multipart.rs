//! `multipart/form-data` bodies (RFC 7578 over RFC 2046 §5.1): the parts of a posted form.
//!
//! In scope: the boundary from `Content-Type`, splitting a buffered body into parts, each part's
//! `Content-Disposition` name and filename and its `Content-Type`; every part borrows from the
//! body, so parsing allocates nothing.
//! Out of scope: buffering the body (bounded by `max_request_content_length`, the server does),
//! streaming uploads to files, `Content-Transfer-Encoding` (deprecated by RFC 7578 §4.7).

use super::headers::{media_type, param};
use super::limits::HttpError;

/// Most parts [`Multipart`] yields before failing, unless set with
/// [`Multipart::with_max_parts`].
pub const DEFAULT_MAX_PARTS: usize = 128;

/// Most header fields in one part (`Content-Disposition`, `Content-Type` and a few more).
const MAX_PART_HEADERS: usize = 8;

/// Returns the boundary of a `multipart/form-data` `Content-Type` value.
///
/// # Errors
///
/// `InvalidMultipart` (400) when the media type is another one, or the boundary is missing,
/// empty, longer than 70 characters or holds characters RFC 2046 §5.1.1 does not allow.
///
/// # Examples
///
/// ```
/// use microweb::http::multipart_boundary;
///
/// let b = multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk");
/// assert_eq!(b, Ok("----WebKitFormBoundary7MA4YWxk"));
/// ```
pub fn multipart_boundary(content_type: &str) -> Result<&str, HttpError> {
    if !media_type(content_type).eq_ignore_ascii_case("multipart/form-data") {
        return Err(HttpError::InvalidMultipart);
    }
    let boundary = param(content_type, "boundary").ok_or(HttpError::InvalidMultipart)?;
    // RFC 2046 §5.1.1: boundary := 0*69<bchars> bcharsnospace.
    let bchar = |b: u8| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b);
    if boundary.is_empty()
        || boundary.len() > 70
        || boundary.ends_with(' ')
        || !boundary.bytes().all(bchar)
    {
        return Err(HttpError::InvalidMultipart);
    }
    Ok(boundary)
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormPart<'a> {
    /// The form field name (`Content-Disposition: form-data; name="…"`).
    pub name: &'a str,
    /// The file name, for a file upload.
    pub filename: Option<&'a str>,
    /// The part's `Content-Type`, if sent (RFC 7578 §4.4: `text/plain` when absent).
    pub content_type: Option<&'a str>,
    /// The part's content.
    pub data: &'a [u8],
}

/// The parts of a buffered `multipart/form-data` body, in order.
///
/// Yields `Err(InvalidMultipart)` once and then ends when the body is malformed: no opening
/// delimiter, a part without `Content-Disposition: form-data; name=…`, header fields that do
/// not parse, a body that ends before the closing delimiter, or more parts than the bound.
///
/// # Examples
///
/// ```
/// use microweb::http::Multipart;
///
/// let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n\
///              --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
///              Content-Type: text/plain\r\n\r\nfile body\r\n--XyZ--\r\n";
/// let parts: Vec<_> = Multipart::new(body, "XyZ").collect::<Result<_, _>>()?;
/// assert_eq!(parts[0].name, "title");
/// assert_eq!(parts[0].data, b"Hello");
/// assert_eq!(parts[1].filename, Some("a.txt"));
/// assert_eq!(parts[1].data, b"file body");
/// # Ok::<(), microweb::http::HttpError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Multipart<'a> {
    body: &'a [u8],
    boundary: &'a [u8],
    /// Where the next part's delimiter line ends; `None` before the first delimiter is found.
    pos: Option<usize>,
    yielded: usize,
    max_parts: usize,
    done: bool,
}

impl<'a> Multipart<'a> {
    /// Starts reading the parts of `body`, delimited by `boundary` (see
    /// [`multipart_boundary`]).
    #[must_use]
    pub fn new(body: &'a [u8], boundary: &'a str) -> Multipart<'a> {
        Multipart {
            body,
            boundary: boundary.as_bytes(),
            pos: None,
            yielded: 0,
            max_parts: DEFAULT_MAX_PARTS,
            done: false,
        }
    }

    /// Sets the most parts yielded before failing.
    #[must_use]
    pub fn with_max_parts(mut self, max: usize) -> Multipart<'a> {
        self.max_parts = max;
        self
    }

    /// Finds the next delimiter (`"\r\n--" boundary`) in `from..`; returns (start of its CRLF,
    /// end of the boundary).
    fn find_delimiter(&self, from: usize) -> Option<(usize, usize)> {
        let hay = self.body.get(from..)?;
        let mut at = 0;
        while let Some(i) = memchr::memmem::find(hay.get(at..)?, b"\r\n--") {
            let start = at + i;
            let name_at = start + 4;
            if hay.get(name_at..)?.starts_with(self.boundary) {
                let end = name_at + self.boundary.len();
                // A delimiter is followed by `--` or by LWSP and CRLF (RFC 2046 §5.1.1);
                // `--B` followed by anything else is data that happens to look alike.
                let tail = hay.get(end..)?;
                let padded = tail.iter().position(|&b| b != b' ' && b != b'\t');
                let real = tail.starts_with(b"--")
                    || padded.is_none_or(|p| tail.get(p..).is_some_and(|t| t.starts_with(b"\r")));
                if real {
                    return Some((from + start, from + end));
                }
            }
            at = start + 2;
        }
        None
    }

    fn next_part(&mut self) -> Result<Option<FormPart<'a>>, HttpError> {
        let bad = HttpError::InvalidMultipart;
        let pos = match self.pos {
            Some(p) => p,
            // RFC 2046 §5.1.1: the first delimiter may open the body or follow a preamble.
            None if self.boundary.is_empty() => return Err(bad),
            None => {
                let opens = self.body.starts_with(b"--")
                    && self
                        .body
                        .get(2..)
                        .is_some_and(|b| b.starts_with(self.boundary));
                if opens {
                    2 + self.boundary.len()
                } else {
                    self.find_delimiter(0).ok_or(bad)?.1
                }
            }
        };
        let rest = self.body.get(pos..).ok_or(bad)?;
        // The close delimiter ends the body; the epilogue is ignored.
        if rest.starts_with(b"--") {
            return Ok(None);
        }
        // RFC 2046 §5.1.1: transport padding (LWSP) then CRLF after a delimiter.
        let pad = rest
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(rest.len());
        let after_pad = rest.get(pad..).ok_or(bad)?;
        if !after_pad.starts_with(b"\r\n") {
            return Err(bad);
        }
        let head_at = pos + pad + 2;
        let part = self.body.get(head_at..).ok_or(bad)?;
        let mut fields = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
        let (head_len, fields) = match httparse::parse_headers(part, &mut fields) {
            Ok(httparse::Status::Complete(found)) => found,
            _ => return Err(bad),
        };
        let data_at = head_at + head_len;
        // The CRLF before the next boundary belongs to the delimiter, not to the data.
        let (data_end, next) = self.find_delimiter(data_at).ok_or(bad)?;
        let data = self.body.get(data_at..data_end).ok_or(bad)?;

        let mut disposition = None;
        let mut content_type = None;
        for f in fields.iter() {
            let value = std::str::from_utf8(f.value).map_err(|_| bad)?;
            if f.name.eq_ignore_ascii_case("content-disposition") {
                disposition = Some(value);
            } else if f.name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value);
            }
        }
        // RFC 7578 §4.2: Content-Disposition: form-data; name="…", and optionally filename.
        let disposition = disposition.ok_or(bad)?;
        if !media_type(disposition).eq_ignore_ascii_case("form-data") {
            return Err(bad);
        }
        let name = param(disposition, "name").ok_or(bad)?;
        self.pos = Some(next);
        Ok(Some(FormPart {
            name,
            filename: param(disposition, "filename"),
            content_type,
            data,
        }))
    }
}

impl<'a> Iterator for Multipart<'a> {
    type Item = Result<FormPart<'a>, HttpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match self.next_part() {
            Ok(Some(_)) if self.yielded >= self.max_parts => Err(HttpError::InvalidMultipart),
            other => other,
        };
        match result {
            Ok(Some(part)) => {
                self.yielded += 1;
                Some(Ok(part))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Owned = (String, Option<String>, Option<String>, Vec<u8>);

    fn parts(body: &[u8], boundary: &str) -> Result<Vec<Owned>, HttpError> {
        Multipart::new(body, boundary)
            .map(|p| {
                p.map(|p| {
                    (
                        p.name.to_owned(),
                        p.filename.map(str::to_owned),
                        p.content_type.map(str::to_owned),
                        p.data.to_vec(),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn reads_boundaries() {
        let cases: [(&str, Result<&str, HttpError>); 8] = [
            ("multipart/form-data; boundary=abc", Ok("abc")),
            (
                "Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"",
                Ok("a b:c"),
            ),
            ("multipart/form-data", Err(HttpError::InvalidMultipart)),
            (
                "multipart/form-data; boundary=",
                Err(HttpError::InvalidMultipart),
            ),
            (
                "multipart/mixed; boundary=abc",
                Err(HttpError::InvalidMultipart),
            ),
            ("text/plain; boundary=abc", Err(HttpError::InvalidMultipart)),
            (
                "multipart/form-data; boundary=\"trailing \"",
                Err(HttpError::InvalidMultipart),
            ),
            (
                "multipart/form-data; boundary=bad\u{7f}",
                Err(HttpError::InvalidMultipart),
            ),
        ];
        for (ct, expected) in cases {
            assert_eq!(multipart_boundary(ct), expected, "{ct:?}");
        }
        let long = format!("multipart/form-data; boundary={}", "b".repeat(71));
        assert!(multipart_boundary(&long).is_err());
        let max = format!("multipart/form-data; boundary={}", "b".repeat(70));
        assert!(multipart_boundary(&max).is_ok());
    }

    #[test]
    fn reads_fields_and_files() {
        let body = b"preamble\r\n--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
            --B  \r\ncontent-disposition: form-data; name=\"up\"; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"\r\n\
            Content-Type: application/pdf\r\n\r\n%PDF\r\n--Bx\r\nstill data\r\n--B\r\n\
            Content-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--B--\r\nepilogue";
        let got = parts(body, "B").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("a".into(), None, None, b"1".to_vec()));
        assert_eq!(got[1].1.as_deref(), Some("résumé.pdf"));
        assert_eq!(got[1].2.as_deref(), Some("application/pdf"));
        assert_eq!(got[1].3, b"%PDF\r\n--Bx\r\nstill data");
        assert_eq!(got[2], ("empty".into(), None, None, Vec::new()));
    }

    #[test]
    fn reads_a_body_with_no_parts() {
        assert_eq!(parts(b"--B--\r\n", "B").unwrap(), []);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let cases: [&[u8]; 8] = [
            b"",
            b"no delimiter at all",
            b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
            b"--B\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--B--",
            b"--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--",
            b"--B\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--B--",
            b"--B junk\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--",
            b"--B\r\nBad Header\r\n\r\nx\r\n--B--",
        ];
        for body in cases {
            assert_eq!(
                parts(body, "B"),
                Err(HttpError::InvalidMultipart),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(parts(b"--\r\n", ""), Err(HttpError::InvalidMultipart));
    }

    #[test]
    fn bounds_the_number_of_parts() {
        let one = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
        let mut body = Vec::new();
        for _ in 0..3 {
            body.extend_from_slice(one);
        }
        body.extend_from_slice(b"--B--");
        let all: Result<Vec<_>, _> = Multipart::new(&body, "B").with_max_parts(3).collect();
        assert_eq!(all.unwrap().len(), 3);
        let capped: Result<Vec<_>, _> = Multipart::new(&body, "B").with_max_parts(2).collect();
        assert_eq!(capped, Err(HttpError::InvalidMultipart));
    }
}

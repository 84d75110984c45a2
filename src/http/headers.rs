//! Reading common request field values: lists, quality values, media type parameters,
//! `Cache-Control` directives, and the CORS preflight (as MicroWebSrv2 answered it).
//!
//! In scope: splitting field values by the RFC 9110 §5.6 grammar, borrowing from them.
//! Out of scope: content negotiation decisions (`negotiation.rs`) and the CORS policy (the server's settings
//! `allow_all_origins` / `cors_allow_all` decide whether these helpers are called).

use ::http::Method;

use super::limits::HttpError;
use super::request::RequestHead;
use super::response::ResponseWriter;

/// Iterates the elements of a comma-separated field value (`Accept-Encoding: gzip, br`),
/// trimmed, skipping empty ones (RFC 9110 §5.6.1).
///
/// Quoted commas are not special-cased: the fields this is meant for (`Accept*`, `Connection`,
/// `Cache-Control` values without quoted lists) do not carry them in practice.
pub fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
}

/// One element of an `Accept`-style list with its quality value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualityItem<'a> {
    /// The element without its `q` parameter (`text/html;level=1`, `gzip`, `fr-CH`).
    pub value: &'a str,
    /// The quality in thousandths: `q=0.8` is 800; 1000 when absent or malformed.
    pub quality: u16,
}

/// Iterates the elements of an `Accept`, `Accept-Encoding` or `Accept-Language` value with
/// their quality values (RFC 9110 §12.4.2), in the order sent.
///
/// # Examples
///
/// ```
/// use microweb::http::{QualityItem, quality_items};
///
/// let items: Vec<_> = quality_items("text/html, application/json;q=0.5").collect();
/// assert_eq!(items[1], QualityItem { value: "application/json", quality: 500 });
/// ```
pub fn quality_items(value: &str) -> impl Iterator<Item = QualityItem<'_>> {
    list_items(value).map(|item| {
        // The weight is the last parameter; anything after `;q=` belongs to it.
        let mut quality = 1000;
        let mut value = item;
        if let Some(semi) = item.rfind(';') {
            let (head, param) = item.split_at(semi);
            let param = param.trim_start_matches(';').trim_matches([' ', '\t']);
            if let Some(q) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                quality = parse_qvalue(q).unwrap_or(1000);
                value = head.trim_end_matches([' ', '\t']);
            }
        }
        QualityItem { value, quality }
    })
}

/// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
fn parse_qvalue(q: &str) -> Option<u16> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1].get(i).copied().unwrap_or(0);
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Returns the media type of a `Content-Type` value, without parameters, trimmed
/// (`multipart/form-data; boundary=x` → `multipart/form-data`). Compare it ignoring case.
#[must_use]
pub fn media_type(content_type: &str) -> &str {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim_matches([' ', '\t'])
}

/// Returns the value of parameter `name` (case-insensitive) of a field value with
/// `;`-separated parameters (`charset`, `boundary`, `name`, `filename`), unquoted.
///
/// A quoted value is returned without its quotes and with backslash escapes left as sent
/// (RFC 9110 §5.6.4); browsers percent-encode quotes in names, so escapes are rare.
#[must_use]
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    params(value).find_map(|(n, v)| n.eq_ignore_ascii_case(name).then_some(v))
}

/// Iterates the `name=value` parameters after the first `;` of a field value, unquoted.
pub(crate) fn params(value: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = value.split_once(';').map_or("", |(_, r)| r);
    std::iter::from_fn(move || {
        loop {
            rest = rest.trim_start_matches([' ', '\t', ';']);
            if rest.is_empty() {
                return None;
            }
            let (name, after) = match rest.find(['=', ';']) {
                Some(i) if rest.as_bytes().get(i) == Some(&b'=') => {
                    (rest.get(..i)?, rest.get(i + 1..)?)
                }
                Some(i) => {
                    // A parameter without a value: skip it.
                    rest = rest.get(i..)?;
                    continue;
                }
                None => {
                    rest = "";
                    continue;
                }
            };
            let name = name.trim_matches([' ', '\t']);
            let after = after.trim_start_matches([' ', '\t']);
            let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
                let end = closing_quote(quoted)?;
                (quoted.get(..end)?, quoted.get(end + 1..)?)
            } else {
                let end = after.find(';').unwrap_or(after.len());
                (
                    after.get(..end)?.trim_end_matches([' ', '\t']),
                    after.get(end..)?,
                )
            };
            rest = next;
            return Some((name, value));
        }
    })
}

/// Finds the closing quote of a quoted-string body, skipping backslash escapes.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Iterates `Cache-Control` directives (RFC 9111 §5.2) as (name, optional value), unquoted.
///
/// # Examples
///
/// ```
/// use microweb::http::cache_directives;
///
/// let d: Vec<_> = cache_directives("no-cache, max-age=0").collect();
/// assert_eq!(d, [("no-cache", None), ("max-age", Some("0"))]);
/// ```
pub fn cache_directives(value: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    list_items(value).map(|item| match item.split_once('=') {
        Some((name, v)) => {
            let v = v.trim_matches([' ', '\t']);
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (name.trim_matches([' ', '\t']), Some(v))
        }
        None => (item, None),
    })
}

/// Tells whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method` (Fetch standard, "CORS-preflight request").
#[must_use]
pub fn is_cors_preflight(head: &RequestHead, buf: &[u8]) -> bool {
    head.method() == Method::OPTIONS
        && head.header(buf, "origin").is_some()
        && head.header(buf, "access-control-request-method").is_some()
}

/// Writes the `Access-Control-Allow-Origin` field for a request: the request's `Origin` with
/// `Vary: Origin` when it sent one, `*` otherwise (MicroWebSrv2's `allow_all_origins`).
///
/// # Errors
///
/// `ResponseBufferFull` when the fields do not fit.
pub fn write_allow_origin<'w, 'a>(
    w: &'w mut ResponseWriter<'a>,
    head: &RequestHead,
    buf: &[u8],
) -> Result<&'w mut ResponseWriter<'a>, HttpError> {
    match head.header(buf, "origin") {
        Some(origin) => w
            .header("Access-Control-Allow-Origin", origin)?
            .header("Vary", b"Origin"),
        None => w.header("Access-Control-Allow-Origin", b"*"),
    }
}

/// Writes the fields that answer a CORS preflight allowing everything it asks for
/// (MicroWebSrv2's `cors_allow_all`): the requested method and headers echoed back, credentials
/// allowed, and a one-day `Access-Control-Max-Age`. Write the origin with
/// [`write_allow_origin`] too.
///
/// Echoing rather than `*` keeps credentialed requests working (Fetch standard: `*` is not a
/// wildcard for them).
///
/// # Errors
///
/// `ResponseBufferFull` when the fields do not fit.
pub fn write_cors_preflight<'w, 'a>(
    w: &'w mut ResponseWriter<'a>,
    head: &RequestHead,
    buf: &[u8],
) -> Result<&'w mut ResponseWriter<'a>, HttpError> {
    if let Some(method) = head.header(buf, "access-control-request-method") {
        w.header("Access-Control-Allow-Methods", method)?;
    }
    if let Some(headers) = head.header(buf, "access-control-request-headers") {
        w.header("Access-Control-Allow-Headers", headers)?;
    }
    w.header("Access-Control-Allow-Credentials", b"true")?
        .header("Access-Control-Max-Age", b"86400")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Limits, Status, parse_head};

    #[test]
    fn splits_lists() {
        let cases: [(&str, &[&str]); 4] = [
            ("gzip, deflate, br", &["gzip", "deflate", "br"]),
            ("", &[]),
            (" , a ,, b\t,", &["a", "b"]),
            ("fr-CH, fr;q=0.9", &["fr-CH", "fr;q=0.9"]),
        ];
        for (input, expected) in cases {
            assert_eq!(list_items(input).collect::<Vec<_>>(), expected, "{input:?}");
        }
    }

    #[test]
    fn reads_quality_values() {
        let q = |v: &str| -> Vec<(String, u16)> {
            quality_items(v)
                .map(|i| (i.value.to_owned(), i.quality))
                .collect()
        };
        assert_eq!(
            q("text/html;level=1;q=0.7, */*; q=0.001, a;Q=1.000, b;q=1.5, c;q=0.1234, d;q=0"),
            [
                ("text/html;level=1".to_owned(), 700),
                ("*/*".to_owned(), 1),
                ("a".to_owned(), 1000),
                ("b".to_owned(), 1000),
                ("c".to_owned(), 1000),
                ("d".to_owned(), 0),
            ]
        );
        assert_eq!(
            q("text/plain;format=flowed"),
            [("text/plain;format=flowed".to_owned(), 1000)]
        );
    }

    #[test]
    fn reads_media_types_and_parameters() {
        let ct = "multipart/form-data ; charset=UTF-8; boundary=\"a;b=c\"; empty; x = y ";
        assert_eq!(media_type(ct), "multipart/form-data");
        assert_eq!(param(ct, "Boundary"), Some("a;b=c"));
        assert_eq!(param(ct, "charset"), Some("UTF-8"));
        assert_eq!(param(ct, "x"), Some("y"));
        assert_eq!(param(ct, "empty"), None);
        assert_eq!(param("text/plain", "charset"), None);
        assert_eq!(param("a; name=\"un\\\"closed", "name"), None);
        assert_eq!(param("a; name=\"q\\\"x\"; b=1", "b"), Some("1"));
    }

    #[test]
    fn reads_cache_directives() {
        let d: Vec<_> = cache_directives("max-age=60, private=\"x\", no-store").collect();
        assert_eq!(
            d,
            [
                ("max-age", Some("60")),
                ("private", Some("x")),
                ("no-store", None)
            ]
        );
    }

    fn head(buf: &[u8]) -> RequestHead {
        match parse_head(buf, &Limits::default()) {
            Ok(Status::Complete(h)) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_a_cors_preflight_by_echoing() {
        let buf = b"OPTIONS /api HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\n\
            Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: x-token, content-type\r\n\r\n";
        let h = head(buf);
        assert!(is_cors_preflight(&h, buf));
        let mut out = [0u8; 512];
        let mut w = ResponseWriter::new(&mut out);
        write_allow_origin(&mut w, &h, buf).unwrap();
        write_cors_preflight(&mut w, &h, buf).unwrap();
        assert_eq!(
            std::str::from_utf8(w.as_bytes()).unwrap(),
            "Access-Control-Allow-Origin: https://app.example\r\nVary: Origin\r\n\
             Access-Control-Allow-Methods: PUT\r\nAccess-Control-Allow-Headers: x-token, content-type\r\n\
             Access-Control-Allow-Credentials: true\r\nAccess-Control-Max-Age: 86400\r\n"
        );
        let plain = b"OPTIONS /api HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(!is_cors_preflight(&head(plain), plain));
        let mut w = ResponseWriter::new(&mut out);
        write_allow_origin(&mut w, &head(plain), plain).unwrap();
        assert_eq!(w.as_bytes(), b"Access-Control-Allow-Origin: *\r\n");
    }
}

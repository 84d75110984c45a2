//! Percent-decoding of paths, query strings and `application/x-www-form-urlencoded` bodies.
//!
//! In scope: turning the raw bytes of a request target or a form body into text, borrowing
//! whenever nothing needs decoding.
//! Out of scope: where those bytes come from ([`crate::http::RequestHead::path`] and
//! [`crate::http::RequestHead::query`], or a buffered body) and collecting pairs into maps
//! (the server does, only when asked).

use std::borrow::Cow;

use percent_encoding::percent_decode;

use super::limits::HttpError;

/// Percent-decodes a request path (RFC 3986 §2.1), borrowing it when it holds no `%`.
///
/// `+` stays `+` in a path. A `%` not followed by two hex digits is kept as it is.
///
/// # Errors
///
/// `InvalidPath` (400) when the decoded path holds NUL (`%00`) — it would cut file names
/// short — or is not UTF-8.
///
/// # Examples
///
/// ```
/// use microweb::http::decode_path;
///
/// assert_eq!(decode_path("/a%20b/c+d").unwrap(), "/a b/c+d");
/// assert!(decode_path("/a%00b").is_err());
/// ```
pub fn decode_path(raw: &str) -> Result<Cow<'_, str>, HttpError> {
    // Most paths hold neither an escape nor a NUL: then they are already their decoded form.
    if memchr::memchr2(b'%', 0, raw.as_bytes()).is_none() {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = percent_decode(raw.as_bytes())
        .decode_utf8()
        .map_err(|_| HttpError::InvalidPath)?;
    if decoded.contains('\0') {
        return Err(HttpError::InvalidPath);
    }
    Ok(decoded)
}

/// Iterates the name/value pairs of a query string or an urlencoded form body.
///
/// Pairs are separated by `&`; a pair without `=` has an empty value; empty pairs are
/// skipped. `+` means a space and `%XX` a byte (the WHATWG urlencoded parser); bytes that are
/// not UTF-8 after decoding become U+FFFD. Names and values borrow from the input unless they
/// hold `+` or `%`.
///
/// # Examples
///
/// ```
/// use microweb::http::form_pairs;
///
/// let pairs: Vec<_> = form_pairs(b"a=1&b=x+y%21&&c").collect();
/// assert_eq!(pairs, [("a".into(), "1".into()), ("b".into(), "x y!".into()), ("c".into(), "".into())]);
/// ```
#[must_use]
pub fn form_pairs(input: &[u8]) -> FormPairs<'_> {
    FormPairs { rest: Some(input) }
}

/// The pairs of a query string or urlencoded form, from [`form_pairs`].
#[derive(Debug, Clone)]
pub struct FormPairs<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for FormPairs<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest?;
            let (pair, next) = match memchr::memchr(b'&', rest) {
                Some(i) => (rest.get(..i)?, rest.get(i + 1..)),
                None => (rest, None),
            };
            self.rest = next;
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match memchr::memchr(b'=', pair) {
                Some(i) => (pair.get(..i)?, pair.get(i + 1..)?),
                None => (pair, &b""[..]),
            };
            return Some((decode_component(name), decode_component(value)));
        }
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte, lossy UTF-8.
fn decode_component(raw: &[u8]) -> Cow<'_, str> {
    if memchr::memchr(b'+', raw).is_none() {
        return percent_decode(raw).decode_utf8_lossy();
    }
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    Cow::Owned(percent_decode(&spaced).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! case {
        ($($input:expr => $expected:expr),* $(,)?) => {
            $( assert_eq!(decode_path($input), $expected, "{:?}", $input); )*
        };
    }

    #[test]
    fn decodes_paths_and_refuses_nul_and_bad_utf8() {
        case! {
            "/" => Ok(Cow::Borrowed("/")),
            "/plain/path" => Ok(Cow::Borrowed("/plain/path")),
            "/a%20b" => Ok(Cow::Owned("/a b".to_owned())),
            "/caf%C3%A9" => Ok(Cow::Owned("/café".to_owned())),
            "/a+b" => Ok(Cow::Borrowed("/a+b")),
            "/bad%zz" => Ok(Cow::Borrowed("/bad%zz")),
            "/a%2Fb" => Ok(Cow::Owned("/a/b".to_owned())),
            "/a%00b" => Err(HttpError::InvalidPath),
            "/a%ffb" => Err(HttpError::InvalidPath),
            "/a%C3" => Err(HttpError::InvalidPath),
        }
    }

    #[test]
    fn borrows_undecoded_paths() {
        assert!(matches!(decode_path("/x/y").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn parses_query_pairs() {
        type Case<'a> = (&'a [u8], &'a [(&'a str, &'a str)]);
        let cases: [Case<'_>; 8] = [
            (b"", &[]),
            (b"a=1", &[("a", "1")]),
            (b"a=1&b=2", &[("a", "1"), ("b", "2")]),
            (b"a&b=", &[("a", ""), ("b", "")]),
            (b"&&a=1&", &[("a", "1")]),
            (
                b"q=hello+world%21&x=%E2%82%AC",
                &[("q", "hello world!"), ("x", "€")],
            ),
            (b"a=b=c", &[("a", "b=c")]),
            (
                b"bad=%ff&k%2Bey=v%2bv",
                &[("bad", "\u{fffd}"), ("k+ey", "v+v")],
            ),
        ];
        for (input, expected) in cases {
            let got: Vec<(String, String)> = form_pairs(input)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            let want: Vec<(String, String)> = expected
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn borrows_plain_pairs() {
        let (n, v) = form_pairs(b"name=value").next().unwrap();
        assert!(matches!(n, Cow::Borrowed(_)));
        assert!(matches!(v, Cow::Borrowed(_)));
    }
}

//! Cookies: reading the `Cookie` request field, building `Set-Cookie` values (RFC 6265).
//!
//! In scope: the syntax of both fields, refusing names, values and attributes that would
//! corrupt a response or be rejected by browsers.
//! Out of scope: signing or encrypting cookie values, sessions.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::limits::HttpError;
use super::request::is_tchar;
use super::response::HttpDate;

/// Iterates the (name, value) pairs of a `Cookie` field value (RFC 6265 §5.4: `a=1; b=2`).
///
/// Values lose their surrounding double quotes; pairs without `=` or with an empty name are
/// skipped. Nothing is decoded: cookie values are opaque.
///
/// # Examples
///
/// ```
/// use microweb::http::cookies;
///
/// let c: Vec<_> = cookies("sid=abc; theme=\"dark\"; junk").collect();
/// assert_eq!(c, [("sid", "abc"), ("theme", "dark")]);
/// ```
pub fn cookies(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim_matches([' ', '\t']);
        let value = value.trim_matches([' ', '\t']);
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!name.is_empty()).then_some((name, value))
    })
}

/// The `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SameSite {
    /// Sent only with same-site requests.
    Strict,
    /// Sent with same-site requests and top-level navigations.
    Lax,
    /// Sent with every request; browsers require `Secure` with it.
    None,
}

/// A `Set-Cookie` field value under construction (RFC 6265 §4.1).
///
/// # Examples
///
/// ```
/// use microweb::http::{SameSite, SetCookie};
///
/// let v = SetCookie::new("sid", "abc123")
///     .path("/")
///     .max_age(3600)
///     .http_only(true)
///     .same_site(SameSite::Lax)
///     .build()?;
/// assert_eq!(v, "sid=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax");
/// # Ok::<(), microweb::http::HttpError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie<'a> {
    name: &'a str,
    value: &'a str,
    path: Option<&'a str>,
    domain: Option<&'a str>,
    max_age: Option<i64>,
    expires: Option<SystemTime>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

impl<'a> SetCookie<'a> {
    /// Starts a cookie named `name` with `value`.
    #[must_use]
    pub fn new(name: &'a str, value: &'a str) -> SetCookie<'a> {
        SetCookie {
            name,
            value,
            path: None,
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }

    /// Sets the `Path` attribute.
    #[must_use]
    pub fn path(mut self, path: &'a str) -> SetCookie<'a> {
        self.path = Some(path);
        self
    }

    /// Sets the `Domain` attribute.
    #[must_use]
    pub fn domain(mut self, domain: &'a str) -> SetCookie<'a> {
        self.domain = Some(domain);
        self
    }

    /// Sets the `Max-Age` attribute in seconds (0 or less deletes the cookie).
    #[must_use]
    pub fn max_age(mut self, seconds: i64) -> SetCookie<'a> {
        self.max_age = Some(seconds);
        self
    }

    /// Sets the `Expires` attribute.
    #[must_use]
    pub fn expires(mut self, at: SystemTime) -> SetCookie<'a> {
        self.expires = Some(at);
        self
    }

    /// Sets the `Secure` attribute (HTTPS only).
    #[must_use]
    pub fn secure(mut self, on: bool) -> SetCookie<'a> {
        self.secure = on;
        self
    }

    /// Sets the `HttpOnly` attribute (hidden from scripts).
    #[must_use]
    pub fn http_only(mut self, on: bool) -> SetCookie<'a> {
        self.http_only = on;
        self
    }

    /// Sets the `SameSite` attribute.
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> SetCookie<'a> {
        self.same_site = Some(same_site);
        self
    }

    /// Checks the cookie and returns the `Set-Cookie` field value.
    ///
    /// # Errors
    ///
    /// `InvalidCookie` when the name is not a token, the value holds bytes outside
    /// cookie-octet (RFC 6265 §4.1.1: no CTL, space, `"`, `,`, `;` or `\`), `Path` or
    /// `Domain` hold a CTL or `;`, or `SameSite=None` comes without `Secure`.
    pub fn build(&self) -> Result<String, HttpError> {
        let value_ok = {
            let v = self.value;
            let inner = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            inner.bytes().all(is_cookie_octet)
        };
        let attr_ok = |a: Option<&str>| {
            a.is_none_or(|a| a.bytes().all(|b| (b' '..0x7f).contains(&b) && b != b';'))
        };
        if self.name.is_empty()
            || !self.name.bytes().all(is_tchar)
            || !value_ok
            || !attr_ok(self.path)
            || !attr_ok(self.domain)
            || (self.same_site == Some(SameSite::None) && !self.secure)
        {
            return Err(HttpError::InvalidCookie);
        }
        let mut out = String::with_capacity(64);
        out.push_str(self.name);
        out.push('=');
        out.push_str(self.value);
        if let Some(path) = self.path {
            out.push_str("; Path=");
            out.push_str(path);
        }
        if let Some(domain) = self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(age) = self.max_age {
            let _ = write!(out, "; Max-Age={age}");
        }
        if let Some(at) = self.expires {
            out.push_str("; Expires=");
            out.push_str(std::str::from_utf8(HttpDate::new(at).as_bytes()).unwrap_or_default());
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        match self.same_site {
            Some(SameSite::Strict) => out.push_str("; SameSite=Strict"),
            Some(SameSite::Lax) => out.push_str("; SameSite=Lax"),
            Some(SameSite::None) => out.push_str("; SameSite=None"),
            None => {}
        }
        Ok(out)
    }
}

/// RFC 6265 §4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn reads_cookie_pairs() {
        let cases: [(&str, &[(&str, &str)]); 5] = [
            ("a=1", &[("a", "1")]),
            ("a=1; b=2;c=3", &[("a", "1"), ("b", "2"), ("c", "3")]),
            ("a=\"q v\"; =x; flag; b=", &[("a", "q v"), ("b", "")]),
            ("", &[]),
            ("tok=a=b==", &[("tok", "a=b==")]),
        ];
        for (input, expected) in cases {
            assert_eq!(cookies(input).collect::<Vec<_>>(), expected, "{input:?}");
        }
    }

    #[test]
    fn builds_set_cookie_with_every_attribute() {
        let v = SetCookie::new("id", "\"x\"")
            .path("/app")
            .domain("example.com")
            .max_age(0)
            .expires(UNIX_EPOCH + Duration::from_secs(784_111_777))
            .secure(true)
            .http_only(true)
            .same_site(SameSite::None)
            .build()
            .unwrap();
        assert_eq!(
            v,
            "id=\"x\"; Path=/app; Domain=example.com; Max-Age=0; \
             Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=None"
        );
        assert_eq!(SetCookie::new("a", "").build().unwrap(), "a=");
        assert_eq!(
            SetCookie::new("a", "b")
                .same_site(SameSite::Strict)
                .build()
                .unwrap(),
            "a=b; SameSite=Strict"
        );
    }

    #[test]
    fn refuses_cookies_that_would_corrupt_the_field() {
        let bad = [
            SetCookie::new("", "v"),
            SetCookie::new("a b", "v"),
            SetCookie::new("a=b", "v"),
            SetCookie::new("a", "v;w"),
            SetCookie::new("a", "v w"),
            SetCookie::new("a", "v\r\nSet-Cookie: x=y"),
            SetCookie::new("a", "v,w"),
            SetCookie::new("a", "v\\w"),
            SetCookie::new("a", "v").path("/;x"),
            SetCookie::new("a", "v").domain("a\nb"),
            SetCookie::new("a", "v").same_site(SameSite::None),
        ];
        for c in bad {
            assert_eq!(c.build(), Err(HttpError::InvalidCookie), "{c:?}");
        }
    }
}

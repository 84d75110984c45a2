//! The path builder: route name + arguments → percent-encoded path (MicroWebSrv2's
//! `PathFromRoute`).
//!
//! In scope: checking each value against its converter and percent-encoding it.
//! Out of scope: query strings and absolute URLs (scheme and host are the server's).
//!
//! Every segment (literal text too) is encoded with everything but the RFC 3986 §2.3
//! unreserved characters (`A-Z a-z 0-9 - . _ ~`) escaped; a `<path:…>` value keeps its `/`.
//! Arguments the route does not name are ignored, as in MicroWebSrv2.
//!
//! | converter | takes | rejects |
//! | --- | --- | --- |
//! | `<name>` | `Int`, non-empty `Str` | `Float` |
//! | `<str:…>`, `<path:…>` | non-empty `Str` | numbers |
//! | `<uuid:…>` | `Str` in UUID form | numbers |
//! | `<int:…>` | `Int` | `Float`, `Str` |
//! | `<float:…>` | finite `Float`, `Int` | `Str` |

use std::fmt::Write;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::args::ArgValue;
use super::pattern::{Converter, Segment, is_uuid};
use super::{RouteError, Router};

/// Bytes escaped in a segment: all but RFC 3986 §2.3 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Bytes escaped in a `<path:…>` value: as [`SEGMENT`], but `/` separates segments.
const PATH: &AsciiSet = &SEGMENT.remove(b'/');

impl<H> Router<H> {
    /// Builds the path of the route named `name` from its arguments, percent-encoding each
    /// value.
    ///
    /// `args` pairs argument names with values; `.into()` makes an [`ArgValue`] from an `i64`,
    /// `f64`, `&str` or `String`. The result resolves back to the same route and values, with
    /// two exceptions: a `<name>` string that looks like an integer comes back as an integer
    /// (use `<str:…>` to keep it a string), and a more specific route registered for the same
    /// path (a static `/users/me` next to `/users/<name>`) wins over the named one.
    ///
    /// # Errors
    ///
    /// [`RouteError::UnknownRouteName`], [`RouteError::MissingArg`],
    /// [`RouteError::WrongArgType`] (see the table in the module documentation) and
    /// [`RouteError::InvalidArgValue`] (an empty string, a non-finite float, a malformed UUID).
    ///
    /// # Examples
    ///
    /// ```
    /// use microweb::routing::Router;
    /// use http::Method;
    ///
    /// let mut router = Router::new();
    /// router.add(Method::GET, "/files/<path:file>", Some("file"), ())?;
    /// let path = router.path_from_route("file", &[("file", "docs/read me.txt".into())])?;
    /// assert_eq!(path, "/files/docs/read%20me.txt");
    /// # Ok::<(), microweb::routing::RouteError>(())
    /// ```
    pub fn path_from_route(
        &self,
        name: &str,
        args: &[(&str, ArgValue<'_>)],
    ) -> Result<String, RouteError> {
        let route = self
            .names
            .get(name)
            .and_then(|id| self.routes.get(id.0))
            .ok_or_else(|| RouteError::UnknownRouteName(name.into()))?;
        let pattern = &route.pattern;
        if pattern.segments.is_empty() {
            return Ok("/".to_owned());
        }
        let mut out = String::with_capacity(pattern.text.len());
        for segment in pattern.segments.iter() {
            out.push('/');
            let spec = match segment {
                Segment::Static(text) => {
                    push_encoded(&mut out, text, SEGMENT);
                    continue;
                }
                Segment::Arg(i) => match pattern.args.get(*i) {
                    Some(spec) => spec,
                    None => continue,
                },
            };
            let arg = &*spec.name;
            let value = args
                .iter()
                .find(|(k, _)| *k == arg)
                .map(|(_, v)| v)
                .ok_or_else(|| RouteError::MissingArg(arg.into()))?;
            let wrong = || RouteError::WrongArgType {
                arg: arg.into(),
                expected: spec.conv,
            };
            let invalid = || RouteError::InvalidArgValue(arg.into());
            match (spec.conv, value) {
                (Converter::Auto | Converter::Int, ArgValue::Int(i)) => {
                    let _ = write!(out, "{i}");
                }
                (Converter::Float, ArgValue::Int(i)) => {
                    let _ = write!(out, "{i}");
                }
                (Converter::Float, ArgValue::Float(f)) => {
                    if !f.is_finite() {
                        return Err(invalid());
                    }
                    // `Display` for f64 writes the shortest digits that parse back to `f`,
                    // never an exponent.
                    let _ = write!(out, "{f}");
                }
                (
                    Converter::Auto | Converter::Str | Converter::Uuid | Converter::Path,
                    ArgValue::Str(s),
                ) => {
                    if s.is_empty() || (spec.conv == Converter::Uuid && !is_uuid(s)) {
                        return Err(invalid());
                    }
                    let set = if spec.conv == Converter::Path {
                        PATH
                    } else {
                        SEGMENT
                    };
                    push_encoded(&mut out, s, set);
                }
                _ => return Err(wrong()),
            }
        }
        Ok(out)
    }
}

fn push_encoded(out: &mut String, text: &str, set: &'static AsciiSet) {
    out.extend(utf8_percent_encode(text, set));
}

//! Route patterns: parsing `/users/<int:id>/files/<path:rest>` into segments and argument specs.
//!
//! In scope: the pattern grammar, its validation, and the value grammars the converters accept
//! (integers, floats, UUIDs), which the resolver and the path builder share.
//! Out of scope: matching requests (resolve.rs) and building paths (build.rs).

use super::{MAX_ARGS, RouteError};

/// The kind of value a route argument accepts, chosen in the pattern as `<kind:name>`.
///
/// The built-in set is small on purpose: regular-expression constraints would need a regex
/// engine in the library for a feature few routes use, so `<name:regex>` is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Converter {
    /// `<name>`: one segment; a value that looks like an integer (`-?[0-9]+`, fitting an
    /// `i64`) arrives as an integer, anything else as a string, as in MicroWebSrv2.
    Auto,
    /// `<str:name>`: one segment, always a string (`"007"` stays `"007"`).
    Str,
    /// `<int:name>`: one segment that must be `-?[0-9]+` and fit an `i64`.
    Int,
    /// `<float:name>`: one segment that must be a finite decimal number
    /// (`-?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?`, so `3` is accepted as `3.0`).
    Float,
    /// `<uuid:name>`: one segment in the 8-4-4-4-12 hexadecimal form; arrives as a string.
    Uuid,
    /// `<path:name>`: the rest of the path, `/` included; must be the last segment.
    ///
    /// The value is percent-decoded, so it may hold `..` segments (`..%2F..%2Fetc`): check it
    /// before joining it to a file-system path.
    Path,
}

impl Converter {
    /// Returns the converter's name as written in a pattern (`auto` for a bare `<name>`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Converter::Auto => "auto",
            Converter::Str => "str",
            Converter::Int => "int",
            Converter::Float => "float",
            Converter::Uuid => "uuid",
            Converter::Path => "path",
        }
    }

    fn from_name(name: &str) -> Option<Converter> {
        Some(match name {
            "str" => Converter::Str,
            "int" => Converter::Int,
            "float" => Converter::Float,
            "uuid" => Converter::Uuid,
            "path" => Converter::Path,
            _ => return None,
        })
    }
}

/// One argument of a pattern, in pattern order.
#[derive(Debug, Clone)]
pub(crate) struct ArgSpec {
    pub(crate) name: Box<str>,
    pub(crate) conv: Converter,
}

/// One segment of a pattern.
#[derive(Debug, Clone)]
pub(crate) enum Segment {
    /// Literal text, percent-decoded form (matched against the decoded request segment).
    Static(Box<str>),
    /// The argument with this index in [`Pattern::args`].
    Arg(usize),
}

/// A parsed, validated pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The pattern as given, without its trailing `/` (except for the root `/`).
    pub(crate) text: Box<str>,
    pub(crate) segments: Box<[Segment]>,
    pub(crate) args: Box<[ArgSpec]>,
}

/// Parses and validates a route pattern.
pub(crate) fn parse(pattern: &str) -> Result<Pattern, RouteError> {
    if !pattern.starts_with('/') {
        return Err(RouteError::MissingLeadingSlash);
    }
    if let Some(at) = pattern.find(['?', '#']) {
        let ch = if pattern.as_bytes().get(at) == Some(&b'?') {
            '?'
        } else {
            '#'
        };
        return Err(RouteError::UnexpectedChar { at, ch });
    }
    // A trailing slash is not significant (see the module doc of `routing`).
    let text = if pattern.len() > 1 && pattern.ends_with('/') {
        &pattern[..pattern.len() - 1]
    } else {
        pattern
    };
    let mut segments = Vec::new();
    let mut args: Vec<ArgSpec> = Vec::new();
    if text.len() > 1 {
        let mut start = 1;
        let mut catch_all_at = None;
        for raw in text[1..].split('/') {
            if let Some(at) = catch_all_at {
                return Err(RouteError::CatchAllNotLast { at });
            }
            if raw.is_empty() {
                return Err(RouteError::EmptySegment { at: start });
            }
            match parse_arg(raw, start)? {
                None => segments.push(Segment::Static(raw.into())),
                Some(spec) => {
                    if args.iter().any(|a| a.name == spec.name) {
                        return Err(RouteError::DuplicateArgName { at: start });
                    }
                    if args.len() == MAX_ARGS {
                        return Err(RouteError::TooManyArgs { max: MAX_ARGS });
                    }
                    if spec.conv == Converter::Path {
                        catch_all_at = Some(start);
                    }
                    segments.push(Segment::Arg(args.len()));
                    args.push(spec);
                }
            }
            start += raw.len() + 1;
        }
    }
    Ok(Pattern {
        text: text.into(),
        segments: segments.into(),
        args: args.into(),
    })
}

/// Parses one segment: `Ok(None)` for literal text, `Ok(Some(spec))` for `<…>`.
fn parse_arg(raw: &str, start: usize) -> Result<Option<ArgSpec>, RouteError> {
    let Some(open) = raw.find('<') else {
        return match raw.find('>') {
            Some(i) => Err(RouteError::UnexpectedChar {
                at: start + i,
                ch: '>',
            }),
            None => Ok(None),
        };
    };
    let at = start + open;
    let Some(close) = raw.find('>') else {
        return Err(RouteError::UnclosedArg { at });
    };
    if close < open {
        return Err(RouteError::UnexpectedChar {
            at: start + close,
            ch: '>',
        });
    }
    let inner = &raw[open + 1..close];
    if let Some(i) = inner.find('<') {
        return Err(RouteError::UnexpectedChar {
            at: at + 1 + i,
            ch: '<',
        });
    }
    if open != 0 || close != raw.len() - 1 {
        return Err(RouteError::ArgNotWholeSegment { at });
    }
    let (conv, name) = match inner.split_once(':') {
        Some((conv, name)) => (
            Converter::from_name(conv).ok_or(RouteError::UnknownConverter { at })?,
            name,
        ),
        None => (Converter::Auto, inner),
    };
    if name.is_empty() {
        return Err(RouteError::EmptyArgName { at });
    }
    if !is_arg_name(name) {
        return Err(RouteError::InvalidArgName { at });
    }
    Ok(Some(ArgSpec {
        name: name.into(),
        conv,
    }))
}

fn is_arg_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses `-?[0-9]+` into an `i64` (no `+`, no spaces, no overflow).
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `-?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?` into a finite `f64`.
///
/// Rust's `f64` `Display` never writes an exponent, and its output always parses back to the
/// same value, which is what makes `path_from_route` and `resolve` round-trip floats.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    fn digits(b: &[u8]) -> usize {
        b.iter().take_while(|c| c.is_ascii_digit()).count()
    }
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let n = digits(b.get(i..)?);
    if n == 0 {
        return None;
    }
    i += n;
    if b.get(i) == Some(&b'.') {
        let n = digits(b.get(i + 1..)?);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(b.get(i..)?);
        if n == 0 {
            return None;
        }
        i += n;
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Checks the 8-4-4-4-12 hexadecimal UUID form (either case).
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_and_arg_segments() {
        let p = parse("/users/<id>/profile/<str:property>/").unwrap();
        assert_eq!(&*p.text, "/users/<id>/profile/<str:property>");
        assert_eq!(p.segments.len(), 4);
        assert_eq!(&*p.args[0].name, "id");
        assert_eq!(p.args[0].conv, Converter::Auto);
        assert_eq!(p.args[1].conv, Converter::Str);
    }

    #[test]
    fn root_pattern_has_no_segments() {
        assert!(parse("/").unwrap().segments.is_empty());
    }

    #[test]
    fn reports_each_pattern_error_with_its_offset() {
        let cases: &[(&str, RouteError)] = &[
            ("users", RouteError::MissingLeadingSlash),
            ("/a//b", RouteError::EmptySegment { at: 3 }),
            ("/a/<id", RouteError::UnclosedArg { at: 3 }),
            ("/a/b>", RouteError::UnexpectedChar { at: 4, ch: '>' }),
            ("/a/<i<d>", RouteError::UnexpectedChar { at: 5, ch: '<' }),
            ("/a?x=1", RouteError::UnexpectedChar { at: 2, ch: '?' }),
            ("/a#x", RouteError::UnexpectedChar { at: 2, ch: '#' }),
            ("/a/<>", RouteError::EmptyArgName { at: 3 }),
            ("/a/<int:>", RouteError::EmptyArgName { at: 3 }),
            ("/a/<1x>", RouteError::InvalidArgName { at: 3 }),
            ("/a/<int:a:b>", RouteError::InvalidArgName { at: 3 }),
            ("/a/<hex:x>", RouteError::UnknownConverter { at: 3 }),
            ("/a/<:x>", RouteError::UnknownConverter { at: 3 }),
            ("/<x>/<int:x>", RouteError::DuplicateArgName { at: 5 }),
            ("/file-<id>.txt", RouteError::ArgNotWholeSegment { at: 6 }),
            ("/<id>.txt", RouteError::ArgNotWholeSegment { at: 1 }),
            ("/<path:p>/x", RouteError::CatchAllNotLast { at: 1 }),
            (
                "/<a>/<b>/<c>/<d>/<e>/<f>/<g>/<h>/<i>",
                RouteError::TooManyArgs { max: MAX_ARGS },
            ),
        ];
        for (pattern, want) in cases {
            assert_eq!(parse(pattern).unwrap_err(), *want, "pattern {pattern:?}");
        }
    }

    #[test]
    fn int_grammar_is_strict() {
        assert_eq!(parse_int("007"), Some(7));
        assert_eq!(parse_int("-12"), Some(-12));
        for bad in ["", "-", "+5", " 5", "1_0", "1.0", "99999999999999999999"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn float_grammar_accepts_decimals_and_exponents_only() {
        assert_eq!(parse_float("3"), Some(3.0));
        assert_eq!(parse_float("-1.5"), Some(-1.5));
        assert_eq!(parse_float("2e3"), Some(2000.0));
        assert_eq!(parse_float("2.5E-1"), Some(0.25));
        for bad in ["", ".5", "5.", "inf", "NaN", "1e", "1e999", "+1", "1.5x"] {
            assert_eq!(parse_float(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn uuid_form_is_checked() {
        assert!(is_uuid("123e4567-e89b-12d3-A456-426614174000"));
        assert!(!is_uuid("123e4567e89b12d3a456426614174000"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
    }
}

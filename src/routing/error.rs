//! The routing layer's error: bad patterns and names at registration, bad arguments when a path
//! is built.
//!
//! In scope: every way [`Router::add`](super::Router::add) and
//! [`Router::path_from_route`](super::Router::path_from_route) can fail.
//! Out of scope: "no route" and "wrong method", which are normal outcomes of resolution
//! ([`Resolution`](super::Resolution)), not errors.

use std::fmt;

use super::{Converter, RouteId};

/// Everything that can go wrong when a route is registered or a path is built.
///
/// Positions (`at`) are byte offsets into the pattern string as it was given to
/// [`Router::add`](super::Router::add).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// The pattern does not start with `/`.
    MissingLeadingSlash,
    /// The pattern has an empty segment (`//`) before its end.
    EmptySegment {
        /// Offset of the second `/`.
        at: usize,
    },
    /// A `<` is never closed by `>` in its segment.
    UnclosedArg {
        /// Offset of the `<`.
        at: usize,
    },
    /// A character that a pattern may not hold there: a stray `>`, a `<` inside an argument,
    /// or a `?` / `#` (a pattern is a path, without query or fragment).
    UnexpectedChar {
        /// Offset of the character.
        at: usize,
        /// The character.
        ch: char,
    },
    /// An argument has no name (`<>` or `<int:>`).
    EmptyArgName {
        /// Offset of the `<`.
        at: usize,
    },
    /// An argument name is not `[A-Za-z_][A-Za-z0-9_]*`.
    InvalidArgName {
        /// Offset of the `<`.
        at: usize,
    },
    /// The converter before `:` is not one of `str`, `int`, `float`, `uuid`, `path`.
    UnknownConverter {
        /// Offset of the `<`.
        at: usize,
    },
    /// Two arguments of one pattern have the same name.
    DuplicateArgName {
        /// Offset of the `<` of the second one.
        at: usize,
    },
    /// An argument shares its segment with literal text (`/file-<id>.txt`); an argument must
    /// fill a whole segment.
    ArgNotWholeSegment {
        /// Offset of the `<`.
        at: usize,
    },
    /// A `<path:…>` argument is followed by more segments; it must be the last one.
    CatchAllNotLast {
        /// Offset of the `<`.
        at: usize,
    },
    /// The pattern names more arguments than a route may hold.
    TooManyArgs {
        /// The limit.
        max: usize,
    },
    /// The route name is the empty string.
    EmptyRouteName,
    /// Another route already has this name.
    DuplicateName(Box<str>),
    /// A route with the same method and the same pattern shape is already registered.
    DuplicateRoute {
        /// The route registered first.
        existing: RouteId,
    },
    /// No route has this name.
    UnknownRouteName(Box<str>),
    /// The route needs an argument that was not given.
    MissingArg(Box<str>),
    /// An argument was given a value of a type its converter does not take (a float for
    /// `<int:…>`, a string for `<float:…>`, …).
    WrongArgType {
        /// The argument's name.
        arg: Box<str>,
        /// The argument's converter.
        expected: Converter,
    },
    /// An argument's value has the right type but cannot appear in a path: an empty string, a
    /// float that is not finite, a `<uuid:…>` value that is not a UUID.
    InvalidArgValue(Box<str>),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::MissingLeadingSlash => f.write_str("route pattern must start with `/`"),
            RouteError::EmptySegment { at } => write!(f, "empty segment in route pattern at {at}"),
            RouteError::UnclosedArg { at } => {
                write!(f, "unclosed `<` in route pattern at {at}")
            }
            RouteError::UnexpectedChar { at, ch } => {
                write!(f, "unexpected `{ch}` in route pattern at {at}")
            }
            RouteError::EmptyArgName { at } => write!(f, "empty argument name at {at}"),
            RouteError::InvalidArgName { at } => write!(f, "invalid argument name at {at}"),
            RouteError::UnknownConverter { at } => {
                write!(f, "unknown argument converter at {at}")
            }
            RouteError::DuplicateArgName { at } => {
                write!(f, "duplicate argument name at {at}")
            }
            RouteError::ArgNotWholeSegment { at } => {
                write!(f, "argument at {at} must fill a whole path segment")
            }
            RouteError::CatchAllNotLast { at } => {
                write!(f, "`<path:…>` argument at {at} must be the last segment")
            }
            RouteError::TooManyArgs { max } => {
                write!(f, "route pattern has more than {max} arguments")
            }
            RouteError::EmptyRouteName => f.write_str("empty route name"),
            RouteError::DuplicateName(name) => write!(f, "duplicate route name `{name}`"),
            RouteError::DuplicateRoute { existing } => {
                write!(f, "same method and pattern as route {}", existing.index())
            }
            RouteError::UnknownRouteName(name) => write!(f, "no route named `{name}`"),
            RouteError::MissingArg(arg) => write!(f, "missing route argument `{arg}`"),
            RouteError::WrongArgType { arg, expected } => {
                write!(
                    f,
                    "route argument `{arg}` must be a {} value",
                    expected.name()
                )
            }
            RouteError::InvalidArgValue(arg) => {
                write!(
                    f,
                    "route argument `{arg}` has a value that cannot be put in a path"
                )
            }
        }
    }
}

impl std::error::Error for RouteError {}

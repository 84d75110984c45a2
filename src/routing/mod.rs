//! Named routes with typed arguments, the route resolver and the path builder.
//!
//! In scope: route patterns, the [`Router`] table (a segment trie), resolving a method and a
//! path to a route ([`Router::resolve`]), building a path from a route name
//! ([`Router::path_from_route`]), and the usrv-style [`Binding`] of path and query values.
//! Out of scope: everything that needs a request or a socket — calling handlers, coercing
//! their return values, middleware, error handlers, sending 404/405 (the server does that on
//! top of this module). Pure: no IO, no clock, no threads, no locks.
//!
//! # Patterns
//!
//! A pattern starts with `/`; each segment is literal text or one argument filling the whole
//! segment:
//!
//! | syntax | matches | value |
//! | --- | --- | --- |
//! | `<name>` | one non-empty segment | [`ArgValue::Int`] if it looks like an integer (`-?[0-9]+`, fits `i64`), else [`ArgValue::Str`], as in MicroWebSrv2 |
//! | `<str:name>` | one non-empty segment | always `Str` |
//! | `<int:name>` | `-?[0-9]+` fitting an `i64` | `Int` |
//! | `<float:name>` | a finite decimal, `3`, `-1.5`, `2e3` | `Float` |
//! | `<uuid:name>` | 8-4-4-4-12 hexadecimal | `Str` |
//! | `<path:name>` | the rest of the path, `/` included; last segment only | `Str` |
//!
//! Argument names are `[A-Za-z_][A-Za-z0-9_]*`; a route holds at most [`MAX_ARGS`] of them.
//! Regular-expression constraints (`<name:regex>`) are not supported: they would bring a regex
//! engine into the library for little gain, and the converters cover the usual API shapes.
//! Literal text is written unencoded (`/café`) and a `%` in a pattern is a literal percent sign.
//!
//! # Matching rules
//!
//! - **Raw path, decoded values.** Segments are split on the raw (percent-encoded) path, then
//!   each captured value is percent-decoded, so `/users/a%2Fb` gives `<name>` = `"a/b"`.
//!   Literal segments are compared with the decoded request segment (`/caf%C3%A9` matches
//!   `/café`). A value whose decoding is not UTF-8 does not match.
//! - **Priority.** At each segment: the literal child first, then `int`, `float`, `uuid`,
//!   `str`/`<name>`, and `<path:…>` last. The walk backtracks, so `/users/me/x` still reaches
//!   `/users/<id>/x` when `/users/me` has no `x` child.
//! - **Trailing slash.** One trailing `/` is not significant, as in MicroWebSrv2: `/users/` and
//!   `/users` are the same pattern and resolve alike. A `<path:…>` value keeps a trailing `/`
//!   (`/files/docs/` gives `"docs/"`), so paths built from it round-trip.
//! - **Case.** Matching is case-sensitive (RFC 3986 §6.2.2.1). MicroWebSrv2 lowercased paths
//!   and with them the argument values; microweb keeps them as sent.
//! - **Empty segments** (`//`) match no literal and no one-segment argument; a `<path:…>`
//!   argument takes them as part of its value.
//! - **Methods.** Any method, extensions included. A `HEAD` request falls back to the `GET`
//!   route of the path when there is no `HEAD` route ([`RouteMatch::head_fallback`]). When the
//!   path matches only routes of other methods, resolution gives
//!   [`Resolution::MethodNotAllowed`] with the `Allow` list, `HEAD` included where `GET` is.
//!
//! # Cost
//!
//! Resolution walks one trie node per segment (binary search among literal children), so it
//! does not grow with the number of routes. It allocates nothing for a route without string
//! arguments, and one `String` for all the string values of any other route.

mod args;
mod binding;
mod build;
mod error;
mod pattern;
mod resolve;
mod router;

#[cfg(test)]
mod tests;

pub use args::{ArgValue, RouteArgs};
pub use binding::Binding;
pub use error::RouteError;
pub use pattern::Converter;
pub use resolve::{AllowedMethods, Resolution, RouteMatch};
pub use router::{RouteId, Router};

/// The most arguments one route pattern may name.
pub const MAX_ARGS: usize = 8;

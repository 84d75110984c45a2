//! Resolution: method + request path → route, handler and arguments, or 405, or not found.
//!
//! In scope: the trie walk with its priority order and backtracking, percent-decoding of
//! captured values, the HEAD-on-GET rule and the `Allow` list.
//! Out of scope: sending the 404/405 (the server), query strings (the http layer and
//! binding.rs).
//!
//! The walk is depth-first over path segments. At each node it tries, in order: the static
//! child whose text equals the (decoded) segment, then the `int`, `float`, `uuid` and
//! `str`/`<name>` children, then the `<path:…>` child; if a branch fails deeper down, the next
//! one is tried. The first node in that order that has a route for the method wins. If none
//! has, the first node that has a route for another method gives the 405.

use std::borrow::Cow;
use std::fmt;

use http::Method;
use percent_encoding::percent_decode_str;

use super::args::{RouteArgs, Slot};
use super::pattern::{Converter, is_uuid, parse_float, parse_int};
use super::router::{Node, NodeId, PARAM_KINDS, Router};
use super::{MAX_ARGS, RouteId};

/// The outcome of [`Router::resolve`].
// Boxing the match would cost an allocation per request; the value only lives on the stack
// between resolution and the handler call.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum Resolution<'r, H> {
    /// A route matches the method and the path.
    Found(RouteMatch<'r, H>),
    /// Routes match the path, but none for this method: answer 405 with this `Allow` list.
    MethodNotAllowed {
        /// The methods that the matched path accepts.
        allow: AllowedMethods<'r>,
    },
    /// No route matches the path.
    NotFound,
}

/// A matched route and the arguments taken from the path.
#[non_exhaustive]
pub struct RouteMatch<'r, H> {
    /// The route's id.
    pub id: RouteId,
    /// The route's handler.
    pub handler: &'r H,
    /// The method the route was registered for (`GET` when `head_fallback` is set).
    pub method: &'r Method,
    /// The route's pattern, as registered, without a trailing `/`.
    pub pattern: &'r str,
    /// The route's name.
    pub name: Option<&'r str>,
    /// The arguments, percent-decoded and typed.
    pub args: RouteArgs<'r>,
    /// `true` when a `HEAD` request matched a `GET` route (no `HEAD` route on that path): the
    /// server runs the GET handler and sends the head without the body (RFC 9110 §9.3.2).
    pub head_fallback: bool,
}

/// The methods a path accepts, for the `Allow` header of a 405 (RFC 9110 §15.5.6).
///
/// Lists the registered methods in registration order, with `HEAD` right after `GET` when the
/// path has a GET route and no HEAD route, since the server answers HEAD there.
#[derive(Clone, Copy)]
pub struct AllowedMethods<'r> {
    endpoints: &'r [(Method, RouteId)],
}

static HEAD: Method = Method::HEAD;

impl<'r> AllowedMethods<'r> {
    /// Iterates over the allowed methods.
    pub fn iter(&self) -> impl Iterator<Item = &'r Method> + 'r {
        let endpoints = self.endpoints;
        let implied_head = !endpoints.iter().any(|(m, _)| *m == Method::HEAD);
        endpoints.iter().flat_map(move |(m, _)| {
            let head = (implied_head && *m == Method::GET).then_some(&HEAD);
            std::iter::once(m).chain(head)
        })
    }

    /// Returns `true` when `method` is in the list.
    #[must_use]
    pub fn contains(&self, method: &Method) -> bool {
        self.iter().any(|m| m == method)
    }
}

/// Writes the list as an `Allow` field value: `GET, HEAD, POST`.
impl fmt::Display for AllowedMethods<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for AllowedMethods<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<H> fmt::Debug for RouteMatch<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteMatch")
            .field("id", &self.id)
            .field("method", self.method)
            .field("pattern", &self.pattern)
            .field("name", &self.name)
            .field("args", &self.args)
            .field("head_fallback", &self.head_fallback)
            .finish_non_exhaustive()
    }
}

impl<H> fmt::Debug for Resolution<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolution::Found(m) => f.debug_tuple("Found").field(m).finish(),
            Resolution::MethodNotAllowed { allow } => f
                .debug_struct("MethodNotAllowed")
                .field("allow", allow)
                .finish(),
            Resolution::NotFound => f.write_str("NotFound"),
        }
    }
}

/// A value captured on the way down: its raw range in the path and, for numeric edges, the
/// number already parsed.
#[derive(Clone, Copy)]
struct Capture {
    start: u32,
    end: u32,
    num: Num,
}

#[derive(Clone, Copy)]
enum Num {
    None,
    Int(i64),
    Float(f64),
}

const NO_CAPTURE: Capture = Capture {
    start: 0,
    end: 0,
    num: Num::None,
};

/// The state of one walk.
struct Walk<'p, 'm> {
    /// The path, without query.
    path: &'p str,
    /// End of the part matched segment by segment: the path without one trailing `/`.
    end: usize,
    method: &'m Method,
    caps: [Capture; MAX_ARGS],
    /// The first node (in priority order) that matched the path but not the method.
    allow_node: Option<NodeId>,
}

/// A route found by the walk: its id and whether HEAD fell back to GET.
struct Hit {
    id: RouteId,
    head_fallback: bool,
}

impl<H> Router<H> {
    /// Resolves a request path for a method.
    ///
    /// `path` is the request target's path, still percent-encoded; anything from a `?` on is
    /// ignored. Segments are matched on the raw path and the captured values percent-decoded
    /// afterwards, so `%2F` inside a `<name>` value does not split a segment. One trailing `/`
    /// is ignored (`/users/` resolves like `/users`), except that a `<path:…>` value keeps it.
    /// Matching is case-sensitive. A `HEAD` request matches a `GET` route when the path has no
    /// `HEAD` route ([`RouteMatch::head_fallback`]).
    ///
    /// Does not allocate for a route without string arguments; allocates one `String` for the
    /// decoded text of a route's string arguments. Decoding a segment that holds a `%` escape
    /// while matching may allocate too.
    #[must_use]
    pub fn resolve(&self, method: &Method, path: &str) -> Resolution<'_, H> {
        let path = match memchr::memchr(b'?', path.as_bytes()) {
            Some(q) => path.get(..q).unwrap_or(path),
            None => path,
        };
        if !path.starts_with('/') || u32::try_from(path.len()).is_err() {
            return Resolution::NotFound;
        }
        let end = if path.len() > 1 && path.ends_with('/') {
            path.len() - 1
        } else {
            path.len()
        };
        // A path that is all literal text is looked up whole first: when that route has the
        // method, the walk would have found it first too (literal children come first at every
        // depth), and it cannot find anything before it.
        if let Some(hit) = path
            .get(..end)
            .filter(|p| memchr::memchr(b'%', p.as_bytes()).is_none())
            .and_then(|p| self.exact.get(p))
            .and_then(|&node| self.nodes.get(node as usize))
            .and_then(|n| endpoint_for(n, method))
        {
            return match self.finish(path, &[], hit) {
                Some(m) => Resolution::Found(m),
                None => Resolution::NotFound,
            };
        }
        let mut walk = Walk {
            path,
            end,
            method,
            caps: [NO_CAPTURE; MAX_ARGS],
            allow_node: None,
        };
        let first = (end > 1).then_some(1);
        match self.walk(&mut walk, 0, first, 0) {
            Some(hit) => match self.finish(walk.path, &walk.caps, hit) {
                Some(m) => Resolution::Found(m),
                None => Resolution::NotFound,
            },
            None => match walk.allow_node.and_then(|n| self.nodes.get(n as usize)) {
                Some(node) => Resolution::MethodNotAllowed {
                    allow: AllowedMethods {
                        endpoints: &node.endpoints,
                    },
                },
                None => Resolution::NotFound,
            },
        }
    }

    /// Walks from `node`, whose next segment starts at `pos` (`None`: the path is consumed),
    /// with `ncap` values captured so far.
    fn walk(
        &self,
        w: &mut Walk<'_, '_>,
        node: NodeId,
        pos: Option<usize>,
        ncap: usize,
    ) -> Option<Hit> {
        let n = self.nodes.get(node as usize)?;
        let Some(pos) = pos else {
            return accept(w, node, n);
        };
        let rest = w.path.as_bytes().get(pos..w.end)?;
        let seg_end = memchr::memchr(b'/', rest).map_or(w.end, |i| pos + i);
        let raw = w.path.get(pos..seg_end)?;
        let next = (seg_end < w.end).then_some(seg_end + 1);

        // Decoded once per segment, and only when it holds an escape; `None` when the decoded
        // bytes are not UTF-8, which no literal and no one-segment argument matches.
        let has_segment_children = !n.statics.is_empty() || n.params.iter().any(Option::is_some);
        let decoded = if !has_segment_children {
            None
        } else if raw.contains('%') {
            percent_decode_str(raw).decode_utf8().ok()
        } else {
            Some(Cow::Borrowed(raw))
        };
        if let Some(decoded) = &decoded {
            if let Ok(i) = n.statics.binary_search_by(|(k, _)| (**k).cmp(decoded)) {
                let child = n.statics.get(i)?.1;
                if let Some(hit) = self.walk(w, child, next, ncap) {
                    return Some(hit);
                }
            }
            if ncap < MAX_ARGS && !decoded.is_empty() {
                for (kind, child) in PARAM_KINDS.iter().zip(n.params) {
                    let Some(child) = child else { continue };
                    let Some(num) = accept_segment(*kind, decoded) else {
                        continue;
                    };
                    *w.caps.get_mut(ncap)? = Capture {
                        start: pos as u32,
                        end: seg_end as u32,
                        num,
                    };
                    if let Some(hit) = self.walk(w, child, next, ncap + 1) {
                        return Some(hit);
                    }
                }
            }
        }

        if let Some(child) = n.catch_all.filter(|_| ncap < MAX_ARGS) {
            // The catch-all takes the rest of the path, a trailing `/` included.
            let value = w.path.get(pos..)?;
            if !value.is_empty() && percent_decode_str(value).decode_utf8().is_ok() {
                *w.caps.get_mut(ncap)? = Capture {
                    start: pos as u32,
                    end: w.path.len() as u32,
                    num: Num::None,
                };
                return self.walk(w, child, None, ncap + 1);
            }
        }
        None
    }

    /// Builds the match: looks the route up and turns the captures (ranges of `path`) into
    /// typed arguments.
    fn finish(&self, path: &str, caps: &[Capture], hit: Hit) -> Option<RouteMatch<'_, H>> {
        let route = self.routes.get(hit.id.0)?;
        let specs = &route.pattern.args;
        let args = if specs.is_empty() {
            RouteArgs::empty()
        } else {
            let caps = caps.get(..specs.len())?;
            let mut slots = [Slot::Int(0); MAX_ARGS];
            // One allocation for all string values: the raw length bounds the decoded one.
            let text_len: usize = specs
                .iter()
                .zip(caps)
                .filter(|(s, _)| !matches!(s.conv, Converter::Int | Converter::Float))
                .map(|(_, c)| (c.end - c.start) as usize)
                .sum();
            let mut text = String::new();
            for ((spec, cap), slot) in specs.iter().zip(caps).zip(slots.iter_mut()) {
                let raw = path.get(cap.start as usize..cap.end as usize)?;
                *slot = match (spec.conv, cap.num) {
                    (Converter::Int, Num::Int(i)) => Slot::Int(i),
                    (Converter::Float, Num::Float(f)) => Slot::Float(f),
                    (conv, _) => {
                        let decoded = percent_decode_str(raw).decode_utf8_lossy();
                        match parse_int(&decoded) {
                            Some(i) if conv == Converter::Auto => Slot::Int(i),
                            _ => {
                                if text.capacity() == 0 {
                                    text.reserve_exact(text_len);
                                }
                                let a = text.len() as u32;
                                text.push_str(&decoded);
                                Slot::Str(a, text.len() as u32)
                            }
                        }
                    }
                };
            }
            RouteArgs::from_parts(specs, slots, text)
        };
        Some(RouteMatch {
            id: hit.id,
            handler: &route.handler,
            method: &route.method,
            pattern: &route.pattern.text,
            name: route.name.as_deref(),
            args,
            head_fallback: hit.head_fallback,
        })
    }
}

/// Checks a node where the path ends: a route for the method, or HEAD on a GET route; records
/// the node for a 405 otherwise.
fn accept(w: &mut Walk<'_, '_>, node: NodeId, n: &Node) -> Option<Hit> {
    if n.endpoints.is_empty() {
        return None;
    }
    let hit = endpoint_for(n, w.method);
    if hit.is_none() {
        w.allow_node.get_or_insert(node);
    }
    hit
}

/// The route of a node for a method: its own, or for HEAD the GET route.
fn endpoint_for(n: &Node, method: &Method) -> Option<Hit> {
    if let Some((_, id)) = n.endpoints.iter().find(|(m, _)| m == method) {
        return Some(Hit {
            id: *id,
            head_fallback: false,
        });
    }
    // RFC 9110 §9.3.2: HEAD is GET without the content.
    if *method == Method::HEAD {
        if let Some((_, id)) = n.endpoints.iter().find(|(m, _)| *m == Method::GET) {
            return Some(Hit {
                id: *id,
                head_fallback: true,
            });
        }
    }
    None
}

/// Checks a decoded, non-empty segment against a parameter edge; returns the parsed number.
fn accept_segment(kind: Converter, decoded: &str) -> Option<Num> {
    match kind {
        Converter::Int => parse_int(decoded).map(Num::Int),
        Converter::Float => parse_float(decoded).map(Num::Float),
        Converter::Uuid => is_uuid(decoded).then_some(Num::None),
        _ => Some(Num::None),
    }
}

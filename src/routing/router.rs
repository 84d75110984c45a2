//! The route table: registration into a segment trie, and lookups by id and by name.
//!
//! In scope: [`Router`], [`RouteId`], the trie's shape and the registration-time checks
//! (duplicate names, duplicate method + pattern).
//! Out of scope: walking the trie for a request (resolve.rs) and building paths (build.rs).

use std::collections::HashMap;
use std::fmt;

use http::Method;
use rustc_hash::FxHashMap;

use super::RouteError;
use super::pattern::{self, Converter, Pattern, Segment};

/// The id of a registered route, in registration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteId(pub(crate) usize);

impl RouteId {
    /// Returns the route's registration index (0 for the first route added).
    #[must_use]
    pub fn index(self) -> usize {
        self.0
    }
}

/// One registered route.
#[derive(Clone)]
pub(crate) struct Route<H> {
    pub(crate) method: Method,
    pub(crate) pattern: Pattern,
    pub(crate) name: Option<Box<str>>,
    pub(crate) handler: H,
}

/// Index of a node in [`Router::nodes`]; the root is 0.
pub(crate) type NodeId = u32;

/// The typed-parameter edges of a node, tried in this order (after static children).
pub(crate) const PARAM_KINDS: [Converter; 4] = [
    Converter::Int,
    Converter::Float,
    Converter::Uuid,
    Converter::Str,
];

/// A trie node: one path segment deep.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// Literal children, sorted by their (decoded) text for binary search.
    pub(crate) statics: Vec<(Box<str>, NodeId)>,
    /// Parameter children, indexed like [`PARAM_KINDS`]; `<name>` and `<str:…>` share the `Str`
    /// edge because they accept the same segments.
    pub(crate) params: [Option<NodeId>; 4],
    /// The `<path:…>` child; it has no children of its own.
    pub(crate) catch_all: Option<NodeId>,
    /// The routes that end here, one per method, in registration order.
    pub(crate) endpoints: Vec<(Method, RouteId)>,
}

/// A table of routes, each a method, a pattern, an optional name and a handler of type `H`.
///
/// Routes are added with [`add`](Router::add) while the table is built; afterwards it is only
/// read ([`resolve`](Router::resolve), [`path_from_route`](Router::path_from_route)), so one
/// table can be shared by several servers behind an `Arc` with no lock. `Router<H>` is `Send`
/// and `Sync` when `H` is.
///
/// # Examples
///
/// ```
/// use microweb::routing::{Resolution, Router};
/// use http::Method;
///
/// let mut router = Router::new();
/// router.add(Method::GET, "/users/<id>/profile/<property>", Some("profile"), "profile handler")?;
/// match router.resolve(&Method::GET, "/users/42/profile/email") {
///     Resolution::Found(m) => {
///         assert_eq!(*m.handler, "profile handler");
///         assert_eq!(m.args.int("id"), Some(42));
///         assert_eq!(m.args.str("property"), Some("email"));
///     }
///     other => panic!("{other:?}"),
/// }
/// let path = router.path_from_route("profile", &[("id", 7.into()), ("property", "full name".into())])?;
/// assert_eq!(path, "/users/7/profile/full%20name");
/// # Ok::<(), microweb::routing::RouteError>(())
/// ```
#[derive(Clone)]
pub struct Router<H> {
    pub(crate) routes: Vec<Route<H>>,
    /// INVARIANT: never empty; `nodes[0]` is the root, and every `NodeId` stored in a node
    /// indexes this vector.
    pub(crate) nodes: Vec<Node>,
    pub(crate) names: HashMap<Box<str>, RouteId>,
    /// The nodes that all-literal patterns end at, by the raw path that reaches them
    /// (`/a/b`, `/` for the root), for a lookup without a walk. Only literals that a request
    /// path carries as they are (no byte that would be percent-encoded) are listed. The keys
    /// are the developer's patterns, so a fast hash (Fx) fits: requests only look up.
    pub(crate) exact: FxHashMap<Box<str>, NodeId>,
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Router::new()
    }
}

impl<H> Router<H> {
    /// Creates an empty route table.
    #[must_use]
    pub fn new() -> Router<H> {
        Router {
            routes: Vec::new(),
            nodes: vec![Node::default()],
            names: HashMap::new(),
            exact: FxHashMap::default(),
        }
    }

    /// Registers a route and returns its id.
    ///
    /// `method` may be any method, including extensions (`Method::from_bytes(b"PURGE")`).
    /// `pattern` follows the syntax in the [module documentation](super); a trailing `/` is
    /// ignored. `name`, if given, is what [`path_from_route`](Router::path_from_route) looks
    /// routes up by.
    ///
    /// # Errors
    ///
    /// A pattern error ([`RouteError::UnclosedArg`], [`RouteError::UnknownConverter`], …),
    /// [`RouteError::EmptyRouteName`], [`RouteError::DuplicateName`] when another route has the
    /// name, and [`RouteError::DuplicateRoute`] when a route with the same method and the same
    /// pattern shape exists (`/a/<x>` and `/a/<str:y>` have the same shape). The table is
    /// unchanged on error.
    pub fn add(
        &mut self,
        method: Method,
        pattern: &str,
        name: Option<&str>,
        handler: H,
    ) -> Result<RouteId, RouteError> {
        let pattern = pattern::parse(pattern)?;
        if let Some(name) = name {
            if name.is_empty() {
                return Err(RouteError::EmptyRouteName);
            }
            if self.names.contains_key(name) {
                return Err(RouteError::DuplicateName(name.into()));
            }
        }
        // A node is only created when no route reached it before, and then the duplicate check
        // below cannot fail: an error never leaves new nodes behind.
        let mut node: NodeId = 0;
        for segment in pattern.segments.iter() {
            node = match segment {
                Segment::Static(text) => self.static_child(node, text),
                Segment::Arg(i) => {
                    let conv = pattern.args.get(*i).map_or(Converter::Str, |a| a.conv);
                    self.param_child(node, conv)
                }
            };
        }
        let id = RouteId(self.routes.len());
        let endpoints = &mut self.nodes[node as usize].endpoints;
        if let Some((_, existing)) = endpoints.iter().find(|(m, _)| *m == method) {
            return Err(RouteError::DuplicateRoute {
                existing: *existing,
            });
        }
        endpoints.push((method.clone(), id));
        if let Some(key) = literal_path(&pattern.segments) {
            self.exact.insert(key.into(), node);
        }
        if let Some(name) = name {
            self.names.insert(name.into(), id);
        }
        self.routes.push(Route {
            method,
            pattern,
            name: name.map(Into::into),
            handler,
        });
        Ok(id)
    }

    /// Returns how many routes are registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Returns `true` when no route is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Returns the handler of a route.
    #[must_use]
    pub fn handler(&self, id: RouteId) -> Option<&H> {
        self.routes.get(id.0).map(|r| &r.handler)
    }

    /// Returns the id of the route named `name`.
    #[must_use]
    pub fn route_id(&self, name: &str) -> Option<RouteId> {
        self.names.get(name).copied()
    }

    fn push_node(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        // A table with more than u32::MAX segments cannot exist in memory.
        (self.nodes.len() - 1) as NodeId
    }

    fn static_child(&mut self, node: NodeId, text: &str) -> NodeId {
        let found = self.nodes[node as usize]
            .statics
            .binary_search_by(|(k, _)| (**k).cmp(text));
        match found {
            Ok(i) => self.nodes[node as usize].statics[i].1,
            Err(i) => {
                let child = self.push_node();
                self.nodes[node as usize]
                    .statics
                    .insert(i, (text.into(), child));
                child
            }
        }
    }

    fn param_child(&mut self, node: NodeId, conv: Converter) -> NodeId {
        if conv == Converter::Path {
            if let Some(child) = self.nodes[node as usize].catch_all {
                return child;
            }
            let child = self.push_node();
            self.nodes[node as usize].catch_all = Some(child);
            return child;
        }
        let kind = match conv {
            Converter::Auto => Converter::Str,
            other => other,
        };
        let slot = PARAM_KINDS.iter().position(|k| *k == kind).unwrap_or(3);
        if let Some(child) = self.nodes[node as usize].params[slot] {
            return child;
        }
        let child = self.push_node();
        self.nodes[node as usize].params[slot] = Some(child);
        child
    }
}

/// The raw request path an all-literal pattern matches (`/a/b`; `/` for no segment), or `None`
/// when a segment is an argument or holds a byte a request path would carry percent-encoded.
fn literal_path(segments: &[Segment]) -> Option<String> {
    if segments.is_empty() {
        return Some("/".to_owned());
    }
    let mut path = String::new();
    for segment in segments {
        let Segment::Static(text) = segment else {
            return None;
        };
        if text.is_empty() || !text.bytes().all(is_plain_path_byte) {
            return None;
        }
        path.push('/');
        path.push_str(text);
    }
    Some(path)
}

/// RFC 3986 §3.3: a `pchar` other than `%`: unreserved, sub-delims, `:` and `@`.
fn is_plain_path_byte(b: u8) -> bool {
    crate::http::is_unreserved_or_sub_delim(b) || matches!(b, b':' | b'@')
}

impl<H> fmt::Debug for Router<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for r in &self.routes {
            match &r.name {
                Some(name) => list.entry(&format_args!("{} {} ({name})", r.method, r.pattern.text)),
                None => list.entry(&format_args!("{} {}", r.method, r.pattern.text)),
            };
        }
        list.finish()
    }
}

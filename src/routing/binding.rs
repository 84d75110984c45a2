//! usrv-style parameter binding: one view over the route arguments and the query values.
//!
//! In scope: merging already-decoded query pairs with a route's arguments, and keeping the
//! query values the route does not name apart as extras.
//! Out of scope: parsing the query string (the http layer), the method, headers and body that
//! usrv also hands to `**kwargs` (the server adds those next to a [`Binding`]).
//!
//! # Precedence: the path wins
//!
//! When a query value has the same name as a route argument, the route argument is kept and
//! the query value is dropped. This is what usrv 0.4 does: its `route.callback` filters the
//! query pairs with `if k not in params` before merging them, where `params` are the values
//! taken from the path. (usrv's README, seed 001, still shows the older behaviour where
//! `/5/test?a=2&b=6` gave `["2", "6"]`; its change log marks 0.4 as a rewrite with "no backward
//! compatibility with 0.3.0", and the 0.4 code lets the path win.) It is also the safer rule:
//! a link cannot change which resource a path names by adding `?id=…`.
//!
//! Query values are strings, as in usrv; [`Binding::int`] and [`Binding::float`] parse them.
//! When a name repeats in the query, the last value wins (usrv builds a `dict` from the pairs).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::args::{ArgValue, RouteArgs};

/// The merged parameters of a request: route arguments first, then query values, plus the
/// query values the route does not name as `extras`.
///
/// A plain owned value, so the server can hand it to a handler.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Binding {
    /// Route arguments in pattern order, then query-only names in first-seen order.
    params: Vec<(String, ArgValue<'static>)>,
    /// INVARIANT: the query values whose name is not a route argument (also in `params`).
    extras: BTreeMap<String, String>,
}

impl Binding {
    /// Merges the route arguments with the (already percent-decoded) query pairs; the route
    /// argument wins on a name collision.
    ///
    /// # Examples
    ///
    /// ```
    /// use microweb::routing::{Binding, Resolution, Router};
    /// use http::Method;
    ///
    /// let mut router = Router::new();
    /// router.add(Method::GET, "/<int:b>/<a>", None, ())?;
    /// let Resolution::Found(m) = router.resolve(&Method::GET, "/5/test") else { unreachable!() };
    /// let binding = Binding::new(&m.args, [("a", "2"), ("b", "6"), ("page", "3")]);
    /// assert_eq!(binding.str("a"), Some("test")); // the path wins
    /// assert_eq!(binding.int("b"), Some(5));
    /// assert_eq!(binding.int("page"), Some(3)); // query values parse on demand
    /// assert_eq!(binding.extras().get("page").map(String::as_str), Some("3"));
    /// # Ok::<(), microweb::routing::RouteError>(())
    /// ```
    #[must_use]
    pub fn new<I, K, V>(args: &RouteArgs<'_>, query: I) -> Binding
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut params: Vec<(String, ArgValue<'static>)> = args
            .iter()
            .map(|(k, v)| (k.to_owned(), v.into_owned()))
            .collect();
        let route_len = params.len();
        let mut extras = BTreeMap::new();
        for (k, v) in query {
            let (k, v) = (k.into(), v.into());
            if params
                .get(..route_len)
                .is_some_and(|p| p.iter().any(|(n, _)| *n == k))
            {
                continue; // usrv 0.4: the path value wins.
            }
            match params.iter_mut().skip(route_len).find(|(n, _)| *n == k) {
                Some((_, old)) => *old = ArgValue::Str(Cow::Owned(v.clone())),
                None => params.push((k.clone(), ArgValue::Str(Cow::Owned(v.clone())))),
            }
            extras.insert(k, v);
        }
        Binding { params, extras }
    }

    /// Returns the value of `name`, from the path or else from the query.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&ArgValue<'static>> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Returns `name` as an integer (a query string value is parsed).
    #[must_use]
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name)?.as_int()
    }

    /// Returns `name` as a float (a query string value is parsed).
    #[must_use]
    pub fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?.as_float()
    }

    /// Returns `name` if it is a string.
    #[must_use]
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name)?.as_str()
    }

    /// Iterates over all parameters: route arguments in pattern order, then query-only names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ArgValue<'static>)> + '_ {
        self.params.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Returns the query values whose names the route does not have (usrv's `**kwargs`).
    #[must_use]
    pub fn extras(&self) -> &BTreeMap<String, String> {
        &self.extras
    }

    /// Converts all parameters to a JSON object.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.iter()
                .map(|(k, v)| (k.to_owned(), v.to_json()))
                .collect(),
        )
    }
}

impl Serialize for Binding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.params.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

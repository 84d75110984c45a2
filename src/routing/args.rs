//! Route argument values: [`ArgValue`] and the typed map [`RouteArgs`] a handler receives.
//!
//! In scope: storing the values the resolver captured with as little allocation as possible,
//! typed access, iteration, JSON.
//! Out of scope: matching (resolve.rs) and percent-encoding values into a path (build.rs).
//!
//! A [`RouteArgs`] keeps its values in an inline array; integers and floats live there, and the
//! percent-decoded text of every string value is appended to one `String`, so a route whose
//! arguments are all numbers (or that has none) allocates nothing, and any other route
//! allocates exactly once.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::MAX_ARGS;
use super::pattern::{ArgSpec, parse_float, parse_int};

/// One route argument value: an integer, a float or a string.
///
/// Built from `i64`, `i32`, `u32`, `f64`, `&str`, `String` and `Cow<str>` with `.into()`, for
/// [`Router::path_from_route`](super::Router::path_from_route).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ArgValue<'a> {
    /// An integer (`<int:…>`, or an integer-looking `<name>`).
    Int(i64),
    /// A finite float (`<float:…>`).
    Float(f64),
    /// A percent-decoded string (`<str:…>`, `<uuid:…>`, `<path:…>`, or any other `<name>`).
    Str(Cow<'a, str>),
}

impl ArgValue<'_> {
    /// Returns the value as an integer: an `Int`, or a `Str` of the form `-?[0-9]+`.
    #[must_use]
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ArgValue::Int(i) => Some(*i),
            ArgValue::Float(_) => None,
            ArgValue::Str(s) => parse_int(s),
        }
    }

    /// Returns the value as a float: a `Float`, an `Int` (converted), or a `Str` holding a
    /// finite decimal number.
    #[must_use]
    pub fn as_float(&self) -> Option<f64> {
        match self {
            ArgValue::Int(i) => Some(*i as f64),
            ArgValue::Float(f) => Some(*f),
            ArgValue::Str(s) => parse_float(s),
        }
    }

    /// Returns the string of a `Str` value; `None` for numbers (format them with `Display`).
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ArgValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Returns a copy that borrows this value's string instead of cloning it.
    #[must_use]
    pub fn borrowed(&self) -> ArgValue<'_> {
        match self {
            ArgValue::Int(i) => ArgValue::Int(*i),
            ArgValue::Float(f) => ArgValue::Float(*f),
            ArgValue::Str(s) => ArgValue::Str(Cow::Borrowed(s)),
        }
    }

    /// Returns a value that owns its string.
    #[must_use]
    pub fn into_owned(self) -> ArgValue<'static> {
        match self {
            ArgValue::Int(i) => ArgValue::Int(i),
            ArgValue::Float(f) => ArgValue::Float(f),
            ArgValue::Str(s) => ArgValue::Str(Cow::Owned(s.into_owned())),
        }
    }

    /// Converts the value to JSON: a number or a string (a non-finite float becomes `null`).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ArgValue::Int(i) => serde_json::Value::from(*i),
            ArgValue::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            ArgValue::Str(s) => serde_json::Value::from(&**s),
        }
    }
}

impl fmt::Display for ArgValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Int(i) => write!(f, "{i}"),
            ArgValue::Float(x) => write!(f, "{x}"),
            ArgValue::Str(s) => f.write_str(s),
        }
    }
}

impl Serialize for ArgValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ArgValue::Int(i) => serializer.serialize_i64(*i),
            ArgValue::Float(f) => serializer.serialize_f64(*f),
            ArgValue::Str(s) => serializer.serialize_str(s),
        }
    }
}

impl From<i64> for ArgValue<'_> {
    fn from(v: i64) -> Self {
        ArgValue::Int(v)
    }
}

impl From<i32> for ArgValue<'_> {
    fn from(v: i32) -> Self {
        ArgValue::Int(v.into())
    }
}

impl From<u32> for ArgValue<'_> {
    fn from(v: u32) -> Self {
        ArgValue::Int(v.into())
    }
}

impl From<f64> for ArgValue<'_> {
    fn from(v: f64) -> Self {
        ArgValue::Float(v)
    }
}

impl<'a> From<&'a str> for ArgValue<'a> {
    fn from(v: &'a str) -> Self {
        ArgValue::Str(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for ArgValue<'a> {
    fn from(v: &'a String) -> Self {
        ArgValue::Str(Cow::Borrowed(v))
    }
}

impl From<String> for ArgValue<'_> {
    fn from(v: String) -> Self {
        ArgValue::Str(Cow::Owned(v))
    }
}

impl<'a> From<Cow<'a, str>> for ArgValue<'a> {
    fn from(v: Cow<'a, str>) -> Self {
        ArgValue::Str(v)
    }
}

impl<'a> From<&'a ArgValue<'_>> for ArgValue<'a> {
    fn from(v: &'a ArgValue<'_>) -> Self {
        v.borrowed()
    }
}

/// A stored value: numbers inline, strings as a range of [`RouteArgs::text`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Int(i64),
    Float(f64),
    Str(u32, u32),
}

/// The arguments of a resolved route, in pattern order, with typed access by name.
///
/// Names are compared exactly. Values are percent-decoded; see [`ArgValue`] for the accessors'
/// conversions.
#[derive(Clone)]
pub struct RouteArgs<'r> {
    /// INVARIANT: `slots[..specs.len()]` holds one value per spec, in order.
    specs: &'r [ArgSpec],
    slots: [Slot; MAX_ARGS],
    text: String,
}

impl Default for RouteArgs<'_> {
    fn default() -> Self {
        RouteArgs::empty()
    }
}

impl<'r> RouteArgs<'r> {
    /// The arguments of a route without arguments; does not allocate.
    pub(crate) fn empty() -> RouteArgs<'r> {
        RouteArgs {
            specs: &[],
            slots: [Slot::Int(0); MAX_ARGS],
            text: String::new(),
        }
    }

    /// Creates the arguments from filled slots and their text buffer.
    pub(crate) fn from_parts(
        specs: &'r [ArgSpec],
        slots: [Slot; MAX_ARGS],
        text: String,
    ) -> RouteArgs<'r> {
        RouteArgs { specs, slots, text }
    }

    /// Returns how many arguments the route has.
    #[must_use]
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Returns `true` when the route has no arguments.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Returns the value of the argument `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<ArgValue<'_>> {
        let i = self.specs.iter().position(|s| &*s.name == name)?;
        self.value_at(i)
    }

    /// Returns the argument `name` as an integer (see [`ArgValue::as_int`]).
    #[must_use]
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name)?.as_int()
    }

    /// Returns the argument `name` as a float (see [`ArgValue::as_float`]).
    #[must_use]
    pub fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?.as_float()
    }

    /// Returns the argument `name` if it is a string (percent-decoded); `None` for numbers.
    #[must_use]
    pub fn str(&self, name: &str) -> Option<&str> {
        let i = self.specs.iter().position(|s| &*s.name == name)?;
        match self.slots.get(i)? {
            Slot::Str(a, b) => self.text.get(*a as usize..*b as usize),
            _ => None,
        }
    }

    /// Iterates over `(name, value)` in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, ArgValue<'_>)> + '_ {
        self.specs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((&*s.name, self.value_at(i)?)))
    }

    /// Converts the arguments to a JSON object (integers and floats as numbers).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.iter()
                .map(|(k, v)| (k.to_owned(), v.to_json()))
                .collect(),
        )
    }

    fn value_at(&self, i: usize) -> Option<ArgValue<'_>> {
        Some(match *self.slots.get(i)? {
            Slot::Int(v) => ArgValue::Int(v),
            Slot::Float(v) => ArgValue::Float(v),
            Slot::Str(a, b) => ArgValue::Str(Cow::Borrowed(self.text.get(a as usize..b as usize)?)),
        })
    }
}

impl fmt::Debug for RouteArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for RouteArgs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, &v)?;
        }
        map.end()
    }
}

impl From<&RouteArgs<'_>> for serde_json::Value {
    fn from(args: &RouteArgs<'_>) -> Self {
        args.to_json()
    }
}

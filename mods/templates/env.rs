//! The environment of a render: the page data, global vars and registered functions it reads,
//! the loader for includes, and the limits (fuel, include depth) it is held to.
//!
//! In scope: what a render reads and never changes, and the fuel it burns. Out of scope: the walk
//! over nodes (see `walk.rs`) and evaluating expressions (see `eval.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::{Map, Value};

use super::Templates;

/// A function the application registers.
pub(crate) type Function = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// The registered functions by name.
pub(crate) type Functions = HashMap<String, Function>;

/// Everything a render reads and never changes (but the fuel).
pub(crate) struct Env<'a> {
    pub(crate) context: Cow<'a, Value>,
    pub(crate) args: Cow<'a, Value>,
    pub(crate) request: Cow<'a, Value>,
    pub(crate) globals: Arc<Map<String, Value>>,
    pub(crate) functions: Arc<Functions>,
    /// Loads included templates; `None` makes every include "not found" (`after` blocks).
    pub(crate) loader: Option<Templates>,
    pub(crate) max_include_depth: u32,
    /// The render budget left; every node, loop iteration, call and 64 bytes built costs one.
    pub(crate) fuel: AtomicU64,
    pub(crate) max_fuel: u64,
}

impl<'a> Env<'a> {
    /// Creates an environment with the full budget.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        (context, args, request): (Cow<'a, Value>, Cow<'a, Value>, Cow<'a, Value>),
        globals: Arc<Map<String, Value>>,
        functions: Arc<Functions>,
        loader: Option<Templates>,
        max_include_depth: u32,
        fuel: u64,
    ) -> Self {
        Env {
            context,
            args,
            request,
            globals,
            functions,
            loader,
            max_include_depth,
            fuel: AtomicU64::new(fuel),
            max_fuel: fuel,
        }
    }
}

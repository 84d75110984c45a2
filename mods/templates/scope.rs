//! The locals of a render, and how the walk keeps a value between two calls without borrowing
//! it: its own copy, or the place of the value in the page data (a root and the keys and indexes
//! under it), found again each time it is read. So a loop over a context array copies nothing,
//! and a paused render owns everything it keeps.
//!
//! In scope: local variables, the state of the open `for` loops, places in the page data. Out
//! of scope: evaluating expressions (see `eval.rs`) and the walk (see `walk.rs`).

use std::sync::Arc;

use serde_json::Value;

use super::env::Env;

/// The state of the innermost `for` loops, read through `loop.*`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopState {
    pub(crate) index0: usize,
    pub(crate) length: usize,
}

/// Where a value of the page data lives: a root and the keys and indexes under it.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    root: Root,
    steps: Vec<Step>,
}

/// The part of the page data a [`Place`] starts from.
#[derive(Debug, Clone)]
pub(crate) enum Root {
    /// A name of the page context.
    Context(Box<str>),
    /// A name of the route arguments.
    Args(Box<str>),
    /// The `request` object.
    Request,
    /// A global var (of the snapshot the render took).
    Global(Box<str>),
}

/// One step down from a value: an object's key or an array's index.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Key(Box<str>),
    Index(usize),
}

impl Step {
    /// Returns the value one step down from `v`, if there is one.
    fn get<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        match self {
            Step::Key(k) => v.as_object()?.get(&**k),
            Step::Index(i) => v.as_array()?.get(*i),
        }
    }
}

impl Place {
    /// Returns the place of `root` itself.
    pub(crate) fn new(root: Root) -> Self {
        Place {
            root,
            steps: Vec::new(),
        }
    }

    /// Returns the place one step down from this one.
    pub(crate) fn join(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Finds the value at this place in the page data of `env`.
    pub(crate) fn find<'e>(&self, env: &'e Env<'_>) -> Option<&'e Value> {
        let mut v = match &self.root {
            Root::Context(name) => env.context.get(&**name)?,
            Root::Args(name) => env.args.get(&**name)?,
            Root::Request => &*env.request,
            Root::Global(name) => env.globals.get(&**name)?,
        };
        for step in &self.steps {
            v = step.get(v)?;
        }
        Some(v)
    }
}

/// A value the walk keeps between nodes (a local, a loop item).
#[derive(Debug, Clone)]
pub(crate) enum Held {
    /// A value of its own (computed, or copied from the template or the locals).
    Owned(Value),
    /// An item of an array or an object of the page data: a loop item.
    Item(Arc<Place>, Step),
}

static NULL: Value = Value::Null;

impl Held {
    /// Returns the value. A place is always found (the page data does not change during a
    /// render, and a place is only taken of a value that is there); `null` stands in otherwise.
    pub(crate) fn get<'e>(&'e self, env: &'e Env<'_>) -> &'e Value {
        let found = match self {
            Held::Owned(v) => Some(v),
            Held::Item(place, step) => place.find(env).and_then(|v| step.get(v)),
        };
        found.unwrap_or(&NULL)
    }

    /// Returns where the value lives in the page data, if it is there.
    pub(crate) fn place(&self) -> Option<Place> {
        match self {
            Held::Owned(_) => None,
            Held::Item(place, step) => Some(Place::clone(place).join(step.clone())),
        }
    }

    /// Returns a copy that owns its value (for what outlives the render's page data snapshot).
    pub(crate) fn to_owned_in(&self, env: &Env<'_>) -> Held {
        Held::Owned(self.get(env).clone())
    }
}

/// The locals of a render: `set`, `code` assignments and loop variables, and the open loops.
#[derive(Debug, Clone, Default)]
pub(crate) struct Locals {
    /// Local variables, innermost last.
    pub(crate) vars: Vec<(Arc<str>, Held)>,
    /// The open `for` loops, innermost last.
    pub(crate) loops: Vec<LoopState>,
    /// Set once a local is named `loop`; until then `loop.x` skips the locals.
    pub(crate) loop_shadowed: bool,
}

impl Locals {
    /// Returns the innermost local named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Held> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| **n == *name)
            .map(|(_, v)| v)
    }

    /// Assigns a local: updates the innermost one of that name, or adds it.
    pub(crate) fn assign(&mut self, name: &str, v: Value) {
        self.loop_shadowed |= name == "loop";
        match self.vars.iter_mut().rev().find(|(n, _)| **n == *name) {
            Some((_, slot)) => *slot = Held::Owned(v),
            None => self.vars.push((Arc::from(name), Held::Owned(v))),
        }
    }

    /// Sets up one iteration's locals and `loop` state: names first set inside the body live
    /// for one iteration, outer names keep their updates.
    pub(crate) fn iteration(
        &mut self,
        mark: usize,
        (key, value): &(Option<Arc<str>>, Arc<str>),
        (k, item): (Option<Held>, Held),
        state: LoopState,
    ) {
        self.vars.truncate(mark);
        if state.index0 == 0 {
            self.loops.push(state);
        } else if let Some(top) = self.loops.last_mut() {
            *top = state;
        }
        if let (Some(name), Some(k)) = (key, k) {
            self.vars.push((Arc::clone(name), k));
        }
        self.vars.push((Arc::clone(value), item));
    }

    /// Drops a finished loop's variables and state.
    pub(crate) fn end_loop(&mut self, mark: usize) {
        if self.vars.len() > mark {
            self.vars.truncate(mark);
            self.loops.pop();
        }
    }
}

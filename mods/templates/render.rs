//! The renderer: walks a template's nodes and writes the page, pausing whenever the output is
//! full.
//!
//! In scope: evaluating expressions over `serde_json::Value` data (borrowing from the caller's
//! context wherever it can, so a loop over a context array copies nothing), name lookup (locals,
//! `loop`, `request`, page context, route args, global vars), HTML escaping of `& < > " '`, the
//! render budget (fuel), the include depth bound, and collecting `after` blocks. Out of scope:
//! loading and caching templates (see `mod.rs`) and parsing (see `parse.rs`).
//!
//! The walk over statements is resumable: [`Walker`] keeps an explicit stack of frames (a node
//! list and the next index, a `for` loop's iterator and state, the scope an `include` replaced),
//! so it can stop when the output slot is full and carry on at the next call. Expressions are
//! still evaluated recursively: they produce values, not output. Text is written straight from
//! the template source and escaping writes the clean runs of a string straight through; only the
//! part of one piece that did not fit the slot is kept for the next call.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use elsa::sync::FrozenMap;
use serde_json::{Map, Value};

use super::ast::{AssignOp, BinaryOp, Callee, Expr, ExprKind, Node, Span, Stmt, UnaryOp};
use super::builtins::{self, Builtin, Num, display, float_value, num, truthy, type_name};
use super::error::{ErrorKind, SinkError, TemplateError};
use super::{RenderSink, Template, Templates};

/// A function the application registers.
pub(crate) type Function = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// The registered functions by name.
pub(crate) type Functions = HashMap<String, Function>;

/// Everything a render reads and never changes (but the fuel and the included templates).
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
    /// The templates included so far, by address, kept alive until the render ends. Boxed so
    /// the `Arc` itself has a stable address: the walk borrows `&Arc<Template>` (an `after`
    /// block clones it) for the whole render.
    #[allow(clippy::redundant_allocation)]
    pub(crate) included: FrozenMap<usize, Box<Arc<Template>>>,
}

impl<'a> Env<'a> {
    /// Creates an environment with no loader and nothing included yet.
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
            included: FrozenMap::new(),
        }
    }
}

/// What a render collects as it goes: the `after` blocks reached.
pub(crate) struct Run {
    pub(crate) after: Vec<AfterJob>,
}

/// An `after` block reached by a render, with the local variables it could see.
#[derive(Debug)]
pub(crate) struct AfterJob {
    pub(crate) template: Arc<Template>,
    pub(crate) stmts: Arc<[Stmt]>,
    pub(crate) vars: Vec<(Box<str>, Value)>,
}

/// The state of the innermost `for` loops, read through `loop.*`.
#[derive(Debug, Clone, Copy)]
struct LoopState {
    index0: usize,
    length: usize,
}

type RResult<T> = Result<T, TemplateError>;

/// The scope expressions are evaluated in: the template being walked and its locals.
pub(crate) struct Renderer<'a> {
    env: &'a Env<'a>,
    tpl: &'a Arc<Template>,
    /// Local variables: `set`, `code` assignments and loop variables, innermost last.
    vars: Vec<(&'a str, Cow<'a, Value>)>,
    loops: Vec<LoopState>,
    /// Set once a local is named `loop`; until then `loop.x` skips the locals.
    loop_shadowed: bool,
    include_depth: u32,
}

/// Where a walk writes: a sink that also says when the walk must pause.
pub(crate) trait Output: RenderSink {
    /// Returns whether the walk must stop before the next node.
    fn is_full(&self) -> bool;
}

/// Any sink, never full: the walk runs to the end.
pub(crate) struct Unbounded<'s>(pub(crate) &'s mut dyn RenderSink);

impl RenderSink for Unbounded<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.0.write(bytes)
    }

    fn has_sent(&self) -> bool {
        self.0.has_sent()
    }
}

impl Output for Unbounded<'_> {
    fn is_full(&self) -> bool {
        false
    }
}

/// A caller's slice; what does not fit goes to `spill`, for the next call.
struct SliceOut<'b> {
    buf: &'b mut [u8],
    len: usize,
    spill: &'b mut Vec<u8>,
}

impl RenderSink for SliceOut<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let room = self.buf.len() - self.len;
        let n = room.min(bytes.len());
        let (now, later) = bytes.split_at(n);
        if let Some(dst) = self.buf.get_mut(self.len..self.len + n) {
            dst.copy_from_slice(now);
        }
        self.len += n;
        self.spill.extend_from_slice(later);
        Ok(())
    }

    fn has_sent(&self) -> bool {
        false
    }
}

impl Output for SliceOut<'_> {
    fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }
}

/// One level of the walk.
enum Frame<'a> {
    /// A node list and the index of the next node to render.
    Nodes { nodes: &'a [Node], next: usize },
    /// A `for` loop between iterations (its body runs in the frame above).
    Loop(Box<LoopFrame<'a>>),
    /// An `include` in progress: the includer's scope, restored when the include ends.
    Include(Box<Scope<'a>>),
}

/// The includer's scope, saved while an included template renders.
struct Scope<'a> {
    tpl: &'a Arc<Template>,
    vars: Vec<(&'a str, Cow<'a, Value>)>,
    loops: Vec<LoopState>,
    loop_shadowed: bool,
    include_depth: u32,
}

/// A `for` loop: where it is in what it iterates.
struct LoopFrame<'a> {
    mark: usize,
    names: (Option<&'a str>, &'a str),
    body: &'a [Node],
    span: Span,
    length: usize,
    index0: usize,
    items: Items<'a>,
}

/// What a loop iterates, borrowed from the context where it can be.
enum Items<'a> {
    /// `range(…)`, never built as an array.
    Range {
        next: i64,
        step: i64,
    },
    Borrowed(std::slice::Iter<'a, Value>),
    Owned(std::vec::IntoIter<Value>),
    BorrowedMap(serde_json::map::Iter<'a>),
    OwnedMap(serde_json::map::IntoIter),
}

/// The loop variables of one iteration: the key (two-name form) and the item.
type Item<'a> = (Option<Cow<'a, Value>>, Cow<'a, Value>);

impl<'a> LoopFrame<'a> {
    fn next_item(&mut self) -> Option<Item<'a>> {
        let index0 = self.index0;
        let key = self.names.0.is_some();
        let index = || key.then(|| Cow::Owned(Value::from(index0)));
        match &mut self.items {
            Items::Range { next, step } => {
                if index0 >= self.length {
                    return None;
                }
                let item = Cow::Owned(Value::from(*next));
                *next = next.wrapping_add(*step);
                Some((index(), item))
            }
            Items::Borrowed(it) => it.next().map(|v| (index(), Cow::Borrowed(v))),
            Items::Owned(it) => it.next().map(|v| (index(), Cow::Owned(v))),
            Items::BorrowedMap(it) => it.next().map(|(k, v)| {
                if key {
                    (Some(Cow::Owned(Value::String(k.clone()))), Cow::Borrowed(v))
                } else {
                    (None, Cow::Owned(Value::String(k.clone())))
                }
            }),
            Items::OwnedMap(it) => it.next().map(|(k, v)| {
                if key {
                    (Some(Cow::Owned(Value::String(k))), Cow::Owned(v))
                } else {
                    (None, Cow::Owned(Value::String(k)))
                }
            }),
        }
    }
}

/// A resumable render of one page: an explicit stack of frames over the shared AST.
pub(crate) struct Walker<'a> {
    r: Renderer<'a>,
    stack: Vec<Frame<'a>>,
    run: Run,
    /// Bytes of the last piece that did not fit the caller's slice, from `spill_at` on.
    spill: Vec<u8>,
    spill_at: usize,
    done: bool,
    /// The error the walk stopped on: every later call returns it again.
    failed: Option<TemplateError>,
}

impl<'a> Walker<'a> {
    /// Starts a render of `tpl`.
    pub(crate) fn new(env: &'a Env<'a>, tpl: &'a Arc<Template>) -> Self {
        Walker {
            r: Renderer::new(env, tpl),
            stack: vec![Frame::Nodes {
                nodes: &tpl.nodes,
                next: 0,
            }],
            run: Run { after: Vec::new() },
            spill: Vec::new(),
            spill_at: 0,
            done: false,
            failed: None,
        }
    }

    /// Returns the `after` blocks reached so far (all of them once the walk is done).
    pub(crate) fn take_after(&mut self) -> Vec<AfterJob> {
        std::mem::take(&mut self.run.after)
    }

    /// Renders the rest of the page into `out` (a sink that is never full).
    pub(crate) fn run_to_end(&mut self, out: &mut dyn RenderSink) -> RResult<()> {
        self.walk(&mut Unbounded(out)).map(drop)
    }

    /// Writes the next bytes of the page into `buf` (at most `buf.len()`), returning how many;
    /// 0 means the page is complete (`buf` must not be empty). After an error, every call
    /// returns that error.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) -> RResult<usize> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut len = 0;
        if let Some(pending) = self.spill.get(self.spill_at..).filter(|p| !p.is_empty()) {
            let n = pending.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), pending.get(..n)) {
                dst.copy_from_slice(src);
            }
            len = n;
            self.spill_at += n;
            if self.spill_at == self.spill.len() {
                self.spill.clear();
                self.spill_at = 0;
            }
            if len == buf.len() {
                return Ok(len);
            }
        }
        if self.done {
            return Ok(len);
        }
        let mut spill = std::mem::take(&mut self.spill);
        let mut out = SliceOut {
            buf,
            len,
            spill: &mut spill,
        };
        let walked = self.walk(&mut out);
        let len = out.len;
        self.spill = spill;
        match walked {
            Ok(done) => {
                self.done = done;
                Ok(len)
            }
            Err(e) => {
                self.stack.clear();
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Walks until the page ends (`true`) or `out` is full (`false`).
    fn walk<O: Output>(&mut self, out: &mut O) -> RResult<bool> {
        loop {
            if out.is_full() {
                return Ok(false);
            }
            if let Some(Frame::Nodes { nodes, next }) = self.stack.last_mut() {
                let nodes: &'a [Node] = nodes;
                match nodes.get(*next) {
                    Some(node) => {
                        *next += 1;
                        self.node(node, out)?;
                    }
                    None => {
                        self.stack.pop();
                    }
                }
                continue;
            }
            match self.stack.pop() {
                None => return Ok(true),
                Some(Frame::Nodes { .. }) => {}
                Some(Frame::Loop(mut l)) => match l.next_item() {
                    Some(item) => {
                        let state = LoopState {
                            index0: l.index0,
                            length: l.length,
                        };
                        l.index0 += 1;
                        self.r.iteration(l.mark, l.names, item, state, l.span)?;
                        let body = l.body;
                        self.stack.push(Frame::Loop(l));
                        self.stack.push(Frame::Nodes {
                            nodes: body,
                            next: 0,
                        });
                    }
                    None => self.r.end_loop(l.mark),
                },
                Some(Frame::Include(scope)) => {
                    let Scope {
                        tpl,
                        vars,
                        loops,
                        loop_shadowed,
                        include_depth,
                    } = *scope;
                    self.r.tpl = tpl;
                    self.r.vars = vars;
                    self.r.loops = loops;
                    self.r.loop_shadowed = loop_shadowed;
                    self.r.include_depth = include_depth;
                }
            }
        }
    }

    fn push_body(&mut self, nodes: &'a [Node]) {
        self.stack.push(Frame::Nodes { nodes, next: 0 });
    }

    fn node<O: Output>(&mut self, node: &'a Node, out: &mut O) -> RResult<()> {
        let r = &mut self.r;
        match node {
            Node::Text(span) => {
                r.burn(1, *span)?;
                let text = r
                    .tpl
                    .source
                    .as_bytes()
                    .get(span.range())
                    .unwrap_or_default();
                r.write(out, text, *span)
            }
            Node::Print { expr, raw, span } => {
                r.burn(1, *span)?;
                // `escape(x)` is escaped already: printing it must not escape it twice.
                let escaped = matches!(
                    expr.kind,
                    ExprKind::Call {
                        func: Callee::Builtin(Builtin::Escape),
                        ..
                    }
                );
                let value = r.eval(expr)?;
                write_value(out, &value, !raw && !escaped)
                    .map_err(|e| r.err(ErrorKind::Sink(e), *span))
            }
            Node::If {
                branches,
                otherwise,
                span,
            } => {
                r.burn(1, *span)?;
                for branch in branches {
                    if truthy(&*r.eval(&branch.cond)?) {
                        self.push_body(&branch.body);
                        return Ok(());
                    }
                }
                if let Some(body) = otherwise {
                    self.push_body(body);
                }
                Ok(())
            }
            Node::For {
                key,
                value,
                iter,
                body,
                span,
            } => {
                r.burn(1, *span)?;
                let names = (key.as_ref().map(|k| &*k.name), &*value.name);
                let frame = r.start_loop(names, iter, body, *span)?;
                self.stack.push(Frame::Loop(Box::new(frame)));
                Ok(())
            }
            Node::Set(stmt) => {
                r.burn(1, stmt_span(stmt))?;
                r.stmt(stmt)
            }
            Node::Code { stmts, span } => {
                r.burn(1, *span)?;
                for stmt in stmts {
                    r.burn(1, stmt_span(stmt))?;
                    r.stmt(stmt)?;
                }
                Ok(())
            }
            Node::After { stmts, span } => {
                r.burn(1, *span)?;
                let vars = r
                    .vars
                    .iter()
                    .map(|(n, v)| ((*n).into(), v.clone().into_owned()))
                    .collect();
                self.run.after.push(AfterJob {
                    template: Arc::clone(r.tpl),
                    stmts: Arc::clone(stmts),
                    vars,
                });
                Ok(())
            }
            Node::Include { path, span } => {
                r.burn(1, *span)?;
                self.include(path, *span)
            }
        }
    }

    /// Enters an included template: saves the includer's scope and gives the include a copy of
    /// its locals (its own `set`s stay inside it).
    fn include(&mut self, path: &str, span: Span) -> RResult<()> {
        let r = &mut self.r;
        if r.include_depth >= r.env.max_include_depth {
            return Err(r.err(
                ErrorKind::IncludeDepth {
                    max: r.env.max_include_depth,
                },
                span,
            ));
        }
        let loaded = match &r.env.loader {
            Some(t) => t.load(path),
            None => Err(TemplateError::unlocated(ErrorKind::NotFound, path)),
        };
        let tpl = loaded.map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::InvalidName => {
                r.err(ErrorKind::IncludeNotFound(path.into()), span)
            }
            _ => e,
        })?;
        let env: &'a Env<'a> = r.env;
        let tpl: &'a Arc<Template> = env
            .included
            .insert(Arc::as_ptr(&tpl) as usize, Box::new(tpl));
        let saved = Scope {
            tpl: r.tpl,
            vars: r.vars.clone(),
            loops: r.loops.clone(),
            loop_shadowed: r.loop_shadowed,
            include_depth: r.include_depth,
        };
        r.tpl = tpl;
        r.include_depth += 1;
        self.stack.push(Frame::Include(Box::new(saved)));
        self.push_body(&tpl.nodes);
        Ok(())
    }
}

impl<'a> Renderer<'a> {
    pub(crate) fn new(env: &'a Env<'a>, tpl: &'a Arc<Template>) -> Self {
        Renderer {
            env,
            tpl,
            vars: Vec::new(),
            loops: Vec::new(),
            loop_shadowed: false,
            include_depth: 0,
        }
    }

    /// Creates a renderer seeing `vars` as locals (for `after` blocks).
    pub(crate) fn with_vars(
        env: &'a Env<'a>,
        tpl: &'a Arc<Template>,
        vars: &'a [(Box<str>, Value)],
    ) -> Self {
        let mut r = Renderer::new(env, tpl);
        r.vars = vars.iter().map(|(n, v)| (&**n, Cow::Borrowed(v))).collect();
        r.loop_shadowed = vars.iter().any(|(n, _)| &**n == "loop");
        r
    }

    fn err(&self, kind: ErrorKind, span: Span) -> TemplateError {
        TemplateError::located(kind, &self.tpl.name, &self.tpl.source, span)
    }

    fn burn(&self, steps: u64, span: Span) -> RResult<()> {
        let left = self.env.fuel.load(Ordering::Relaxed);
        if left < steps {
            self.env.fuel.store(0, Ordering::Relaxed);
            return Err(self.err(
                ErrorKind::FuelExhausted {
                    fuel: self.env.max_fuel,
                },
                span,
            ));
        }
        self.env.fuel.store(left - steps, Ordering::Relaxed);
        Ok(())
    }

    /// Charges for a string or array just built, by size, so doubling one in a loop stops.
    fn burn_size(&self, v: &Value, span: Span) -> RResult<()> {
        match v {
            Value::String(s) => self.burn(s.len() as u64 / 64, span),
            Value::Array(a) => self.burn(a.len() as u64 / 8, span),
            _ => Ok(()),
        }
    }

    fn write(&self, out: &mut dyn RenderSink, bytes: &[u8], span: Span) -> RResult<()> {
        out.write(bytes)
            .map_err(|e| self.err(ErrorKind::Sink(e), span))
    }

    /// Evaluates what a `for` iterates and returns the loop, before its first iteration.
    fn start_loop(
        &mut self,
        (key, value): (Option<&'a str>, &'a str),
        iter: &'a Expr,
        body: &'a [Node],
        span: Span,
    ) -> RResult<LoopFrame<'a>> {
        let mark = self.vars.len();
        self.loop_shadowed |= value == "loop" || key == Some("loop");
        let frame = |length, items| LoopFrame {
            mark,
            names: (key, value),
            body,
            span,
            length,
            index0: 0,
            items,
        };
        // `for i in range(…)` never builds the array.
        if let ExprKind::Call {
            func: Callee::Builtin(Builtin::Range),
            args,
            ..
        } = &iter.kind
        {
            let args = self.eval_args(Builtin::Range, args, iter.span)?;
            let (start, stop, step) =
                builtins::range_args(args.as_slice()).map_err(|k| self.err(k, iter.span))?;
            let length =
                usize::try_from(builtins::range_len(start, stop, step)).unwrap_or(usize::MAX);
            return Ok(frame(length, Items::Range { next: start, step }));
        }
        Ok(match self.eval(iter)? {
            Cow::Borrowed(Value::Array(items)) => frame(items.len(), Items::Borrowed(items.iter())),
            Cow::Owned(Value::Array(items)) => frame(items.len(), Items::Owned(items.into_iter())),
            Cow::Borrowed(Value::Object(map)) => frame(map.len(), Items::BorrowedMap(map.iter())),
            Cow::Owned(Value::Object(map)) => frame(map.len(), Items::OwnedMap(map.into_iter())),
            other => {
                return Err(self.err(
                    ErrorKind::WrongType(
                        format!("cannot iterate over {}", type_name(&other)).into(),
                    ),
                    iter.span,
                ));
            }
        })
    }

    /// Sets up one iteration's locals and `loop` state (the walker then renders the body).
    fn iteration(
        &mut self,
        mark: usize,
        (key, value): (Option<&'a str>, &'a str),
        (k, item): Item<'a>,
        state: LoopState,
        span: Span,
    ) -> RResult<()> {
        self.burn(1, span)?;
        // Names first set inside the body live for one iteration; outer names keep updates.
        self.vars.truncate(mark);
        if state.index0 == 0 {
            self.loops.push(state);
        } else if let Some(top) = self.loops.last_mut() {
            *top = state;
        }
        if let (Some(name), Some(k)) = (key, k) {
            self.vars.push((name, k));
        }
        self.vars.push((value, item));
        Ok(())
    }

    fn end_loop(&mut self, mark: usize) {
        if self.vars.len() > mark {
            self.vars.truncate(mark);
            self.loops.pop();
        }
    }

    /// Runs a statement of `set`, `code` or `after` (assignments go to the locals).
    pub(crate) fn stmt(&mut self, stmt: &'a Stmt) -> RResult<()> {
        match stmt {
            Stmt::Assign {
                target,
                op,
                value,
                span,
            } => {
                let v = self.eval(value)?.into_owned();
                let v = match op {
                    AssignOp::Set => v,
                    AssignOp::Add | AssignOp::Sub => {
                        let old = self.lookup(&target.name, target.span)?;
                        let bop = if *op == AssignOp::Add {
                            BinaryOp::Add
                        } else {
                            BinaryOp::Sub
                        };
                        let v = arith(bop, &old, &v).map_err(|k| self.err(k, *span))?;
                        self.burn_size(&v, *span)?;
                        v
                    }
                };
                self.assign(&target.name, v);
                Ok(())
            }
            Stmt::Expr(e) => self.eval(e).map(drop),
        }
    }

    fn assign(&mut self, name: &'a str, v: Value) {
        self.loop_shadowed |= name == "loop";
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some((_, slot)) => *slot = Cow::Owned(v),
            None => self.vars.push((name, Cow::Owned(v))),
        }
    }

    /// Looks a name up: locals, `loop`, `request`, page context, route args, global vars.
    fn lookup(&self, name: &str, span: Span) -> RResult<Cow<'a, Value>> {
        if let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| *n == name) {
            return Ok(match v {
                Cow::Borrowed(r) => Cow::Borrowed(*r),
                Cow::Owned(v) => Cow::Owned(v.clone()),
            });
        }
        if name == "loop" {
            if let Some(state) = self.loops.last() {
                let mut m = Map::new();
                for key in ["index", "index0", "first", "last", "length"] {
                    m.insert(
                        key.to_owned(),
                        loop_field(*state, key).unwrap_or(Value::Null),
                    );
                }
                return Ok(Cow::Owned(Value::Object(m)));
            }
        }
        if name == "request" {
            return Ok(Cow::Borrowed(&*self.env.request));
        }
        let env = self.env;
        for scope in [&*env.context, &*env.args] {
            if let Some(v) = scope.get(name) {
                return Ok(Cow::Borrowed(v));
            }
        }
        match env.globals.get(name) {
            Some(v) => Ok(Cow::Borrowed(v)),
            None => Err(self.err(ErrorKind::UnknownName(name.into()), span)),
        }
    }

    /// Evaluates an expression, borrowing from the context where it can.
    pub(crate) fn eval(&self, e: &'a Expr) -> RResult<Cow<'a, Value>> {
        match &e.kind {
            ExprKind::Literal(v) => Ok(Cow::Borrowed(v)),
            ExprKind::Name(n) => self.lookup(n, e.span),
            ExprKind::Attr(base, key) => {
                // `loop.index` without building the `loop` object.
                if let ExprKind::Name(n) = &base.kind {
                    if !self.loop_shadowed && &**n == "loop" {
                        if let Some(field) = self.loops.last().and_then(|s| loop_field(*s, key)) {
                            return Ok(Cow::Owned(field));
                        }
                    }
                }
                let b = self.eval(base)?;
                self.get_key(b, key, e.span)
            }
            ExprKind::Index(base, index) => {
                let b = self.eval(base)?;
                let i = self.eval(index)?;
                match &*i {
                    Value::String(k) => self.get_key(b, k, e.span),
                    Value::Number(_) => self.get_index(b, &i, e.span),
                    other => Err(self.err(
                        ErrorKind::WrongType(
                            format!("cannot index with {}", type_name(other)).into(),
                        ),
                        index.span,
                    )),
                }
            }
            ExprKind::Unary(UnaryOp::Not, x) => {
                Ok(Cow::Owned(Value::Bool(!truthy(&*self.eval(x)?))))
            }
            ExprKind::Unary(UnaryOp::Neg, x) => {
                let v = self.eval(x)?;
                let r = match num(&v) {
                    Some(Num::Int(i)) => {
                        i.checked_neg().map(Value::from).ok_or(ErrorKind::Overflow)
                    }
                    Some(Num::Float(f)) => float_value(-f),
                    None => Err(ErrorKind::WrongType(
                        format!("cannot negate {}", type_name(&v)).into(),
                    )),
                };
                r.map(Cow::Owned).map_err(|k| self.err(k, e.span))
            }
            ExprKind::Binary(BinaryOp::Or, l, r) => {
                let lv = self.eval(l)?;
                if truthy(&lv) { Ok(lv) } else { self.eval(r) }
            }
            ExprKind::Binary(BinaryOp::And, l, r) => {
                let lv = self.eval(l)?;
                if truthy(&lv) { self.eval(r) } else { Ok(lv) }
            }
            ExprKind::Binary(op, l, r) => {
                let lv = self.eval(l)?;
                let rv = self.eval(r)?;
                let v = binary(*op, &lv, &rv).map_err(|k| self.err(k, e.span))?;
                self.burn_size(&v, e.span)?;
                Ok(Cow::Owned(v))
            }
            ExprKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(item)?.into_owned());
                }
                Ok(Cow::Owned(Value::Array(out)))
            }
            ExprKind::Object(items) => {
                let mut out = Map::new();
                for (k, v) in items {
                    out.insert(k.to_string(), self.eval(v)?.into_owned());
                }
                Ok(Cow::Owned(Value::Object(out)))
            }
            ExprKind::Call { func, args, .. } => self.call(func, args, e.span),
        }
    }

    fn get_key(&self, base: Cow<'a, Value>, key: &str, span: Span) -> RResult<Cow<'a, Value>> {
        let missing = || self.err(ErrorKind::MissingKey(key.into()), span);
        match base {
            Cow::Borrowed(Value::Object(m)) => m.get(key).map(Cow::Borrowed).ok_or_else(missing),
            Cow::Owned(Value::Object(mut m)) => m.remove(key).map(Cow::Owned).ok_or_else(missing),
            // `user.nick` on a null `user` is undefined, so `default` can stand in for it.
            Cow::Borrowed(Value::Null) | Cow::Owned(Value::Null) => Err(missing()),
            other => Err(self.err(
                ErrorKind::WrongType(
                    format!("cannot read `{key}` of {}", type_name(&other)).into(),
                ),
                span,
            )),
        }
    }

    fn get_index(
        &self,
        base: Cow<'a, Value>,
        index: &Value,
        span: Span,
    ) -> RResult<Cow<'a, Value>> {
        let Some(i) = index.as_i64() else {
            return Err(self.err(
                ErrorKind::WrongType("cannot index with a float".into()),
                span,
            ));
        };
        // Negative indexes count from the end, as in Python.
        let at = |len: usize| {
            let len = i64::try_from(len).unwrap_or(i64::MAX);
            let j = if i < 0 { i + len } else { i };
            if (0..len).contains(&j) {
                usize::try_from(j).ok()
            } else {
                None
            }
        };
        let out = || self.err(ErrorKind::IndexOutOfRange(i), span);
        if let Some(s) = base.as_str() {
            let n = s.chars().count();
            return at(n)
                .and_then(|j| s.chars().nth(j))
                .map(|c| Cow::Owned(Value::String(c.to_string())))
                .ok_or_else(out);
        }
        match base {
            Cow::Borrowed(Value::Array(a)) => at(a.len())
                .and_then(|j| a.get(j))
                .map(Cow::Borrowed)
                .ok_or_else(out),
            Cow::Owned(Value::Array(mut a)) => match at(a.len()) {
                Some(j) => Ok(Cow::Owned(a.swap_remove(j))),
                None => Err(out()),
            },
            other => Err(self.err(
                ErrorKind::WrongType(format!("cannot index {}", type_name(&other)).into()),
                span,
            )),
        }
    }

    fn eval_args(&self, b: Builtin, args: &'a [Expr], span: Span) -> RResult<Args<'a>> {
        let (min, max) = b.arity();
        if args.len() < min || args.len() > max {
            let want = match (min, max) {
                (1, 1) => "1 argument".to_owned(),
                (a, b) if a == b => format!("{a} arguments"),
                (a, b) => format!("{a} to {b} arguments"),
            };
            return Err(self.err(
                ErrorKind::Arguments(
                    format!("`{}` takes {want}, got {}", b.name(), args.len()).into(),
                ),
                span,
            ));
        }
        let mut vals = Args {
            vals: [const { Cow::Borrowed(&NULL) }; 3],
            len: 0,
        };
        for (slot, arg) in vals.vals.iter_mut().zip(args) {
            *slot = self.eval(arg)?;
            vals.len += 1;
        }
        Ok(vals)
    }

    fn call(&self, func: &Callee, args: &'a [Expr], span: Span) -> RResult<Cow<'a, Value>> {
        match func {
            Callee::Builtin(Builtin::Default) => {
                if args.is_empty() || args.len() > 2 {
                    return Err(self.err(
                        ErrorKind::Arguments(
                            format!("`default` takes 1 to 2 arguments, got {}", args.len()).into(),
                        ),
                        span,
                    ));
                }
                let first = args.first().map(|a| self.eval(a));
                let fallback = || match args.get(1) {
                    Some(d) => self.eval(d),
                    None => Ok(Cow::Owned(Value::String(String::new()))),
                };
                match first {
                    Some(Ok(v)) if !v.is_null() => Ok(v),
                    Some(Err(e)) if !e.kind().is_undefined() => Err(e),
                    _ => fallback(),
                }
            }
            Callee::Builtin(b @ Builtin::Range) => {
                let vals = self.eval_args(*b, args, span)?;
                let (start, stop, step) =
                    builtins::range_args(vals.as_slice()).map_err(|k| self.err(k, span))?;
                // The array is built only if the budget pays for it.
                self.burn(builtins::range_len(start, stop, step), span)?;
                b.call(vals.as_slice())
                    .map(Cow::Owned)
                    .map_err(|k| self.err(k, span))
            }
            Callee::Builtin(b) => {
                let vals = self.eval_args(*b, args, span)?;
                b.call(vals.as_slice())
                    .map(Cow::Owned)
                    .map_err(|k| self.err(k, span))
            }
            Callee::Registered(name) => {
                self.burn(1, span)?;
                let Some(f) = self.env.functions.get(&**name) else {
                    return Err(self.err(ErrorKind::UnknownFunction(name.clone()), span));
                };
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a)?.into_owned());
                }
                f(&vals).map(Cow::Owned).map_err(|message| {
                    self.err(
                        ErrorKind::FunctionFailed {
                            name: name.clone(),
                            message: message.into(),
                        },
                        span,
                    )
                })
            }
        }
    }
}

static NULL: Value = Value::Null;

/// The evaluated arguments of a built-in (at most three), kept on the stack.
struct Args<'a> {
    vals: [Cow<'a, Value>; 3],
    len: usize,
}

impl<'a> Args<'a> {
    fn as_slice(&self) -> &[Cow<'a, Value>] {
        self.vals.get(..self.len).unwrap_or_default()
    }
}

fn stmt_span(stmt: &Stmt) -> Span {
    match stmt {
        Stmt::Assign { span, .. } => *span,
        Stmt::Expr(e) => e.span,
    }
}

fn loop_field(s: LoopState, key: &str) -> Option<Value> {
    Some(match key {
        "index" => Value::from(s.index0 + 1),
        "index0" => Value::from(s.index0),
        "first" => Value::Bool(s.index0 == 0),
        "last" => Value::Bool(s.index0 + 1 == s.length),
        "length" => Value::from(s.length),
        _ => return None,
    })
}

fn wrong(op: BinaryOp, l: &Value, r: &Value) -> ErrorKind {
    ErrorKind::WrongType(
        format!(
            "cannot apply `{}` to {} and {}",
            op.as_str(),
            type_name(l),
            type_name(r)
        )
        .into(),
    )
}

/// Evaluates a non-short-circuit binary operator.
pub(crate) fn binary(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, ErrorKind> {
    use std::cmp::Ordering;
    let cmp = |l: &Value, r: &Value| -> Result<Ordering, ErrorKind> {
        match (l, r) {
            (Value::String(a), Value::String(b)) => Ok(a.cmp(b)),
            _ => match (num(l), num(r)) {
                (Some(Num::Int(a)), Some(Num::Int(b))) => Ok(a.cmp(&b)),
                (Some(a), Some(b)) => a
                    .as_f64()
                    .partial_cmp(&b.as_f64())
                    .ok_or(ErrorKind::Overflow),
                _ => Err(wrong(op, l, r)),
            },
        }
    };
    Ok(Value::Bool(match op {
        BinaryOp::Eq => equal(l, r),
        BinaryOp::Ne => !equal(l, r),
        BinaryOp::Lt => cmp(l, r)? == Ordering::Less,
        BinaryOp::Le => cmp(l, r)? != Ordering::Greater,
        BinaryOp::Gt => cmp(l, r)? == Ordering::Greater,
        BinaryOp::Ge => cmp(l, r)? != Ordering::Less,
        BinaryOp::In | BinaryOp::NotIn => {
            let found = match (l, r) {
                (Value::String(needle), Value::String(hay)) => hay.contains(needle.as_str()),
                (_, Value::Array(items)) => items.iter().any(|x| equal(l, x)),
                (Value::String(k), Value::Object(m)) => m.contains_key(k),
                _ => return Err(wrong(op, l, r)),
            };
            found == (op == BinaryOp::In)
        }
        _ => return arith(op, l, r),
    }))
}

/// Evaluates `+ - * / %`.
fn arith(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, ErrorKind> {
    match (op, l, r) {
        (BinaryOp::Add, Value::String(a), Value::String(b)) => {
            let mut s = String::with_capacity(a.len() + b.len());
            s.push_str(a);
            s.push_str(b);
            return Ok(Value::String(s));
        }
        (BinaryOp::Add, Value::Array(a), Value::Array(b)) => {
            return Ok(Value::Array(a.iter().chain(b).cloned().collect()));
        }
        _ => {}
    }
    let (Some(a), Some(b)) = (num(l), num(r)) else {
        return Err(wrong(op, l, r));
    };
    match (a, b) {
        (Num::Int(a), Num::Int(b)) => {
            let v = match op {
                BinaryOp::Add => a.checked_add(b),
                BinaryOp::Sub => a.checked_sub(b),
                BinaryOp::Mul => a.checked_mul(b),
                BinaryOp::Div => {
                    if b == 0 {
                        return Err(ErrorKind::DivisionByZero);
                    }
                    // An exact quotient stays an integer; otherwise the result is a float.
                    if a.checked_rem(b) == Some(0) {
                        a.checked_div(b)
                    } else {
                        return float_value(a as f64 / b as f64);
                    }
                }
                BinaryOp::Rem => {
                    if b == 0 {
                        return Err(ErrorKind::DivisionByZero);
                    }
                    // Python's modulo takes the sign of the divisor.
                    a.checked_rem(b).map(|m| {
                        if m != 0 && (m < 0) != (b < 0) {
                            m + b
                        } else {
                            m
                        }
                    })
                }
                _ => return Err(wrong(op, l, r)),
            };
            v.map(Value::from).ok_or(ErrorKind::Overflow)
        }
        (a, b) => {
            let (a, b) = (a.as_f64(), b.as_f64());
            let v = match op {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div | BinaryOp::Rem if b == 0.0 => return Err(ErrorKind::DivisionByZero),
                BinaryOp::Div => a / b,
                BinaryOp::Rem => {
                    let m = a % b;
                    if m != 0.0 && (m < 0.0) != (b < 0.0) {
                        m + b
                    } else {
                        m
                    }
                }
                _ => return Err(wrong(op, l, r)),
            };
            float_value(v)
        }
    }
}

/// Deep equality where `1 == 1.0`.
fn equal(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Number(_), Value::Number(_)) => match (num(l), num(r)) {
            (Some(Num::Int(a)), Some(Num::Int(b))) => a == b,
            (Some(a), Some(b)) => a.as_f64() == b.as_f64(),
            _ => false,
        },
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => l == r,
    }
}

/// Writes a value as `<< >>` prints it, escaped or not.
pub(crate) fn write_value(
    out: &mut dyn RenderSink,
    v: &Value,
    escape: bool,
) -> Result<(), SinkError> {
    match v {
        Value::Null => Ok(()),
        Value::Bool(true) => out.write(b"true"),
        Value::Bool(false) => out.write(b"false"),
        Value::String(s) if escape => write_escaped(out, s.as_bytes()),
        Value::String(s) => out.write(s.as_bytes()),
        Value::Number(n) => {
            // Numbers never need escaping; format them on the stack.
            let mut buf = StackBuf {
                buf: [0; 40],
                len: 0,
            };
            match n.as_i64() {
                Some(i) => out.write(format_int(i, &mut buf.buf)),
                None => {
                    write!(buf, "{n}").map_err(|_| SinkError::Closed)?;
                    out.write(buf.as_bytes())
                }
            }
        }
        other => {
            let text = display(other);
            if escape {
                write_escaped(out, text.as_bytes())
            } else {
                out.write(text.as_bytes())
            }
        }
    }
}

/// Writes `bytes` escaping `& < > " '`: clean runs go straight to the sink.
pub(crate) fn write_escaped(out: &mut dyn RenderSink, bytes: &[u8]) -> Result<(), SinkError> {
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        if let Some(entity) = builtins::entity(b) {
            if last < i {
                out.write(bytes.get(last..i).unwrap_or_default())?;
            }
            out.write(entity.as_bytes())?;
            last = i + 1;
        }
    }
    if last < bytes.len() {
        out.write(bytes.get(last..).unwrap_or_default())?;
    }
    Ok(())
}

static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t
};

/// Formats an integer into the end of `buf` and returns the digits.
fn format_int(i: i64, buf: &mut [u8; 40]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        if let Some(d) = buf.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        if let Some(d) = buf.get_mut(at) {
            *d = b'-';
        }
    }
    buf.get(at..).unwrap_or_default()
}

/// A fixed buffer for formatting numbers without allocating.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl StackBuf {
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arithmetic_follows_python_where_it_matters() {
        assert_eq!(arith(BinaryOp::Rem, &json!(-7), &json!(3)), Ok(json!(2)));
        assert_eq!(arith(BinaryOp::Rem, &json!(7), &json!(-3)), Ok(json!(-2)));
        assert_eq!(arith(BinaryOp::Div, &json!(7), &json!(2)), Ok(json!(3.5)));
        assert_eq!(arith(BinaryOp::Div, &json!(8), &json!(2)), Ok(json!(4)));
        assert_eq!(
            arith(BinaryOp::Div, &json!(1), &json!(0)),
            Err(ErrorKind::DivisionByZero)
        );
        assert_eq!(
            arith(BinaryOp::Div, &json!(1.5), &json!(0.0)),
            Err(ErrorKind::DivisionByZero)
        );
        assert_eq!(
            arith(BinaryOp::Add, &json!(i64::MAX), &json!(1)),
            Err(ErrorKind::Overflow)
        );
        assert_eq!(arith(BinaryOp::Add, &json!(1), &json!(0.5)), Ok(json!(1.5)));
        assert_eq!(
            arith(BinaryOp::Add, &json!([1]), &json!([2])),
            Ok(json!([1, 2]))
        );
        assert!(matches!(
            arith(BinaryOp::Add, &json!("a"), &json!(1)),
            Err(ErrorKind::WrongType(_))
        ));
    }

    #[test]
    fn comparisons_treat_ints_and_floats_alike() {
        assert_eq!(
            binary(BinaryOp::Eq, &json!(1), &json!(1.0)),
            Ok(json!(true))
        );
        assert_eq!(
            binary(BinaryOp::Lt, &json!(1), &json!(1.5)),
            Ok(json!(true))
        );
        assert_eq!(
            binary(BinaryOp::In, &json!(2.0), &json!([1, 2])),
            Ok(json!(true))
        );
        assert_eq!(
            binary(BinaryOp::NotIn, &json!("k"), &json!({"k": 1})),
            Ok(json!(false))
        );
        assert!(binary(BinaryOp::Lt, &json!("a"), &json!(1)).is_err());
    }

    #[test]
    fn escaping_writes_clean_runs_and_entities() {
        let mut out = Vec::new();
        write_escaped(&mut out, b"a<b>&\"c'").unwrap();
        assert_eq!(out, b"a&lt;b&gt;&amp;&quot;c&#39;");
        let mut out = Vec::new();
        write_value(&mut out, &json!(i64::MIN), true).unwrap();
        write_value(&mut out, &json!(0), true).unwrap();
        write_value(&mut out, &json!(-12), true).unwrap();
        write_value(&mut out, &json!(2.5), true).unwrap();
        write_value(&mut out, &json!(["<"]), true).unwrap();
        assert_eq!(out, b"-92233720368547758080-122.5[&quot;&lt;&quot;]");
    }
}

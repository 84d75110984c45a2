//! The walker: the control flow of a render over a template's nodes (text, prints, `if`, `for`,
//! `set`, `code`, `after`, `include`), writing the page and pausing whenever the output is full.
//!
//! In scope: the order nodes render in, loop iteration, entering and leaving includes (with the
//! include depth bound), and collecting `after` blocks. Out of scope: evaluating expressions (see
//! `eval.rs`), the locals (see `scope.rs`) and where the bytes go (see `sink.rs`).
//!
//! The walk is resumable and owns what it walks: [`Walker`] holds the render's environment, the
//! template being walked (an `Arc`, as the cache shares it) and an explicit stack of frames (a
//! node list, named by the node that opened it, and the next index; a `for` loop's position in
//! what it iterates; the scope an `include` replaced), so it can stop when the output slot is full
//! and carry on at the next call. Text is written straight from the template source and escaping
//! writes the clean runs of a string straight through; only the part of one piece that did not
//! fit the slot is kept for the next call.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::Template;
use super::after::AfterJob;
use super::ast::{Callee, Expr, ExprKind, Ident, Node, Span};
use super::builtins::{self, Builtin, truthy, type_name};
use super::env::Env;
use super::error::{ErrorKind, TemplateError};
use super::eval::{Evaluator, RResult, run_stmt, stmt_span};
use super::print::write_value;
use super::scope::{Held, Locals, LoopState, Place, Step};
use super::sink::{Output, RenderSink, SliceOut, Unbounded};

/// Which node list a [`Frame::Nodes`] walks: the page's, or a body of the node that opened it
/// (the node before `next` in the node list below it).
#[derive(Debug, Clone, Copy)]
enum Body {
    /// The nodes of the template itself (the page, or an included template).
    Page,
    /// The body of an `if`'s branch (`0` is the `if`, then each `elif`).
    Branch(usize),
    /// The `else` body of an `if`.
    Otherwise,
    /// The body of a `for`.
    Loop,
}

impl Body {
    /// Returns this body of `node`.
    fn of(self, node: &Node) -> Option<&[Node]> {
        match (self, node) {
            (Body::Branch(i), Node::If { branches, .. }) => {
                branches.get(i).map(|b| b.body.as_slice())
            }
            (Body::Otherwise, Node::If { otherwise, .. }) => otherwise.as_deref(),
            (Body::Loop, Node::For { body, .. }) => Some(body),
            _ => None,
        }
    }
}

/// One level of the walk.
enum Frame {
    /// A node list and the index of the next node to render.
    Nodes { body: Body, next: usize },
    /// A `for` loop between iterations (its body runs in the frame above).
    Loop(Box<LoopFrame>),
    /// An `include` in progress: the includer's scope, restored when the include ends.
    Include(Box<Scope>),
}

/// The template being walked and what its nodes see.
struct Scope {
    tpl: Arc<Template>,
    locals: Locals,
    include_depth: u32,
}

/// A `for` loop: where it is in what it iterates.
struct LoopFrame {
    mark: usize,
    names: (Option<Arc<str>>, Arc<str>),
    span: Span,
    length: usize,
    index0: usize,
    items: Items,
}

/// What a loop iterates: its own values, or an array or object of the page data by position.
enum Items {
    /// `range(…)`, never built as an array.
    Range {
        next: i64,
        step: i64,
    },
    Owned(std::vec::IntoIter<Value>),
    OwnedMap(serde_json::map::IntoIter),
    /// An array of the page data; the next item is at `index0`.
    Placed(Arc<Place>),
    /// An object of the page data and the keys still to visit, in order.
    PlacedMap(Arc<Place>, std::vec::IntoIter<String>),
}

/// The loop variables of one iteration: the key (two-name form) and the item.
type Item = (Option<Held>, Held);

impl LoopFrame {
    fn next_item(&mut self) -> Option<Item> {
        let index0 = self.index0;
        let key = self.names.0.is_some();
        let index = || key.then(|| Held::Owned(Value::from(index0)));
        match &mut self.items {
            Items::Range { next, step } => {
                if index0 >= self.length {
                    return None;
                }
                let item = Held::Owned(Value::from(*next));
                *next = next.wrapping_add(*step);
                Some((index(), item))
            }
            Items::Placed(place) => (index0 < self.length)
                .then(|| (index(), Held::Item(Arc::clone(place), Step::Index(index0)))),
            Items::Owned(it) => it.next().map(|v| (index(), Held::Owned(v))),
            Items::PlacedMap(place, keys) => keys.next().map(|k| {
                if key {
                    let item = Held::Item(Arc::clone(place), Step::Key(k.as_str().into()));
                    (Some(Held::Owned(Value::String(k))), item)
                } else {
                    (None, Held::Owned(Value::String(k)))
                }
            }),
            Items::OwnedMap(it) => it.next().map(|(k, v)| {
                if key {
                    (Some(Held::Owned(Value::String(k))), Held::Owned(v))
                } else {
                    (None, Held::Owned(Value::String(k)))
                }
            }),
        }
    }
}

/// Returns the node list the frame at `at` walks: the template's own, or the body of the node
/// that opened it, found from the node list below.
fn nodes_at<'t>(tpl: &'t Template, stack: &[Frame], at: usize) -> Option<&'t [Node]> {
    let Some(Frame::Nodes { body, .. }) = stack.get(at) else {
        return None;
    };
    if let Body::Page = body {
        return Some(&tpl.nodes);
    }
    let below = stack.get(..at)?;
    let parent = below
        .iter()
        .rposition(|f| matches!(f, Frame::Nodes { .. }))?;
    let Some(Frame::Nodes { next, .. }) = below.get(parent) else {
        return None;
    };
    let opener = nodes_at(tpl, stack, parent)?.get(next.checked_sub(1)?)?;
    body.of(opener)
}

/// A resumable render of one page: its environment, the template and an explicit stack of
/// frames over the shared AST.
pub(crate) struct Walker<'a> {
    env: Env<'a>,
    /// The page's template (includes change `scope.tpl`, never this).
    page: Arc<Template>,
    scope: Scope,
    stack: Vec<Frame>,
    /// The `after` blocks reached.
    after: Vec<AfterJob>,
    /// Bytes of the last piece that did not fit the caller's slice, from `spill_at` on.
    spill: Vec<u8>,
    spill_at: usize,
    done: bool,
    /// The error the walk stopped on: every later call returns it again.
    failed: Option<TemplateError>,
}

impl<'a> Walker<'a> {
    /// Starts a render of `tpl` in `env`.
    pub(crate) fn new(env: Env<'a>, tpl: Arc<Template>) -> Self {
        Walker {
            env,
            page: Arc::clone(&tpl),
            scope: Scope {
                tpl,
                locals: Locals::default(),
                include_depth: 0,
            },
            stack: vec![Frame::Nodes {
                body: Body::Page,
                next: 0,
            }],
            after: Vec::new(),
            spill: Vec::new(),
            spill_at: 0,
            done: false,
            failed: None,
        }
    }

    /// Returns the page's template.
    pub(crate) fn template(&self) -> &Template {
        &self.page
    }

    /// Ends the walk: returns the `after` blocks reached (all of them once the walk is done) and
    /// the environment, whose page data they read.
    pub(crate) fn into_after(self) -> (Vec<AfterJob>, Env<'a>) {
        (self.after, self.env)
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
            match self.stack.last() {
                None => return Ok(true),
                Some(Frame::Nodes { .. }) => self.walk_nodes(out)?,
                Some(_) => self.resume()?,
            }
        }
    }

    /// Renders the innermost node list until it ends, a node opens a frame or `out` is full.
    fn walk_nodes<O: Output>(&mut self, out: &mut O) -> RResult<()> {
        let tpl = Arc::clone(&self.scope.tpl);
        let height = self.stack.len();
        let Some(nodes) = nodes_at(&tpl, &self.stack, height.saturating_sub(1)) else {
            self.stack.pop();
            return Ok(());
        };
        while self.stack.len() == height && !out.is_full() {
            let Some(Frame::Nodes { next, .. }) = self.stack.last_mut() else {
                break;
            };
            let Some(node) = nodes.get(*next) else {
                self.stack.pop();
                break;
            };
            *next += 1;
            self.node(node, &tpl, out)?;
        }
        Ok(())
    }

    /// Takes up the frame below a finished node list: the loop's next iteration, or the
    /// includer's scope.
    fn resume(&mut self) -> RResult<()> {
        match self.stack.pop() {
            Some(Frame::Loop(mut l)) => match l.next_item() {
                Some(item) => {
                    let state = LoopState {
                        index0: l.index0,
                        length: l.length,
                    };
                    l.index0 += 1;
                    Evaluator::new(&self.env, &self.scope.tpl, &self.scope.locals)
                        .burn(1, l.span)?;
                    self.scope.locals.iteration(l.mark, &l.names, item, state);
                    self.stack.push(Frame::Loop(l));
                    self.stack.push(Frame::Nodes {
                        body: Body::Loop,
                        next: 0,
                    });
                }
                None => self.scope.locals.end_loop(l.mark),
            },
            Some(Frame::Include(scope)) => self.scope = *scope,
            Some(Frame::Nodes { .. }) | None => {}
        }
        Ok(())
    }

    fn push_body(&mut self, body: Body) {
        self.stack.push(Frame::Nodes { body, next: 0 });
    }

    fn node<O: Output>(&mut self, node: &Node, tpl: &Template, out: &mut O) -> RResult<()> {
        let ev = Evaluator::new(&self.env, tpl, &self.scope.locals);
        match node {
            Node::Text(span) => {
                ev.burn(1, *span)?;
                let text = tpl.source.as_bytes().get(span.range()).unwrap_or_default();
                ev.write(out, text, *span)
            }
            Node::Print { expr, raw, span } => {
                ev.burn(1, *span)?;
                // `escape(x)` is escaped already: printing it must not escape it twice.
                let escaped = matches!(
                    expr.kind,
                    ExprKind::Call {
                        func: Callee::Builtin(Builtin::Escape),
                        ..
                    }
                );
                let value = ev.eval(expr)?;
                write_value(out, &value, !raw && !escaped)
                    .map_err(|e| ev.err(ErrorKind::Sink(e), *span))
            }
            Node::If {
                branches,
                otherwise,
                span,
            } => {
                ev.burn(1, *span)?;
                for (i, branch) in branches.iter().enumerate() {
                    if truthy(&*ev.eval(&branch.cond)?) {
                        self.push_body(Body::Branch(i));
                        return Ok(());
                    }
                }
                if otherwise.is_some() {
                    self.push_body(Body::Otherwise);
                }
                Ok(())
            }
            Node::For {
                key,
                value,
                iter,
                span,
                ..
            } => {
                ev.burn(1, *span)?;
                let frame = self.start_loop((key.as_ref(), value), iter, *span, tpl)?;
                self.stack.push(Frame::Loop(Box::new(frame)));
                Ok(())
            }
            Node::Set(stmt) => {
                ev.burn(1, stmt_span(stmt))?;
                run_stmt(&self.env, tpl, &mut self.scope.locals, stmt)
            }
            Node::Code { stmts, span } => {
                ev.burn(1, *span)?;
                for stmt in stmts {
                    Evaluator::new(&self.env, tpl, &self.scope.locals).burn(1, stmt_span(stmt))?;
                    run_stmt(&self.env, tpl, &mut self.scope.locals, stmt)?;
                }
                Ok(())
            }
            Node::After { stmts, span } => {
                ev.burn(1, *span)?;
                // The block runs after the render, over global vars read afresh: it keeps copies.
                let vars: Vec<_> = self
                    .scope
                    .locals
                    .vars
                    .iter()
                    .map(|(n, v)| (Arc::clone(n), v.to_owned_in(&self.env)))
                    .collect();
                let loop_shadowed = vars.iter().any(|(n, _)| &**n == "loop");
                self.after.push(AfterJob {
                    template: Arc::clone(&self.scope.tpl),
                    stmts: Arc::clone(stmts),
                    locals: Locals {
                        vars,
                        loops: Vec::new(),
                        loop_shadowed,
                    },
                });
                Ok(())
            }
            Node::Include { path, span } => {
                ev.burn(1, *span)?;
                self.include(path, *span, tpl)
            }
        }
    }

    /// Evaluates what a `for` iterates and returns the loop, before its first iteration. An
    /// array or object of the page data is iterated where it is, by position.
    fn start_loop(
        &mut self,
        (key, value): (Option<&Ident>, &Ident),
        iter: &Expr,
        span: Span,
        tpl: &Template,
    ) -> RResult<LoopFrame> {
        let (key, value) = (key.map(|k| &*k.name), &*value.name);
        let mark = self.scope.locals.vars.len();
        self.scope.locals.loop_shadowed |= value == "loop" || key == Some("loop");
        let ev = Evaluator::new(&self.env, tpl, &self.scope.locals);
        let frame = |length, items| LoopFrame {
            mark,
            names: (key.map(Arc::from), Arc::from(value)),
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
            let args = ev.eval_args(Builtin::Range, args, iter.span)?;
            let (start, stop, step) =
                builtins::range_args(args.as_slice()).map_err(|k| ev.err(k, iter.span))?;
            let length =
                usize::try_from(builtins::range_len(start, stop, step)).unwrap_or(usize::MAX);
            return Ok(frame(length, Items::Range { next: start, step }));
        }
        Ok(match ev.eval(iter)? {
            Cow::Borrowed(Value::Array(items)) => match ev.place(iter) {
                Some(place) => {
                    debug_assert!(
                        place
                            .find(&self.env)
                            .and_then(Value::as_array)
                            .is_some_and(|a| std::ptr::eq(a, items))
                    );
                    frame(items.len(), Items::Placed(Arc::new(place)))
                }
                None => frame(items.len(), Items::Owned(items.clone().into_iter())),
            },
            Cow::Owned(Value::Array(items)) => frame(items.len(), Items::Owned(items.into_iter())),
            Cow::Borrowed(Value::Object(map)) => match ev.place(iter) {
                Some(place) => {
                    debug_assert!(
                        place
                            .find(&self.env)
                            .and_then(Value::as_object)
                            .is_some_and(|m| std::ptr::eq(m, map))
                    );
                    let keys: Vec<String> = map.keys().cloned().collect();
                    frame(
                        map.len(),
                        Items::PlacedMap(Arc::new(place), keys.into_iter()),
                    )
                }
                None => frame(map.len(), Items::OwnedMap(map.clone().into_iter())),
            },
            Cow::Owned(Value::Object(map)) => frame(map.len(), Items::OwnedMap(map.into_iter())),
            other => {
                return Err(ev.err(
                    ErrorKind::WrongType(
                        format!("cannot iterate over {}", type_name(&other)).into(),
                    ),
                    iter.span,
                ));
            }
        })
    }

    /// Enters an included template: saves the includer's scope and gives the include a copy of
    /// its locals (its own `set`s stay inside it).
    fn include(&mut self, path: &str, span: Span, tpl: &Template) -> RResult<()> {
        let ev = Evaluator::new(&self.env, tpl, &self.scope.locals);
        if self.scope.include_depth >= self.env.max_include_depth {
            return Err(ev.err(
                ErrorKind::IncludeDepth {
                    max: self.env.max_include_depth,
                },
                span,
            ));
        }
        let loaded = match &self.env.loader {
            Some(t) => t.load(path),
            None => Err(TemplateError::unlocated(ErrorKind::NotFound, path)),
        };
        let included = loaded.map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::InvalidName => {
                ev.err(ErrorKind::IncludeNotFound(path.into()), span)
            }
            _ => e,
        })?;
        let saved = Scope {
            tpl: std::mem::replace(&mut self.scope.tpl, included),
            locals: self.scope.locals.clone(),
            include_depth: self.scope.include_depth,
        };
        self.scope.include_depth += 1;
        self.stack.push(Frame::Include(Box::new(saved)));
        self.push_body(Body::Page);
        Ok(())
    }
}

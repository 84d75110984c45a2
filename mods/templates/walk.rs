//! The walker: the control flow of a render over a template's nodes (text, prints, `if`, `for`,
//! `set`, `code`, `after`, `include`), writing the page and pausing whenever the output is full.
//!
//! In scope: the order nodes render in, loop iteration, entering and leaving includes (with the
//! include depth bound), and collecting `after` blocks. Out of scope: evaluating expressions (see
//! `eval.rs`) and where the bytes go (see `sink.rs`).
//!
//! The walk is resumable: [`Walker`] keeps an explicit stack of frames (a node list and the next
//! index, a `for` loop's iterator and state, the scope an `include` replaced), so it can stop
//! when the output slot is full and carry on at the next call. Text is written straight from the
//! template source and escaping writes the clean runs of a string straight through; only the part
//! of one piece that did not fit the slot is kept for the next call.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::Template;
use super::after::AfterJob;
use super::ast::{Callee, Expr, ExprKind, Node, Span};
use super::builtins::{self, Builtin, truthy, type_name};
use super::env::Env;
use super::error::{ErrorKind, TemplateError};
use super::eval::{LoopState, RResult, Renderer, stmt_span};
use super::print::write_value;
use super::sink::{Output, RenderSink, SliceOut, Unbounded};

/// What a render collects as it goes: the `after` blocks reached.
pub(crate) struct Run {
    pub(crate) after: Vec<AfterJob>,
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
}

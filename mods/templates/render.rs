//! The renderer: walks a template's nodes and writes the page into a [`RenderSink`].
//!
//! In scope: evaluating expressions over `serde_json::Value` data (borrowing from the caller's
//! context wherever it can, so a loop over a context array copies nothing), name lookup (locals,
//! `loop`, `request`, page context, route args, global vars), HTML escaping of `& < > " '`, the
//! render budget (fuel), the include depth bound, and collecting `after` blocks. Out of scope:
//! loading and caching templates (see `mod.rs`) and parsing (see `parse.rs`).
//!
//! Text is written straight from the template source and escaping writes the clean runs of a
//! string straight through, so rendering allocates nothing per output byte.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::ast::{AssignOp, BinaryOp, Callee, Expr, ExprKind, Node, Span, Stmt, UnaryOp};
use super::builtins::{self, Builtin, Num, display, float_value, num, truthy, type_name};
use super::error::{ErrorKind, SinkError, TemplateError};
use super::{RenderSink, Template};

/// A function the application registers.
pub(crate) type Function = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// The registered functions by name.
pub(crate) type Functions = HashMap<String, Function>;

/// Loads an included template by name.
pub(crate) type Loader<'a> = dyn Fn(&str) -> Result<Arc<Template>, TemplateError> + 'a;

/// Everything a render reads and never changes.
pub(crate) struct Env<'a> {
    pub(crate) context: &'a Value,
    pub(crate) args: &'a Value,
    pub(crate) request: &'a Value,
    pub(crate) globals: &'a Map<String, Value>,
    pub(crate) functions: &'a Functions,
    pub(crate) loader: &'a Loader<'a>,
    pub(crate) max_include_depth: u32,
    /// The render budget left; every node, loop iteration, call and 64 bytes built costs one.
    pub(crate) fuel: Cell<u64>,
    pub(crate) max_fuel: u64,
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

/// Renders one template (an include gets a renderer of its own).
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
        let left = self.env.fuel.get();
        if left < steps {
            self.env.fuel.set(0);
            return Err(self.err(
                ErrorKind::FuelExhausted {
                    fuel: self.env.max_fuel,
                },
                span,
            ));
        }
        self.env.fuel.set(left - steps);
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

    /// Renders the whole template.
    pub(crate) fn render(&mut self, out: &mut dyn RenderSink, run: &mut Run) -> RResult<()> {
        let tpl = self.tpl;
        self.nodes(&tpl.nodes, out, run)
    }

    fn nodes(&mut self, nodes: &'a [Node], out: &mut dyn RenderSink, run: &mut Run) -> RResult<()> {
        for node in nodes {
            self.node(node, out, run)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &'a Node, out: &mut dyn RenderSink, run: &mut Run) -> RResult<()> {
        match node {
            Node::Text(span) => {
                self.burn(1, *span)?;
                let text = self
                    .tpl
                    .source
                    .as_bytes()
                    .get(span.range())
                    .unwrap_or_default();
                self.write(out, text, *span)
            }
            Node::Print { expr, raw, span } => {
                self.burn(1, *span)?;
                // `escape(x)` is escaped already: printing it must not escape it twice.
                let escaped = matches!(
                    expr.kind,
                    ExprKind::Call {
                        func: Callee::Builtin(Builtin::Escape),
                        ..
                    }
                );
                let value = self.eval(expr)?;
                write_value(out, &value, !raw && !escaped)
                    .map_err(|e| self.err(ErrorKind::Sink(e), *span))
            }
            Node::If {
                branches,
                otherwise,
                span,
            } => {
                self.burn(1, *span)?;
                for branch in branches {
                    if truthy(&*self.eval(&branch.cond)?) {
                        return self.nodes(&branch.body, out, run);
                    }
                }
                match otherwise {
                    Some(body) => self.nodes(body, out, run),
                    None => Ok(()),
                }
            }
            Node::For {
                key,
                value,
                iter,
                body,
                span,
            } => {
                self.burn(1, *span)?;
                let names = (key.as_ref().map(|k| &*k.name), &*value.name);
                self.for_loop(names, iter, body, *span, out, run)
            }
            Node::Set(stmt) => {
                self.burn(1, stmt_span(stmt))?;
                self.stmt(stmt)
            }
            Node::Code { stmts, span } => {
                self.burn(1, *span)?;
                for stmt in stmts {
                    self.burn(1, stmt_span(stmt))?;
                    self.stmt(stmt)?;
                }
                Ok(())
            }
            Node::After { stmts, span } => {
                self.burn(1, *span)?;
                let vars = self
                    .vars
                    .iter()
                    .map(|(n, v)| ((*n).into(), v.clone().into_owned()))
                    .collect();
                run.after.push(AfterJob {
                    template: Arc::clone(self.tpl),
                    stmts: Arc::clone(stmts),
                    vars,
                });
                Ok(())
            }
            Node::Include { path, span } => {
                self.burn(1, *span)?;
                self.include(path, *span, out, run)
            }
        }
    }

    fn include(
        &self,
        path: &str,
        span: Span,
        out: &mut dyn RenderSink,
        run: &mut Run,
    ) -> RResult<()> {
        if self.include_depth >= self.env.max_include_depth {
            return Err(self.err(
                ErrorKind::IncludeDepth {
                    max: self.env.max_include_depth,
                },
                span,
            ));
        }
        let tpl = (self.env.loader)(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::InvalidName => {
                self.err(ErrorKind::IncludeNotFound(path.into()), span)
            }
            _ => e,
        })?;
        let mut sub = Renderer {
            env: self.env,
            tpl: &tpl,
            vars: self
                .vars
                .iter()
                .map(|(n, v)| (*n, Cow::Borrowed(&**v)))
                .collect(),
            loops: self.loops.clone(),
            loop_shadowed: self.loop_shadowed,
            include_depth: self.include_depth + 1,
        };
        sub.render(out, run)
    }

    fn for_loop(
        &mut self,
        (key, value): (Option<&'a str>, &'a str),
        iter: &'a Expr,
        body: &'a [Node],
        span: Span,
        out: &mut dyn RenderSink,
        run: &mut Run,
    ) -> RResult<()> {
        let mark = self.vars.len();
        self.loop_shadowed |= value == "loop" || key == Some("loop");
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
            let mut n = start;
            for index0 in 0..length {
                let item = Cow::Owned(Value::from(n));
                let k = key.map(|_| Cow::Owned(Value::from(index0)));
                self.iteration(
                    mark,
                    (key, value),
                    (k, item),
                    LoopState { index0, length },
                    body,
                    span,
                    out,
                    run,
                )?;
                n = n.wrapping_add(step);
            }
            return self.end_loop(mark);
        }
        match self.eval(iter)? {
            Cow::Borrowed(Value::Array(items)) => {
                let length = items.len();
                for (index0, item) in items.iter().enumerate() {
                    let k = key.map(|_| Cow::Owned(Value::from(index0)));
                    self.iteration(
                        mark,
                        (key, value),
                        (k, Cow::Borrowed(item)),
                        LoopState { index0, length },
                        body,
                        span,
                        out,
                        run,
                    )?;
                }
            }
            Cow::Owned(Value::Array(items)) => {
                let length = items.len();
                for (index0, item) in items.into_iter().enumerate() {
                    let k = key.map(|_| Cow::Owned(Value::from(index0)));
                    self.iteration(
                        mark,
                        (key, value),
                        (k, Cow::Owned(item)),
                        LoopState { index0, length },
                        body,
                        span,
                        out,
                        run,
                    )?;
                }
            }
            Cow::Borrowed(Value::Object(map)) => {
                let length = map.len();
                for (index0, (k, v)) in map.iter().enumerate() {
                    let (k, item) = match key {
                        Some(_) => (Some(Cow::Owned(Value::String(k.clone()))), Cow::Borrowed(v)),
                        None => (None, Cow::Owned(Value::String(k.clone()))),
                    };
                    self.iteration(
                        mark,
                        (key, value),
                        (k, item),
                        LoopState { index0, length },
                        body,
                        span,
                        out,
                        run,
                    )?;
                }
            }
            Cow::Owned(Value::Object(map)) => {
                let length = map.len();
                for (index0, (k, v)) in map.into_iter().enumerate() {
                    let (k, item) = match key {
                        Some(_) => (Some(Cow::Owned(Value::String(k))), Cow::Owned(v)),
                        None => (None, Cow::Owned(Value::String(k))),
                    };
                    self.iteration(
                        mark,
                        (key, value),
                        (k, item),
                        LoopState { index0, length },
                        body,
                        span,
                        out,
                        run,
                    )?;
                }
            }
            other => {
                return Err(self.err(
                    ErrorKind::WrongType(
                        format!("cannot iterate over {}", type_name(&other)).into(),
                    ),
                    iter.span,
                ));
            }
        }
        self.end_loop(mark)
    }

    #[allow(clippy::too_many_arguments)]
    fn iteration(
        &mut self,
        mark: usize,
        (key, value): (Option<&'a str>, &'a str),
        (k, item): (Option<Cow<'a, Value>>, Cow<'a, Value>),
        state: LoopState,
        body: &'a [Node],
        span: Span,
        out: &mut dyn RenderSink,
        run: &mut Run,
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
        self.nodes(body, out, run)
    }

    fn end_loop(&mut self, mark: usize) -> RResult<()> {
        if self.vars.len() > mark {
            self.vars.truncate(mark);
            self.loops.pop();
        }
        Ok(())
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
            return Ok(Cow::Borrowed(self.env.request));
        }
        let env = self.env;
        for scope in [env.context, env.args] {
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

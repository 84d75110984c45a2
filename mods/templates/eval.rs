//! The evaluator: expressions over `serde_json::Value` data, borrowing from the caller's context
//! wherever it can, so a loop over a context array copies nothing.
//!
//! In scope: name lookup (locals, `loop`, `request`, page context, route args, global vars),
//! attribute and index access, calls of built-ins and registered functions, the statements of
//! `set`, `code` and `after`, and charging the render budget (fuel) for the work. Out of scope:
//! the walk over nodes (see `walk.rs`) and what the operators compute (see `value.rs`).
//! Expressions are evaluated recursively: they produce values, not output.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value};

use super::Template;
use super::ast::{AssignOp, BinaryOp, Callee, Expr, ExprKind, Ident, Span, Stmt, UnaryOp};
use super::builtins::{self, Builtin, Num, float_value, num, truthy, type_name};
use super::env::Env;
use super::error::{ErrorKind, TemplateError};
use super::scope::{Locals, LoopState, Place, Root, Step};
use super::sink::RenderSink;
use super::value::{arith, binary};

pub(crate) type RResult<T> = Result<T, TemplateError>;

/// The scope expressions are evaluated in: the render's environment, the template being walked
/// and its locals. It is made afresh for each node, and borrows nothing past it.
pub(crate) struct Evaluator<'e> {
    env: &'e Env<'e>,
    tpl: &'e Template,
    locals: &'e Locals,
}

impl<'e> Evaluator<'e> {
    /// Creates an evaluator over a render's environment, the template walked and its locals.
    pub(crate) fn new(env: &'e Env<'e>, tpl: &'e Template, locals: &'e Locals) -> Self {
        Evaluator { env, tpl, locals }
    }

    pub(crate) fn err(&self, kind: ErrorKind, span: Span) -> TemplateError {
        TemplateError::located(kind, &self.tpl.name, &self.tpl.source, span)
    }

    pub(crate) fn burn(&self, steps: u64, span: Span) -> RResult<()> {
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

    pub(crate) fn write(&self, out: &mut dyn RenderSink, bytes: &[u8], span: Span) -> RResult<()> {
        out.write(bytes)
            .map_err(|e| self.err(ErrorKind::Sink(e), span))
    }

    /// Returns the value of an assignment to the locals (`=`, `+=`, `-=`).
    fn assigned(&self, stmt_value: (&Ident, AssignOp, &'e Expr), span: Span) -> RResult<Value> {
        let (target, op, value) = stmt_value;
        let v = self.eval(value)?.into_owned();
        match op {
            AssignOp::Set => Ok(v),
            AssignOp::Add | AssignOp::Sub => {
                let old = self.lookup(&target.name, target.span)?;
                let bop = if op == AssignOp::Add {
                    BinaryOp::Add
                } else {
                    BinaryOp::Sub
                };
                let v = arith(bop, &old, &v).map_err(|k| self.err(k, span))?;
                self.burn_size(&v, span)?;
                Ok(v)
            }
        }
    }

    /// Returns where the value of `e` lives in the page data, when `e` is a path into it (names,
    /// `.key`, `[literal]`, `default`) that evaluated to a borrowed value. It evaluates nothing
    /// and charges nothing: it follows what [`Evaluator::eval`] did, so the place holds the very
    /// value `eval` returned.
    pub(crate) fn place(&self, e: &Expr) -> Option<Place> {
        match &e.kind {
            ExprKind::Name(n) => self.name_place(n),
            ExprKind::Attr(base, key) => {
                // `loop.index` is computed, not borrowed.
                let loop_field_read = matches!(&base.kind, ExprKind::Name(n) if &**n == "loop")
                    && !self.locals.loop_shadowed
                    && self
                        .locals
                        .loops
                        .last()
                        .and_then(|s| loop_field(*s, key))
                        .is_some();
                if loop_field_read {
                    return None;
                }
                Some(self.place(base)?.join(Step::Key(key.clone())))
            }
            ExprKind::Index(base, index) => match &index.kind {
                ExprKind::Literal(Value::String(k)) => {
                    Some(self.place(base)?.join(Step::Key(k.as_str().into())))
                }
                ExprKind::Literal(Value::Number(n)) => {
                    let i = n.as_i64()?;
                    let base = self.place(base)?;
                    let len = base.find(self.env)?.as_array()?.len();
                    let len = i64::try_from(len).ok()?;
                    let j = if i < 0 { i + len } else { i };
                    let j = usize::try_from(j).ok()?;
                    Some(base.join(Step::Index(j)))
                }
                _ => None,
            },
            ExprKind::Call {
                func: Callee::Builtin(Builtin::Default),
                args,
                ..
            } if (1..=2).contains(&args.len()) => {
                let first = self.place(args.first()?)?;
                if first.find(self.env).is_some_and(|v| !v.is_null()) {
                    Some(first)
                } else {
                    self.place(args.get(1)?)
                }
            }
            _ => None,
        }
    }

    /// Returns where the value of a name lives in the page data, in [`Evaluator::lookup`]'s
    /// order.
    fn name_place(&self, name: &str) -> Option<Place> {
        if let Some(held) = self.locals.get(name) {
            return held.place();
        }
        if name == "loop" && !self.locals.loops.is_empty() {
            return None;
        }
        if name == "request" {
            return Some(Place::new(Root::Request));
        }
        if self.env.context.get(name).is_some() {
            return Some(Place::new(Root::Context(name.into())));
        }
        if self.env.args.get(name).is_some() {
            return Some(Place::new(Root::Args(name.into())));
        }
        self.env
            .globals
            .contains_key(name)
            .then(|| Place::new(Root::Global(name.into())))
    }

    /// Looks a name up: locals, `loop`, `request`, page context, route args, global vars.
    fn lookup(&self, name: &str, span: Span) -> RResult<Cow<'e, Value>> {
        if let Some(held) = self.locals.get(name) {
            return Ok(Cow::Borrowed(held.get(self.env)));
        }
        if name == "loop" {
            if let Some(state) = self.locals.loops.last() {
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
    pub(crate) fn eval(&self, e: &'e Expr) -> RResult<Cow<'e, Value>> {
        match &e.kind {
            ExprKind::Literal(v) => Ok(Cow::Borrowed(v)),
            ExprKind::Name(n) => self.lookup(n, e.span),
            ExprKind::Attr(base, key) => {
                // `loop.index` without building the `loop` object.
                if let ExprKind::Name(n) = &base.kind {
                    if !self.locals.loop_shadowed && &**n == "loop" {
                        if let Some(field) =
                            self.locals.loops.last().and_then(|s| loop_field(*s, key))
                        {
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

    fn get_key(&self, base: Cow<'e, Value>, key: &str, span: Span) -> RResult<Cow<'e, Value>> {
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
        base: Cow<'e, Value>,
        index: &Value,
        span: Span,
    ) -> RResult<Cow<'e, Value>> {
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

    pub(crate) fn eval_args(&self, b: Builtin, args: &'e [Expr], span: Span) -> RResult<Args<'e>> {
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

    fn call(&self, func: &Callee, args: &'e [Expr], span: Span) -> RResult<Cow<'e, Value>> {
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
pub(crate) struct Args<'e> {
    vals: [Cow<'e, Value>; 3],
    len: usize,
}

impl<'e> Args<'e> {
    pub(crate) fn as_slice(&self) -> &[Cow<'e, Value>] {
        self.vals.get(..self.len).unwrap_or_default()
    }
}

/// Runs a statement of `set` or `code` (assignments go to the locals).
pub(crate) fn run_stmt(
    env: &Env<'_>,
    tpl: &Template,
    locals: &mut Locals,
    stmt: &Stmt,
) -> RResult<()> {
    match stmt {
        Stmt::Assign {
            target,
            op,
            value,
            span,
        } => {
            let v = Evaluator::new(env, tpl, locals).assigned((target, *op, value), *span)?;
            locals.assign(&target.name, v);
            Ok(())
        }
        Stmt::Expr(e) => Evaluator::new(env, tpl, locals).eval(e).map(drop),
    }
}

/// Returns the span of a statement.
pub(crate) fn stmt_span(stmt: &Stmt) -> Span {
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

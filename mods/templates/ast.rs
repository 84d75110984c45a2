//! The compiled form of a template: nodes and expressions, each with the byte span it came from.
//!
//! In scope: the tree the parser builds and the renderer walks. Out of scope: parsing (see
//! `parse.rs`) and rendering (see `walk.rs` and `eval.rs`). Text is never copied into the tree:
//! a text node holds the span of its bytes in the template source.

use std::sync::Arc;

use serde_json::Value;

use super::builtins::Builtin;

/// A byte range `start..end` in a template's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// The offset of the first byte.
    pub start: u32,
    /// The offset just past the last byte.
    pub end: u32,
}

impl Span {
    /// Creates a span from byte offsets (saturating at `u32::MAX`).
    #[must_use]
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// Returns the span as a `usize` range, for slicing the source with `get`.
    #[must_use]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One piece of a template body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Node {
    /// Literal page text, written as it is (its bytes are `source[span]`).
    Text(Span),
    /// `<< expr >>` (escaped) or `<< raw expr >>` (unescaped).
    Print {
        /// The value to insert.
        expr: Expr,
        /// Whether escaping is switched off.
        raw: bool,
        /// The whole tag.
        span: Span,
    },
    /// `<< if c >> … << elif c >> … << else >> … << end >>`.
    If {
        /// The `if` branch followed by every `elif` branch, in order.
        branches: Vec<Branch>,
        /// The `else` body, if any.
        otherwise: Option<Vec<Node>>,
        /// The `if` tag.
        span: Span,
    },
    /// `<< for x in it >> … << end >>` or `<< for k, v in obj >> … << end >>`.
    For {
        /// The key name for the two-name form over objects (or the index over arrays).
        key: Option<Ident>,
        /// The item name (the value, in the two-name form).
        value: Ident,
        /// What is iterated.
        iter: Expr,
        /// The loop body.
        body: Vec<Node>,
        /// The `for` tag.
        span: Span,
    },
    /// `<< set name = expr >>`.
    Set(Stmt),
    /// `<< code >> statements << end >>`: runs where it stands.
    Code {
        /// The statements, in order.
        stmts: Vec<Stmt>,
        /// The `code` tag.
        span: Span,
    },
    /// `<< after >> statements << end >>`: runs after the page has been sent.
    After {
        /// The statements, shared with the [`AfterWork`](super::AfterWork) that runs them.
        stmts: Arc<[Stmt]>,
        /// The `after` tag.
        span: Span,
    },
    /// `<< include "part.html" >>`.
    Include {
        /// The template name, relative to the templates folder.
        path: Box<str>,
        /// The whole tag.
        span: Span,
    },
}

/// A condition and the body it guards.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// The condition.
    pub cond: Expr,
    /// The body rendered when the condition is truthy.
    pub body: Vec<Node>,
}

/// A name with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: Box<str>,
    /// Where it is written.
    pub span: Span,
}

/// A statement of `code`, `after` and `set`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Stmt {
    /// `name = expr`, `name += expr`, `name -= expr`.
    Assign {
        /// The variable assigned.
        target: Ident,
        /// `=`, `+=` or `-=`.
        op: AssignOp,
        /// The value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
    /// An expression evaluated for its effect (typically a registered function call).
    Expr(Expr),
}

/// The operator of an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssignOp {
    /// `=`
    Set,
    /// `+=`
    Add,
    /// `-=`
    Sub,
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ExprKind {
    /// `null true false 12 4.5 "text"`.
    Literal(Value),
    /// A variable.
    Name(Box<str>),
    /// `a.b`.
    Attr(Box<Expr>, Box<str>),
    /// `a[i]`.
    Index(Box<Expr>, Box<Expr>),
    /// `f(a, b)` or `a | f(b)` (the piped value is the first argument).
    Call {
        /// The function.
        func: Callee,
        /// The arguments.
        args: Vec<Expr>,
        /// Whether it was written as a filter (`a | f`).
        filter: bool,
    },
    /// `-a`, `not a`.
    Unary(UnaryOp, Box<Expr>),
    /// `a + b` and the other binary operators.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `[a, b]`.
    Array(Vec<Expr>),
    /// `{"k": v}`.
    Object(Vec<(Box<str>, Expr)>),
}

/// The function a call names: a built-in, resolved at parse time, or a registered function,
/// looked up at render time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Callee {
    /// One of the built-ins.
    Builtin(Builtin),
    /// A function the application registers with `register_function`.
    Registered(Box<str>),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `not`
    Not,
}

/// Binary operators, from the lowest precedence up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BinaryOp {
    /// `or` (short-circuit; yields the deciding operand).
    Or,
    /// `and` (short-circuit; yields the deciding operand).
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `not in`
    NotIn,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinaryOp {
    /// Returns the operator as written in a template.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

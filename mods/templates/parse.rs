//! The parser: turns the scanner's pieces into the node tree, and tag contents into statements and
//! expressions, with nom.
//!
//! In scope: the instructions (`raw if elif else end for set code after include`), the expression
//! grammar with the precedence of `docs/templates.md` (lowest first: `or`, `and`, `not`,
//! comparisons, `+ -`, `* / %`, unary `-`, then filters `|`, access `.` `[]` and calls),
//! statements, the depth bound against hostile nesting, and parse errors with positions. Out of
//! scope: finding tags (see `scan.rs`) and evaluating anything (see `eval.rs`).
//!
//! nom rules followed here: only `complete` parsers; `cut` straight after an opener or a keyword
//! so that errors point at the real position; a private error type ([`PErr`]) converted into a
//! [`TemplateError`] at the boundary; nom 8 call style (`p.parse(i)`). Every parser skips the
//! whitespace *before* its token, never after, so what follows an expression is left untouched.

use std::sync::Arc;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while};
use nom::character::complete::{char, digit1, multispace0, one_of, satisfy};
use nom::combinator::{cut, opt, recognize};
use nom::error::ParseError;
use nom::{IResult, Parser};
use serde_json::Value;

use super::ast::{
    AssignOp, BinaryOp, Branch, Callee, Expr, ExprKind, Ident, Node, Span, Stmt, UnaryOp,
};
use super::builtins::Builtin;
use super::error::{ErrorKind, TemplateError};
use super::scan::{Piece, scan};

/// How deep blocks and expressions may nest; hostile nesting is a parse error, not a stack
/// overflow.
pub(crate) const MAX_DEPTH: u32 = 128;

/// Words that cannot be variable names.
const RESERVED: &[&str] = &[
    "or", "and", "not", "in", "true", "false", "null", "if", "elif", "else", "end", "for", "set",
    "code", "after", "include", "raw",
];

/// Instruction words of other template languages (pyhtml, Jinja), reported as unknown
/// instructions rather than unknown names.
const FOREIGN: &[&str] = &[
    "py", "pyend", "endif", "endfor", "elseif", "elsif", "while", "foreach", "block", "endblock",
    "extends", "macro",
];

/// The parser's private error: where it happened and what was expected.
#[derive(Debug)]
pub(crate) struct PErr<'a> {
    at: &'a str,
    kind: PErrKind,
}

#[derive(Debug)]
enum PErrKind {
    /// A nom primitive failed; replaced by an `Expected` before it leaves a parser function.
    Nom,
    Expected(&'static str),
    Depth,
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        PErr {
            at: input,
            kind: PErrKind::Nom,
        }
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        // Keep the error that got furthest into the input.
        if other.at.len() < self.at.len() {
            other
        } else {
            self
        }
    }
}

type PResult<'a, T> = IResult<&'a str, T, PErr<'a>>;

fn expected<'a, T>(at: &'a str, what: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Error(PErr {
        at,
        kind: PErrKind::Expected(what),
    }))
}

/// The region a parse works in (one tag's inside, or one code block): every `&str` a parser
/// sees is a suffix of it, so a slice's offset in the template is the region's end minus the
/// slice's length.
#[derive(Clone, Copy)]
struct Cx<'a> {
    /// INVARIANT: the byte offset, in the template, of the end of the region being parsed.
    end: usize,
    _src: std::marker::PhantomData<&'a str>,
}

impl<'a> Cx<'a> {
    fn region(span: Span) -> Self {
        Cx {
            end: span.end as usize,
            _src: std::marker::PhantomData,
        }
    }

    fn off(self, at: &str) -> usize {
        self.end.saturating_sub(at.len())
    }

    fn span(self, from: &str, rest: &str) -> Span {
        Span::new(self.off(from), self.off(rest))
    }

    /// Converts a parser error into the kind and span of a [`TemplateError`].
    fn fail(self, e: PErr<'a>) -> (ErrorKind, Span) {
        let start = self.off(e.at);
        let kind = match e.kind {
            PErrKind::Nom => ErrorKind::UnexpectedToken {
                expected: "valid syntax",
            },
            PErrKind::Expected(what) => ErrorKind::UnexpectedToken { expected: what },
            PErrKind::Depth => ErrorKind::DepthExceeded { max: MAX_DEPTH },
        };
        (kind, Span::new(start, start + token_len(e.at)))
    }
}

/// Returns the length of the token at the start of `s` (a word, or one character).
fn token_len(s: &str) -> usize {
    let word = s
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if word > 0 {
        word
    } else {
        s.chars().next().map_or(0, char::len_utf8)
    }
}

/// Parses a whole template into its node tree.
pub(crate) fn parse_template(name: &Arc<str>, src: &Arc<str>) -> Result<Vec<Node>, TemplateError> {
    let fail = |(kind, span): (ErrorKind, Span)| TemplateError::located(kind, name, src, span);
    let pieces = scan(src).map_err(fail)?;
    let mut parser = BlockParser {
        src,
        pieces: &pieces,
        pos: 0,
    };
    let (nodes, _) = parser.body(0, None).map_err(fail)?;
    Ok(nodes)
}

/// What a tag is.
enum Tag {
    Print {
        expr: Expr,
        raw: bool,
    },
    If(Expr),
    Elif(Expr),
    Else,
    End,
    For {
        key: Option<Ident>,
        value: Ident,
        iter: Expr,
    },
    Set(Stmt),
    Code,
    After,
    Include(Box<str>),
}

/// How a block body ended.
enum Closer {
    Eof,
    End,
    Elif(Expr, Span),
    Else(Span),
}

type Fail = (ErrorKind, Span);

struct BlockParser<'a, 'p> {
    src: &'a str,
    pieces: &'p [Piece],
    pos: usize,
}

impl<'a> BlockParser<'a, '_> {
    fn next_piece(&mut self) -> Option<Piece> {
        let p = self.pieces.get(self.pos).copied();
        self.pos += 1;
        p
    }

    fn eof_span(&self) -> Span {
        super::scan::end_of(self.src)
    }

    fn text(&self, span: Span) -> &'a str {
        self.src.get(span.range()).unwrap_or_default()
    }

    /// Parses nodes until the end of the file (top level) or the tag closing the block `open`.
    fn body(
        &mut self,
        depth: u32,
        open: Option<(&'static str, Span)>,
    ) -> Result<(Vec<Node>, Closer), Fail> {
        if depth > MAX_DEPTH {
            let span = open.map_or_else(|| self.eof_span(), |(_, s)| s);
            return Err((ErrorKind::DepthExceeded { max: MAX_DEPTH }, span));
        }
        let mut nodes = Vec::new();
        while let Some(piece) = self.next_piece() {
            let (inner, whole) = match piece {
                Piece::Text(span) => {
                    nodes.push(Node::Text(span));
                    continue;
                }
                Piece::Tag { inner, whole } => (inner, whole),
            };
            let stray = |word: &'static str| (ErrorKind::StrayTag(word), whole);
            match parse_tag(Cx::region(inner), self.text(inner), whole)? {
                Tag::Print { expr, raw } => nodes.push(Node::Print {
                    expr,
                    raw,
                    span: whole,
                }),
                Tag::End if open.is_some() => return Ok((nodes, Closer::End)),
                Tag::End => return Err(stray("end")),
                Tag::Elif(c) if open.is_some_and(|(k, _)| k == "if") => {
                    return Ok((nodes, Closer::Elif(c, whole)));
                }
                Tag::Elif(_) => return Err(stray("elif")),
                Tag::Else if open.is_some_and(|(k, _)| k == "if") => {
                    return Ok((nodes, Closer::Else(whole)));
                }
                Tag::Else => return Err(stray("else")),
                Tag::If(cond) => nodes.push(self.if_block(depth, cond, whole)?),
                Tag::For { key, value, iter } => {
                    let (body, closer) = self.body(depth + 1, Some(("for", whole)))?;
                    match closer {
                        Closer::Elif(_, s) => return Err((ErrorKind::StrayTag("elif"), s)),
                        Closer::Else(s) => return Err((ErrorKind::StrayTag("else"), s)),
                        Closer::End | Closer::Eof => {}
                    }
                    nodes.push(Node::For {
                        key,
                        value,
                        iter,
                        body,
                        span: whole,
                    });
                }
                Tag::Set(stmt) => nodes.push(Node::Set(stmt)),
                Tag::Code => {
                    let stmts = self.code_block("code", whole)?;
                    nodes.push(Node::Code { stmts, span: whole });
                }
                Tag::After => {
                    let stmts = self.code_block("after", whole)?;
                    nodes.push(Node::After {
                        stmts: stmts.into(),
                        span: whole,
                    });
                }
                Tag::Include(path) => nodes.push(Node::Include { path, span: whole }),
            }
        }
        match open {
            None => Ok((nodes, Closer::Eof)),
            Some((keyword, span)) => Err((
                ErrorKind::UnclosedBlock {
                    keyword,
                    opened_at: span.start,
                },
                self.eof_span(),
            )),
        }
    }

    fn if_block(&mut self, depth: u32, cond: Expr, whole: Span) -> Result<Node, Fail> {
        let open = Some(("if", whole));
        let mut branches = Vec::new();
        let mut cond = cond;
        loop {
            let (body, closer) = self.body(depth + 1, open)?;
            branches.push(Branch { cond, body });
            match closer {
                Closer::End | Closer::Eof => {
                    return Ok(Node::If {
                        branches,
                        otherwise: None,
                        span: whole,
                    });
                }
                Closer::Elif(c, _) => cond = c,
                Closer::Else(_) => {
                    let (body, closer) = self.body(depth + 1, open)?;
                    return match closer {
                        Closer::Elif(_, s) => Err((ErrorKind::StrayTag("elif"), s)),
                        Closer::Else(s) => Err((ErrorKind::StrayTag("else"), s)),
                        Closer::End | Closer::Eof => Ok(Node::If {
                            branches,
                            otherwise: Some(body),
                            span: whole,
                        }),
                    };
                }
            }
        }
    }

    /// Parses the statements of a `code` or `after` block: the text up to the `<< end >>`.
    fn code_block(&mut self, keyword: &'static str, whole: Span) -> Result<Vec<Stmt>, Fail> {
        let unclosed = ErrorKind::UnclosedBlock {
            keyword,
            opened_at: whole.start,
        };
        let mut stmts = Vec::new();
        let mut piece = self.next_piece();
        // A comment inside the block splits its text in several pieces.
        while let Some(Piece::Text(span)) = piece {
            stmts.extend(parse_stmts(Cx::region(span), self.text(span))?);
            piece = self.next_piece();
        }
        match piece {
            Some(Piece::Tag { inner, whole: end }) => {
                match parse_tag(Cx::region(inner), self.text(inner), end)? {
                    Tag::End => Ok(stmts),
                    _ => Err((unclosed, end)),
                }
            }
            _ => Err((unclosed, self.eof_span())),
        }
    }
}

/// Parses the inside of one tag; anything left after the instruction is an error.
fn parse_tag<'a>(cx: Cx<'a>, inner: &'a str, whole: Span) -> Result<Tag, Fail> {
    let (rest, tag) = match tag_body(cx, inner) {
        Ok(ok) => ok,
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => return Err(cx.fail(e)),
        Err(nom::Err::Incomplete(_)) => {
            return Err(cx.fail(PErr {
                at: inner,
                kind: PErrKind::Nom,
            }));
        }
    };
    let left = rest.trim_start();
    if left.is_empty() {
        if let Tag::Print {
            expr:
                Expr {
                    kind: ExprKind::Name(word),
                    span,
                },
            raw: false,
        } = &tag
        {
            if FOREIGN.contains(&&**word) {
                return Err((ErrorKind::UnknownInstruction(word.clone()), *span));
            }
        }
        return Ok(tag);
    }
    // `<< foreach x in y >>`: a lone word, a space, then more that cannot continue an expression.
    if let Tag::Print {
        expr: Expr {
            kind: ExprKind::Name(word),
            span,
        },
        raw: false,
    } = &tag
    {
        let starts_word = left
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"' || c == '\'');
        if rest.len() != left.len() && starts_word {
            return Err((ErrorKind::UnknownInstruction(word.clone()), *span));
        }
    }
    let at = cx.off(left);
    Err((
        ErrorKind::UnclosedTag {
            opened_at: whole.start,
        },
        Span::new(at, at + token_len(left)),
    ))
}

fn tag_body<'a>(cx: Cx<'a>, i: &'a str) -> PResult<'a, Tag> {
    let (i, _) = multispace0.parse(i)?;
    let e = |i| operand(cx, i, 0, expr);
    if let Ok((r, _)) = kw("raw").parse(i) {
        let (r, expr) = cut(e).parse(r)?;
        return Ok((r, Tag::Print { expr, raw: true }));
    }
    if let Ok((r, _)) = kw("if").parse(i) {
        return cut(e).map(Tag::If).parse(r);
    }
    if let Ok((r, _)) = kw("elif").parse(i) {
        return cut(e).map(Tag::Elif).parse(r);
    }
    if let Ok((r, _)) = kw("else").parse(i) {
        return Ok((r, Tag::Else));
    }
    if let Ok((r, _)) = kw("end").parse(i) {
        return Ok((r, Tag::End));
    }
    if let Ok((r, _)) = kw("code").parse(i) {
        return Ok((r, Tag::Code));
    }
    if let Ok((r, _)) = kw("after").parse(i) {
        return Ok((r, Tag::After));
    }
    if let Ok((r, _)) = kw("for").parse(i) {
        let (r, first) = cut(|i| ident(cx, i)).parse(r)?;
        let (r, second) = opt((ws(char(',')), cut(|i| ident(cx, i)))).parse(r)?;
        let (r, _) = cut(|i| {
            let (i, _) = multispace0.parse(i)?;
            kw("in").parse(i).or_else(|_| expected(i, "`in`"))
        })
        .parse(r)?;
        let (r, iter) = cut(e).parse(r)?;
        let (key, value) = match second {
            Some((_, v)) => (Some(first), v),
            None => (None, first),
        };
        return Ok((r, Tag::For { key, value, iter }));
    }
    if let Ok((r, _)) = kw("set").parse(i) {
        let (r, stmt) = cut(|i| assignment(cx, i)).parse(r)?;
        return Ok((r, Tag::Set(stmt)));
    }
    if let Ok((r, _)) = kw("include").parse(i) {
        let (r, path) = cut(|i| {
            let (i, _) = multispace0.parse(i)?;
            string_lit(i).or_else(|_| expected(i, "a quoted template name"))
        })
        .parse(r)?;
        return Ok((r, Tag::Include(path.into_boxed_str())));
    }
    match expr(cx, i, 0) {
        Ok((r, expr)) => Ok((r, Tag::Print { expr, raw: false })),
        Err(nom::Err::Error(PErr {
            kind: PErrKind::Nom,
            ..
        })) => expected(i, "an expression or an instruction"),
        Err(e) => Err(e),
    }
}

/// Parses statements separated by `;` or new lines (the body of `code` and `after`).
fn parse_stmts<'a>(cx: Cx<'a>, text: &'a str) -> Result<Vec<Stmt>, Fail> {
    let mut stmts = Vec::new();
    let mut i = text;
    loop {
        i = i.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if i.is_empty() {
            return Ok(stmts);
        }
        let (rest, stmt) = match statement(cx, i) {
            Ok(ok) => ok,
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => return Err(cx.fail(e)),
            Err(nom::Err::Incomplete(_)) => {
                return Err(cx.fail(PErr {
                    at: i,
                    kind: PErrKind::Nom,
                }));
            }
        };
        stmts.push(stmt);
        let after = rest.trim_start_matches([' ', '\t', '\r']);
        if !(after.is_empty() || after.starts_with(';') || after.starts_with('\n')) {
            let at = cx.off(after);
            return Err((
                ErrorKind::UnexpectedToken {
                    expected: "`;` or a new line between statements",
                },
                Span::new(at, at + token_len(after)),
            ));
        }
        i = after;
    }
}

/// `name = expr`, `name += expr`, `name -= expr`, or an expression.
fn statement<'a>(cx: Cx<'a>, i: &'a str) -> PResult<'a, Stmt> {
    match assignment(cx, i) {
        Err(nom::Err::Error(_)) => {}
        done => return done,
    }
    let (r, e) = operand(cx, i, 0, expr)?;
    Ok((r, Stmt::Expr(e)))
}

fn assignment<'a>(cx: Cx<'a>, i: &'a str) -> PResult<'a, Stmt> {
    let (i, _) = multispace0.parse(i)?;
    let start = i;
    let (r, target) = ident(cx, i)?;
    let (r, op) = ws(alt((
        tag("+=").map(|_| AssignOp::Add),
        tag("-=").map(|_| AssignOp::Sub),
        recognize((char('='), nom::combinator::not(char('=')))).map(|_| AssignOp::Set),
    )))
    .parse(r)
    .or_else(|_: nom::Err<PErr<'a>>| expected(r.trim_start(), "`=`"))?;
    let (r, value) = must(operand(cx, r, 0, expr))?;
    Ok((
        r,
        Stmt::Assign {
            target,
            op,
            value,
            span: cx.span(start, r),
        },
    ))
}

/// Skips whitespace, then runs `p`.
fn ws<'a, O, P>(p: P) -> impl Parser<&'a str, Output = O, Error = PErr<'a>>
where
    P: Parser<&'a str, Output = O, Error = PErr<'a>>,
{
    (multispace0, p).map(|(_, o)| o)
}

/// Matches the keyword `word` not followed by a name character.
fn kw<'a>(word: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = PErr<'a>> {
    move |i: &'a str| {
        let (r, w) = tag(word).parse(i)?;
        if r.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            return Err(nom::Err::Error(PErr {
                at: i,
                kind: PErrKind::Nom,
            }));
        }
        Ok((r, w))
    }
}

fn name(i: &str) -> PResult<'_, &str> {
    recognize((
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(i)
}

/// A variable name (not a reserved word), after optional whitespace.
fn ident<'a>(cx: Cx<'a>, i: &'a str) -> PResult<'a, Ident> {
    let (i, _) = multispace0.parse(i)?;
    match name(i) {
        Ok((r, n)) if !RESERVED.contains(&n) => Ok((
            r,
            Ident {
                name: n.into(),
                span: cx.span(i, r),
            },
        )),
        _ => expected(i, "a name"),
    }
}

fn enter<'a>(i: &'a str, depth: u32) -> Result<u32, nom::Err<PErr<'a>>> {
    if depth >= MAX_DEPTH {
        Err(nom::Err::Failure(PErr {
            at: i,
            kind: PErrKind::Depth,
        }))
    } else {
        Ok(depth + 1)
    }
}

fn boxed(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

fn binary(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    let span = Span {
        start: l.span.start,
        end: r.span.end,
    };
    boxed(ExprKind::Binary(op, Box::new(l), Box::new(r)), span)
}

/// Turns a recoverable error into a failure: what follows an opener or an operator must be there.
fn must<'a, T>(r: PResult<'a, T>) -> PResult<'a, T> {
    r.map_err(|e| match e {
        nom::Err::Error(e) => nom::Err::Failure(e),
        other => other,
    })
}

/// Binding powers, lowest first, as `docs/templates.md` orders the operators.
const BP_OR: u8 = 1;
const BP_AND: u8 = 2;
const BP_NOT: u8 = 3;
const BP_CMP: u8 = 4;
const BP_ADD: u8 = 5;
const BP_MUL: u8 = 6;
const BP_NEG: u8 = 7;

/// Reads a binary operator (after whitespace) and its binding power.
fn infix_op(i: &str) -> PResult<'_, (BinaryOp, u8)> {
    ws(alt((
        kw("or").map(|_| (BinaryOp::Or, BP_OR)),
        kw("and").map(|_| (BinaryOp::And, BP_AND)),
        tag("==").map(|_| (BinaryOp::Eq, BP_CMP)),
        tag("!=").map(|_| (BinaryOp::Ne, BP_CMP)),
        tag("<=").map(|_| (BinaryOp::Le, BP_CMP)),
        tag(">=").map(|_| (BinaryOp::Ge, BP_CMP)),
        tag("<").map(|_| (BinaryOp::Lt, BP_CMP)),
        tag(">").map(|_| (BinaryOp::Gt, BP_CMP)),
        kw("in").map(|_| (BinaryOp::In, BP_CMP)),
        (kw("not"), ws(kw("in"))).map(|_| (BinaryOp::NotIn, BP_CMP)),
        // `+=` and `-=` belong to statements, never to expressions.
        (char('+'), nom::combinator::not(char('='))).map(|_| (BinaryOp::Add, BP_ADD)),
        (char('-'), nom::combinator::not(char('='))).map(|_| (BinaryOp::Sub, BP_ADD)),
        char('*').map(|_| (BinaryOp::Mul, BP_MUL)),
        char('/').map(|_| (BinaryOp::Div, BP_MUL)),
        char('%').map(|_| (BinaryOp::Rem, BP_MUL)),
    )))
    .parse(i)
}

/// An expression.
fn expr<'a>(cx: Cx<'a>, i: &'a str, d: u32) -> PResult<'a, Expr> {
    expr_bp(cx, i, d, 0)
}

/// Parses an expression whose operators bind at least as tightly as `min_bp` (precedence
/// climbing); binary operators are left-associative. Each operator deepens the tree by one, so it
/// counts against the depth bound: a chain of a thousand `+` would otherwise overflow the
/// renderer's stack.
fn expr_bp<'a>(cx: Cx<'a>, i: &'a str, d: u32, min_bp: u8) -> PResult<'a, Expr> {
    let (i, _) = multispace0.parse(i)?;
    let (mut i, mut lhs) = if let Ok((r, _)) = kw("not").parse(i) {
        let d = enter(i, d)?;
        let (r, e) = must(operand_bp(cx, r, d, BP_NOT))?;
        let span = Span {
            start: cx.off(i) as u32,
            end: e.span.end,
        };
        (r, boxed(ExprKind::Unary(UnaryOp::Not, Box::new(e)), span))
    } else if let Ok((r, _)) = char::<_, PErr<'a>>('-').parse(i) {
        let d = enter(i, d)?;
        let (r, e) = must(operand_bp(cx, r, d, BP_NEG))?;
        (r, negate(cx, i, e))
    } else {
        filtered(cx, i, d)?
    };
    let mut d = d;
    while let Ok((r, (op, bp))) = infix_op(i) {
        if bp < min_bp {
            break;
        }
        d = enter(i, d)?;
        let (r, rhs) = must(operand_bp(cx, r, d, bp + 1))?;
        lhs = binary(op, lhs, rhs);
        i = r;
    }
    Ok((i, lhs))
}

/// Negates an operand; `-12` folds into a literal, so it prints and compares as the number it
/// reads as.
fn negate(cx: Cx<'_>, start: &str, e: Expr) -> Expr {
    let span = Span {
        start: cx.off(start) as u32,
        end: e.span.end,
    };
    let kind = match &e.kind {
        ExprKind::Literal(Value::Number(n)) if n.as_i64().is_some_and(|v| v != i64::MIN) => {
            ExprKind::Literal(Value::from(-n.as_i64().unwrap_or_default()))
        }
        ExprKind::Literal(Value::Number(n)) if n.is_f64() => ExprKind::Literal(
            serde_json::Number::from_f64(-n.as_f64().unwrap_or_default())
                .map_or(Value::Null, Value::Number),
        ),
        _ => ExprKind::Unary(UnaryOp::Neg, Box::new(e)),
    };
    boxed(kind, span)
}

/// Parses an operand, reporting "expected an expression" where it is missing.
fn operand_bp<'a>(cx: Cx<'a>, i: &'a str, d: u32, min_bp: u8) -> PResult<'a, Expr> {
    match expr_bp(cx, i, d, min_bp) {
        Err(nom::Err::Error(PErr {
            kind: PErrKind::Nom,
            ..
        })) => expected(i.trim_start(), "an expression"),
        other => other,
    }
}

type Level = for<'a> fn(Cx<'a>, &'a str, u32) -> PResult<'a, Expr>;

/// Parses an operand of `next`, reporting "expected an expression" where it is missing.
fn operand<'a>(cx: Cx<'a>, i: &'a str, d: u32, next: Level) -> PResult<'a, Expr> {
    match next(cx, i, d) {
        Err(nom::Err::Error(PErr {
            kind: PErrKind::Nom,
            ..
        })) => expected(i.trim_start(), "an expression"),
        other => other,
    }
}

/// `postfix ("|" name ["(" args ")"])*`: the piped value becomes the first argument.
fn filtered<'a>(cx: Cx<'a>, i: &'a str, d: u32) -> PResult<'a, Expr> {
    let start = i;
    let (mut i, mut e) = postfix(cx, i, d)?;
    let mut d = d;
    while let Ok((r, _)) = ws(char::<_, PErr<'a>>('|')).parse(i) {
        d = enter(i, d)?;
        let (r, _) = multispace0.parse(r)?;
        let (r, func) = must(name(r).or_else(|_| expected(r, "a filter name after `|`")))?;
        let (r, extra) = opt(|i| call_args(cx, i, d)).parse(r)?;
        let mut args = vec![e];
        args.extend(extra.unwrap_or_default());
        e = boxed(
            ExprKind::Call {
                func: callee(func),
                args,
                filter: true,
            },
            cx.span(start, r),
        );
        i = r;
    }
    Ok((i, e))
}

fn callee(name: &str) -> Callee {
    Builtin::from_name(name).map_or_else(|| Callee::Registered(name.into()), Callee::Builtin)
}

/// `primary ("." name | "[" expr "]")*`.
fn postfix<'a>(cx: Cx<'a>, i: &'a str, d: u32) -> PResult<'a, Expr> {
    let (i, _) = multispace0.parse(i)?;
    let start = i;
    let (mut i, mut e) = primary(cx, i, d)?;
    let mut d = d;
    loop {
        if let Ok((r, _)) = ws(char::<_, PErr<'a>>('.')).parse(i) {
            d = enter(i, d)?;
            let (r, _) = multispace0.parse(r)?;
            let (r, key) = must(name(r).or_else(|_| expected(r, "a name after `.`")))?;
            e = boxed(ExprKind::Attr(Box::new(e), key.into()), cx.span(start, r));
            i = r;
        } else if let Ok((r, _)) = ws(char::<_, PErr<'a>>('[')).parse(i) {
            d = enter(i, d)?;
            let (r, index) = must(operand(cx, r, d, expr))?;
            let (r, _) = close(r, ']', "`]`")?;
            e = boxed(
                ExprKind::Index(Box::new(e), Box::new(index)),
                cx.span(start, r),
            );
            i = r;
        } else {
            return Ok((i, e));
        }
    }
}

fn close<'a>(i: &'a str, c: char, what: &'static str) -> PResult<'a, ()> {
    let (i, _) = multispace0.parse(i)?;
    match char::<_, PErr<'a>>(c).parse(i) {
        Ok((r, _)) => Ok((r, ())),
        Err(_) => Err(nom::Err::Failure(PErr {
            at: i,
            kind: PErrKind::Expected(what),
        })),
    }
}

/// `"(" [expr ("," expr)* [","]] ")"`, after optional whitespace.
fn call_args<'a>(cx: Cx<'a>, i: &'a str, d: u32) -> PResult<'a, Vec<Expr>> {
    let (r, _) = ws(char('(')).parse(i)?;
    let d = enter(i, d)?;
    must(list(cx, r, d, ')', "`,` or `)`", |cx, i, d| {
        operand(cx, i, d, expr)
    }))
}

/// Items separated by commas, up to `closer` (a trailing comma is allowed).
fn list<'a, T>(
    cx: Cx<'a>,
    mut i: &'a str,
    d: u32,
    closer: char,
    what: &'static str,
    item: impl Fn(Cx<'a>, &'a str, u32) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let mut items = Vec::new();
    loop {
        if let Ok((r, _)) = ws(char::<_, PErr<'a>>(closer)).parse(i) {
            return Ok((r, items));
        }
        let (r, it) = item(cx, i, d)?;
        items.push(it);
        let (r, _) = multispace0.parse(r)?;
        if let Ok((r, _)) = char::<_, PErr<'a>>(',').parse(r) {
            i = r;
        } else if let Ok((r, _)) = char::<_, PErr<'a>>(closer).parse(r) {
            return Ok((r, items));
        } else {
            return expected(r, what);
        }
    }
}

fn primary<'a>(cx: Cx<'a>, i: &'a str, d: u32) -> PResult<'a, Expr> {
    let lit = |r: &'a str, v: Value| Ok((r, boxed(ExprKind::Literal(v), cx.span(i, r))));
    if let Ok((r, _)) = char::<_, PErr<'a>>('(').parse(i) {
        let d = enter(i, d)?;
        let (r, e) = must(operand(cx, r, d, expr))?;
        let (r, _) = close(r, ')', "`)`")?;
        return Ok((r, e));
    }
    if let Ok((r, _)) = char::<_, PErr<'a>>('[').parse(i) {
        let d = enter(i, d)?;
        let (r, items) = must(list(cx, r, d, ']', "`,` or `]`", |cx, i, d| {
            operand(cx, i, d, expr)
        }))?;
        return Ok((r, boxed(ExprKind::Array(items), cx.span(i, r))));
    }
    if let Ok((r, _)) = char::<_, PErr<'a>>('{').parse(i) {
        let d = enter(i, d)?;
        let (r, items) = must(list(cx, r, d, '}', "`,` or `}`", object_item))?;
        return Ok((r, boxed(ExprKind::Object(items), cx.span(i, r))));
    }
    if i.starts_with(['"', '\'']) {
        let (r, s) = string_lit(i)?;
        return lit(r, Value::String(s));
    }
    if i.starts_with(|c: char| c.is_ascii_digit()) {
        return number(i).and_then(|(r, v)| lit(r, v));
    }
    let (r, word) = name(i)?;
    match word {
        "true" => return lit(r, Value::Bool(true)),
        "false" => return lit(r, Value::Bool(false)),
        "null" => return lit(r, Value::Null),
        w if RESERVED.contains(&w) => return expected(i, "an expression"),
        _ => {}
    }
    match call_args(cx, r, d) {
        Ok((r, args)) => {
            let kind = ExprKind::Call {
                func: callee(word),
                args,
                filter: false,
            };
            Ok((r, boxed(kind, cx.span(i, r))))
        }
        Err(nom::Err::Error(_)) => Ok((r, boxed(ExprKind::Name(word.into()), cx.span(i, r)))),
        Err(e) => Err(e),
    }
}

fn object_item<'a>(cx: Cx<'a>, i: &'a str, d: u32) -> PResult<'a, (Box<str>, Expr)> {
    let (i, _) = multispace0.parse(i)?;
    let (r, key) = if i.starts_with(['"', '\'']) {
        string_lit(i)?
    } else {
        name(i)
            .map(|(r, n)| (r, n.to_owned()))
            .or_else(|_| expected(i, "a key"))?
    };
    let (r, _) = close(r, ':', "`:`")?;
    let (r, v) = must(operand(cx, r, d, expr))?;
    Ok((r, (key.into_boxed_str(), v)))
}

fn number(i: &str) -> PResult<'_, Value> {
    let (r, text) = recognize((
        digit1,
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(i)?;
    if text.contains(['.', 'e', 'E']) {
        match text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => Ok((r, Value::Number(n))),
            None => Err(nom::Err::Failure(PErr {
                at: i,
                kind: PErrKind::Expected("a finite number"),
            })),
        }
    } else {
        match text.parse::<i64>() {
            Ok(n) => Ok((r, Value::from(n))),
            Err(_) => Err(nom::Err::Failure(PErr {
                at: i,
                kind: PErrKind::Expected("an integer that fits in 64 bits"),
            })),
        }
    }
}

/// A quoted string, `"…"` or `'…'`, with the escapes `\n \t \r \0 \\ \" \' \uXXXX`.
fn string_lit(i: &str) -> PResult<'_, String> {
    let Some(quote) = i.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return expected(i, "a string");
    };
    let mut out = String::new();
    let mut chars = i.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((i.get(at + 1..).unwrap_or_default(), out)),
            '\\' => {
                let Some((esc_at, e)) = chars.next() else {
                    break;
                };
                let bad = || {
                    nom::Err::Failure(PErr {
                        at: i.get(at..).unwrap_or_default(),
                        kind: PErrKind::Expected(
                            "a valid escape (\\n \\t \\r \\0 \\\\ \\\" \\' \\uXXXX)",
                        ),
                    })
                };
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    '\\' | '"' | '\'' => e,
                    'u' => {
                        let hex = i.get(esc_at + 1..esc_at + 5).ok_or_else(bad)?;
                        let code = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
                        for _ in 0..4 {
                            chars.next();
                        }
                        char::from_u32(code).ok_or_else(bad)?
                    }
                    _ => return Err(bad()),
                });
            }
            c => out.push(c),
        }
    }
    Err(nom::Err::Failure(PErr {
        at: i,
        kind: PErrKind::Expected("a closing quote"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
        parse_template(&Arc::from("t.html"), &Arc::from(src))
    }

    fn err(src: &str) -> String {
        parse(src).unwrap_err().to_string()
    }

    fn print_expr(src: &str) -> Expr {
        match parse(src)
            .unwrap()
            .into_iter()
            .find(|n| !matches!(n, Node::Text(_)))
        {
            Some(Node::Print { expr, .. }) => expr,
            other => panic!("not a print: {other:?}"),
        }
    }

    /// Renders an expression tree in prefix form, to check precedence.
    fn sexp(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Literal(v) => v.to_string(),
            ExprKind::Name(n) => n.to_string(),
            ExprKind::Binary(op, l, r) => format!("({} {} {})", op.as_str(), sexp(l), sexp(r)),
            ExprKind::Unary(UnaryOp::Neg, x) => format!("(neg {})", sexp(x)),
            ExprKind::Unary(UnaryOp::Not, x) => format!("(not {})", sexp(x)),
            ExprKind::Call { func, args, .. } => {
                let f = match func {
                    Callee::Builtin(b) => b.name().to_owned(),
                    Callee::Registered(n) => n.to_string(),
                };
                let a: Vec<String> = args.iter().map(sexp).collect();
                format!("{f}({})", a.join(", "))
            }
            ExprKind::Attr(x, k) => format!("{}.{k}", sexp(x)),
            ExprKind::Index(x, k) => format!("{}[{}]", sexp(x), sexp(k)),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn operators_bind_in_the_documented_order() {
        let cases = [
            ("a or b and c", "(or a (and b c))"),
            ("not a == b", "(not (== a b))"),
            ("a + b * c", "(+ a (* b c))"),
            ("a - b - c", "(- (- a b) c)"),
            ("-a * b", "(* (neg a) b)"),
            ("a < b + 1 and c in d", "(and (< a (+ b 1)) (in c d))"),
            ("a not in b or not c", "(or (not in a b) (not c))"),
            ("x | upper + y", "(+ upper(x) y)"),
            ("-3 % 2", "(% -3 2)"),
            ("a.b[0].c", "a.b[0].c"),
            ("(a or b) and c", "(and (or a b) c)"),
        ];
        for (src, want) in cases {
            assert_eq!(sexp(&print_expr(&format!("<< {src} >>"))), want, "{src}");
        }
    }

    #[test]
    fn spans_cover_their_source() {
        let src = "ab << x + y.z >>";
        let e = print_expr(src);
        assert_eq!(&src[e.span.range()], "x + y.z");
    }

    #[test]
    fn cut_points_at_the_missing_piece() {
        assert_eq!(err("<< 1 + >>"), "t.html:1:8: expected an expression");
        assert_eq!(err("<< (1 >>"), "t.html:1:7: expected `)`");
        assert_eq!(err("<< for x y >>"), "t.html:1:10: expected `in`");
        assert_eq!(
            err("<< a b >>"),
            "t.html:1:1: expected an expression or an instruction, found unknown instruction `a`"
                .replace("1:1", "1:4")
        );
        assert_eq!(
            err("<< a ) >>"),
            "t.html:1:6: expected `>>` to close the tag opened at 1:1"
        );
    }

    #[test]
    fn nesting_past_the_bound_is_an_error_not_a_crash() {
        let deep = format!("<< {}1{} >>", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&deep).contains("expected at most 128 levels of nesting"));
        let chain = format!("<< 1{} >>", " + 1".repeat(10_000));
        assert!(err(&chain).contains("levels of nesting"));
        let blocks = "<< if a >>".repeat(200);
        assert!(err(&blocks).contains("levels of nesting"));
        let ok = format!("<< {}1{} >>", "(".repeat(100), ")".repeat(100));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn code_statements_need_separators() {
        assert!(parse("<< code >> a = 1; b = a\n c = 2 << end >>").is_ok());
        assert_eq!(
            err("<< code >> a = 1 b = 2 << end >>"),
            "t.html:1:18: expected `;` or a new line between statements"
        );
    }
}

//! Template errors: parse and runtime errors that point at a file, a line and a column.
//!
//! In scope: the error kinds, their messages, the `file:line:col: message` rendering, the source
//! line with a caret under `{:#}`, and the HTML debug page. Line and column are worked out from the
//! byte offset only when the error is displayed. Out of scope: deciding what the client sees (the
//! server answers 500 or, with `show_debug` on, [`TemplateError::debug_html`]).

use std::fmt;
use std::sync::Arc;

use super::ast::Span;

/// What went wrong in a template.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Parse: a `<<` with no `>>` after it, or a tag with more after its content.
    UnclosedTag {
        /// The byte offset of the `<<`.
        opened_at: u32,
    },
    /// Parse: a `<<#` with no `#>>` after it.
    UnclosedComment {
        /// The byte offset of the `<<#`.
        opened_at: u32,
    },
    /// Parse: something else was found where `expected` was expected.
    UnexpectedToken {
        /// What the parser was looking for (`an expression`, `` `)` ``).
        expected: &'static str,
    },
    /// Parse: a tag starts with a word that is no instruction (`<< foreach x in y >>`).
    UnknownInstruction(Box<str>),
    /// Parse: the file ended inside an `if`, `for`, `code` or `after` block.
    UnclosedBlock {
        /// The instruction that opened the block.
        keyword: &'static str,
        /// The byte offset of its tag.
        opened_at: u32,
    },
    /// Parse: an `end`, `elif` or `else` with no block to belong to.
    StrayTag(&'static str),
    /// Parse: blocks or expressions nested deeper than the bound.
    DepthExceeded {
        /// The bound.
        max: u32,
    },
    /// Runtime: a name that is neither a local, a context key, a route arg nor a global var.
    UnknownName(Box<str>),
    /// Runtime: `a.key` or `a["key"]` on an object without that key.
    MissingKey(Box<str>),
    /// Runtime: `a[i]` past the end of an array.
    IndexOutOfRange(i64),
    /// Runtime: an operator or built-in applied to values of the wrong type.
    WrongType(Box<str>),
    /// Runtime: `/` or `%` by zero.
    DivisionByZero,
    /// Runtime: integer arithmetic out of the 64-bit range.
    Overflow,
    /// Runtime: a call with the wrong number of arguments.
    Arguments(Box<str>),
    /// Runtime: a call of a function neither built in nor registered.
    UnknownFunction(Box<str>),
    /// Runtime: a registered function returned an error.
    FunctionFailed {
        /// The function.
        name: Box<str>,
        /// Its message.
        message: Box<str>,
    },
    /// Runtime: the render budget ran out.
    FuelExhausted {
        /// The budget.
        fuel: u64,
    },
    /// Runtime: an `include` names a template that does not exist.
    IncludeNotFound(Box<str>),
    /// Runtime: includes nested deeper than the bound.
    IncludeDepth {
        /// The bound.
        max: u32,
    },
    /// Loading: no template of that name in the templates folder.
    NotFound,
    /// Loading: a name that is empty, absolute, or climbs out of the templates folder.
    InvalidName,
    /// Loading: the file could not be read.
    Io(Box<str>),
    /// Output: the sink refused the bytes (the client went away).
    Sink(SinkError),
}

impl ErrorKind {
    /// Returns whether this error comes from parsing the template (as opposed to rendering it).
    #[must_use]
    pub fn is_parse(&self) -> bool {
        matches!(
            self,
            ErrorKind::UnclosedTag { .. }
                | ErrorKind::UnclosedComment { .. }
                | ErrorKind::UnexpectedToken { .. }
                | ErrorKind::UnknownInstruction(_)
                | ErrorKind::UnclosedBlock { .. }
                | ErrorKind::StrayTag(_)
                | ErrorKind::DepthExceeded { .. }
        )
    }

    /// Returns whether `default(...)` replaces this error by its fallback value.
    pub(crate) fn is_undefined(&self) -> bool {
        matches!(
            self,
            ErrorKind::UnknownName(_) | ErrorKind::MissingKey(_) | ErrorKind::IndexOutOfRange(_)
        )
    }
}

/// The sink refused output bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkError {
    /// The connection is closed or failed.
    Closed,
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Closed => f.write_str("output closed"),
        }
    }
}

impl std::error::Error for SinkError {}

/// A template error: its kind, the template's name and, when it has one, the location in the
/// source.
///
/// `Display` gives `name:line:col: message`; the alternate form (`{:#}`) adds the source line and
/// a caret under the offending span.
#[derive(Clone)]
pub struct TemplateError(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    name: Arc<str>,
    source: Option<Arc<str>>,
    span: Option<Span>,
}

impl TemplateError {
    /// Creates an error located at `span` in the template `name` whose source is `source`.
    pub(crate) fn located(kind: ErrorKind, name: &Arc<str>, source: &Arc<str>, span: Span) -> Self {
        TemplateError(Box::new(Inner {
            kind,
            name: Arc::clone(name),
            source: Some(Arc::clone(source)),
            span: Some(span),
        }))
    }

    /// Creates an error with no location (loading errors).
    pub(crate) fn unlocated(kind: ErrorKind, name: &str) -> Self {
        TemplateError(Box::new(Inner {
            kind,
            name: Arc::from(name),
            source: None,
            span: None,
        }))
    }

    /// Returns what went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Returns the name of the template the error is in.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Returns the byte span the error points at, if it has a location.
    #[must_use]
    pub fn span(&self) -> Option<Span> {
        self.0.span
    }

    /// Returns the 1-based line and column (in characters) of the error, if it has a location.
    #[must_use]
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let src = self.0.source.as_deref()?;
        Some(line_col(src, self.0.span?.start as usize))
    }

    /// Returns whether the sink refused output (the client went away), as opposed to an error in
    /// the template.
    #[must_use]
    pub fn is_sink(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Sink(_))
    }

    /// Returns whether the page itself does not exist (no such template, or a name outside the
    /// folder): the server answers 404 rather than 500. An `include` of a missing template is a
    /// runtime error of the including page, not this.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self.0.kind, ErrorKind::NotFound | ErrorKind::InvalidName)
    }

    /// Returns an HTML page showing the error, the source line and a caret, all escaped; the server
    /// sends it instead of a plain 500 when `show_debug` is on.
    #[must_use]
    pub fn debug_html(&self) -> String {
        let mut page = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Template error</title>\
             <style>body{font-family:sans-serif}pre{background:#f4f4f4;padding:1em}\
             .caret{color:#c00}</style></head>\n<body><h1>Template error</h1>\n<p>",
        );
        crate::http::escape_html_into(&mut page, &self.to_string());
        page.push_str("</p>\n");
        if let Some((number, line, col, width)) = self.excerpt() {
            page.push_str("<pre>");
            crate::http::escape_html_into(&mut page, &format!("{number:>4} | {line}\n"));
            page.push_str("     | <span class=\"caret\">");
            page.push_str(&" ".repeat(col.saturating_sub(1)));
            page.push_str(&"^".repeat(width));
            page.push_str("</span></pre>\n");
        }
        page.push_str("</body></html>\n");
        page
    }

    /// Returns (line number, line text, column, caret width) for the error's location.
    fn excerpt(&self) -> Option<(usize, &str, usize, usize)> {
        let src = self.0.source.as_deref()?;
        let span = self.0.span?;
        excerpt(src, span.start as usize, span.end as usize)
    }

    /// Returns the offset of the opener an "unclosed" error refers to.
    fn opened_at(&self) -> Option<usize> {
        match self.0.kind {
            ErrorKind::UnclosedTag { opened_at }
            | ErrorKind::UnclosedComment { opened_at }
            | ErrorKind::UnclosedBlock { opened_at, .. } => Some(opened_at as usize),
            _ => None,
        }
    }

    fn message(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |offset: u32| match self.0.source.as_deref() {
            Some(src) => {
                let (l, c) = line_col(src, offset as usize);
                format!("{l}:{c}")
            }
            None => format!("byte {offset}"),
        };
        match &self.0.kind {
            ErrorKind::UnclosedTag { opened_at } => write!(
                f,
                "expected `>>` to close the tag opened at {}",
                at(*opened_at)
            ),
            ErrorKind::UnclosedComment { opened_at } => write!(
                f,
                "expected `#>>` to close the comment opened at {}",
                at(*opened_at)
            ),
            ErrorKind::UnexpectedToken { expected } => write!(f, "expected {expected}"),
            ErrorKind::UnknownInstruction(word) => write!(
                f,
                "expected an expression or an instruction, found unknown instruction `{word}`"
            ),
            ErrorKind::UnclosedBlock { keyword, opened_at } => write!(
                f,
                "expected `<< end >>` to close the `{keyword}` opened at {}",
                at(*opened_at)
            ),
            ErrorKind::StrayTag(word) => {
                write!(
                    f,
                    "expected text or a tag, found `{word}` that no open block accepts"
                )
            }
            ErrorKind::DepthExceeded { max } => {
                write!(f, "expected at most {max} levels of nesting")
            }
            ErrorKind::UnknownName(name) => write!(f, "unknown name `{name}`"),
            ErrorKind::MissingKey(key) => write!(f, "no key `{key}` in the object"),
            ErrorKind::IndexOutOfRange(i) => write!(f, "index {i} is out of range"),
            ErrorKind::WrongType(what) => write!(f, "wrong type: {what}"),
            ErrorKind::DivisionByZero => f.write_str("division by zero"),
            ErrorKind::Overflow => f.write_str("integer overflow"),
            ErrorKind::Arguments(what) => write!(f, "wrong arguments: {what}"),
            ErrorKind::UnknownFunction(name) => write!(f, "unknown function `{name}`"),
            ErrorKind::FunctionFailed { name, message } => {
                write!(f, "function `{name}` failed: {message}")
            }
            ErrorKind::FuelExhausted { fuel } => {
                write!(f, "render budget of {fuel} steps exhausted")
            }
            ErrorKind::IncludeNotFound(name) => write!(f, "included template `{name}` not found"),
            ErrorKind::IncludeDepth { max } => {
                write!(f, "includes nested deeper than {max}")
            }
            ErrorKind::NotFound => f.write_str("template not found"),
            ErrorKind::InvalidName => f.write_str("invalid template name"),
            ErrorKind::Io(e) => write!(f, "cannot read the template: {e}"),
            ErrorKind::Sink(e) => write!(f, "{e}"),
        }
    }
}

/// Returns (line number, line text, column, caret width) for the span `start..end` of `src`; the
/// caret covers the span's part on its first line, at least one character.
fn excerpt(src: &str, start: usize, end: usize) -> Option<(usize, &str, usize, usize)> {
    let mut start = start.min(src.len());
    while !src.is_char_boundary(start) {
        start -= 1;
    }
    let (line_no, col) = line_col(src, start);
    let line_start = src.get(..start)?.rfind('\n').map_or(0, |i| i + 1);
    let line_end = src
        .get(start..)?
        .find('\n')
        .map_or(src.len(), |i| start + i);
    let line = src.get(line_start..line_end)?.trim_end_matches('\r');
    let end = end.clamp(start, line_end);
    let width = src.get(start..end).map_or(0, |s| s.chars().count()).max(1);
    Some((line_no, line, col, width))
}

/// Returns the 1-based (line, column) of byte `offset` in `src`; columns count characters.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = src.get(..offset).unwrap_or_default();
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name)?;
        if let Some((line, col)) = self.line_col() {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        self.message(f)?;
        if f.alternate() {
            let Some(at) = self.excerpt() else {
                return Ok(());
            };
            // An "unclosed" error on another line also shows the line of its opener.
            let opener = self
                .opened_at()
                .zip(self.0.source.as_deref())
                .and_then(|(o, src)| excerpt(src, o, o + 2))
                .filter(|o| o.0 != at.0);
            let pad = " ".repeat(at.0.to_string().len());
            f.write_str("\n")?;
            f.write_str(&pad)?;
            f.write_str(" |")?;
            for ((number, line, col, width), mark, label) in opener
                .map(|o| (o, '-', " opened here"))
                .into_iter()
                .chain([(at, '^', "")])
            {
                write!(
                    f,
                    "\n{number:>w$} | {line}\n{pad} | {}{}{label}",
                    " ".repeat(col.saturating_sub(1)),
                    mark.to_string().repeat(width),
                    w = pad.len()
                )?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateError")
            .field("kind", &self.0.kind)
            .field("name", &self.0.name)
            .field("span", &self.0.span)
            .finish()
    }
}

impl std::error::Error for TemplateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Sink(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str, span: Span, kind: ErrorKind) -> TemplateError {
        TemplateError::located(kind, &Arc::from("page.html"), &Arc::from(src), span)
    }

    #[test]
    fn display_gives_file_line_col_and_what_was_expected() {
        let src = "one\ntwo\n  << a b >>\n";
        let e = err(
            src,
            Span::new(13, 14),
            ErrorKind::UnclosedTag { opened_at: 10 },
        );
        assert_eq!(
            e.to_string(),
            "page.html:3:6: expected `>>` to close the tag opened at 3:3"
        );
        assert_eq!(
            format!("{e:#}"),
            "page.html:3:6: expected `>>` to close the tag opened at 3:3\n  |\n3 |   << a b >>\n  |      ^"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "é << x >>";
        assert_eq!(line_col(src, 6), (1, 6));
    }

    #[test]
    fn debug_html_escapes_the_source_line() {
        let src = "<p><< 1 / 0 >></p>";
        let e = err(src, Span::new(6, 11), ErrorKind::DivisionByZero);
        let html = e.debug_html();
        assert!(html.contains("&lt;p&gt;&lt;&lt; 1 / 0 &gt;&gt;&lt;/p&gt;"));
        assert!(html.contains("page.html:1:7: division by zero"));
        assert!(html.contains("      ^^^^^</span>"));
        assert!(!html.contains("<p><<"));
    }

    #[test]
    fn unlocated_errors_name_the_template_only() {
        let e = TemplateError::unlocated(ErrorKind::NotFound, "nope.html");
        assert_eq!(e.to_string(), "nope.html: template not found");
        assert_eq!(format!("{e:#}"), "nope.html: template not found");
    }
}

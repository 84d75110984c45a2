//! The scanner: splits a template source into text, `<< … >>` tags and `<<# … #>>` comments.
//!
//! In scope: finding tag boundaries (skipping quoted strings inside tags, so `<< "<<" >>` and
//! `<< ">>" >>` work), the `<<-` / `->>` whitespace trimming, dropping comments. Out of scope:
//! what is inside a tag (see `parse.rs`). It is a plain string search; nom is not needed here.

use memchr::memmem;

use super::ast::Span;
use super::error::ErrorKind;

/// One piece of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Page text, already trimmed by the neighbouring tags' markers. Never empty.
    Text(Span),
    /// A tag: `inner` is what lies between `<<`/`<<-` and `>>`/`->>`, `whole` the full tag.
    Tag { inner: Span, whole: Span },
}

/// Splits `src` into pieces.
///
/// # Errors
///
/// An unclosed tag or comment, with the span of its opener.
pub(crate) fn scan(src: &str) -> Result<Vec<Piece>, (ErrorKind, Span)> {
    let bytes = src.as_bytes();
    let mut pieces = Vec::new();
    let mut pos = 0usize;
    // Set by a `->>`: the next text loses its leading whitespace.
    let mut trim_next = false;
    let opener = memmem::Finder::new(b"<<");
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or_default();
        let Some(found) = opener.find(rest) else {
            push_text(&mut pieces, src, pos, bytes.len(), trim_next, false);
            break;
        };
        let open = pos + found;
        let after_open = open + 2;
        if bytes.get(after_open) == Some(&b'#') {
            // `<<# comment #>>`: dropped.
            push_text(&mut pieces, src, pos, open, trim_next, false);
            trim_next = false;
            let body = bytes.get(after_open + 1..).unwrap_or_default();
            let Some(close) = memmem::find(body, b"#>>") else {
                return Err((
                    ErrorKind::UnclosedComment {
                        opened_at: open as u32,
                    },
                    end_of(src),
                ));
            };
            pos = after_open + 1 + close + 3;
            continue;
        }
        let trim_before = bytes.get(after_open) == Some(&b'-');
        let inner_start = if trim_before {
            after_open + 1
        } else {
            after_open
        };
        push_text(&mut pieces, src, pos, open, trim_next, trim_before);
        let Some(close) = find_tag_end(bytes, inner_start) else {
            return Err((
                ErrorKind::UnclosedTag {
                    opened_at: open as u32,
                },
                end_of(src),
            ));
        };
        let trim_after = close > inner_start && bytes.get(close - 1) == Some(&b'-');
        let inner_end = if trim_after { close - 1 } else { close };
        pieces.push(Piece::Tag {
            inner: Span::new(inner_start, inner_end),
            whole: Span::new(open, close + 2),
        });
        trim_next = trim_after;
        pos = close + 2;
    }
    Ok(pieces)
}

/// Returns the empty span just after the last non-blank character: where an unclosed tag, comment
/// or block is reported (a trailing blank line would show nothing).
pub(crate) fn end_of(src: &str) -> Span {
    let end = src.trim_end().len();
    Span::new(end, end)
}

/// Returns the offset of the `>>` closing a tag whose inside starts at `from`, skipping quoted
/// strings (with backslash escapes) so that `>>` inside a string does not close the tag.
fn find_tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' | b'\'' => {
                i += 1;
                loop {
                    match bytes.get(i)? {
                        b'\\' => i += 2,
                        &c if c == b => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Pushes `src[start..end]` as text, trimmed at either end as asked; skips it if empty.
fn push_text(
    pieces: &mut Vec<Piece>,
    src: &str,
    mut start: usize,
    mut end: usize,
    trim_start: bool,
    trim_end: bool,
) {
    let Some(text) = src.get(start..end) else {
        return;
    };
    if trim_start {
        start = end - text.trim_start().len();
    }
    if trim_end {
        let kept = src.get(start..end).map_or(0, |t| t.trim_end().len());
        end = start + kept;
    }
    if start < end {
        pieces.push(Piece::Text(Span::new(start, end)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        scan(src)
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Piece::Text(s) => format!("T[{}]", &src[s.range()]),
                Piece::Tag { inner, .. } => format!("G[{}]", &src[inner.range()]),
            })
            .collect()
    }

    #[test]
    fn splits_text_and_tags() {
        assert_eq!(texts("a << b >> c"), ["T[a ]", "G[ b ]", "T[ c]"]);
        assert_eq!(texts("<<x>>"), ["G[x]"]);
        assert_eq!(texts("plain > text >> here"), ["T[plain > text >> here]"]);
    }

    #[test]
    fn trims_whitespace_around_dash_markers() {
        assert_eq!(texts("a \n <<- b ->> \n c"), ["T[a]", "G[ b ]", "T[c]"]);
        assert_eq!(texts("a <<- b >> c"), ["T[a]", "G[ b ]", "T[ c]"]);
        assert_eq!(texts("a  \n ->> c"), ["T[a  \n ->> c]"]);
    }

    #[test]
    fn strings_inside_tags_may_hold_the_delimiters() {
        assert_eq!(texts(r#"<< "<<" >>"#), [r#"G[ "<<" ]"#]);
        assert_eq!(texts(r#"<< '>>' >>x"#), ["G[ '>>' ]", "T[x]"]);
        assert_eq!(texts(r#"<< "a\"b>>" >>"#), [r#"G[ "a\"b>>" ]"#]);
    }

    #[test]
    fn drops_comments() {
        assert_eq!(texts("a<<# x >> y #>>b"), ["T[a]", "T[b]"]);
    }

    #[test]
    fn reports_unclosed_tags_and_comments_at_their_opener() {
        assert_eq!(
            scan("ab << x").unwrap_err().0,
            ErrorKind::UnclosedTag { opened_at: 3 }
        );
        assert_eq!(
            scan("<< \"x >>").unwrap_err().0,
            ErrorKind::UnclosedTag { opened_at: 0 }
        );
        assert_eq!(
            scan("x<<# y").unwrap_err().0,
            ErrorKind::UnclosedComment { opened_at: 1 }
        );
    }
}

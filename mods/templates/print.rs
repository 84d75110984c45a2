//! Printing a value as `<< >>` does: the text of each kind of value, HTML escaping of
//! `& < > " '`, and integers formatted without allocating.
//!
//! In scope: turning one value into page bytes through a [`RenderSink`]. Out of scope: where the
//! bytes go (see `sink.rs`).

use std::fmt::Write as _;

use serde_json::Value;

use super::builtins::{self, display};
use super::error::SinkError;
use super::sink::RenderSink;

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

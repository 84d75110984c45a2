//! The built-in functions and filters, and the value rules they share with the renderer
//! (truthiness, display, numbers).
//!
//! In scope: `len upper lower trim default json escape join range round int float str`, which are
//! resolved at parse time. Out of scope: functions the application registers (looked up by the
//! renderer) and the lazy parts of `default` and `range` (the renderer evaluates those itself:
//! `default` must see an unknown name as a value, `range` in a `for` never materialises).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Number, Value};

use super::error::ErrorKind;

/// A built-in function, usable as `f(x, …)` or as a filter `x | f(…)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Builtin {
    /// `len(x)`: characters of a string, items of an array or object.
    Len,
    /// `upper(s)`.
    Upper,
    /// `lower(s)`.
    Lower,
    /// `trim(s)`: leading and trailing whitespace removed.
    Trim,
    /// `default(x, fallback = "")`: `fallback` when `x` is null or undefined.
    Default,
    /// `json(x)`: compact JSON text.
    Json,
    /// `escape(x)`: HTML-escaped text (printing it does not escape it twice).
    Escape,
    /// `join(items, sep = "")`.
    Join,
    /// `range(stop)`, `range(start, stop)`, `range(start, stop, step)`: integers, stop excluded.
    Range,
    /// `round(x)` (an integer, ties to even) or `round(x, digits)` (a float).
    Round,
    /// `int(x)`: from a number (truncated), a numeric string or a bool.
    Int,
    /// `float(x)`: from a number, a numeric string or a bool.
    Float,
    /// `str(x)`: the text `<< x >>` would print.
    Str,
}

impl Builtin {
    /// Returns the built-in of that name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "len" => Builtin::Len,
            "upper" => Builtin::Upper,
            "lower" => Builtin::Lower,
            "trim" => Builtin::Trim,
            "default" => Builtin::Default,
            "json" => Builtin::Json,
            "escape" => Builtin::Escape,
            "join" => Builtin::Join,
            "range" => Builtin::Range,
            "round" => Builtin::Round,
            "int" => Builtin::Int,
            "float" => Builtin::Float,
            "str" => Builtin::Str,
            _ => return None,
        })
    }

    /// Returns the built-in's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Len => "len",
            Builtin::Upper => "upper",
            Builtin::Lower => "lower",
            Builtin::Trim => "trim",
            Builtin::Default => "default",
            Builtin::Json => "json",
            Builtin::Escape => "escape",
            Builtin::Join => "join",
            Builtin::Range => "range",
            Builtin::Round => "round",
            Builtin::Int => "int",
            Builtin::Float => "float",
            Builtin::Str => "str",
        }
    }

    /// Returns the accepted argument counts (inclusive).
    pub(crate) fn arity(self) -> (usize, usize) {
        match self {
            Builtin::Default | Builtin::Join | Builtin::Round => (1, 2),
            Builtin::Range => (1, 3),
            _ => (1, 1),
        }
    }

    /// Calls the built-in on evaluated arguments (the count was checked by the caller).
    pub(crate) fn call(self, args: &[Cow<'_, Value>]) -> Result<Value, ErrorKind> {
        let first = args.first().map_or(&Value::Null, |v| &**v);
        let second = args.get(1).map(|v| &**v);
        match self {
            Builtin::Len => match first {
                Value::String(s) => Ok(Value::from(s.chars().count())),
                Value::Array(a) => Ok(Value::from(a.len())),
                Value::Object(o) => Ok(Value::from(o.len())),
                v => Err(expects(self, "a string, an array or an object", v)),
            },
            Builtin::Upper => Ok(Value::String(text_of(self, first)?.to_uppercase())),
            Builtin::Lower => Ok(Value::String(text_of(self, first)?.to_lowercase())),
            Builtin::Trim => Ok(Value::String(text_of(self, first)?.trim().to_owned())),
            Builtin::Default => Ok(match (first, second) {
                (Value::Null, Some(d)) => d.clone(),
                (Value::Null, None) => Value::String(String::new()),
                (v, _) => v.clone(),
            }),
            Builtin::Json => serde_json::to_string(first)
                .map(Value::String)
                .map_err(|e| wrong(e.to_string())),
            Builtin::Escape => {
                let mut out = String::new();
                escape_html_into(&mut out, &display(first));
                Ok(Value::String(out))
            }
            Builtin::Join => {
                let Value::Array(items) = first else {
                    return Err(expects(self, "an array", first));
                };
                let sep = match second {
                    None => "",
                    Some(Value::String(s)) => s,
                    Some(v) => return Err(expects(self, "a string separator", v)),
                };
                let mut out = String::new();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    out.push_str(&display(item));
                }
                Ok(Value::String(out))
            }
            Builtin::Range => {
                let (start, stop, step) = range_args(args)?;
                let len = range_len(start, stop, step);
                let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(1 << 16));
                let mut n = start;
                for _ in 0..len {
                    out.push(Value::from(n));
                    n = n.wrapping_add(step);
                }
                Ok(Value::Array(out))
            }
            Builtin::Round => {
                let digits = match second {
                    None => None,
                    Some(v) => Some(
                        v.as_i64()
                            .ok_or_else(|| expects(self, "integer digits", v))?,
                    ),
                };
                match (num(first), digits) {
                    (Some(Num::Int(i)), None) => Ok(Value::from(i)),
                    // As in Python, rounding an integer keeps it an integer.
                    (Some(Num::Int(i)), Some(_)) => Ok(Value::from(i)),
                    (Some(Num::Float(f)), None) => float_to_int(f.round_ties_even()),
                    (Some(Num::Float(f)), Some(d)) => {
                        let scale = 10f64.powi(d.clamp(-300, 300) as i32);
                        float_value((f * scale).round_ties_even() / scale)
                    }
                    (None, _) => Err(expects(self, "a number", first)),
                }
            }
            Builtin::Int => match first {
                Value::Bool(b) => Ok(Value::from(i64::from(*b))),
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| wrong(format!("`int` cannot read {}", quoted(s)))),
                v => match num(v) {
                    Some(Num::Int(i)) => Ok(Value::from(i)),
                    Some(Num::Float(f)) => float_to_int(f.trunc()),
                    None => Err(expects(self, "a number, a string or a bool", v)),
                },
            },
            Builtin::Float => match first {
                Value::Bool(b) => float_value(f64::from(u8::from(*b))),
                Value::String(s) => match s.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() => float_value(f),
                    _ => Err(wrong(format!("`float` cannot read {}", quoted(s)))),
                },
                v => match num(v) {
                    Some(n) => float_value(n.as_f64()),
                    None => Err(expects(self, "a number, a string or a bool", v)),
                },
            },
            Builtin::Str => Ok(Value::String(display(first).into_owned())),
        }
    }
}

fn wrong(what: String) -> ErrorKind {
    ErrorKind::WrongType(what.into_boxed_str())
}

fn quoted(s: &str) -> String {
    let short: String = s.chars().take(32).collect();
    format!("{short:?}")
}

fn expects(f: Builtin, what: &str, got: &Value) -> ErrorKind {
    wrong(format!(
        "`{}` expects {what}, got {}",
        f.name(),
        type_name(got)
    ))
}

fn text_of(f: Builtin, v: &Value) -> Result<&str, ErrorKind> {
    match v {
        Value::String(s) => Ok(s),
        v => Err(expects(f, "a string", v)),
    }
}

/// Reads the (start, stop, step) of `range` from its arguments.
pub(crate) fn range_args(args: &[Cow<'_, Value>]) -> Result<(i64, i64, i64), ErrorKind> {
    let mut ints = [0i64; 3];
    for (slot, arg) in ints.iter_mut().zip(args) {
        *slot = arg
            .as_i64()
            .ok_or_else(|| expects(Builtin::Range, "integers", arg))?;
    }
    let (start, stop, step) = match args.len() {
        1 => (0, ints[0], 1),
        2 => (ints[0], ints[1], 1),
        _ => (ints[0], ints[1], ints[2]),
    };
    if step == 0 {
        return Err(ErrorKind::Arguments("range step must not be zero".into()));
    }
    Ok((start, stop, step))
}

/// Returns how many integers `range(start, stop, step)` yields.
pub(crate) fn range_len(start: i64, stop: i64, step: i64) -> u64 {
    let (span, step) = if step > 0 {
        (i128::from(stop) - i128::from(start), i128::from(step))
    } else {
        (i128::from(start) - i128::from(stop), -i128::from(step))
    };
    if span <= 0 {
        0
    } else {
        u64::try_from((span + step - 1) / step).unwrap_or(u64::MAX)
    }
}

/// A number as the operators see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// Reads a JSON number (integers beyond `i64` become floats).
pub(crate) fn num(v: &Value) -> Option<Num> {
    let Value::Number(n) = v else { return None };
    match n.as_i64() {
        Some(i) => Some(Num::Int(i)),
        None => n.as_f64().map(Num::Float),
    }
}

/// Wraps a float; infinities and NaN (which JSON cannot hold) are an overflow.
pub(crate) fn float_value(f: f64) -> Result<Value, ErrorKind> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or(ErrorKind::Overflow)
}

fn float_to_int(f: f64) -> Result<Value, ErrorKind> {
    // i64::MAX as f64 rounds up to 2^63, which is out of range.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        Ok(Value::from(f as i64))
    } else {
        Err(ErrorKind::Overflow)
    }
}

/// Returns Python's truthiness: `null false 0 "" [] {}` are false.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Returns the name of a value's type, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Returns the text `<< v >>` prints (before escaping): null is empty, strings are themselves,
/// numbers and bools as written, arrays and objects as compact JSON.
pub(crate) fn display(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Null => Cow::Borrowed(""),
        Value::Bool(true) => Cow::Borrowed("true"),
        Value::Bool(false) => Cow::Borrowed("false"),
        Value::String(s) => Cow::Borrowed(s),
        Value::Number(n) => {
            let mut s = String::new();
            let _ = write!(s, "{n}");
            Cow::Owned(s)
        }
        v => Cow::Owned(v.to_string()),
    }
}

pub(crate) use crate::http::{escape_html_into, html_entity as entity};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(b: Builtin, args: &[Value]) -> Result<Value, ErrorKind> {
        let args: Vec<Cow<'_, Value>> = args.iter().map(Cow::Borrowed).collect();
        b.call(&args)
    }

    #[test]
    fn truthiness_follows_python() {
        for v in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [
            json!(true),
            json!(1),
            json!(-0.5),
            json!(" "),
            json!([0]),
            json!({"a": 0}),
        ] {
            assert!(truthy(&v), "{v}");
        }
    }

    #[test]
    fn round_ties_to_even_like_python() {
        assert_eq!(call(Builtin::Round, &[json!(2.5)]).unwrap(), json!(2));
        assert_eq!(call(Builtin::Round, &[json!(3.5)]).unwrap(), json!(4));
        assert_eq!(
            call(Builtin::Round, &[json!(2.675), json!(1)]).unwrap(),
            json!(2.7)
        );
        assert_eq!(
            call(Builtin::Round, &[json!(1e300)]),
            Err(ErrorKind::Overflow)
        );
    }

    #[test]
    fn conversions_reject_what_they_cannot_read() {
        assert_eq!(call(Builtin::Int, &[json!(" 42 ")]).unwrap(), json!(42));
        assert_eq!(call(Builtin::Int, &[json!(-3.9)]).unwrap(), json!(-3));
        assert!(matches!(
            call(Builtin::Int, &[json!("4x")]),
            Err(ErrorKind::WrongType(_))
        ));
        assert_eq!(call(Builtin::Float, &[json!(true)]).unwrap(), json!(1.0));
        assert!(matches!(
            call(Builtin::Float, &[json!("inf")]),
            Err(ErrorKind::WrongType(_))
        ));
    }

    #[test]
    fn range_length_handles_negative_steps_and_extremes() {
        assert_eq!(range_len(0, 10, 3), 4);
        assert_eq!(range_len(10, 0, -3), 4);
        assert_eq!(range_len(5, 5, 1), 0);
        assert_eq!(range_len(i64::MIN, i64::MAX, 1), u64::MAX);
    }

    #[test]
    fn display_prints_floats_with_a_point_and_null_as_nothing() {
        assert_eq!(display(&json!(5.0)), "5.0");
        assert_eq!(display(&json!(null)), "");
        assert_eq!(display(&json!([1, "a"])), r#"[1,"a"]"#);
    }

    #[test]
    fn escape_covers_the_five_characters() {
        let mut s = String::new();
        escape_html_into(&mut s, r#"<a href="x">&'</a>"#);
        assert_eq!(s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }
}

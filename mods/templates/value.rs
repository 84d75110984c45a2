//! Operations on values: the binary operators of expressions (comparison, membership and
//! arithmetic) and the equality where `1 == 1.0`.
//!
//! In scope: what `==`, `<`, `in`, `+`, `/`, `%`, … compute from two values, and the errors they
//! give. Out of scope: short-circuit `and`/`or` and name lookup (see `eval.rs`).

use serde_json::Value;

use super::ast::BinaryOp;
use super::builtins::{Num, float_value, num, type_name};
use super::error::ErrorKind;

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
pub(crate) fn arith(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, ErrorKind> {
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
}

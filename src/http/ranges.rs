//! Byte ranges (RFC 9110 §14): which bytes of a representation a `Range` header asks for.
//!
//! In scope: parsing a `Range` field value against the length of the selected representation.
//! Out of scope: whether a range applies at all (only to a GET, and `If-Range` may veto it: see
//! [`if_range_holds`](super::if_range_holds)), and sending the part (`Content-Range`, `206`,
//! `416`: the server).
//!
//! Decisions:
//! - Several ranges in one header answer the whole representation, as RFC 9110 §14.2 allows a
//!   server to ignore the field; no `multipart/byteranges`.
//! - A malformed header, another range unit, or a range whose last position is before its
//!   first is ignored (§14.2: "a server MAY ignore the Range header field"): the whole
//!   representation.

/// What to send for a `Range` header (RFC 9110 §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeAnswer {
    /// No usable range (absent, malformed, another unit, or several ranges): the whole
    /// representation, `200`.
    Whole,
    /// One satisfiable range, `first..=last`: `206` with `Content-Range`.
    Part {
        /// First byte.
        first: u64,
        /// Last byte (inclusive, below the representation's length).
        last: u64,
    },
    /// The range does not overlap the representation: `416` with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Parses a `Range` field value against a representation of `size` bytes (RFC 9110 §14.1.1).
///
/// `bytes=a-b`, `bytes=a-` and `bytes=-n` are understood; the unit is case-insensitive. Numbers
/// too large for a `u64` are still well-formed and saturate (`bytes=99999999999999999999-` is
/// unsatisfiable, not malformed).
///
/// # Examples
///
/// ```
/// use microweb::http::{RangeAnswer, parse_range};
///
/// assert_eq!(parse_range("bytes=-10", 100), RangeAnswer::Part { first: 90, last: 99 });
/// assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
/// assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAnswer::Whole);
/// ```
#[must_use]
pub fn parse_range(value: &str, size: u64) -> RangeAnswer {
    // ranges-specifier = range-unit "=" range-set
    let Some((unit, set)) = value.split_once('=') else {
        return RangeAnswer::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeAnswer::Whole;
    }
    let mut specs = super::list_items(set);
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeAnswer::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAnswer::Whole;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let number = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
    match (digits(first), digits(last)) {
        // suffix-range = "-" suffix-length
        (false, true) if first.is_empty() => suffix(number(last), size),
        // int-range = first-pos "-" [ last-pos ]
        (true, true) => int_range(number(first), number(last), size),
        (true, false) if last.is_empty() => int_range(number(first), u64::MAX, size),
        _ => RangeAnswer::Whole,
    }
}

/// The last `n` bytes (§14.1.1: a suffix longer than the representation selects all of it).
fn suffix(n: u64, size: u64) -> RangeAnswer {
    if n == 0 || size == 0 {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Part {
        first: size.saturating_sub(n),
        last: size - 1,
    }
}

/// Bytes `first..=last`, the last clipped to the representation (§14.1.1).
fn int_range(first: u64, last: u64, size: u64) -> RangeAnswer {
    if last < first {
        // §14.1.1: invalid, so the field is ignored.
        RangeAnswer::Whole
    } else if first >= size {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::Part {
            first,
            last: last.min(size - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RangeAnswer::{Part, Unsatisfiable, Whole};
    use super::*;

    macro_rules! case {
        ($($header:expr, $size:expr => $want:expr),* $(,)?) => {
            $( assert_eq!(parse_range($header, $size), $want, "{:?} of {}", $header, $size); )*
        };
    }

    const fn part(first: u64, last: u64) -> RangeAnswer {
        Part { first, last }
    }

    #[test]
    fn int_ranges_select_their_bytes_clipped_to_the_representation() {
        case! {
            "bytes=0-9", 100 => part(0, 9),
            "bytes=0-0", 100 => part(0, 0),
            "bytes=99-99", 100 => part(99, 99),
            "bytes=50-1000", 100 => part(50, 99),
            "bytes=0-99999999999999999999999", 100 => part(0, 99),
            "BYTES = 5-5", 100 => part(5, 5),
            "bytes= 5-6 ", 100 => part(5, 6),
            "bytes=5-6,", 100 => part(5, 6),
        }
    }

    #[test]
    fn open_ranges_run_to_the_end() {
        case! {
            "bytes=90-", 100 => part(90, 99),
            "bytes=0-", 100 => part(0, 99),
            "bytes=99-", 100 => part(99, 99),
        }
    }

    #[test]
    fn suffix_ranges_select_the_last_bytes() {
        case! {
            "bytes=-10", 100 => part(90, 99),
            "bytes=-1", 100 => part(99, 99),
            "bytes=-100", 100 => part(0, 99),
            "bytes=-1000", 100 => part(0, 99),
            "bytes=-99999999999999999999999", 100 => part(0, 99),
        }
    }

    #[test]
    fn ranges_past_the_end_or_empty_are_unsatisfiable() {
        case! {
            "bytes=100-", 100 => Unsatisfiable,
            "bytes=100-200", 100 => Unsatisfiable,
            "bytes=99999999999999999999999-", 100 => Unsatisfiable,
            "bytes=-0", 100 => Unsatisfiable,
            "bytes=0-", 0 => Unsatisfiable,
            "bytes=-5", 0 => Unsatisfiable,
        }
    }

    #[test]
    fn several_ranges_answer_the_whole_representation() {
        case! {
            "bytes=0-1,5-6", 100 => Whole,
            "bytes=0-1, -5", 100 => Whole,
            "bytes=0-1,200-300", 100 => Whole,
        }
    }

    #[test]
    fn malformed_headers_and_other_units_are_ignored() {
        case! {
            "bytes=9-5", 100 => Whole,
            "bytes=abc", 100 => Whole,
            "bytes=-", 100 => Whole,
            "bytes=", 100 => Whole,
            "bytes=1-2-3", 100 => Whole,
            "bytes=+1-2", 100 => Whole,
            "bytes=1 -2", 100 => Whole,
            "bytes=0x1-2", 100 => Whole,
            "items=0-1", 100 => Whole,
            "0-1", 100 => Whole,
            "", 100 => Whole,
        }
    }
}

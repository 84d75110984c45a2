//! Conditional requests (RFC 9110 §13): comparing entity tags, evaluating the preconditions of a
//! request against the selected representation's validators, and `If-Range`.
//!
//! In scope: `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` in the
//! order of §13.2.2, and the `If-Range` check of §13.1.5. Everything is a pure function of the
//! field values and the validators.
//! Out of scope: making validators (the server builds its `ETag`s and `Last-Modified` dates),
//! reading the clock, and answering (`304`/`412` are the server's to send).

use std::time::SystemTime;

use ::http::Method;

/// How two entity tags are compared (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Both tags strong and their opaque parts equal (`If-Match`, `If-Range`).
    Strong,
    /// The opaque parts equal, `W/` ignored (`If-None-Match`).
    Weak,
}

/// Tells whether an `If-Match` / `If-None-Match` list holds `etag` (RFC 9110 §13.1.1, §13.1.2).
///
/// `*` matches any current representation. `etag` is the representation's tag as sent in its
/// `ETag` field (`"abc"` or `W/"abc"`). A malformed list matches nothing from the point where it
/// breaks.
///
/// # Examples
///
/// ```
/// use microweb::http::{Comparison, etag_list_matches};
///
/// assert!(etag_list_matches(r#""x", W/"abc""#, r#""abc""#, Comparison::Weak));
/// assert!(!etag_list_matches(r#"W/"abc""#, r#""abc""#, Comparison::Strong));
/// ```
#[must_use]
pub fn etag_list_matches(list: &str, etag: &str, comparison: Comparison) -> bool {
    if list.trim_matches([' ', '\t']) == "*" {
        return true;
    }
    let (ours_weak, ours) = split_etag(etag);
    if ours_weak && comparison == Comparison::Strong {
        return false;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let Some((theirs_weak, opaque, tail)) = next_etag(rest) else {
            return false;
        };
        if opaque == ours && (comparison == Comparison::Weak || !theirs_weak) {
            return true;
        }
        rest = tail;
    }
}

/// Reads one entity tag (`[W/] DQUOTE etagc* DQUOTE`, §8.8.3) off the front of `s`: (weak,
/// opaque part without quotes, what follows).
fn next_etag(s: &str) -> Option<(bool, &str, &str)> {
    let (weak, tagged) = match s.strip_prefix("W/") {
        Some(t) => (true, t),
        None => (false, s),
    };
    let quoted = tagged.strip_prefix('"')?;
    let end = quoted.find('"')?;
    Some((weak, quoted.get(..end)?, quoted.get(end + 1..)?))
}

/// Splits an entity tag into (weak, opaque part without quotes).
fn split_etag(etag: &str) -> (bool, &str) {
    let (weak, rest) = match etag.strip_prefix("W/") {
        Some(r) => (true, r),
        None => (false, etag),
    };
    (weak, rest.trim_matches('"'))
}

/// The precondition fields of a request, as sent (absent: `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preconditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a str>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a str>,
}

/// What the preconditions of a request say about performing it (RFC 9110 §13.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// Every condition holds (or none was sent): perform the method.
    Proceed,
    /// The client's copy is current: answer `304 Not Modified` (GET and HEAD only).
    NotModified,
    /// A condition failed: answer `412 Precondition Failed`.
    Failed,
}

impl Preconditions<'_> {
    /// Evaluates the preconditions of a `method` request against the selected representation,
    /// whose entity tag is `etag` and whose modification time is `last_modified` (already cut
    /// to whole seconds, as an HTTP date is), in the order of RFC 9110 §13.2.2:
    ///
    /// 1. `If-Match` (strong comparison) false → 412;
    /// 2. else, without `If-Match`, `If-Unmodified-Since` earlier than `last_modified` → 412;
    /// 3. `If-None-Match` (weak comparison) true → 304 for GET and HEAD, 412 otherwise;
    /// 4. else, without `If-None-Match`, for GET and HEAD, `If-Modified-Since` not earlier than
    ///    `last_modified` → 304.
    ///
    /// A date that does not parse as an HTTP date is ignored (§13.1.3, §13.1.4).
    ///
    /// # Examples
    ///
    /// ```
    /// use microweb::Method;
    /// use microweb::http::{Precondition, Preconditions};
    ///
    /// let sent = Preconditions { if_none_match: Some(r#"W/"1-2""#), ..Preconditions::default() };
    /// let now = std::time::UNIX_EPOCH;
    /// assert_eq!(sent.evaluate(&Method::GET, r#""1-2""#, now), Precondition::NotModified);
    /// ```
    #[must_use]
    pub fn evaluate(&self, method: &Method, etag: &str, last_modified: SystemTime) -> Precondition {
        let failed = match self.if_match {
            Some(list) => !etag_list_matches(list, etag, Comparison::Strong),
            None => http_date(self.if_unmodified_since).is_some_and(|since| last_modified > since),
        };
        if failed {
            return Precondition::Failed;
        }
        let safe = *method == Method::GET || *method == Method::HEAD;
        match self.if_none_match {
            Some(list) if etag_list_matches(list, etag, Comparison::Weak) => {
                if safe {
                    Precondition::NotModified
                } else {
                    Precondition::Failed
                }
            }
            Some(_) => Precondition::Proceed,
            None if safe
                && http_date(self.if_modified_since).is_some_and(|d| last_modified <= d) =>
            {
                Precondition::NotModified
            }
            None => Precondition::Proceed,
        }
    }
}

/// Parses an HTTP date field value (RFC 9110 §5.6.7), `None` when absent or invalid.
fn http_date(value: Option<&str>) -> Option<SystemTime> {
    httpdate::parse_http_date(value?.trim()).ok()
}

/// Tells whether an `If-Range` value still names the selected representation, so that its
/// `Range` applies (RFC 9110 §13.1.5); when not, the whole representation is sent.
///
/// The value is one entity tag, compared strongly (a weak tag never holds), or an HTTP date,
/// which must equal `last_modified` (whole seconds). Anything else does not hold.
///
/// # Examples
///
/// ```
/// use microweb::http::if_range_holds;
///
/// let modified = std::time::UNIX_EPOCH;
/// assert!(if_range_holds(r#""1-2""#, r#""1-2""#, modified));
/// assert!(!if_range_holds(r#"W/"1-2""#, r#""1-2""#, modified));
/// ```
#[must_use]
pub fn if_range_holds(value: &str, etag: &str, last_modified: SystemTime) -> bool {
    let value = value.trim_matches([' ', '\t']);
    if value.starts_with('"') || value.starts_with("W/") {
        let (ours_weak, ours) = split_etag(etag);
        return match next_etag(value) {
            Some((false, opaque, "")) => !ours_weak && opaque == ours,
            _ => false,
        };
    }
    httpdate::parse_http_date(value).is_ok_and(|date| date == last_modified)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::Precondition::{Failed, NotModified, Proceed};
    use super::*;

    const TAG: &str = "\"1a-2b\"";
    const WEAK_TAG: &str = "W/\"1a-2b\"";

    #[test]
    fn if_none_match_compares_weakly_through_lists_and_star() {
        for (list, etag, want) in [
            ("\"1a-2b\"", TAG, true),
            ("W/\"1a-2b\"", TAG, true),
            ("\"1a-2b\"", WEAK_TAG, true),
            ("W/\"1a-2b\"", WEAK_TAG, true),
            ("\"x\", W/\"1a-2b\"", TAG, true),
            ("\"x\",\"1a-2b\"", TAG, true),
            (" \"x\" ,\t\"1a-2b\" ", TAG, true),
            ("*", TAG, true),
            (" * ", WEAK_TAG, true),
            ("\"x\",\"y\"", TAG, false),
            ("\"1A-2B\"", TAG, false),
            ("", TAG, false),
            // Malformed: matches nothing from where it breaks.
            ("1a-2b", TAG, false),
            ("\"1a-2b", TAG, false),
            ("w/\"1a-2b\"", TAG, false),
            ("\"x\", junk, \"1a-2b\"", TAG, false),
        ] {
            assert_eq!(
                etag_list_matches(list, etag, Comparison::Weak),
                want,
                "{list:?} against {etag}"
            );
        }
    }

    #[test]
    fn if_match_compares_strongly() {
        for (list, etag, want) in [
            ("\"1a-2b\"", TAG, true),
            ("\"x\", \"1a-2b\"", TAG, true),
            ("*", TAG, true),
            ("*", WEAK_TAG, true),
            ("W/\"1a-2b\"", TAG, false),
            ("\"1a-2b\"", WEAK_TAG, false),
            ("W/\"1a-2b\"", WEAK_TAG, false),
            ("\"x\"", TAG, false),
        ] {
            assert_eq!(
                etag_list_matches(list, etag, Comparison::Strong),
                want,
                "{list:?} against {etag}"
            );
        }
    }

    /// The representation: modified at this whole second.
    fn modified() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn date(offset: i64) -> String {
        let t = if offset >= 0 {
            modified() + Duration::from_secs(offset.unsigned_abs())
        } else {
            modified() - Duration::from_secs(offset.unsigned_abs())
        };
        httpdate::fmt_http_date(t)
    }

    fn eval(p: Preconditions<'_>, method: Method) -> Precondition {
        p.evaluate(&method, TAG, modified())
    }

    /// The preconditions of a request that sent these fields.
    fn sent<'a>(fields: &[(&str, &'a str)]) -> Preconditions<'a> {
        let mut p = Preconditions::default();
        for &(name, value) in fields {
            let field = match name {
                "if-match" => &mut p.if_match,
                "if-none-match" => &mut p.if_none_match,
                "if-modified-since" => &mut p.if_modified_since,
                "if-unmodified-since" => &mut p.if_unmodified_since,
                _ => unreachable!("{name}"),
            };
            *field = Some(value);
        }
        p
    }

    #[test]
    fn no_precondition_proceeds() {
        assert_eq!(eval(sent(&[]), Method::GET), Proceed);
        assert_eq!(eval(sent(&[]), Method::PUT), Proceed);
    }

    #[test]
    fn if_match_and_if_unmodified_since_fail_with_412() {
        let (before, same, after) = (date(-1), date(0), date(1));
        for (p, want) in [
            (sent(&[("if-match", TAG)]), Proceed),
            (sent(&[("if-match", "*")]), Proceed),
            (sent(&[("if-match", "\"x\", \"1a-2b\"")]), Proceed),
            (sent(&[("if-match", "\"other\"")]), Failed),
            (sent(&[("if-match", WEAK_TAG)]), Failed),
            (sent(&[("if-unmodified-since", &before)]), Failed),
            (sent(&[("if-unmodified-since", &same)]), Proceed),
            (sent(&[("if-unmodified-since", &after)]), Proceed),
            (sent(&[("if-unmodified-since", "yesterday")]), Proceed),
            // §13.2.2 step 2: If-Unmodified-Since counts only without If-Match.
            (
                sent(&[("if-match", TAG), ("if-unmodified-since", &before)]),
                Proceed,
            ),
            (
                sent(&[("if-match", "\"x\""), ("if-unmodified-since", &after)]),
                Failed,
            ),
            // Step 1 comes before step 3: a failed If-Match wins over a matching If-None-Match.
            (
                sent(&[("if-match", "\"other\""), ("if-none-match", TAG)]),
                Failed,
            ),
        ] {
            assert_eq!(eval(p, Method::GET), want, "{p:?}");
        }
    }

    #[test]
    fn if_none_match_and_if_modified_since_answer_304_to_get_and_head() {
        let (before, same, after) = (date(-1), date(0), date(1));
        for (p, want) in [
            (sent(&[("if-none-match", TAG)]), NotModified),
            (sent(&[("if-none-match", WEAK_TAG)]), NotModified),
            (sent(&[("if-none-match", "*")]), NotModified),
            (sent(&[("if-none-match", "\"a\", \"1a-2b\"")]), NotModified),
            (sent(&[("if-none-match", "\"other\"")]), Proceed),
            (sent(&[("if-modified-since", &same)]), NotModified),
            (sent(&[("if-modified-since", &after)]), NotModified),
            (sent(&[("if-modified-since", &before)]), Proceed),
            (sent(&[("if-modified-since", "not a date")]), Proceed),
            // §13.1.3: with If-None-Match present, If-Modified-Since is ignored.
            (
                sent(&[
                    ("if-none-match", "\"other\""),
                    ("if-modified-since", &after),
                ]),
                Proceed,
            ),
            (
                sent(&[("if-none-match", TAG), ("if-modified-since", &before)]),
                NotModified,
            ),
            // Steps 1-2 pass, then step 3 decides.
            (
                sent(&[("if-match", TAG), ("if-none-match", TAG)]),
                NotModified,
            ),
            (
                sent(&[("if-unmodified-since", &same), ("if-modified-since", &same)]),
                NotModified,
            ),
        ] {
            assert_eq!(eval(p, Method::GET), want, "{p:?}");
            assert_eq!(eval(p, Method::HEAD), want, "HEAD {p:?}");
        }
    }

    #[test]
    fn other_methods_fail_if_none_match_and_ignore_if_modified_since() {
        let after = date(1);
        assert_eq!(eval(sent(&[("if-none-match", TAG)]), Method::PUT), Failed);
        assert_eq!(
            eval(sent(&[("if-none-match", "\"x\"")]), Method::PUT),
            Proceed
        );
        assert_eq!(
            eval(sent(&[("if-modified-since", &after)]), Method::POST),
            Proceed
        );
    }

    #[test]
    fn if_range_holds_for_the_same_strong_tag_or_the_exact_date() {
        for (value, etag, want) in [
            (TAG.to_owned(), TAG, true),
            (format!(" {TAG} "), TAG, true),
            ("\"other\"".to_owned(), TAG, false),
            (WEAK_TAG.to_owned(), TAG, false),
            (TAG.to_owned(), WEAK_TAG, false),
            (WEAK_TAG.to_owned(), WEAK_TAG, false),
            // One tag only: a list, `*` or a broken tag is no validator.
            (format!("\"x\", {TAG}"), TAG, false),
            (format!("{TAG}, \"x\""), TAG, false),
            ("*".to_owned(), TAG, false),
            ("\"1a-2b".to_owned(), TAG, false),
            (date(0), TAG, true),
            (date(-1), TAG, false),
            (date(1), TAG, false),
            ("garbage".to_owned(), TAG, false),
            (String::new(), TAG, false),
        ] {
            assert_eq!(if_range_holds(&value, etag, modified()), want, "{value:?}");
        }
    }
}

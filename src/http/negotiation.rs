//! Content-coding negotiation (RFC 9110 §12.5.3): which of the codings a server has on offer
//! the client's `Accept-Encoding` lets it send.
//!
//! In scope: the quality a client gives a coding, and the choice among offered codings.
//! Out of scope: what is on offer (pre-compressed files, gzip on the fly: the server) and
//! `Vary` (the server adds it whenever a choice was possible).
//!
//! Decisions:
//! - Without `Accept-Encoding`, identity is sent: RFC 9110 allows any coding then, but a coding
//!   is used only when the client lists it (or `*`) with q>0.
//! - A coding the client accepts beats identity whatever their weights (`gzip;q=0.5,
//!   identity` gets gzip); identity is always acceptable as the fallback (no `406`, even for
//!   `identity;q=0`).

/// Returns the quality, in thousandths, a client's `Accept-Encoding` gives the content coding
/// `coding` (RFC 9110 §12.5.3): its own entry (`x-gzip` counts as `gzip`), else `*`, else 0.
/// An absent header gives 0.
///
/// # Examples
///
/// ```
/// use microweb::http::coding_quality;
///
/// assert_eq!(coding_quality(Some("gzip, br;q=0.5"), "br"), 500);
/// assert_eq!(coding_quality(Some("*;q=0.2, br;q=0"), "gzip"), 200);
/// assert_eq!(coding_quality(None, "gzip"), 0);
/// ```
#[must_use]
pub fn coding_quality(accept_encoding: Option<&str>, coding: &str) -> u16 {
    let Some(header) = accept_encoding else {
        return 0;
    };
    let mut star = None;
    for item in super::quality_items(header) {
        let v = item.value;
        if v.eq_ignore_ascii_case(coding) || (coding == "gzip" && v.eq_ignore_ascii_case("x-gzip"))
        {
            return item.quality;
        }
        if v == "*" {
            star = Some(item.quality);
        }
    }
    star.unwrap_or(0)
}

/// Chooses among `offered` codings the one the client prefers: the highest quality above 0,
/// the first offered on a tie. `None`: send identity.
///
/// # Examples
///
/// ```
/// use microweb::http::preferred_coding;
///
/// assert_eq!(preferred_coding(Some("gzip, br"), ["br", "gzip"]), Some("br"));
/// assert_eq!(preferred_coding(Some("gzip, br;q=0.5"), ["br", "gzip"]), Some("gzip"));
/// assert_eq!(preferred_coding(Some("identity"), ["br", "gzip"]), None);
/// ```
#[must_use]
pub fn preferred_coding<'c>(
    accept_encoding: Option<&str>,
    offered: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let mut best: Option<(u16, &'c str)> = None;
    for coding in offered {
        let q = coding_quality(accept_encoding, coding);
        if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, coding));
        }
    }
    best.map(|(_, coding)| coding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coding_takes_its_own_quality_else_stars_else_none() {
        for (header, coding, want) in [
            (None, "br", 0),
            (None, "gzip", 0),
            (Some(""), "gzip", 0),
            (Some("gzip"), "gzip", 1000),
            (Some("GZIP"), "gzip", 1000),
            (Some("x-gzip"), "gzip", 1000),
            (Some("x-gzip"), "br", 0),
            (Some("gzip, br;q=0.5"), "br", 500),
            (Some("gzip;q=0"), "gzip", 0),
            (Some("gzip;q=0.001"), "gzip", 1),
            (Some("gzip; q=0.8"), "gzip", 800),
            (Some("gzip;Q=0.8"), "gzip", 800),
            (Some("gzip;q=1.0"), "gzip", 1000),
            // A malformed weight counts as 1 (q=2, four decimals).
            (Some("gzip;q=2"), "gzip", 1000),
            (Some("gzip;q=0.0001"), "gzip", 1000),
            (Some("*"), "br", 1000),
            (Some("*;q=0.2, br;q=0"), "gzip", 200),
            (Some("*;q=0.2, br;q=0"), "br", 0),
            (Some("br;q=0.3, *"), "br", 300),
            (Some("identity"), "gzip", 0),
            (Some("identity;q=0"), "gzip", 0),
            (Some("deflate, compress"), "gzip", 0),
        ] {
            assert_eq!(
                coding_quality(header, coding),
                want,
                "{coding} in {header:?}"
            );
        }
    }

    #[test]
    fn the_best_accepted_coding_wins_and_identity_is_the_fallback() {
        const OFFERED: [&str; 2] = ["br", "gzip"];
        for (header, want) in [
            (None, None),
            (Some("gzip, br"), Some("br")),
            (Some("br, gzip"), Some("br")),
            (Some("gzip;q=1, br;q=0.9"), Some("gzip")),
            (Some("gzip, br;q=0"), Some("gzip")),
            (Some("gzip;q=0, br;q=0"), None),
            (Some("*"), Some("br")),
            (Some("*;q=0"), None),
            (Some("*;q=0.5, gzip"), Some("gzip")),
            (Some("x-gzip"), Some("gzip")),
            (Some("identity"), None),
            (Some("identity, *;q=0"), None),
            (Some("identity;q=1, gzip;q=0.5"), Some("gzip")),
            (Some("identity;q=0"), None),
            (Some("deflate"), None),
        ] {
            assert_eq!(preferred_coding(header, OFFERED), want, "{header:?}");
        }
        assert_eq!(preferred_coding(Some("gzip"), []), None);
        assert_eq!(preferred_coding(Some("br, gzip"), ["gzip"]), Some("gzip"));
    }
}

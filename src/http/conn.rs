//! Connection rules: persistence, `100 Continue`, response framing and pipelining.
//!
//! In scope: the decisions RFC 9112 §9 and RFC 9110 §10.1.1 leave to a server, as pure
//! functions of the request head and the connection's count of answered requests.
//! Out of scope: the connection state machine itself (reading, writing, timers: the server),
//! which calls these at the points the module documentation of [`crate::http`] shows.
//!
//! # Pipelining
//!
//! A client may send several requests without waiting (RFC 9112 §9.3.2). The server answers
//! them in order: after a request's body is done ([`crate::http::BodyDecoder`] returned
//! `Done`), the unconsumed bytes of the buffer are the start of the next request; parse them
//! with [`crate::http::parse_head`] (after writing this response) if [`keep_alive`] said yes,
//! and drop them otherwise.

use ::http::{StatusCode, Version};

use super::limits::Limits;
use super::request::{BodyKind, RequestHead};
use super::response::Framing;

/// Decides whether the connection stays open after answering `head`.
///
/// - `served_before`: requests already answered on this connection (0 for the first).
/// - `body_done`: whether the request body was read to its end; if a handler left it unread
///   and the server does not drain it, the next request's start is unknown, so close.
///
/// Closes when the client asked to (`Connection: close`, or HTTP/1.0 without `keep-alive`,
/// RFC 9112 §9.3), when [`Limits::max_requests_per_connection`] is reached (RFC 9112 §9.6 lets
/// a server close at any time, after a complete response), or when the body was not consumed.
/// Request errors always close ([`crate::http::HttpError::must_close`]); don't call this for
/// them.
#[must_use]
pub fn keep_alive(
    head: &RequestHead,
    served_before: u32,
    limits: &Limits,
    body_done: bool,
) -> bool {
    let max = limits.max_requests_per_connection;
    let under_max = max == 0 || served_before.saturating_add(1) < max;
    head.is_keep_alive() && under_max && (body_done || head.body() == BodyKind::None)
}

/// Tells whether to send [`crate::http::CONTINUE_100`] before reading the body.
///
/// Only when the client expects it, a body is coming, and the server will read it
/// (`will_read_body`, decided after routing: a handler that refuses the request answers with
/// its final status, e.g. 401, 413 or 417, instead, and the connection then closes unless the
/// body is drained). RFC 9110 §10.1.1 also lets the server skip it once body bytes have
/// arrived; sending it anyway is harmless.
#[must_use]
pub fn should_send_continue(head: &RequestHead, will_read_body: bool) -> bool {
    head.expects_continue() && will_read_body && head.body() != BodyKind::None
}

/// Chooses the framing of a response body for a request of `version`.
///
/// `len` is the body length when known: `Content-Length`. Unknown: chunked for HTTP/1.1,
/// and for HTTP/1.0 (which has no chunked coding, RFC 9112 §7) a body that ends with the
/// connection.
#[must_use]
pub fn response_framing(version: Version, len: Option<u64>) -> Framing {
    match len {
        Some(n) => Framing::Length(n),
        None if version == Version::HTTP_10 => Framing::UntilClose,
        None => Framing::Chunked,
    }
}

/// Tells whether a response with `status` may carry a body: informational answers, `204 No
/// Content` and `304 Not Modified` never do (RFC 9110 §6.4.1).
#[must_use]
pub fn status_carries_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// The `Cache-Control` a response gets when its handler set none: a success or a `304` may be
/// kept but must be revalidated (`allow_caching`), or must not be stored at all; other
/// statuses get none.
#[must_use]
pub fn default_cache_control(status: StatusCode, allow_caching: bool) -> Option<&'static str> {
    if !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
        return None;
    }
    Some(if allow_caching {
        "public, max-age=0, must-revalidate"
    } else {
        "no-cache, no-store, must-revalidate"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Status, parse_head};

    fn head(buf: &[u8]) -> RequestHead {
        match parse_head(buf, &Limits::default()) {
            Ok(Status::Complete(h)) => h,
            other => panic!("{other:?}"),
        }
    }

    const GET11: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const GET10: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
    const GET10_KA: &[u8] = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    const CLOSE11: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const POST11: &[u8] =
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";

    #[test]
    fn keep_alive_follows_the_request_the_count_and_the_body() {
        let l = Limits::default().with_max_requests_per_connection(3);
        let cases: [(&[u8], u32, bool, bool); 8] = [
            (GET11, 0, true, true),
            (GET11, 1, true, true),
            (GET11, 2, true, false), // the third request is the last one
            (GET10, 0, true, false),
            (GET10_KA, 0, true, true),
            (CLOSE11, 0, true, false),
            (POST11, 0, false, false), // body left unread
            (GET11, 0, false, true),   // no body to read
        ];
        for (buf, served, body_done, expected) in cases {
            assert_eq!(
                keep_alive(&head(buf), served, &l, body_done),
                expected,
                "{:?} served={served}",
                String::from_utf8_lossy(buf)
            );
        }
        let unbounded = Limits::default().with_max_requests_per_connection(0);
        assert!(keep_alive(&head(GET11), u32::MAX, &unbounded, true));
    }

    #[test]
    fn sends_continue_only_when_the_body_will_be_read() {
        assert!(should_send_continue(&head(POST11), true));
        assert!(!should_send_continue(&head(POST11), false));
        let no_body = b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n";
        assert!(!should_send_continue(&head(no_body), true));
        let no_expect = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n";
        assert!(!should_send_continue(&head(no_expect), true));
    }

    #[test]
    fn only_informational_204_and_304_answers_carry_no_body() {
        for code in [100, 101, 204, 304] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(!status_carries_body(status), "{code}");
        }
        for code in [200, 201, 206, 301, 400, 404, 500, 503] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(status_carries_body(status), "{code}");
        }
    }

    #[test]
    fn successes_and_304_get_a_default_cache_control() {
        let revalidate = Some("public, max-age=0, must-revalidate");
        let never = Some("no-cache, no-store, must-revalidate");
        assert_eq!(default_cache_control(StatusCode::OK, true), revalidate);
        assert_eq!(
            default_cache_control(StatusCode::NOT_MODIFIED, true),
            revalidate
        );
        assert_eq!(default_cache_control(StatusCode::NO_CONTENT, false), never);
        assert_eq!(default_cache_control(StatusCode::NOT_FOUND, false), None);
        assert_eq!(
            default_cache_control(StatusCode::MOVED_PERMANENTLY, true),
            None
        );
    }

    #[test]
    fn frames_unknown_lengths_by_version() {
        assert_eq!(
            response_framing(Version::HTTP_11, Some(5)),
            Framing::Length(5)
        );
        assert_eq!(response_framing(Version::HTTP_11, None), Framing::Chunked);
        assert_eq!(
            response_framing(Version::HTTP_10, None),
            Framing::UntilClose
        );
        assert_eq!(
            response_framing(Version::HTTP_10, Some(0)),
            Framing::Length(0)
        );
    }
}

//! Entry points for the fuzz targets (`fuzz/`) and for the replay of their regression inputs
//! (`tests/regressions.rs`): one function per target, bytes in, nothing out. Each feeds the input
//! to a parser the way the server does and checks what must always hold (spans inside the input,
//! progress on every call, bounded output); a violation panics, which is what the fuzzer reports.
//!
//! Not part of microweb's API: hidden from the docs, and it may change with any release.

use std::time::{Duration, SystemTime};

use crate::config::Preset;
use crate::http::{
    BodyDecoder, BodyEvent, BodyKind, Comparison, Limits, Multipart, Preconditions, RangeAnswer,
    RequestHead, Status, cookies, decode_path, etag_list_matches, form_pairs, if_range_holds,
    multipart_boundary, parse_head_into, parse_range,
};

/// The limits the server runs with: the smallest preset's, the default, and the largest's.
fn every_limits() -> [Limits; 3] {
    [
        Limits::from_preset(Preset::Embedded),
        Limits::default(),
        Limits::from_preset(Preset::Large),
    ]
}

/// Splits `data` in two at a point chosen by its first byte (the rest of the input).
fn split_by_first_byte(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    let at = usize::from(first).min(rest.len());
    rest.split_at(at)
}

/// Text of `data`, lossily: the parsers below take `&str` where the server has checked UTF-8.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A request head at every preset's limits: complete or not, every span lies inside the input,
/// and the outcome of a prefix never contradicts the whole (a prefix that is complete or an
/// error stays so).
pub fn request_head(data: &[u8]) {
    for limits in every_limits() {
        let mut head = RequestHead::default();
        let whole = parse_head_into(data, &limits, &mut head);
        if let Ok(Status::Complete(())) = whole {
            assert!(head.head_len() <= data.len(), "head longer than its input");
            assert!(
                head.head_len() <= limits.max_head_bytes,
                "head past the limit"
            );
            let _ = (head.path(data), head.query(data), head.target(data));
            let _ = (head.host(data), head.content_length(), head.body());
            let _ = (
                head.is_keep_alive(),
                head.expects_continue(),
                head.upgrade(data),
            );
            for (name, value) in head.headers(data) {
                assert!(!name.is_empty(), "a header without a name");
                let _ = value.len();
            }
        }
        // The same bytes arriving in two reads: the first part alone may only be incomplete,
        // or reach the same verdict the whole does.
        let cut = data.len() / 2;
        let mut partial = RequestHead::default();
        match parse_head_into(&data[..cut], &limits, &mut partial) {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(())) => {
                assert_eq!(
                    whole,
                    Ok(Status::Complete(())),
                    "prefix complete, whole not"
                );
                assert_eq!(partial.head_len(), head.head_len(), "prefix head differs");
            }
            Err(e) => assert_eq!(whole, Err(e), "prefix failed differently"),
        }
    }
}

/// A chunked (or fixed-length) body arriving in reads of a size chosen by the first byte, fed as
/// the server feeds it (what was not consumed, then the next read after it): consumed bytes and
/// data ranges lie inside the input, and no more body bytes come out than went in.
pub fn chunked_body(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(first % 64) + 1;
    for kind in [
        BodyKind::Chunked,
        BodyKind::Length(rest.len() as u64 / 2 + 1),
    ] {
        for limits in every_limits() {
            let mut decoder = BodyDecoder::new(kind, &limits);
            let mut out = 0usize;
            // `rest[start..arrived]` is what the decoder has been given and not consumed.
            let (mut start, mut arrived) = (0usize, step.min(rest.len()));
            while let Ok((used, event)) = decoder.decode(&rest[start..arrived]) {
                let window = arrived - start;
                assert!(used <= window, "consumed past the input");
                if let BodyEvent::Data(range) = &event {
                    assert!(range.end <= window, "data outside the input");
                    out += range.len();
                }
                start += used;
                match event {
                    BodyEvent::Done => break,
                    BodyEvent::Data(_) => {}
                    BodyEvent::NeedMore if arrived == rest.len() => break,
                    BodyEvent::NeedMore => arrived = (arrived + step).min(rest.len()),
                }
            }
            assert!(out <= rest.len(), "more body out than in");
            assert!(
                decoder.received() <= rest.len() as u64,
                "received past the input"
            );
        }
    }
}

/// A `multipart/form-data` body whose boundary is the first line of the input.
pub fn multipart(data: &[u8]) {
    let (boundary_line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let content_type = format!("multipart/form-data; boundary={}", text(boundary_line));
    let Ok(boundary) = multipart_boundary(&content_type) else {
        return;
    };
    for part in Multipart::new(body, boundary).take(1_000) {
        match part {
            Ok(part) => {
                let _ = (part.name, part.filename, part.content_type);
                assert!(part.data.len() <= body.len(), "a part larger than the body");
            }
            Err(_) => break,
        }
    }
}

/// URL-encoded forms, percent-decoded paths and the `Cookie` header.
pub fn forms_cookies(data: &[u8]) {
    for (name, value) in form_pairs(data) {
        // Decoding never grows a pair past its encoded form.
        assert!(name.len() + value.len() <= data.len() * 3, "a pair grew");
    }
    let line = text(data);
    if let Ok(path) = decode_path(&line) {
        assert!(path.len() <= line.len(), "a decoded path grew");
    }
    for (name, value) in cookies(&line) {
        assert!(name.len() + value.len() <= line.len(), "a cookie grew");
    }
}

/// `Range`, `If-Range` and the ETag lists of `If-Match` / `If-None-Match`: the input is the
/// field value after a byte that picks the resource size.
pub fn ranges_conditional(data: &[u8]) {
    let (size_bytes, value) = split_by_first_byte(data);
    let size = size_bytes
        .iter()
        .take(8)
        .fold(0u64, |n, &b| (n << 8) | u64::from(b));
    let value = text(value);
    if let RangeAnswer::Part { first, last } = parse_range(&value, size) {
        assert!(first <= last && last < size, "range outside the file");
    }
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let _ = if_range_holds(&value, "\"abc\"", modified);
    let _ = etag_list_matches(&value, "\"abc\"", Comparison::Strong);
    let _ = etag_list_matches(&value, "W/\"abc\"", Comparison::Weak);
    let pre = Preconditions {
        if_match: Some(&value),
        if_none_match: Some(&value),
        if_modified_since: Some(&value),
        if_unmodified_since: Some(&value),
    };
    let _ = pre.evaluate(&::http::Method::GET, "\"abc\"", modified);
}

/// A PROXY protocol header (v1 text or v2 binary) at the start of a connection.
pub fn proxy_header(data: &[u8]) {
    use crate::proxy::protocol::{Parsed, parse};
    if let Parsed::Complete { len, .. } = parse(data) {
        assert!(len <= data.len(), "a header longer than its input");
    }
}

/// The WebSocket upgrade check (RFC 6455 §4.2.1) on a request head.
#[cfg(feature = "websockets")]
pub fn ws_upgrade(data: &[u8]) {
    let mut head = RequestHead::default();
    if let Ok(Status::Complete(())) = parse_head_into(data, &Limits::default(), &mut head) {
        let is_http11 = head.version() == ::http::Version::HTTP_11;
        let _ =
            crate::mods::websockets::upgrade::check(head.method(), is_http11, head.headers(data));
    }
}

/// A template parsed and rendered with the Embedded preset's fuel and include depth: it ends
/// (with a page or an error) and its output stays within what the fuel allows.
#[cfg(feature = "templates")]
pub fn template(data: &[u8]) {
    use crate::mods::templates::{PageData, TemplateConfig, Templates};
    let source = text(data);
    // No folder: every include resolves among the templates added here (the page itself).
    let engine = Templates::with_config(
        "/nonexistent/microweb-fuzz",
        TemplateConfig::for_preset(Preset::Embedded),
    );
    let Ok(page) = engine.add_template("page.html", &source) else {
        return;
    };
    let context = serde_json::json!({"items": [1, 2, 3], "name": "<b>", "n": 7});
    let mut out = Vec::new();
    let _ = engine.render_template(&page, PageData::new(&context), &mut out);
    assert!(out.len() <= 64 << 20, "a render past 64 MiB");
}

/// An encrypted request (the crypto module's headers and sealed body) opened by a server: the
/// input is `name: value` lines, a blank line, then the body. It is refused or opened, never a
/// panic.
#[cfg(feature = "crypto")]
pub fn crypto_open(data: &[u8]) {
    use crate::mods::crypto::{CryptoConfig, Identity, ServerCrypto};
    use std::sync::OnceLock;
    static SERVER: OnceLock<Option<ServerCrypto>> = OnceLock::new();
    let Some(server) = SERVER.get_or_init(|| {
        let identity = Identity::from_secret_bytes(&[7; 32]).ok()?;
        let config = CryptoConfig::default();
        // usrv's wire format too, where this build has it.
        #[cfg(feature = "crypto-usrv")]
        let config = config.with_usrv(true);
        Some(ServerCrypto::new(identity, config))
    }) else {
        return;
    };
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = text(head);
    let fields: Vec<(&str, &str)> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    let lookup = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    if let Err(e) = server.open_request("POST", "/api/secret", lookup, body, now) {
        let status = e.status().as_u16();
        assert!((400..600).contains(&status), "an error answered {status}");
    }
    let _ = server.reply_to(lookup);
}

//! Answering a resolved file the way nginx would: choosing the representation (identity, a
//! `.br`/`.gz` sibling, or gzip on the fly), its validators, the conditional request, the byte
//! range, and the body.
//!
//! In scope: the steps below, each a function of its own; the RFC 9110 rules they apply are
//! the sans-IO `http` layer's ([`Preconditions`], [`parse_range`], [`if_range_holds`],
//! [`preferred_coding`]).
//! Out of scope: finding the file (`resolve.rs`), sending it (the connection streams the reader
//! through one slot at a time).
//!
//! ```text
//! choose the representation ─► validators (ETag, Last-Modified)
//!   ─► preconditions: 412 │ 304 with the validators │ go on
//!   ─► the range (GET only; If-Range may veto it) ─► representation headers
//!   ─► 416 │ 206 with Content-Range │ 200
//! ```
//!
//! Decisions:
//! - A Range on a pre-compressed sibling applies to the compressed bytes (the selected
//!   representation, RFC 9110 §14.1), and its `ETag` differs from the identity one, so `If-Range`
//!   cannot mix the two. A Range request is never answered with gzip on the fly (its length is
//!   unknown): it gets the identity file, with ranges.
//! - Without `Accept-Encoding`, the identity file is sent (see `http::preferred_coding`).

#[cfg(feature = "compression")]
use crate::server::compress::is_compressible;
use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::http::{Method, StatusCode};

use super::StaticSite;
use super::cache::{CachedFile, FileCache, Stamp};
use crate::http::{
    Precondition, Preconditions, RangeAnswer, if_range_holds, parse_range, preferred_coding,
};
use crate::server::file_body::FileRange;
use crate::server::request::Request;
use crate::server::response::{Body, Response};

/// The codings a pre-compressed sibling may carry (coding, file extension), in order of
/// preference on equal quality.
const SIBLINGS: [(&str, &str); 2] = [("br", "br"), ("gzip", "gz")];

/// The `Cache-Control` of a static file: caches keep it but ask whether it changed.
const CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";

/// Where the chosen representation's bytes are.
enum Content {
    /// An open file.
    File(File),
    /// The file's bytes, from the cache.
    Cached(Arc<[u8]>),
}

/// The representation chosen for a request.
struct Chosen {
    content: Content,
    content_type: Cow<'static, str>,
    size: u64,
    mtime: SystemTime,
    /// `Content-Encoding` value, when compressed.
    coding: Option<&'static str>,
    /// Compressed on the fly (length unknown, no ranges).
    on_the_fly: bool,
    /// Whether another request could get another representation (`Vary: Accept-Encoding`).
    varies: bool,
}

/// The validators of the chosen representation (RFC 9110 §8.8).
struct Validators {
    etag: String,
    /// The modification time, cut to whole seconds as HTTP dates are.
    modified: SystemTime,
    /// `modified` as an HTTP date.
    last_modified: String,
}

impl Validators {
    fn of(chosen: &Chosen) -> Validators {
        let suffix = match (chosen.coding, chosen.on_the_fly) {
            (Some(_), true) => "gzip",
            (Some("br"), false) => "br",
            (Some(_), false) => "gz",
            (None, _) => "",
        };
        let modified = to_seconds(chosen.mtime);
        Validators {
            etag: make_etag(chosen.size, chosen.mtime, suffix, chosen.on_the_fly),
            modified,
            last_modified: httpdate::fmt_http_date(modified),
        }
    }
}

/// Answers a GET or HEAD from the cache when the cache holds the file `request.path()` names
/// and the file is unchanged (see `cache.rs`); returns whether it answered.
pub(super) fn answer_cached(
    cache: &FileCache,
    request: &Request<'_>,
    response: &mut Response,
) -> bool {
    let Some(entry) = cache.get(request.path()) else {
        return false;
    };
    let CachedFile {
        content_type,
        stamp,
        bytes,
        ..
    } = &*entry;
    let chosen = Chosen {
        content: Content::Cached(Arc::clone(bytes)),
        content_type: content_type.clone(),
        size: stamp.size(),
        mtime: stamp.mtime(),
        coding: None,
        on_the_fly: false,
        varies: false,
    };
    answer_chosen(request, response, chosen);
    true
}

/// Answers a GET or HEAD for the file `path` (already resolved under the site's root): the
/// whole file, a range of it, 304, 412 or 416, with the validators, `Accept-Ranges` and, for a
/// compressed representation, `Content-Encoding` and `Vary`. A small file served as it is on
/// disk is kept in the site's cache for the next requests of the same URL path.
pub(super) fn answer_file(
    site: &StaticSite,
    real_root: &Path,
    request: &Request<'_>,
    response: &mut Response,
    path: &Path,
) {
    let Some(chosen) = choose(site, real_root, request, path) else {
        response.return_not_found();
        return;
    };
    answer_chosen(request, response, chosen);
}

/// Chooses the representation of `path` to send: the pre-compressed sibling the client prefers,
/// else the file itself (gzipped on the fly when the site does that and the client accepts
/// it), from the cache when it may be kept. `None` when the file cannot be opened.
fn choose(
    site: &StaticSite,
    real_root: &Path,
    request: &Request<'_>,
    path: &Path,
) -> Option<Chosen> {
    let content_type = site.tables.mime.of_path(path);
    let accept_encoding = request.get_header("accept-encoding");
    let mut siblings = SIBLINGS.map(|(_, ext)| open_sibling(real_root, path, ext));
    let has_sibling = siblings.iter().any(Option::is_some);
    let offered = SIBLINGS
        .iter()
        .zip(&siblings)
        .filter(|(_, sibling)| sibling.is_some())
        .map(|((coding, _), _)| *coding);
    if let Some(coding) = preferred_coding(accept_encoding, offered) {
        let i = SIBLINGS.iter().position(|(c, _)| *c == coding)?;
        let (file, meta) = siblings.get_mut(i)?.take()?;
        return Some(Chosen {
            content: Content::File(file),
            content_type,
            size: meta.len(),
            mtime: meta.modified().unwrap_or(UNIX_EPOCH),
            coding: Some(coding),
            on_the_fly: false,
            varies: true,
        });
    }
    let opened = File::open(path).and_then(|f| f.metadata().map(|m| (f, m)));
    let (file, meta) = opened
        .map_err(|e| log::debug!("static file {}: {e}", path.display()))
        .ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(feature = "compression")]
    let fly_eligible = site.gzip_min.is_some() && is_compressible(&content_type);
    #[cfg(not(feature = "compression"))]
    let fly_eligible = false;
    let on_the_fly = fly_eligible
        && site.gzip_min.is_some_and(|min| meta.len() >= min)
        && range_header(request).is_none()
        && preferred_coding(accept_encoding, ["gzip"]).is_some();
    let varies = has_sibling || fly_eligible;
    let content = if !varies && site.cache.admits(&meta) {
        keep_in_cache(
            &site.cache,
            request.path(),
            (path, &content_type),
            &meta,
            file,
        )
    } else {
        Content::File(file)
    };
    Some(Chosen {
        content,
        content_type,
        size: meta.len(),
        mtime: meta.modified().unwrap_or(UNIX_EPOCH),
        coding: on_the_fly.then_some("gzip"),
        on_the_fly,
        varies,
    })
}

/// Opens a pre-compressed sibling of `path` (`path.<ext>`) when it is a regular file under
/// `real_root` (a symlink leaving the root is ignored like a missing file).
fn open_sibling(real_root: &Path, path: &Path, ext: &str) -> Option<(File, fs::Metadata)> {
    let mut name = path.file_name()?.to_os_string();
    name.push(".");
    name.push(ext);
    let mut sibling = path.with_file_name(name);
    // `path` is real and under the root, so a sibling that is no symlink is too (one lstat, the
    // usual answer being "no such file").
    if fs::symlink_metadata(&sibling)
        .ok()?
        .file_type()
        .is_symlink()
    {
        sibling = fs::canonicalize(&sibling).ok()?;
        if !sibling.starts_with(real_root) {
            return None;
        }
    }
    let file = File::open(&sibling).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((file, meta))
}

/// Reads a small file whole and keeps it in `cache` for `url_path`; the open file if it cannot
/// be read whole.
fn keep_in_cache(
    cache: &FileCache,
    url_path: &str,
    (path, content_type): (&Path, &Cow<'static, str>),
    meta: &fs::Metadata,
    mut file: File,
) -> Content {
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    match file.read_to_end(&mut bytes) {
        Ok(n) if n as u64 == meta.len() => {
            let entry = cache.insert(
                url_path,
                path.to_path_buf(),
                content_type.clone(),
                Stamp::of(meta),
                bytes,
            );
            Content::Cached(Arc::clone(&entry.bytes))
        }
        // Changed while read: serve it from the file, as it is now, and keep nothing.
        _ => {
            let _ = file.rewind();
            Content::File(file)
        }
    }
}

/// Answers with the chosen representation of the file: the conditional request, then
/// the range, then the body.
fn answer_chosen(request: &Request<'_>, response: &mut Response, chosen: Chosen) {
    let validators = Validators::of(&chosen);
    match preconditions(request).evaluate(request.method(), &validators.etag, validators.modified) {
        Precondition::Failed => {
            response.return_error_page(StatusCode::PRECONDITION_FAILED, None);
            return;
        }
        Precondition::NotModified => {
            answer_not_modified(response, validators, chosen.varies);
            return;
        }
        Precondition::Proceed => {}
    }
    let range = requested_range(request, &chosen, &validators);
    set_representation_headers(response, &chosen, validators);
    match range {
        RangeAnswer::Unsatisfiable => answer_unsatisfiable(response, chosen.size),
        RangeAnswer::Part { first, last } => answer_part(response, chosen, first, last),
        RangeAnswer::Whole => answer_whole(response, chosen),
    }
}

/// The precondition fields of `request`.
fn preconditions<'r>(request: &Request<'r>) -> Preconditions<'r> {
    Preconditions {
        if_match: request.get_header("if-match"),
        if_none_match: request.get_header("if-none-match"),
        if_modified_since: request.get_header("if-modified-since"),
        if_unmodified_since: request.get_header("if-unmodified-since"),
    }
}

/// The `Range` header of a GET (RFC 9110 §14.2: only GET has range handling; HEAD ignores it).
fn range_header<'r>(request: &Request<'r>) -> Option<&'r str> {
    if *request.method() == Method::GET {
        request.get_header("range")
    } else {
        None
    }
}

/// The bytes to send: the `Range` of a GET, unless the representation is gzipped on the fly
/// (its length is unknown) or `If-Range` says the client's copy is another version (§13.1.5).
fn requested_range(request: &Request<'_>, chosen: &Chosen, validators: &Validators) -> RangeAnswer {
    let range = match range_header(request) {
        Some(value) if !chosen.on_the_fly => parse_range(value, chosen.size),
        _ => return RangeAnswer::Whole,
    };
    match request.get_header("if-range") {
        Some(value)
            if range != RangeAnswer::Whole
                && !if_range_holds(value, &validators.etag, validators.modified) =>
        {
            RangeAnswer::Whole
        }
        _ => range,
    }
}

/// Sets a header whose value is built here from numbers, dates and known names: always valid.
fn set(response: &mut Response, name: &'static str, value: impl Into<Cow<'static, str>>) {
    let _ = response.set_header(name, value);
}

/// Answers `304 Not Modified` with the fields a 200 would have for caches (§15.4.5).
fn answer_not_modified(response: &mut Response, validators: Validators, varies: bool) {
    response.return_not_modified();
    // The connection writes Cache-Control only on 2xx, so it is set here.
    set(response, "Cache-Control", CACHE_CONTROL);
    set(response, "ETag", validators.etag);
    set(response, "Last-Modified", validators.last_modified);
    if varies {
        set(response, "Vary", "Accept-Encoding");
    }
}

/// Sets the fields that describe the representation: `Accept-Ranges`, the validators, `Vary`,
/// `Content-Encoding`, and lets caches keep it.
fn set_representation_headers(response: &mut Response, chosen: &Chosen, validators: Validators) {
    if !chosen.on_the_fly {
        set(response, "Accept-Ranges", "bytes");
    }
    set(response, "ETag", validators.etag);
    set(response, "Last-Modified", validators.last_modified);
    if chosen.varies {
        set(response, "Vary", "Accept-Encoding");
    }
    if let Some(coding) = chosen.coding {
        set(response, "Content-Encoding", coding);
    }
    response.allow_caching = true;
}

/// Answers `416` with `Content-Range: bytes */size` (§15.5.17): an error page, not the file.
fn answer_unsatisfiable(response: &mut Response, size: u64) {
    response.return_error_page(StatusCode::RANGE_NOT_SATISFIABLE, None);
    set(response, "Content-Range", format!("bytes */{size}"));
    // The error page is not the file: no coding, no validators of the file.
    response.headers.retain(|(n, _)| {
        !["content-encoding", "etag", "last-modified"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
    });
}

/// Answers `206` with bytes `first..=last` of the representation and their `Content-Range`.
fn answer_part(response: &mut Response, chosen: Chosen, first: u64, last: u64) {
    let content_range = format!("bytes {first}-{last}/{}", chosen.size);
    match chosen.content {
        Content::Cached(bytes) => {
            let part = usize::try_from(first)
                .ok()
                .zip(usize::try_from(last).ok())
                .and_then(|(a, b)| bytes.get(a..=b));
            let Some(part) = part else {
                response.return_internal_server_error();
                return;
            };
            set(response, "Content-Range", content_range);
            response.return_(StatusCode::PARTIAL_CONTENT, part.to_vec());
        }
        Content::File(file) => {
            set(response, "Content-Range", content_range);
            let part = FileRange::new(file, first, last - first + 1);
            response.return_(StatusCode::PARTIAL_CONTENT, part);
        }
    }
    set_content_type(response, chosen.content_type);
}

/// Answers `200` with the whole representation.
fn answer_whole(response: &mut Response, chosen: Chosen) {
    match chosen.content {
        #[cfg(feature = "compression")]
        Content::File(file) if chosen.on_the_fly => {
            let encoder = flate2::read::GzEncoder::new(file, flate2::Compression::default());
            response.return_stream(StatusCode::OK, encoder, None);
        }
        Content::File(file) => {
            let whole = FileRange::new(file, 0, chosen.size);
            response.return_(StatusCode::OK, whole);
        }
        Content::Cached(bytes) => response.return_(StatusCode::OK, Body::Shared(bytes)),
    }
    set_content_type(response, chosen.content_type);
}

/// Sets the file's own type, its charset included (none added).
fn set_content_type(response: &mut Response, content_type: Cow<'static, str>) {
    response.content_type = Some(content_type);
    response.content_charset = None;
}

/// Builds the entity tag of a file: `"<size hex>-<mtime nanos hex>"` plus the coding, weak for
/// on-the-fly gzip (its bytes are not promised identical across library versions).
fn make_etag(size: u64, mtime: SystemTime, suffix: &str, weak: bool) -> String {
    let nanos = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let w = if weak { "W/" } else { "" };
    if suffix.is_empty() {
        format!("{w}\"{size:x}-{nanos:x}\"")
    } else {
        format!("{w}\"{size:x}-{nanos:x}-{suffix}\"")
    }
}

/// Drops the sub-second part, as HTTP dates do.
fn to_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_by_size_time_and_coding() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let plain = make_etag(255, t, "", false);
        assert!(plain.starts_with("\"ff-") && plain.ends_with('"'));
        assert_ne!(
            plain,
            make_etag(255, t + Duration::from_nanos(1), "", false)
        );
        assert_ne!(plain, make_etag(255, t, "br", false));
        assert!(make_etag(1, t, "gzip", true).starts_with("W/\""));
    }

    #[cfg(feature = "compression")]
    #[test]
    fn text_and_structured_types_are_compressible_media_is_not() {
        for (content_type, want) in [
            ("text/html; charset=utf-8", true),
            ("application/javascript; charset=utf-8", true),
            ("image/svg+xml", true),
            ("application/ld+json", true),
            ("application/wasm", true),
            ("image/png", false),
            ("application/octet-stream", false),
            ("video/mp4", false),
        ] {
            assert_eq!(is_compressible(content_type), want, "{content_type}");
        }
    }
}

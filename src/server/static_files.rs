//! Static files from the root folder: safe path resolution, default pages, and answering a
//! file the way nginx would (validators, conditional requests, byte ranges, pre-compressed
//! siblings, optional on-the-fly gzip).
//!
//! In scope: mapping a decoded URL path to a file under the root, never outside it; choosing the
//! representation (identity, `.br`/`.gz` sibling, or gzip on the fly); `ETag`/`Last-Modified`;
//! `If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` (RFC 9110 §13.2.2 order);
//! `Range`/`If-Range` (RFC 9110 §14). The header logic is pure functions, unit-tested here.
//! Out of scope: sending the file (the connection streams the reader through one slot at a time)
//! and percent-decoding (done once by the connection before the pipeline).
//!
//! Decisions:
//! - Several ranges in one `Range` header answer the whole file (200), as RFC 9110 §14.2 allows;
//!   no `multipart/byteranges`.
//! - A Range on a pre-compressed sibling applies to the compressed bytes (the selected
//!   representation, RFC 9110 §14.1), and its `ETag` differs from the identity one, so `If-Range`
//!   cannot mix the two. A Range request is never answered with gzip on the fly (its length is
//!   unknown): it gets the identity file, with ranges.
//! - Without `Accept-Encoding`, the identity file is sent (a coding is used only when listed with
//!   q>0, or through `*`).

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::http::{Method, StatusCode};
use parking_lot::{Mutex, RwLock};

use super::file_cache::{FileCache, Stamp};
use super::mime;
use super::request::Request;
use super::response::{Body, Response};

/// The default pages searched, in order, when a directory is requested (MicroWebSrv2's list).
const DEFAULT_PAGES: &[&str] = &["index.html", "index.htm", "default.html", "default.htm"];

fn added_pages() -> &'static RwLock<Vec<String>> {
    static ADDED: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    ADDED.get_or_init(|| RwLock::new(Vec::new()))
}

/// Adds a default page, searched after the built-in ones, for every server in the process (as
/// MicroWebSrv2's `AddDefaultPage`). Returns `false` for an empty name or one with a separator.
pub fn add_default_page(filename: &str) -> bool {
    if filename.is_empty() || filename.contains(['/', '\\', '\0']) || filename == ".." {
        return false;
    }
    let mut pages = added_pages().write();
    if !pages.iter().any(|p| p == filename) {
        pages.push(filename.to_owned());
    }
    true
}

/// Returns the canonical form of a root folder, worked out once per root: a root does not move
/// while it is served, and canonicalising it on every request costs a readlink per component.
fn canonical_root(root: &Path) -> Option<PathBuf> {
    static ROOTS: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());
    if let Some((_, real)) = ROOTS.lock().iter().find(|(r, _)| r == root) {
        return Some(real.clone());
    }
    let real = fs::canonicalize(root).ok()?;
    let mut roots = ROOTS.lock();
    if roots.len() >= 64 {
        roots.remove(0);
    }
    roots.push((root.to_path_buf(), real.clone()));
    Some(real)
}

/// What a URL path names under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A regular file.
    File(PathBuf),
    /// A directory asked for without its trailing slash: redirect to `path + "/"`.
    DirectoryWithoutSlash,
    /// Nothing servable (missing, outside the root, or a directory with no default page).
    NotFound,
}

/// Returns the file a percent-decoded URL path names under `root` (MicroWebSrv2's
/// `ResolvePhysicalPath`), a directory's default page included; `None` when there is none, when
/// it is a directory asked for without its trailing slash, or when the path would leave the root.
///
/// # Examples
///
/// ```
/// let root = std::env::temp_dir();
/// assert_eq!(microweb::resolve_physical_path(&root, "/../etc/passwd"), None);
/// ```
#[must_use]
pub fn resolve_physical_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    match resolve(root, url_path) {
        Resolved::File(path) => Some(path),
        Resolved::DirectoryWithoutSlash | Resolved::NotFound => None,
    }
}

/// Resolves a percent-decoded URL path to a file under `root`.
///
/// The path is taken component by component: `..`, backslashes, NUL and drive-like prefixes are
/// refused outright, and the final file is canonicalised and must still lie under the
/// canonicalised root, so a symlink that leaves the root is refused too.
pub(crate) fn resolve(root: &Path, url_path: &str) -> Resolved {
    let Some(relative) = url_path.strip_prefix('/') else {
        return Resolved::NotFound;
    };
    let Some(real_root) = canonical_root(root) else {
        return Resolved::NotFound;
    };
    let mut candidate = real_root.clone();
    let mut has_symlink = false;
    for part in relative.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Resolved::NotFound,
            _ if part.contains(['\\', '\0']) => return Resolved::NotFound,
            _ => {}
        }
        // A part must be one plain component (no root, prefix or parent hidden inside it).
        let mut comps = Path::new(part).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(_)), None) => candidate.push(part),
            _ => return Resolved::NotFound,
        }
        // One lstat per component under the (real) root: without a symlink on the way, the
        // candidate is already its real path and cannot leave the root.
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => has_symlink = true,
            Ok(_) => {}
            Err(_) => return Resolved::NotFound,
        }
    }
    let real = if has_symlink {
        match fs::canonicalize(&candidate) {
            Ok(real) if real.starts_with(&real_root) => real,
            _ => return Resolved::NotFound,
        }
    } else {
        candidate
    };
    let Ok(meta) = fs::metadata(&real) else {
        return Resolved::NotFound;
    };
    if meta.is_file() {
        return Resolved::File(real);
    }
    if !meta.is_dir() {
        return Resolved::NotFound;
    }
    if !url_path.ends_with('/') {
        return Resolved::DirectoryWithoutSlash;
    }
    let added = added_pages().read();
    for page in DEFAULT_PAGES
        .iter()
        .copied()
        .chain(added.iter().map(String::as_str))
    {
        let file = real.join(page);
        match fs::canonicalize(&file) {
            Ok(f) if f.starts_with(&real_root) && f.is_file() => return Resolved::File(f),
            _ => continue,
        }
    }
    Resolved::NotFound
}

/// The codings a pre-compressed sibling may carry, in order of preference on equal quality.
const SIBLINGS: &[(&str, &str)] = &[("br", "br"), ("gzip", "gz")];

/// Which bytes of the file a `Range` header asks for (RFC 9110 §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAnswer {
    /// No usable range (absent, malformed, another unit, or several ranges): the whole file.
    Whole,
    /// One satisfiable range, `first..=last`.
    Part {
        /// First byte.
        first: u64,
        /// Last byte (inclusive).
        last: u64,
    },
    /// The range does not overlap the file: 416.
    Unsatisfiable,
}

/// Parses a `Range` header against a representation of `size` bytes (RFC 9110 §14.1.1).
///
/// `a-b`, `a-` and `-n` are understood; a malformed header is ignored (the whole file), as is a
/// header with several ranges (answered whole, a documented choice).
pub(crate) fn parse_range(value: &str, size: u64) -> RangeAnswer {
    let Some((unit, set)) = value.split_once('=') else {
        return RangeAnswer::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeAnswer::Whole;
    }
    let mut specs = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeAnswer::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAnswer::Whole;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Numbers too large for u64 are still syntactically valid: they saturate.
    let number = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
    match (digits(first), digits(last), last.is_empty()) {
        // suffix-range = "-" suffix-length
        (false, true, _) if first.is_empty() => {
            let n = number(last);
            if n == 0 || size == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Part {
                    first: size.saturating_sub(n),
                    last: size - 1,
                }
            }
        }
        // int-range = first-pos "-" [ last-pos ]
        (true, _, true) | (true, true, false) => {
            let first = number(first);
            let last = if last.is_empty() {
                u64::MAX
            } else {
                number(last)
            };
            if last < first {
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
        _ => RangeAnswer::Whole,
    }
}

/// Tells whether an `If-None-Match`/`If-Match` list holds `etag` (RFC 9110 §13.1.1, §13.1.2).
///
/// `*` matches any current representation. With `weak`, `W/` prefixes are ignored (the weak
/// comparison `If-None-Match` uses); otherwise both tags must be strong. A malformed list
/// matches nothing from the point where it breaks.
pub(crate) fn etag_list_matches(list: &str, etag: &str, weak: bool) -> bool {
    if list.trim_matches([' ', '\t']) == "*" {
        return true;
    }
    let (ours_weak, ours) = split_etag(etag);
    if ours_weak && !weak {
        return false;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let (theirs_weak, tail) = match rest.strip_prefix("W/") {
            Some(t) => (true, t),
            None => (false, rest),
        };
        let Some(tail) = tail.strip_prefix('"') else {
            return false;
        };
        let Some(end) = tail.find('"') else {
            return false;
        };
        let opaque = &tail[..end];
        if opaque == ours && (weak || !theirs_weak) {
            return true;
        }
        rest = &tail[end + 1..];
    }
}

/// Splits an entity tag into (weak, opaque part without quotes).
fn split_etag(etag: &str) -> (bool, &str) {
    let (weak, rest) = match etag.strip_prefix("W/") {
        Some(r) => (true, r),
        None => (false, etag),
    };
    (weak, rest.trim_matches('"'))
}

/// Builds the entity tag of a file: `"<size hex>-<mtime nanos hex>"` plus the coding, weak for
/// on-the-fly gzip (its bytes are not promised identical across library versions).
pub(crate) fn make_etag(size: u64, mtime: SystemTime, suffix: &str, weak: bool) -> String {
    let nanos = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let w = if weak { "W/" } else { "" };
    if suffix.is_empty() {
        format!("{w}\"{size:x}-{nanos:x}\"")
    } else {
        format!("{w}\"{size:x}-{nanos:x}-{suffix}\"")
    }
}

/// The quality (in thousandths) the client gives `coding` in `Accept-Encoding` (RFC 9110
/// §12.5.3): its own entry, else `*`, else 0. An absent header gives 0: identity is sent.
pub(crate) fn coding_quality(accept_encoding: Option<&str>, coding: &str) -> u16 {
    let Some(header) = accept_encoding else {
        return 0;
    };
    let mut star = None;
    for item in crate::http::quality_items(header) {
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

/// Drops the sub-second part, as HTTP dates do.
fn to_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

/// Tells whether a media type is worth gzipping.
fn is_compressible(content_type: &str) -> bool {
    let media = crate::http::media_type(content_type);
    media.starts_with("text/")
        || media.ends_with("+xml")
        || media.ends_with("+json")
        || matches!(
            media,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "application/typescript"
                | "application/manifest+json"
        )
}

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
    size: u64,
    mtime: SystemTime,
    /// `Content-Encoding` value, when compressed.
    coding: Option<&'static str>,
    /// Compressed on the fly (length unknown, no ranges).
    on_the_fly: bool,
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

/// Answers a GET or HEAD from the cache when the cache holds the file `request.path()` names
/// and the file is unchanged (see `file_cache.rs`); returns whether it answered.
pub(crate) fn answer_cached(
    cache: &FileCache,
    request: &Request<'_>,
    response: &mut Response,
) -> bool {
    let Some(entry) = cache.get(request.path()) else {
        return false;
    };
    let chosen = Chosen {
        size: entry.stamp.size(),
        mtime: entry.stamp.mtime(),
        content: Content::Cached(Arc::clone(&entry.bytes)),
        coding: None,
        on_the_fly: false,
    };
    let range = range_header(request);
    answer_chosen(
        request,
        response,
        &entry.path,
        (entry.content_type(), range),
        chosen,
        false,
    );
    true
}

/// Answers a GET or HEAD for the file `path` (already resolved under `root`): the whole file,
/// a range of it, 304, 412 or 416, with the validators, `Accept-Ranges` and, for a compressed
/// representation, `Content-Encoding` and `Vary`.
///
/// `gzip_min`: files of a compressible type and at least this size are gzipped on the fly for
/// clients that accept gzip (see `ServerConfig::gzip_min_size`). `cache`: where a small file
/// served as it is on disk is kept for the next requests of the same URL path.
pub(crate) fn answer_file(
    root: &Path,
    request: &Request<'_>,
    response: &mut Response,
    path: &Path,
    gzip_min: Option<u64>,
    cache: &FileCache,
) {
    let Some(real_root) = canonical_root(root) else {
        response.return_not_found();
        return;
    };
    let content_type = mime::from_path(path);
    let accept_encoding = request.get_header("accept-encoding");
    let range_header = range_header(request);

    // Pre-compressed siblings: the best quality wins, `br` on a tie.
    let mut varies = false;
    let mut best: Option<(u16, &'static str, File, fs::Metadata)> = None;
    for (coding, ext) in SIBLINGS {
        let Some((file, meta)) = open_sibling(&real_root, path, ext) else {
            continue;
        };
        varies = true;
        let q = coding_quality(accept_encoding, coding);
        if q > 0 && best.as_ref().is_none_or(|(bq, ..)| q > *bq) {
            best = Some((q, coding, file, meta));
        }
    }
    let chosen = match best {
        Some((_, coding, file, meta)) => Chosen {
            size: meta.len(),
            mtime: meta.modified().unwrap_or(UNIX_EPOCH),
            content: Content::File(file),
            coding: Some(coding),
            on_the_fly: false,
        },
        None => {
            let opened = File::open(path).and_then(|f| f.metadata().map(|m| (f, m)));
            let Ok((file, meta)) = opened.map_err(|e| {
                log::debug!("static file {}: {e}", path.display());
            }) else {
                response.return_not_found();
                return;
            };
            if !meta.is_file() {
                response.return_not_found();
                return;
            }
            let fly_min = gzip_min.unwrap_or(u64::MAX);
            let fly_eligible = gzip_min.is_some() && is_compressible(content_type);
            varies |= fly_eligible;
            let on_the_fly = fly_eligible
                && meta.len() >= fly_min
                && range_header.is_none()
                && coding_quality(accept_encoding, "gzip") > 0;
            let content = if !varies && cache.admits(&meta) {
                keep_in_cache(cache, request.path(), path, &meta, file)
            } else {
                Content::File(file)
            };
            Chosen {
                size: meta.len(),
                mtime: meta.modified().unwrap_or(UNIX_EPOCH),
                content,
                coding: on_the_fly.then_some("gzip"),
                on_the_fly,
            }
        }
    };
    answer_chosen(
        request,
        response,
        path,
        (content_type, range_header),
        chosen,
        varies,
    );
}

/// The `Range` header of a GET (RFC 9110 §14.2: only GET has range handling; HEAD ignores it).
fn range_header<'r>(request: &'r Request<'_>) -> Option<&'r str> {
    if *request.method() == Method::GET {
        request.get_header("range")
    } else {
        None
    }
}

/// Reads a small file whole and keeps it in `cache` for `url_path`; the open file if it cannot
/// be read whole.
fn keep_in_cache(
    cache: &FileCache,
    url_path: &str,
    path: &Path,
    meta: &fs::Metadata,
    mut file: File,
) -> Content {
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    match file.read_to_end(&mut bytes) {
        Ok(n) if n as u64 == meta.len() => {
            let entry = cache.insert(url_path, path.to_path_buf(), Stamp::of(meta), bytes);
            Content::Cached(Arc::clone(&entry.bytes))
        }
        // Changed while read: serve it from the file, as it is now, and keep nothing.
        _ => {
            let _ = file.rewind();
            Content::File(file)
        }
    }
}

/// Answers with the chosen representation of the file `path`, whose content type and `Range`
/// header the caller has looked up: conditional requests, ranges, validators.
fn answer_chosen(
    request: &Request<'_>,
    response: &mut Response,
    path: &Path,
    (content_type, range_header): (&'static str, Option<&str>),
    chosen: Chosen,
    varies: bool,
) {
    let suffix = match (chosen.coding, chosen.on_the_fly) {
        (Some(_), true) => "gzip",
        (Some("br"), false) => "br",
        (Some(_), false) => "gz",
        (None, _) => "",
    };
    let etag = make_etag(chosen.size, chosen.mtime, suffix, chosen.on_the_fly);
    let modified = to_seconds(chosen.mtime);
    let last_modified = httpdate::fmt_http_date(modified);

    // Conditional requests, in the order of RFC 9110 §13.2.2.
    let date_header = |name: &str| {
        request
            .get_header(name)
            .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
    };
    let precondition_failed = if let Some(list) = request.get_header("if-match") {
        !etag_list_matches(list, &etag, false)
    } else {
        date_header("if-unmodified-since").is_some_and(|since| modified > since)
    };
    if precondition_failed {
        response.return_error_page(StatusCode::PRECONDITION_FAILED, None);
        return;
    }
    let not_modified = if let Some(list) = request.get_header("if-none-match") {
        // §13.1.2: weak comparison; when present, If-Modified-Since is ignored.
        etag_list_matches(list, &etag, true)
    } else {
        date_header("if-modified-since").is_some_and(|since| modified <= since)
    };

    let set = |response: &mut Response, name: &'static str, value: Cow<'static, str>| {
        // The values are built here from numbers, dates and known names: always valid.
        let _ = response.set_header(name, value);
    };
    if not_modified {
        response.return_not_modified();
        // §15.4.5: a 304 carries the fields a 200 would have for caches (the connection writes
        // Cache-Control only on 2xx, so it is set here).
        set(
            response,
            "Cache-Control",
            Cow::Borrowed("public, max-age=0, must-revalidate"),
        );
        set(response, "ETag", Cow::Owned(etag));
        set(response, "Last-Modified", Cow::Owned(last_modified));
        if varies {
            set(response, "Vary", Cow::Borrowed("Accept-Encoding"));
        }
        return;
    }

    // Ranges, unless If-Range says the client's copy is another version (§13.1.5).
    let mut range = match range_header {
        Some(value) if !chosen.on_the_fly => parse_range(value, chosen.size),
        _ => RangeAnswer::Whole,
    };
    let if_range = request
        .get_header("if-range")
        .filter(|_| range != RangeAnswer::Whole);
    if let Some(validator) = if_range {
        let validator = validator.trim();
        let current = if validator.starts_with('"') || validator.starts_with("W/") {
            // Strong comparison: a weak tag never matches.
            !validator.starts_with("W/") && etag_list_matches(validator, &etag, false)
        } else {
            httpdate::parse_http_date(validator).is_ok_and(|d| d == modified)
        };
        if !current {
            range = RangeAnswer::Whole;
        }
    }

    if !chosen.on_the_fly {
        set(response, "Accept-Ranges", Cow::Borrowed("bytes"));
    }
    set(response, "ETag", Cow::Owned(etag));
    set(response, "Last-Modified", Cow::Owned(last_modified));
    if varies {
        set(response, "Vary", Cow::Borrowed("Accept-Encoding"));
    }
    if let Some(coding) = chosen.coding {
        set(response, "Content-Encoding", Cow::Borrowed(coding));
    }
    response.allow_caching = true;

    let Chosen {
        content,
        size,
        on_the_fly,
        ..
    } = chosen;
    match range {
        RangeAnswer::Unsatisfiable => {
            response.return_error_page(StatusCode::RANGE_NOT_SATISFIABLE, None);
            set(
                response,
                "Content-Range",
                Cow::Owned(format!("bytes */{size}")),
            );
            // The error page is not the file: no coding, no validators of the file.
            response.headers.retain(|(n, _)| {
                !["content-encoding", "etag", "last-modified"]
                    .iter()
                    .any(|h| n.eq_ignore_ascii_case(h))
            });
            return;
        }
        RangeAnswer::Part { first, last } => {
            let mut file = match content {
                Content::File(file) => file,
                Content::Cached(bytes) => {
                    let part = usize::try_from(first)
                        .ok()
                        .zip(usize::try_from(last).ok())
                        .and_then(|(a, b)| bytes.get(a..=b));
                    let Some(part) = part else {
                        response.return_internal_server_error();
                        return;
                    };
                    set(
                        response,
                        "Content-Range",
                        Cow::Owned(format!("bytes {first}-{last}/{size}")),
                    );
                    response.return_(StatusCode::PARTIAL_CONTENT, part.to_vec());
                    response.content_type = Some(Cow::Borrowed(content_type));
                    response.content_charset = None;
                    return;
                }
            };
            if let Err(e) = file.seek(SeekFrom::Start(first)) {
                log::error!("static file {}: cannot seek: {e}", path.display());
                response.return_internal_server_error();
                return;
            }
            let len = last - first + 1;
            set(
                response,
                "Content-Range",
                Cow::Owned(format!("bytes {first}-{last}/{size}")),
            );
            response.return_stream(StatusCode::PARTIAL_CONTENT, file.take(len), Some(len));
        }
        RangeAnswer::Whole => match content {
            Content::File(file) if on_the_fly => {
                let encoder = flate2::read::GzEncoder::new(file, flate2::Compression::default());
                response.return_stream(StatusCode::OK, encoder, None);
            }
            Content::File(file) => response.return_stream(StatusCode::OK, file, Some(size)),
            Content::Cached(bytes) => response.return_(StatusCode::OK, Body::Shared(bytes)),
        },
    }
    response.content_type = Some(Cow::Borrowed(content_type));
    response.content_charset = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("index.html"), "home").unwrap();
        fs::write(root.join("sub/a.txt"), "a").unwrap();
        fs::write(dir.path().join("secret.txt"), "secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        dir
    }

    #[test]
    fn serves_files_and_default_pages() {
        let dir = tree();
        let root = dir.path().join("root");
        assert!(
            matches!(resolve(&root, "/sub/a.txt"), Resolved::File(p) if p.ends_with("sub/a.txt"))
        );
        assert!(matches!(resolve(&root, "/"), Resolved::File(p) if p.ends_with("index.html")));
        assert_eq!(resolve(&root, "/sub"), Resolved::DirectoryWithoutSlash);
        assert_eq!(resolve(&root, "/sub/"), Resolved::NotFound);
        assert_eq!(resolve(&root, "/missing"), Resolved::NotFound);
    }

    #[test]
    fn refuses_every_way_out_of_the_root() {
        let dir = tree();
        let root = dir.path().join("root");
        for path in [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/..",
            "/sub/..\\..\\secret.txt",
            "/..\\secret.txt",
            "/secret.txt\0",
            "/leak.txt",
            "relative.txt",
            "//etc/passwd",
        ] {
            assert!(
                !matches!(resolve(&root, path), Resolved::File(ref p) if p.ends_with("secret.txt") || p.starts_with("/etc")),
                "{path:?} escaped the root"
            );
        }
        assert_eq!(resolve(&root, "/leak.txt"), Resolved::NotFound);
    }

    #[test]
    fn range_forms_map_to_bytes_or_refusals() {
        use RangeAnswer::{Part, Unsatisfiable, Whole};
        let part = |first, last| Part { first, last };
        for (header, size, want) in [
            ("bytes=0-9", 100, part(0, 9)),
            ("bytes=90-", 100, part(90, 99)),
            ("bytes=-10", 100, part(90, 99)),
            ("bytes=-1000", 100, part(0, 99)),
            ("bytes=50-1000", 100, part(50, 99)),
            ("BYTES = 5-5", 100, part(5, 5)),
            ("bytes=99999999999999999999999-", 100, Unsatisfiable),
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=-0", 100, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=9-5", 100, Whole),
            ("bytes=0-1,5-6", 100, Whole),
            ("bytes=abc", 100, Whole),
            ("bytes=-", 100, Whole),
            ("bytes=1-2-3", 100, Whole),
            ("items=0-1", 100, Whole),
            ("0-1", 100, Whole),
        ] {
            assert_eq!(parse_range(header, size), want, "{header:?}");
        }
    }

    #[test]
    fn etag_lists_compare_weakly_or_strongly() {
        let tag = "\"1a-2b\"";
        assert!(etag_list_matches("\"1a-2b\"", tag, true));
        assert!(etag_list_matches("\"x\", W/\"1a-2b\"", tag, true));
        assert!(!etag_list_matches("W/\"1a-2b\"", tag, false));
        assert!(etag_list_matches(" * ", tag, false));
        assert!(!etag_list_matches("\"x\",\"y\"", tag, true));
        assert!(!etag_list_matches("1a-2b", tag, true));
        assert!(!etag_list_matches("\"1a-2b", tag, true));
        assert!(!etag_list_matches("\"1a-2b\"", "W/\"1a-2b\"", false));
    }

    #[test]
    fn accept_encoding_qualities_follow_rfc_9110() {
        assert_eq!(coding_quality(None, "br"), 0);
        assert_eq!(coding_quality(Some("gzip, br;q=0.5"), "br"), 500);
        assert_eq!(coding_quality(Some("gzip;q=0"), "gzip"), 0);
        assert_eq!(coding_quality(Some("x-gzip"), "gzip"), 1000);
        assert_eq!(coding_quality(Some("*;q=0.2, br;q=0"), "gzip"), 200);
        assert_eq!(coding_quality(Some("*;q=0.2, br;q=0"), "br"), 0);
        assert_eq!(coding_quality(Some("identity"), "gzip"), 0);
    }

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
}

//! MIME types by file extension: MicroWebSrv2's table, the common modern types, and the ones an
//! application adds with [`add_mime_type`].

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

/// The type of a file whose extension is unknown.
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

/// Built-in table: MicroWebSrv2's (seed 003) first, then the modern ones. Text types carry a
/// charset so browsers need not guess.
const BUILT_IN: &[(&str, &str)] = &[
    ("txt", "text/plain; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("html", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("js", "application/javascript; charset=utf-8"),
    ("xml", "application/xml"),
    ("xhtml", "application/xhtml+xml"),
    ("json", "application/json"),
    ("zip", "application/zip"),
    ("pdf", "application/pdf"),
    ("ts", "application/typescript"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("svg", "image/svg+xml"),
    ("ico", "image/x-icon"),
    // Modern additions.
    ("mjs", "text/javascript; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("wav", "audio/wav"),
    ("map", "application/json"),
    ("md", "text/markdown; charset=utf-8"),
    ("webmanifest", "application/manifest+json"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
];

fn added() -> &'static RwLock<Vec<(String, &'static str)>> {
    static ADDED: OnceLock<RwLock<Vec<(String, &'static str)>>> = OnceLock::new();
    ADDED.get_or_init(|| RwLock::new(Vec::new()))
}

/// Adds (or replaces) the MIME type of an extension for every server in the process, as
/// MicroWebSrv2's `AddMimeType` did. The extension may be given with or without its dot.
///
/// # Errors
/// Returns `false` (and changes nothing) when the extension is empty or the type holds a control
/// character.
pub fn add_mime_type(ext: &str, mime_type: &str) -> bool {
    let ext = ext.trim_start_matches('.').to_ascii_lowercase();
    if ext.is_empty() || mime_type.is_empty() || mime_type.bytes().any(|b| b.is_ascii_control()) {
        return false;
    }
    // Leaked once per registration: types are few and live for the whole program.
    let mime: &'static str = Box::leak(mime_type.to_owned().into_boxed_str());
    let mut table = added().write();
    table.retain(|(e, _)| *e != ext);
    table.push((ext, mime));
    REGISTRATIONS.fetch_add(1, Ordering::SeqCst);
    true
}

/// How many types [`add_mime_type`] has registered: while 0 a lookup takes no lock, and a
/// type looked up earlier still holds while it is unchanged (the static file cache keeps it).
static REGISTRATIONS: AtomicUsize = AtomicUsize::new(0);

/// The number of registrations so far: a type found by [`from_path`] stays right while this
/// does not change.
pub(crate) fn registrations() -> usize {
    REGISTRATIONS.load(Ordering::SeqCst)
}

/// Returns the MIME type of a file name from its extension, or `None` when it is unknown.
#[must_use]
pub fn get_mime_type_from_filename(filename: &str) -> Option<&'static str> {
    let ext = Path::new(filename).extension()?.to_str()?;
    lookup(ext)
}

fn lookup(ext: &str) -> Option<&'static str> {
    // Most programs add no type: then the lookup shares nothing between threads.
    if registrations() > 0 {
        let table = added().read();
        if let Some((_, m)) = table.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)) {
            return Some(m);
        }
    }
    BUILT_IN
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map(|(_, m)| *m)
}

/// Returns the MIME type of a path, `application/octet-stream` when unknown.
#[must_use]
pub(crate) fn from_path(path: &Path) -> &'static str {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(lookup)
        .unwrap_or(OCTET_STREAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_microwebsrv2_and_modern_types() {
        assert_eq!(
            get_mime_type_from_filename("a/b/index.HTML"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            get_mime_type_from_filename("app.wasm"),
            Some("application/wasm")
        );
        assert_eq!(get_mime_type_from_filename("x.ico"), Some("image/x-icon"));
        assert_eq!(get_mime_type_from_filename("noext"), None);
        assert_eq!(from_path(Path::new("a.unknownext")), OCTET_STREAM);
    }

    #[test]
    fn added_types_win_and_bad_ones_are_refused() {
        assert!(add_mime_type(".mwtest", "application/x-mwtest"));
        assert_eq!(
            get_mime_type_from_filename("f.mwtest"),
            Some("application/x-mwtest")
        );
        assert!(!add_mime_type("", "a/b"));
        assert!(!add_mime_type("x", "a/b\r\n"));
    }
}

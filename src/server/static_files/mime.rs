//! MIME types by file extension: MicroWebSrv2's table and the common modern types, under the
//! types an application adds.
//!
//! In scope: the [`MimeTypes`] table (built-in types under added ones), the process-wide
//! additions MicroWebSrv2's `AddMimeType` made ([`add_mime_type`]), and the lookup by file name.
//! Out of scope: which table a server uses (its own additions over the process-wide ones, fixed
//! when it starts: see `StaticTables`).

use std::borrow::Cow;
use std::path::Path;

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

/// A table of MIME types by extension: the added types, then the built-in ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MimeTypes {
    /// (lowercase extension without its dot, type); one entry per extension.
    added: Vec<(String, String)>,
}

impl MimeTypes {
    /// The built-in table alone.
    pub(crate) const fn new() -> MimeTypes {
        MimeTypes { added: Vec::new() }
    }

    /// Adds (or replaces) the type of an extension, given with or without its dot. Returns
    /// `false` and changes nothing when the extension or the type is empty, or the type holds a
    /// control character.
    pub(crate) fn add(&mut self, ext: &str, mime_type: &str) -> bool {
        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
        if ext.is_empty() || mime_type.is_empty() || mime_type.bytes().any(|b| b.is_ascii_control())
        {
            return false;
        }
        self.added.retain(|(e, _)| *e != ext);
        self.added.push((ext, mime_type.to_owned()));
        true
    }

    /// Adds every type of `other`, replacing the types of the same extensions.
    pub(crate) fn add_all(&mut self, other: &MimeTypes) {
        for (ext, mime_type) in &other.added {
            self.add(ext, mime_type);
        }
    }

    /// Returns the type of an extension (without its dot, any case), `None` when unknown.
    pub(crate) fn get(&self, ext: &str) -> Option<Cow<'static, str>> {
        if let Some((_, m)) = self.added.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)) {
            return Some(Cow::Owned(m.clone()));
        }
        BUILT_IN
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(ext))
            .map(|(_, m)| Cow::Borrowed(*m))
    }

    /// Returns the type of a file name from its extension, `None` when unknown.
    pub(crate) fn of_filename(&self, filename: &str) -> Option<Cow<'static, str>> {
        self.get(Path::new(filename).extension()?.to_str()?)
    }

    /// Returns the type of a path, `application/octet-stream` when unknown.
    pub(crate) fn of_path(&self, path: &Path) -> Cow<'static, str> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(|e| self.get(e))
            .unwrap_or(Cow::Borrowed(OCTET_STREAM))
    }
}

/// The process-wide table: what [`add_mime_type`] changes and every server copies at start.
static PROCESS_TYPES: RwLock<MimeTypes> = RwLock::new(MimeTypes::new());

/// Returns a copy of the process-wide table as it is now.
pub(crate) fn process_types() -> MimeTypes {
    PROCESS_TYPES.read().clone()
}

/// Returns the type of a path in the process-wide table, `application/octet-stream` when
/// unknown.
pub(crate) fn process_type_of_path(path: &Path) -> Cow<'static, str> {
    PROCESS_TYPES.read().of_path(path)
}

/// Adds (or replaces) the MIME type of an extension in the process-wide table, as
/// MicroWebSrv2's `AddMimeType` did for every server. The extension may be given with or
/// without its dot.
///
/// Every server started afterwards copies this table under its own additions
/// ([`WebServer::add_mime_type`](crate::WebServer::add_mime_type)); a server already running
/// keeps the table it started with. [`Response::return_file`](crate::Response::return_file),
/// which belongs to no server, reads this table when it is called.
///
/// Returns `false` (and changes nothing) when the extension or the type is empty, or the type
/// holds a control character.
pub fn add_mime_type(ext: &str, mime_type: &str) -> bool {
    PROCESS_TYPES.write().add(ext, mime_type)
}

/// Returns the MIME type of a file name from its extension in the process-wide table (the
/// built-in types and those added with [`add_mime_type`]), or `None` when it is unknown
/// (MicroWebSrv2's `GetMimeTypeFromFilename`).
///
/// # Examples
///
/// ```
/// assert_eq!(
///     microweb::server::get_mime_type_from_filename("site/index.HTML").as_deref(),
///     Some("text/html; charset=utf-8")
/// );
/// assert_eq!(microweb::server::get_mime_type_from_filename("README"), None);
/// ```
#[must_use]
pub fn get_mime_type_from_filename(filename: &str) -> Option<Cow<'static, str>> {
    PROCESS_TYPES.read().of_filename(filename)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_microwebsrv2_and_modern_types() {
        let table = MimeTypes::new();
        assert_eq!(
            table.of_filename("a/b/index.HTML").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            table.of_filename("app.wasm").as_deref(),
            Some("application/wasm")
        );
        assert_eq!(table.of_filename("x.ico").as_deref(), Some("image/x-icon"));
        assert_eq!(table.of_filename("noext"), None);
        assert_eq!(table.of_path(Path::new("a.unknownext")), OCTET_STREAM);
        assert!(matches!(
            table.of_path(Path::new("a.css")),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn added_types_win_and_bad_ones_are_refused() {
        let mut table = MimeTypes::new();
        assert!(table.add(".mwtest", "application/x-mwtest"));
        assert!(table.add("TXT", "text/x-mine"));
        assert_eq!(
            table.of_filename("f.mwtest").as_deref(),
            Some("application/x-mwtest")
        );
        assert_eq!(table.of_filename("f.txt").as_deref(), Some("text/x-mine"));
        assert!(table.add("mwtest", "application/x-replaced"));
        assert_eq!(table.added.len(), 2, "one entry per extension");
        assert!(!table.add("", "a/b"));
        assert!(!table.add(".", "a/b"));
        assert!(!table.add("x", ""));
        assert!(!table.add("x", "a/b\r\n"));
        assert_eq!(table.of_filename("f.x"), None);
    }

    #[test]
    fn a_table_added_over_another_replaces_its_extensions() {
        let mut base = MimeTypes::new();
        base.add("a", "x/base-a");
        base.add("b", "x/base-b");
        let mut own = MimeTypes::new();
        own.add("b", "x/own-b");
        base.add_all(&own);
        assert_eq!(base.get("a").as_deref(), Some("x/base-a"));
        assert_eq!(base.get("B").as_deref(), Some("x/own-b"));
    }

    #[test]
    fn the_process_table_takes_additions_and_keeps_the_built_in_types() {
        assert!(add_mime_type(".mwprocess", "application/x-mwprocess"));
        assert_eq!(
            get_mime_type_from_filename("f.mwprocess").as_deref(),
            Some("application/x-mwprocess")
        );
        assert_eq!(
            process_types().of_filename("f.mwprocess").as_deref(),
            Some("application/x-mwprocess")
        );
        assert_eq!(
            get_mime_type_from_filename("f.png").as_deref(),
            Some("image/png")
        );
        assert!(!add_mime_type("x", "a/b\r\n"));
    }
}

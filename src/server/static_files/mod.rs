//! Static files from a server's root folder: safe path resolution, default pages, MIME types,
//! the small-file cache, and answering a file the way nginx would (validators, conditional
//! requests, byte ranges, pre-compressed siblings, optional on-the-fly gzip).
//!
//! In scope: [`StaticSite`], what one server serves its root with — the root's canonical form
//! (worked out once per server), the MIME and default-page tables it started with, its gzip
//! setting and its cache — and MicroWebSrv2's process-wide functions ([`add_mime_type`],
//! [`get_mime_type_from_filename`], [`add_default_page`], [`resolve_physical_path`]).
//! Out of scope: the RFC 9110 rules (in `http`: conditional requests, ranges, negotiation),
//! sending the file (the connection streams the reader through one slot at a time) and
//! percent-decoding (done once by the connection before the pipeline).
//!
//! Tables: a server's MIME types and default pages are the built-in ones, under the
//! process-wide additions (MicroWebSrv2's `AddMimeType` / `AddDefaultPage`, which acted on every
//! server) as they are when the server starts, under the server's own additions
//! (`WebServer::add_mime_type` / `WebServer::add_default_page`). A running server never reads a
//! shared table: a request takes no lock for them.

mod answer;
mod cache;
mod mime;
mod resolve;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub(crate) use cache::FileCache;
pub use mime::{add_mime_type, get_mime_type_from_filename};
pub(crate) use resolve::Resolved;
pub use resolve::{add_default_page, resolve_physical_path};

use super::config::ServerConfig;
use super::request::Request;
use super::response::Response;

/// The MIME types and default pages a server adds, or uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StaticTables {
    pub(crate) mime: mime::MimeTypes,
    pub(crate) pages: resolve::DefaultPages,
}

impl StaticTables {
    /// These additions over the process-wide tables as they are now: what a server uses.
    pub(crate) fn over_process_tables(&self) -> StaticTables {
        let mut tables = StaticTables {
            mime: mime::process_types(),
            pages: resolve::process_pages(),
        };
        tables.mime.add_all(&self.mime);
        tables.pages.add_all(&self.pages);
        tables
    }
}

/// The type `Response::return_file` gives a file, which belongs to no server: from the
/// process-wide table, read now.
pub(crate) fn process_content_type(path: &Path) -> Cow<'static, str> {
    mime::process_type_of_path(path)
}

/// What one running server serves its root folder with.
#[derive(Debug)]
pub(crate) struct StaticSite {
    root: PathBuf,
    /// The root's canonical form, found on the first request that needs it (a root created
    /// after the start is still served), then kept: a root does not move while it is served.
    real_root: OnceLock<PathBuf>,
    tables: StaticTables,
    /// `ServerConfig::gzip_min_size` (`None` in a build without the `compression` feature).
    gzip_min: Option<u64>,
    cache: FileCache,
}

impl StaticSite {
    /// The site of a server starting with `config` and the `tables` it uses.
    pub(crate) fn new(config: &ServerConfig, tables: StaticTables) -> StaticSite {
        StaticSite {
            root: config.root_path.clone(),
            real_root: OnceLock::new(),
            tables,
            #[cfg(feature = "compression")]
            gzip_min: config.gzip_min_size,
            #[cfg(not(feature = "compression"))]
            gzip_min: None,
            cache: FileCache::new(config.static_cache_size),
        }
    }

    /// Returns the root's canonical form, `None` while the root does not exist.
    fn real_root(&self) -> Option<&Path> {
        if let Some(real) = self.real_root.get() {
            return Some(real);
        }
        let real = std::fs::canonicalize(&self.root).ok()?;
        Some(self.real_root.get_or_init(|| real))
    }

    /// Resolves a percent-decoded URL path under the root (see `resolve.rs`).
    pub(crate) fn resolve(&self, url_path: &str) -> Resolved {
        match self.real_root() {
            Some(real_root) => resolve::resolve(real_root, &self.tables.pages, url_path),
            None => Resolved::NotFound,
        }
    }

    /// Answers a GET or HEAD from the small-file cache when it holds the file the request's path
    /// names, unchanged; returns whether it answered.
    pub(crate) fn answer_cached(&self, request: &Request<'_>, response: &mut Response) -> bool {
        answer::answer_cached(&self.cache, request, response)
    }

    /// Answers a GET or HEAD for `path`, a file [`StaticSite::resolve`] found: the whole file, a
    /// range of it, 304, 412 or 416, with its validators.
    pub(crate) fn answer_file(&self, request: &Request<'_>, response: &mut Response, path: &Path) {
        match self.real_root() {
            Some(real_root) => answer::answer_file(self, real_root, request, response, path),
            None => response.return_not_found(),
        }
    }
}

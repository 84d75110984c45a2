//! Mapping a decoded URL path to a file under a root folder, never outside it, and the default
//! pages a directory is answered with.
//!
//! In scope: the component-by-component walk (`..`, backslashes, NUL and prefixes refused; a
//! symlink followed only while it stays under the root), the directory rules (redirect without
//! the trailing slash, else the first default page), and the default-page tables.
//! Out of scope: canonicalising the root (once per server, by `StaticSite`), and answering.

use std::fs;
use std::path::{Component, Path, PathBuf};

use parking_lot::RwLock;

/// The default pages searched, in order, when a directory is requested (MicroWebSrv2's list).
const BUILT_IN: &[&str] = &["index.html", "index.htm", "default.html", "default.htm"];

/// A list of default pages: the built-in ones, then the added ones in the order added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DefaultPages {
    added: Vec<String>,
}

impl DefaultPages {
    /// The built-in pages alone.
    pub(crate) const fn new() -> DefaultPages {
        DefaultPages { added: Vec::new() }
    }

    /// Adds a page, searched after the built-in and earlier ones (once: adding it again keeps
    /// its place). Returns `false` for an empty name, `..`, or a name with a separator or NUL.
    pub(crate) fn add(&mut self, filename: &str) -> bool {
        if filename.is_empty() || filename.contains(['/', '\\', '\0']) || filename == ".." {
            return false;
        }
        if !self.added.iter().any(|p| p == filename) {
            self.added.push(filename.to_owned());
        }
        true
    }

    /// Adds every page of `other` after these.
    pub(crate) fn add_all(&mut self, other: &DefaultPages) {
        for page in &other.added {
            self.add(page);
        }
    }

    /// Iterates the pages in the order they are searched.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        BUILT_IN
            .iter()
            .copied()
            .chain(self.added.iter().map(String::as_str))
    }
}

/// The process-wide list: what [`add_default_page`] changes and every server copies at start.
static PROCESS_PAGES: RwLock<DefaultPages> = RwLock::new(DefaultPages::new());

/// Returns a copy of the process-wide list as it is now.
pub(crate) fn process_pages() -> DefaultPages {
    PROCESS_PAGES.read().clone()
}

/// Adds a default page to the process-wide list, searched after the built-in ones
/// (`index.html`, `index.htm`, `default.html`, `default.htm`), as MicroWebSrv2's
/// `AddDefaultPage` did for every server.
///
/// Every server started afterwards copies this list, then its own additions
/// ([`WebServer::add_default_page`](crate::WebServer::add_default_page)); a server already
/// running keeps the list it started with.
///
/// Returns `false` for an empty name, `..`, or a name with a separator or NUL.
pub fn add_default_page(filename: &str) -> bool {
    PROCESS_PAGES.write().add(filename)
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
/// `ResolvePhysicalPath`), a directory's default page (from the process-wide list) included;
/// `None` when there is none, when it is a directory asked for without its trailing slash, or
/// when the path would leave the root.
///
/// # Examples
///
/// ```
/// let root = std::env::temp_dir();
/// assert_eq!(microweb::server::resolve_physical_path(&root, "/../etc/passwd"), None);
/// ```
#[must_use]
pub fn resolve_physical_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    let real_root = fs::canonicalize(root).ok()?;
    resolve(&real_root, &process_pages(), url_path).into_file()
}

impl Resolved {
    /// The file, if it is one.
    pub(crate) fn into_file(self) -> Option<PathBuf> {
        match self {
            Resolved::File(path) => Some(path),
            Resolved::DirectoryWithoutSlash | Resolved::NotFound => None,
        }
    }
}

/// Resolves a percent-decoded URL path to a file under `real_root` (the root's canonical form),
/// a directory's first page of `pages` included.
///
/// The path is taken component by component: `..`, backslashes, NUL and drive-like prefixes are
/// refused outright, and the final file is canonicalised and must still lie under the root, so
/// a symlink that leaves the root is refused too.
pub(crate) fn resolve(real_root: &Path, pages: &DefaultPages, url_path: &str) -> Resolved {
    let Some(relative) = url_path.strip_prefix('/') else {
        return Resolved::NotFound;
    };
    let Some(real) = walk(real_root, relative) else {
        return Resolved::NotFound;
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
    default_page(real_root, &real, pages).map_or(Resolved::NotFound, Resolved::File)
}

/// Walks `relative` down from `real_root` and returns the real path it leads to, `None` when a
/// component is refused, missing, or leads out of the root.
fn walk(real_root: &Path, relative: &str) -> Option<PathBuf> {
    let mut candidate = real_root.to_path_buf();
    let mut has_symlink = false;
    for part in relative.split('/') {
        match part {
            "" | "." => continue,
            ".." => return None,
            _ if part.contains(['\\', '\0']) => return None,
            _ => {}
        }
        // A part must be one plain component (no root, prefix or parent hidden inside it).
        let mut comps = Path::new(part).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(_)), None) => candidate.push(part),
            _ => return None,
        }
        // One lstat per component under the (real) root: without a symlink on the way, the
        // candidate is already its real path and cannot leave the root.
        if fs::symlink_metadata(&candidate)
            .ok()?
            .file_type()
            .is_symlink()
        {
            has_symlink = true;
        }
    }
    if !has_symlink {
        return Some(candidate);
    }
    let real = fs::canonicalize(&candidate).ok()?;
    real.starts_with(real_root).then_some(real)
}

/// The first of `pages` that is a regular file in the directory `dir`, under the root.
fn default_page(real_root: &Path, dir: &Path, pages: &DefaultPages) -> Option<PathBuf> {
    pages.iter().find_map(|page| {
        let file = fs::canonicalize(dir.join(page)).ok()?;
        (file.starts_with(real_root) && file.is_file()).then_some(file)
    })
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

    fn resolve_in(root: &Path, url_path: &str) -> Resolved {
        let real_root = fs::canonicalize(root).unwrap();
        resolve(&real_root, &DefaultPages::new(), url_path)
    }

    #[test]
    fn serves_files_and_default_pages() {
        let dir = tree();
        let root = dir.path().join("root");
        assert!(
            matches!(resolve_in(&root, "/sub/a.txt"), Resolved::File(p) if p.ends_with("sub/a.txt"))
        );
        assert!(matches!(resolve_in(&root, "/"), Resolved::File(p) if p.ends_with("index.html")));
        assert_eq!(resolve_in(&root, "/sub"), Resolved::DirectoryWithoutSlash);
        assert_eq!(resolve_in(&root, "/sub/"), Resolved::NotFound);
        assert_eq!(resolve_in(&root, "/missing"), Resolved::NotFound);
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
                !matches!(resolve_in(&root, path), Resolved::File(ref p) if p.ends_with("secret.txt") || p.starts_with("/etc")),
                "{path:?} escaped the root"
            );
        }
        assert_eq!(resolve_in(&root, "/leak.txt"), Resolved::NotFound);
    }

    #[test]
    fn added_default_pages_come_after_the_built_in_ones_once_each() {
        let dir = tree();
        let real_root = fs::canonicalize(dir.path().join("root")).unwrap();
        fs::write(real_root.join("sub/start.page"), "start").unwrap();
        let mut pages = DefaultPages::new();
        assert_eq!(
            resolve(&real_root, &pages, "/sub/"),
            Resolved::NotFound,
            "not a default page yet"
        );
        assert!(pages.add("start.page"));
        assert!(pages.add("start.page"));
        assert!(pages.add("home.page"));
        assert_eq!(
            pages.iter().skip(4).collect::<Vec<_>>(),
            ["start.page", "home.page"]
        );
        assert!(
            matches!(resolve(&real_root, &pages, "/sub/"), Resolved::File(p) if p.ends_with("sub/start.page"))
        );
        fs::write(real_root.join("sub/index.html"), "index").unwrap();
        assert!(
            matches!(resolve(&real_root, &pages, "/sub/"), Resolved::File(p) if p.ends_with("sub/index.html"))
        );
        for bad in ["", "..", "a/b", "a\\b", "a\0"] {
            assert!(!pages.add(bad), "{bad:?}");
        }
        let mut process = process_pages();
        process.add_all(&pages);
        assert!(process.iter().any(|p| p == "home.page"));
    }
}

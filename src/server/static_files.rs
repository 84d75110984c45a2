//! Static files from the root folder: safe path resolution and default pages.
//!
//! In scope: mapping a decoded URL path to a file under the root, never outside it.
//! Out of scope: sending the file (the connection streams it through a slot).

use std::fs;
use std::path::{Component, Path, PathBuf};

use parking_lot::RwLock;
use std::sync::OnceLock;

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

/// Resolves a percent-decoded URL path to a file under `root`.
///
/// The path is taken component by component: `..`, backslashes, NUL and drive-like prefixes are
/// refused outright, and the final file is canonicalised and must still lie under the
/// canonicalised root, so a symlink that leaves the root is refused too.
pub(crate) fn resolve(root: &Path, url_path: &str) -> Resolved {
    let Some(relative) = url_path.strip_prefix('/') else {
        return Resolved::NotFound;
    };
    let mut candidate = root.to_path_buf();
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
    }
    let Ok(real_root) = fs::canonicalize(root) else {
        return Resolved::NotFound;
    };
    let Ok(real) = fs::canonicalize(&candidate) else {
        return Resolved::NotFound;
    };
    if !real.starts_with(&real_root) {
        return Resolved::NotFound;
    }
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
}

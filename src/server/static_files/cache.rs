//! The static file cache: small files kept in memory, checked against the disk on every use.
//!
//! In scope: which URL paths map to which cached file, the bound on the memory it holds
//! ([`ServerConfig::static_cache_size`](super::ServerConfig::static_cache_size)), and when an
//! entry may be used.
//! Out of scope: resolving a URL path safely (`resolve.rs`) and answering a file (`answer.rs`).
//!
//! An entry is made only after the full, safe resolution of its URL path found a regular file
//! with no pre-compressed sibling and no on-the-fly gzip, last modified at least
//! [`SETTLED_AFTER`] ago (file systems stamp times with a coarse clock: two writes within one
//! tick may leave the same size and time, so a file still being written is read from disk each
//! time). It is used when:
//! - its resolution is less than [`RECHECK_AFTER`] old (after that the full resolution and the
//!   sibling probe run again, so a new default page or a new `.gz` sibling is seen within a
//!   second, as nginx's `open_file_cache_valid` does within a minute), and
//! - one `stat` of its real path still shows the same device, inode, size and modification
//!   time — so the bytes served are always the file's current bytes, and a path that now leads
//!   elsewhere (a renamed file, a new symlink on the way) no longer matches.
//!
//! A hit costs one `stat` and no open, read or close.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // file IO

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

/// How long an entry's resolution (URL path → file, no sibling) is trusted.
pub(crate) const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// How long ago a file must have last changed to be kept.
pub(crate) const SETTLED_AFTER: Duration = Duration::from_secs(1);

/// The largest file kept, in bytes (the cache's size bounds it too).
pub(crate) const MAX_FILE_SIZE: usize = 64 * 1024;

/// The identity of a file's current content: what a `stat` must still show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: SystemTime,
}

impl Stamp {
    /// The stamp of `meta`.
    pub(crate) fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: meta.modified().unwrap_or(UNIX_EPOCH),
        }
    }

    /// The modification time.
    pub(crate) fn mtime(&self) -> SystemTime {
        self.mtime
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// A cached file.
#[derive(Debug)]
pub(crate) struct CachedFile {
    /// The file's real path under the root.
    pub(crate) path: PathBuf,
    /// Its `Content-Type`, from the path's extension in the server's table (which does not
    /// change while the server runs).
    pub(crate) content_type: Cow<'static, str>,
    /// What the file was when read.
    pub(crate) stamp: Stamp,
    /// Its bytes.
    pub(crate) bytes: Arc<[u8]>,
    /// When its URL path was last resolved in full.
    resolved_at: Instant,
}

/// The cache of one server.
#[derive(Debug)]
pub(crate) struct FileCache {
    capacity: usize,
    entries: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_url: HashMap<String, Arc<CachedFile>>,
    bytes: usize,
}

impl FileCache {
    /// A cache holding at most `capacity` bytes of files (0: off).
    pub(crate) fn new(capacity: usize) -> FileCache {
        FileCache {
            capacity,
            entries: RwLock::new(Entries::default()),
        }
    }

    /// Returns whether the file `meta` describes may be kept: small enough, and settled.
    pub(crate) fn admits(&self, meta: &fs::Metadata) -> bool {
        let small =
            usize::try_from(meta.len()).is_ok_and(|s| s <= MAX_FILE_SIZE.min(self.capacity));
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= SETTLED_AFTER);
        small && settled
    }

    /// Returns the entry for `url_path` if it may be used now (see the module doc); an entry
    /// whose file changed is dropped.
    pub(crate) fn get(&self, url_path: &str) -> Option<Arc<CachedFile>> {
        if self.capacity == 0 {
            return None;
        }
        let entry = Arc::clone(self.entries.read().by_url.get(url_path)?);
        let fresh = entry.resolved_at.elapsed() < RECHECK_AFTER
            && fs::metadata(&entry.path).is_ok_and(|m| Stamp::of(&m) == entry.stamp);
        if fresh {
            return Some(entry);
        }
        let mut entries = self.entries.write();
        if entries
            .by_url
            .get(url_path)
            .is_some_and(|e| Arc::ptr_eq(e, &entry))
        {
            entries.by_url.remove(url_path);
            entries.bytes -= entry.bytes.len();
        }
        None
    }

    /// Keeps `bytes`, read from `path` whose stamp is `stamp` and whose type is `content_type`,
    /// for `url_path`; returns the entry. When the cache is full, older entries make room (any
    /// of them: the cache is small and refills from the disk).
    pub(crate) fn insert(
        &self,
        url_path: &str,
        path: PathBuf,
        content_type: Cow<'static, str>,
        stamp: Stamp,
        bytes: Vec<u8>,
    ) -> Arc<CachedFile> {
        let entry = Arc::new(CachedFile {
            content_type,
            path,
            stamp,
            bytes: bytes.into(),
            resolved_at: Instant::now(),
        });
        let size = entry.bytes.len();
        if size > self.capacity {
            return entry;
        }
        let mut entries = self.entries.write();
        if let Some(old) = entries.by_url.remove(url_path) {
            entries.bytes -= old.bytes.len();
        }
        while entries.bytes + size > self.capacity {
            let Some(victim) = entries.by_url.keys().next().cloned() else {
                break;
            };
            if let Some(old) = entries.by_url.remove(&victim) {
                entries.bytes -= old.bytes.len();
            }
        }
        entries.bytes += size;
        entries
            .by_url
            .insert(url_path.to_owned(), Arc::clone(&entry));
        entry
    }

    /// Returns how many bytes of files are kept.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.entries.read().bytes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn file(dir: &std::path::Path, name: &str, content: &[u8]) -> (PathBuf, Stamp) {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        let stamp = Stamp::of(&fs::metadata(&path).unwrap());
        (path, stamp)
    }

    const TEXT: Cow<'static, str> = Cow::Borrowed("text/plain");

    fn set_age(path: &std::path::Path, age: Duration) {
        let f = fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn only_small_files_that_settled_are_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(10);
        let (path, _) = file(dir.path(), "a", b"1234567890");
        assert!(!cache.admits(&fs::metadata(&path).unwrap()), "just written");
        set_age(&path, Duration::from_secs(5));
        assert!(cache.admits(&fs::metadata(&path).unwrap()));
        let (path, _) = file(dir.path(), "b", b"12345678901");
        set_age(&path, Duration::from_secs(5));
        assert!(
            !cache.admits(&fs::metadata(&path).unwrap()),
            "over the size"
        );
    }

    #[test]
    fn an_entry_is_used_while_its_file_is_unchanged_and_dropped_once_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(1024);
        let (path, stamp) = file(dir.path(), "a.txt", b"one");
        cache.insert("/a.txt", path.clone(), TEXT, stamp, b"one".to_vec());
        assert_eq!(&*cache.get("/a.txt").unwrap().bytes, b"one");
        fs::write(&path, b"three").unwrap(); // another size
        assert!(cache.get("/a.txt").is_none());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn a_replaced_file_of_the_same_size_and_time_is_another_inode() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(1024);
        let (path, stamp) = file(dir.path(), "a.txt", b"one");
        cache.insert("/a.txt", path.clone(), TEXT, stamp, b"one".to_vec());
        let (other, _) = file(dir.path(), "b.txt", b"two");
        let f = fs::File::options().write(true).open(&other).unwrap();
        f.set_modified(stamp.mtime()).unwrap();
        fs::rename(&other, &path).unwrap();
        assert!(cache.get("/a.txt").is_none());
    }

    #[test]
    fn the_cache_stays_within_its_size_and_refuses_what_cannot_fit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(10);
        for name in ["a", "b", "c", "d"] {
            let (path, stamp) = file(dir.path(), name, b"1234");
            cache.insert(&format!("/{name}"), path, TEXT, stamp, b"1234".to_vec());
            assert!(cache.bytes() <= 10);
        }
        assert_eq!(cache.bytes(), 8);
        assert!(cache.get("/d").is_some(), "the newest entry is kept");
        assert!(FileCache::new(0).get("/d").is_none());
    }
}

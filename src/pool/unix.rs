//! Unix socket listeners: binding a socket file without clobbering a live one, and removing it
//! when the listener closes.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

/// The socket file a listener made; removed on drop, unless something else replaced it since.
#[derive(Debug)]
pub(crate) struct UnixSocketFile {
    path: PathBuf,
    /// The file's device, inode and change time right after bind, to tell it from a later
    /// one (a freed inode number is soon given to the next file).
    id: FileId,
}

impl UnixSocketFile {
    /// The socket file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// What tells one file from another at the same path.
type FileId = (u64, u64, i64, i64);

fn file_id(meta: &std::fs::Metadata) -> FileId {
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

impl Drop for UnixSocketFile {
    fn drop(&mut self) {
        let Ok(meta) = std::fs::symlink_metadata(&self.path) else {
            return;
        };
        // Not another server's socket that replaced ours, and nothing listens there any more
        // (the listener closes before this guard drops).
        let ours = file_id(&meta) == self.id;
        if ours && UnixStream::connect(&self.path).is_err() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates a nonblocking Unix stream listener at `path` with `backlog`, and `mode` (such as
/// `0o660`) as the file's permissions when given.
///
/// A socket file already at `path` is replaced only when nothing listens on it (a server that
/// did not stop cleanly left it behind); anything else there is an error, never removed.
pub(crate) fn bind_unix(
    path: &Path,
    backlog: u32,
    mode: Option<u32>,
) -> io::Result<(UnixListener, UnixSocketFile)> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{}: a server already listens on this socket",
                        path.display()
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                log::info!("replacing the stale socket file {}", path.display());
                std::fs::remove_file(path)?;
            }
            Err(e) => return Err(e),
        },
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    // The metadata is read after the mode is set, which changes the file's change time.
    let meta = mode
        .map_or(Ok(()), |m| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))
        })
        .and_then(|()| std::fs::symlink_metadata(path));
    let meta = match meta {
        Ok(meta) => meta,
        Err(e) => {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    };
    let file = UnixSocketFile {
        path: path.to_path_buf(),
        id: file_id(&meta),
    };
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok((socket.into(), file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("microweb-unix-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_stale_socket_is_replaced_a_live_one_or_a_file_is_not() {
        let dir = scratch("stale");
        let path = dir.join("s.sock");
        // A live listener: refused, and its file stays.
        let live = UnixListener::bind(&path).unwrap();
        let err = bind_unix(&path, 8, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(live); // leaves the file behind, as a crashed server does
        let (listener, file) = bind_unix(&path, 8, Some(0o600)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(listener);
        drop(file);
        assert!(!path.exists(), "removed with the listener");

        let plain = dir.join("plain");
        std::fs::write(&plain, b"data").unwrap();
        assert_eq!(
            bind_unix(&plain, 8, None).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(&plain).unwrap(), b"data");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_replaced_since_is_not_removed() {
        let dir = scratch("replaced");
        let path = dir.join("s.sock");
        let (listener, file) = bind_unix(&path, 8, None).unwrap();
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        let other = UnixListener::bind(&path).unwrap();
        drop(file);
        assert!(path.exists(), "another server's socket stays");
        drop(other);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! A response body that is a range of an open file.
//!
//! On a plain socket the connection sends it with `sendfile(2)` ([`crate::pool::Conn::send_file`]):
//! the kernel moves the bytes from the page cache to the socket, none pass through a buffer
//! slot. Over TLS (and where `sendfile` is refused) it is read into the slot like any stream, at
//! its own offset (`pread`), so the file's cursor is never moved.
#![allow(clippy::disallowed_types)] // IO edge: the file itself

use std::fmt;
use std::fs::File;
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::FileExt;

/// `len` bytes of a file from `offset`: the body of a static file or of
/// [`Response::return_file`](crate::Response::return_file), sent without copies on plain
/// sockets.
pub struct FileRange {
    file: File,
    offset: u64,
    remaining: u64,
}

impl FileRange {
    /// Bytes `offset..offset + len` of `file` (which must hold them: a file that turns out
    /// shorter while it is sent ends the connection, as a truncated body must).
    #[must_use]
    pub fn new(file: File, offset: u64, len: u64) -> FileRange {
        FileRange {
            file,
            offset,
            remaining: len,
        }
    }

    /// The whole of `file`, as long as its metadata says.
    ///
    /// # Errors
    ///
    /// When the metadata cannot be read.
    pub fn whole(file: File) -> io::Result<FileRange> {
        let len = file.metadata()?.len();
        Ok(FileRange::new(file, 0, len))
    }

    /// The bytes still to send.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Sends up to `max` bytes with `send`, which gets the file, the offset to advance and the
    /// count (the connection's `sendfile`).
    pub(crate) fn send_with(
        &mut self,
        max: usize,
        send: impl FnOnce(&File, &mut u64, usize) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let count = usize::try_from(self.remaining).map_or(max, |r| r.min(max));
        if count == 0 {
            return Ok(0);
        }
        let before = self.offset;
        let n = send(&self.file, &mut self.offset, count)?;
        if n == 0 {
            return Err(ended_early());
        }
        // The offset is the kernel's word for what was sent.
        self.remaining -= (self.offset - before).min(self.remaining);
        Ok(n)
    }
}

impl Read for FileRange {
    /// Reads at the range's own offset (the file's cursor is not used); `Ok(0)` at the end of
    /// the range, `UnexpectedEof` when the file ends before it.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(ended_early());
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }
}

impl fmt::Debug for FileRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRange")
            .field("offset", &self.offset)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

fn ended_early() -> io::Error {
    io::Error::new(
        ErrorKind::UnexpectedEof,
        "the file ended before the length announced for it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    fn file_of(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f
    }

    #[test]
    fn reads_its_range_and_stops_at_its_end() {
        let mut range = FileRange::new(file_of(b"0123456789"), 3, 4);
        let mut out = Vec::new();
        range.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"3456");
        assert_eq!(range.remaining(), 0);
    }

    #[test]
    fn a_file_shorter_than_its_range_is_an_error_not_a_short_body() {
        let mut range = FileRange::new(file_of(b"0123"), 2, 10);
        let mut out = Vec::new();
        let err = range.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        assert_eq!(out, b"23");
    }

    #[test]
    fn send_with_counts_what_the_offset_says_and_caps_the_count() {
        let mut range = FileRange::new(file_of(b"0123456789"), 0, 10);
        let n = range
            .send_with(4, |_, offset, count| {
                assert_eq!(count, 4);
                *offset += 3;
                Ok(3)
            })
            .unwrap();
        assert_eq!((n, range.remaining()), (3, 7));
        let err = range.send_with(4, |_, _, _| Ok(0)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    }
}

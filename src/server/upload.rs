//! Streaming uploads (from uHTTP): a route whose body goes, piece by piece as it arrives, to a
//! [`BodySink`] instead of memory — to a file, a hash, another socket.
//!
//! The sink is made from the request head alone, before any body byte is read: a factory that
//! refuses (`Err(status)`) answers that status before `100 Continue` is sent, and the body is
//! never read. Pieces are handed over straight from the connection's buffer slot, so an upload
//! of any size costs one slot. `max_request_content_length` bounds buffered bodies only; an
//! upload sink sees `content_length()` and decides for itself.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::http::StatusCode;

use super::request::Request;
use super::response::Response;

/// Receives a request body piece by piece.
pub trait BodySink: Send {
    /// Takes the next piece of the body. An error stops the upload: its status is answered and
    /// the connection closes.
    ///
    /// # Errors
    /// The status to answer with.
    fn write(&mut self, data: &[u8]) -> Result<(), StatusCode>;

    /// Runs once the whole body has arrived, and answers the request.
    fn finish(self: Box<Self>, request: &Request<'_>, response: &mut Response);
}

/// Makes the sink of an upload from its head (route arguments included).
pub(crate) type UploadFactory =
    Arc<dyn Fn(&Request<'_>) -> Result<Box<dyn BodySink>, StatusCode> + Send + Sync>;

/// A sink that writes the body to a file, then calls `done` with the number of bytes written.
pub struct FileSink<F> {
    path: PathBuf,
    file: BufWriter<File>,
    written: u64,
    done: F,
}

impl<F> fmt::Debug for FileSink<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSink")
            .field("path", &self.path)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<F> FileSink<F>
where
    F: FnOnce(&Request<'_>, &mut Response, u64) + Send + 'static,
{
    /// Creates (or truncates) the file at `path`.
    ///
    /// # Errors
    /// `500 Internal Server Error` when the file cannot be created (the error is logged).
    pub fn create(path: impl AsRef<Path>, done: F) -> Result<Box<dyn BodySink>, StatusCode> {
        let path = path.as_ref().to_path_buf();
        match File::create(&path) {
            Ok(file) => Ok(Box::new(FileSink {
                path,
                file: BufWriter::with_capacity(8 * 1024, file),
                written: 0,
                done,
            })),
            Err(e) => {
                log::error!("upload: cannot create {}: {e}", path.display());
                Err(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

impl<F> BodySink for FileSink<F>
where
    F: FnOnce(&Request<'_>, &mut Response, u64) + Send + 'static,
{
    fn write(&mut self, data: &[u8]) -> Result<(), StatusCode> {
        self.file.write_all(data).map_err(|e| {
            log::error!("upload: cannot write {}: {e}", self.path.display());
            StatusCode::INTERNAL_SERVER_ERROR
        })?;
        self.written += data.len() as u64;
        Ok(())
    }

    fn finish(mut self: Box<Self>, request: &Request<'_>, response: &mut Response) {
        if let Err(e) = self.file.flush() {
            log::error!("upload: cannot write {}: {e}", self.path.display());
            response.return_internal_server_error();
            return;
        }
        let this = *self;
        (this.done)(request, response, this.written);
    }
}

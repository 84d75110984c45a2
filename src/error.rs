//! The crate-level error: every layer's error, plus IO.

use std::fmt;
use std::io;

use crate::mods::templates::TemplateError;

/// Everything that can go wrong in microweb, by layer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system IO error (bind, accept, read, write, files).
    Io(io::Error),
    /// A template failed to load, parse or render.
    Template(TemplateError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io error: {e}"),
            Error::Template(e) => write!(f, "template error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Template(e) => Some(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<TemplateError> for Error {
    fn from(e: TemplateError) -> Self {
        Error::Template(e)
    }
}

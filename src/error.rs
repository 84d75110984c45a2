//! The crate-level error: every layer's error, plus IO.

use std::fmt;
use std::io;

use crate::mods::crypto::CryptoError;

/// Everything that can go wrong in microweb, by layer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system IO error (bind, accept, read, write, files).
    Io(io::Error),
    /// The body encryption module refused a request or could not read a key file.
    Crypto(CryptoError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io error: {e}"),
            Error::Crypto(e) => write!(f, "crypto error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Crypto(e) => Some(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        Error::Crypto(e)
    }
}

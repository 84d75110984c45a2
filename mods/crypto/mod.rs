//! The body encryption module: secp256k1 ECDH with AES-256-GCM, and usrv's scheme for compatibility.

mod error;
mod identity;
mod keyfile;
mod usrv;

pub use error::CryptoError;
pub use identity::{Identity, PublicKey, ServerIdentity};

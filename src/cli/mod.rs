//! The binary's parts: the demo's routes and the subcommands.

pub(crate) mod cert;
pub(crate) mod demo;
pub(crate) mod keygen;

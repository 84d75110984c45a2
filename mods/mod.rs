//! Loadable modules: each sees every request in load order and may take it.

pub mod crypto;
pub mod templates;

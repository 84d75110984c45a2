//! Builds a target of this package with cargo from inside a test, for tests that run a binary
//! `cargo test` does not leave at a known path (a release build, an example).
#![allow(clippy::disallowed_methods, dead_code, unreachable_pub)] // cargo as a child process

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cargo build --quiet ARGS` in the package and returns `PROFILE_DIR/RELATIVE` under its
/// target folder (`release`, `microweb`; `debug`, `examples/encrypted_api`).
pub fn cargo_build(args: &[&str], profile_dir: &str, relative: &str) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet"])
        .args(args)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build {args:?} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        Into::into,
    );
    target
        .join(profile_dir)
        .join(format!("{relative}{}", std::env::consts::EXE_SUFFIX))
}

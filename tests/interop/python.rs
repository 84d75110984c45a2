//! Whether the Python interop peers can run: python3 with `cryptography` and `coincurve` (the
//! crypto client), `requests` (an HTTP client we did not write) and `prometheus_client` (a
//! metrics text parser), installed with pip on first use. Shared by the interop tests through `#[path]`.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The independent client, `tests/interop/gcm_client.py`.
pub const GCM_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/gcm_client.py");

fn imports() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import cryptography, coincurve, requests, prometheus_client",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn install() -> bool {
    Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "cryptography",
            "coincurve",
            "requests",
            "prometheus_client",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Returns whether to run a Python interop test: true when the packages import (after one pip
/// install per test binary if needed). Otherwise prints why and returns false, or panics when
/// `MICROWEB_REQUIRE_INTEROP` is set (CI sets it where pip works, so the test cannot be skipped
/// silently there).
pub fn interop_available() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    if *READY.get_or_init(|| imports() || (install() && imports())) {
        return true;
    }
    let msg = "skipping Python interop: python3 with `cryptography`, `coincurve`, `requests` and \
               `prometheus_client` is not available (python3 -m pip install cryptography coincurve \
               requests prometheus_client)";
    assert!(
        std::env::var_os("MICROWEB_REQUIRE_INTEROP").is_none(),
        "{msg}"
    );
    eprintln!("{msg}");
    false
}

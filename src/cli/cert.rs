//! `microweb cert`: not available yet.

use std::process::ExitCode;

/// Runs `microweb cert` with the arguments after the subcommand.
pub(crate) fn run(_args: impl Iterator<Item = String>) -> ExitCode {
    eprintln!("microweb cert: not available yet");
    ExitCode::FAILURE
}

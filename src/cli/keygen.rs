//! `microweb keygen`: not available yet.

use std::process::ExitCode;

/// Runs `microweb keygen` with the arguments after the subcommand.
pub(crate) fn run(_args: impl Iterator<Item = String>) -> ExitCode {
    eprintln!("microweb keygen: not available yet");
    ExitCode::FAILURE
}

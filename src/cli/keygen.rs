//! `microweb keygen`: writes a passphrase-protected secp256k1 key file for the body encryption
//! module and prints its public key.
//!
//! In scope: the subcommand's arguments, reading the passphrase (environment or one line of
//! stdin), and the messages. Out of scope: the file format and its KDF
//! (`microweb::mods::crypto::keygen` owns them).

use std::io::{BufRead as _, ErrorKind};
use std::path::PathBuf;
use std::process::ExitCode;

use microweb::mods::crypto::{CryptoError, keygen};

const HELP: &str = "\
microweb keygen — write a passphrase-protected secp256k1 key file (body encryption)

USAGE:
    microweb keygen --out FILE

The passphrase is read from the MICROWEB_PASSPHRASE environment variable, or else as one line
from standard input (it is not hidden: pipe it in or set the variable). The file is created with
mode 0600 and is never overwritten. It holds the secret key encrypted with AES-256-GCM under an
Argon2id key derived from the passphrase. On success the public key (base64 of X || Y, the form
clients pin) is printed on standard output.

Load it in a server with Identity::from_key_file(FILE, passphrase).

OPTIONS:
    --out FILE    where to write the key file (must not exist)
    -h, --help    print this help";

/// The environment variable the passphrase is read from.
const PASSPHRASE_VAR: &str = "MICROWEB_PASSPHRASE";

/// Runs `microweb keygen` with the arguments after the subcommand.
pub(crate) fn run(args: impl Iterator<Item = String>) -> ExitCode {
    let out = match parse(args) {
        Ok(Some(out)) => out,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("microweb keygen: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let passphrase = match read_passphrase() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("microweb keygen: {e}");
            return ExitCode::from(2);
        }
    };
    match keygen(&out, &passphrase) {
        Ok(identity) => {
            eprintln!("microweb keygen: wrote {} (mode 0600)", out.display());
            println!("{}", identity.public_key_b64());
            ExitCode::SUCCESS
        }
        Err(CryptoError::Io(e)) if e.kind() == ErrorKind::AlreadyExists => {
            eprintln!(
                "microweb keygen: {} already exists; refusing to overwrite it",
                out.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("microweb keygen: cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

/// Parses the arguments: `Some(path)`, or `None` for `--help`.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<PathBuf>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut out = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("out") => out = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    out.map(Some)
        .ok_or_else(|| "--out FILE is required".to_owned())
}

/// Reads the passphrase from the environment, or one line of stdin.
fn read_passphrase() -> Result<String, String> {
    let phrase = match std::env::var(PASSPHRASE_VAR) {
        Ok(p) => p,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(format!("{PASSPHRASE_VAR} is not valid UTF-8"));
        }
        Err(std::env::VarError::NotPresent) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the passphrase from stdin: {e}"))?;
            let end = line.trim_end_matches(['\r', '\n']).len();
            line.truncate(end);
            line
        }
    };
    if phrase.is_empty() {
        return Err(format!(
            "empty passphrase (set {PASSPHRASE_VAR} or give it on stdin)"
        ));
    }
    Ok(phrase)
}

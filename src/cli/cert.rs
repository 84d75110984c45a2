//! `microweb cert`: writes a self-signed development certificate and its key, so HTTPS can be
//! tried in one command.
//!
//! In scope: the subcommand's flags, generating the certificate (rcgen, ECDSA P-256, for
//! `localhost`, `127.0.0.1` and `::1`, valid one year), writing `cert.pem` and `key.pem`.
//! Out of scope: anything a real deployment needs (a CA-signed certificate).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};

const HELP: &str = "\
microweb cert — write a self-signed development certificate for localhost

USAGE:
    microweb cert [--out DIR] [--force]

Writes DIR/cert.pem (the certificate, for localhost, 127.0.0.1 and ::1, valid one year) and
DIR/key.pem (its ECDSA P-256 key, PKCS#8). Then:

    microweb --https-bind 127.0.0.1:8443 --tls-cert DIR/cert.pem --tls-key DIR/key.pem
    curl --cacert DIR/cert.pem https://localhost:8443/

Browsers warn about a self-signed certificate: it is for development only.

OPTIONS:
    --out DIR     folder to write into (created if missing) [default: .]
    --force       overwrite cert.pem and key.pem if they exist
    -h, --help    print this help";

/// Runs `microweb cert` with the arguments after the subcommand.
pub(crate) fn run(args: impl Iterator<Item = String>) -> ExitCode {
    use lexopt::prelude::*;
    let mut out = PathBuf::from(".");
    let mut force = false;
    let mut parser = lexopt::Parser::from_args(args);
    loop {
        match parser.next() {
            Ok(None) => break,
            Ok(Some(Long("out"))) => match parser.value() {
                Ok(v) => out = PathBuf::from(v),
                Err(e) => return usage_error(&e.to_string()),
            },
            Ok(Some(Long("force"))) => force = true,
            Ok(Some(Short('h') | Long("help"))) => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            Ok(Some(arg)) => return usage_error(&arg.unexpected().to_string()),
            Err(e) => return usage_error(&e.to_string()),
        }
    }
    match write_certificate(&out, force) {
        Ok((cert, key)) => {
            println!("wrote {} and {}", cert.display(), key.display());
            println!(
                "try: microweb --https-bind 127.0.0.1:8443 --tls-cert {} --tls-key {}",
                cert.display(),
                key.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("microweb cert: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("microweb cert: {message}\n\n{HELP}");
    ExitCode::from(2)
}

/// Generates the certificate and writes both files; returns their paths.
fn write_certificate(dir: &Path, force: bool) -> Result<(PathBuf, PathBuf), String> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !force {
        for p in [&cert_path, &key_path] {
            if p.exists() {
                return Err(format!(
                    "{} exists already (--force overwrites it)",
                    p.display()
                ));
            }
        }
    }
    let names = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    let mut params = CertificateParams::new(names).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "microweb development certificate");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_file(&cert_path, cert.pem().as_bytes(), false)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), true)?;
    Ok((cert_path, key_path))
}

/// Writes a file; a secret one is readable by its owner only (on Unix).
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), String> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

//! Key files: `keygen` writes a passphrase-protected file (mode 0600), the server identity reads
//! it back, and a wrong passphrase is a clear error.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "support/cargo_build.rs"]
mod cargo_build;

use microweb::mods::crypto::{CryptoError, Identity, ServerIdentity, keygen, write_key_file};

#[test]
fn keygen_then_from_key_file_gives_the_same_identity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key");
    let written = keygen(&path, "correct horse battery staple").unwrap();
    let read = ServerIdentity::from_key_file(&path, "correct horse battery staple").unwrap();
    assert_eq!(read.public_key(), written.public_key());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 98);
}

#[test]
fn wrong_passphrase_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key");
    keygen(&path, "right").unwrap();
    let err = ServerIdentity::from_key_file(&path, "wrong").unwrap_err();
    assert!(matches!(err, CryptoError::WrongPassphrase));
    assert_eq!(err.to_string(), "wrong passphrase for key file");
}

#[cfg(unix)]
#[test]
fn key_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key");
    keygen(&path, "pw").unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn keygen_never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key");
    std::fs::write(&path, b"precious").unwrap();
    let err = keygen(&path, "pw").unwrap_err();
    assert!(matches!(err, CryptoError::Io(ref e) if e.kind() == std::io::ErrorKind::AlreadyExists));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn a_usrv_passphrase_identity_can_be_moved_into_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usrv.key");
    let usrv = Identity::from_passphrase("server test secret words").unwrap();
    write_key_file(&usrv, &path, "file passphrase").unwrap();
    let read = Identity::from_key_file(&path, "file passphrase").unwrap();
    assert_eq!(read.public_key_b64(), usrv.public_key_b64());
}

#[test]
fn missing_and_foreign_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Identity::from_key_file(dir.path().join("nope.key"), "pw").unwrap_err();
    assert!(matches!(missing, CryptoError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound));
    let foreign = dir.path().join("foreign.key");
    std::fs::write(&foreign, b"-----BEGIN EC PRIVATE KEY-----").unwrap();
    assert!(matches!(
        Identity::from_key_file(&foreign, "pw").unwrap_err(),
        CryptoError::MalformedKeyFile
    ));
}

/// Runs `microweb keygen` with `args`, the environment passphrase `env` (or none) and `stdin`.
fn run_keygen(args: &[&str], env: Option<&str>, stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_microweb"));
    cmd.arg("keygen")
        .args(args)
        .env_remove("MICROWEB_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = env {
        cmd.env("MICROWEB_PASSPHRASE", p);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn keygen_subcommand_writes_a_private_file_and_prints_its_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key");
    let out = run_keygen(
        &["--out", path.to_str().unwrap()],
        Some("env secret words"),
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let read = Identity::from_key_file(&path, "env secret words").unwrap();
    assert_eq!(printed.trim(), read.public_key_b64());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Never overwrites: a second run fails and the file still opens with the first passphrase.
    let again = run_keygen(&["--out", path.to_str().unwrap()], Some("other"), "");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(
        Identity::from_key_file(&path, "env secret words")
            .unwrap()
            .public_key(),
        read.public_key()
    );
}

#[test]
fn keygen_subcommand_reads_one_line_of_stdin_without_its_line_ending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stdin.key");
    let out = run_keygen(
        &["--out", path.to_str().unwrap()],
        None,
        "stdin phrase\r\nignored\n",
    );
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let read = Identity::from_key_file(&path, "stdin phrase").unwrap();
    assert_eq!(printed.trim(), read.public_key_b64());
}

#[test]
fn keygen_subcommand_explains_itself_and_refuses_bad_input() {
    let help = run_keygen(&["--help"], None, "");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("MICROWEB_PASSPHRASE"));

    let no_out = run_keygen(&[], Some("pw"), "");
    assert_eq!(no_out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_out.stderr).contains("--out FILE is required"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.key");
    let empty = run_keygen(&["--out", path.to_str().unwrap()], None, "\n");
    assert_eq!(empty.status.code(), Some(2));
    assert!(!path.exists(), "no file for an empty passphrase");
}

/// The `encrypted_api` example's binary, built by cargo from this test (`cargo test` builds
/// examples as test targets under hashed names, so the plain binary may not be there).
fn encrypted_api_example() -> std::path::PathBuf {
    cargo_build::cargo_build(
        &["--example", "encrypted_api"],
        "debug",
        "examples/encrypted_api",
    )
}

#[test]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // test IO edge: a child process
fn the_example_with_a_wrong_passphrase_says_so_in_one_sentence_and_fails() {
    let example = encrypted_api_example();
    assert!(example.is_file(), "{} was built", example.display());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key");
    keygen(&path, "right").unwrap();
    let out = std::process::Command::new(&example)
        .arg("127.0.0.1:0")
        .env("MICROWEB_KEY_FILE", &path)
        .env("MICROWEB_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "encrypted_api: cannot open the key file {} with MICROWEB_PASSPHRASE: wrong passphrase \
             for key file",
            path.display()
        )
    );
    assert!(out.stdout.is_empty());
}

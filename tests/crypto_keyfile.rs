//! Key files: `keygen` writes a passphrase-protected file (mode 0600), the server identity reads
//! it back, and a wrong passphrase is a clear error.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

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

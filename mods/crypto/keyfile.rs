//! Passphrase-protected key files: what `microweb keygen` writes and a server reads at start.
//!
//! In scope: the file format, its KDF and AEAD, file permissions.
//! Out of scope: prompting for the passphrase (the binary's job).
//!
//! # Format, version 1 (98 bytes, binary)
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `microweb` (ASCII) |
//! | 8 | 1 | format version, `1` |
//! | 9 | 1 | KDF, `1` = Argon2id version 0x13 (RFC 9106) |
//! | 10 | 4 | Argon2 memory cost in KiB, u32 big-endian (written: 19 456) |
//! | 14 | 4 | Argon2 time cost (passes), u32 big-endian (written: 2) |
//! | 18 | 4 | Argon2 parallelism, u32 big-endian (written: 1) |
//! | 22 | 16 | salt, random |
//! | 38 | 12 | AES-256-GCM nonce, random |
//! | 50 | 48 | AES-256-GCM ciphertext of the 32-byte big-endian secret scalar, then the 16-byte tag |
//!
//! The AES key is Argon2id(password = UTF-8 of the passphrase in Unicode NFKD, salt, costs above,
//! 32 bytes). The GCM associated data is bytes 0..50, so the costs and salt cannot be altered
//! without the tag failing. Argon2id is memory-hard (the RustCrypto `argon2` crate); the written
//! costs are OWASP's recommended minimum, modest enough for a small board to load the key. A reader
//! refuses costs above 1 GiB, 64 passes or 16 lanes, so a crafted file cannot exhaust memory.
//! Files are created with mode 0600 on Unix, and never overwrite an existing file.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use unicode_normalization::UnicodeNormalization;

use super::error::CryptoError;
use super::identity::{Identity, fill_random};

const MAGIC: &[u8; 8] = b"microweb";
const VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const HEADER_LEN: usize = 50;
const FILE_LEN: usize = HEADER_LEN + 32 + 16;
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

/// Argon2id costs (memory in KiB, passes, lanes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Costs {
    pub(crate) m_kib: u32,
    pub(crate) t: u32,
    pub(crate) p: u32,
}

/// The costs `keygen` writes: Argon2id m = 19 MiB, t = 2, p = 1 (OWASP's recommended minimum).
pub(crate) const DEFAULT_COSTS: Costs = Costs {
    m_kib: 19 * 1024,
    t: 2,
    p: 1,
};

/// Generates a fresh identity and writes it to a new key file at `path`, encrypted with `passphrase`.
///
/// # Errors
/// [`CryptoError::Io`] when the file cannot be created (it never overwrites an existing file:
/// `AlreadyExists`), [`CryptoError::Random`] when the system generator fails.
pub fn keygen(path: impl AsRef<Path>, passphrase: &str) -> Result<Identity, CryptoError> {
    let identity = Identity::random()?;
    write_key_file(&identity, path, passphrase)?;
    Ok(identity)
}

/// Writes `identity` to a new key file at `path`, encrypted with `passphrase` (format version 1).
///
/// # Errors
/// As [`keygen`].
pub fn write_key_file(
    identity: &Identity,
    path: impl AsRef<Path>,
    passphrase: &str,
) -> Result<(), CryptoError> {
    let bytes = encode(identity, passphrase, DEFAULT_COSTS)?;
    write_new_private(path.as_ref(), &bytes)
}

/// Encodes a key file with the given costs.
pub(crate) fn encode(
    identity: &Identity,
    passphrase: &str,
    costs: Costs,
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(FILE_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(KDF_ARGON2ID);
    out.extend_from_slice(&costs.m_kib.to_be_bytes());
    out.extend_from_slice(&costs.t.to_be_bytes());
    out.extend_from_slice(&costs.p.to_be_bytes());
    let mut salt = [0u8; 16];
    fill_random(&mut salt)?;
    out.extend_from_slice(&salt);
    let mut nonce = [0u8; 12];
    fill_random(&mut nonce)?;
    out.extend_from_slice(&nonce);
    let key = derive(passphrase, &salt, costs)?;
    let sealed = Aes256Gcm::new(&key.into())
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &identity.secret_bytes(),
                aad: &out,
            },
        )
        .map_err(|_| CryptoError::MalformedKeyFile)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Reads and decrypts the secret scalar from the key file at `path`.
pub(crate) fn read_key_file(path: &Path, passphrase: &str) -> Result<[u8; 32], CryptoError> {
    let mut bytes = Vec::with_capacity(FILE_LEN);
    // One byte more than a key file holds tells a longer file from a complete one.
    File::open(path)?
        .take(FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)?;
    decode(&bytes, passphrase)
}

/// Decodes a key file's bytes.
pub(crate) fn decode(bytes: &[u8], passphrase: &str) -> Result<[u8; 32], CryptoError> {
    if bytes.get(..8) != Some(MAGIC.as_slice()) {
        return Err(CryptoError::MalformedKeyFile);
    }
    match bytes.get(8) {
        Some(&VERSION) => {}
        Some(&v) => return Err(CryptoError::UnsupportedKeyFileVersion(v)),
        None => return Err(CryptoError::MalformedKeyFile),
    }
    if bytes.len() != FILE_LEN || bytes.get(9) != Some(&KDF_ARGON2ID) {
        return Err(CryptoError::MalformedKeyFile);
    }
    let (header, sealed) = bytes.split_at(HEADER_LEN);
    let u32_at = |at: usize| -> Result<u32, CryptoError> {
        header
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(CryptoError::MalformedKeyFile)
    };
    let costs = Costs {
        m_kib: u32_at(10)?,
        t: u32_at(14)?,
        p: u32_at(18)?,
    };
    if costs.m_kib > MAX_M_COST_KIB || costs.t > MAX_T_COST || costs.p > MAX_P_COST {
        return Err(CryptoError::MalformedKeyFile);
    }
    let salt = header.get(22..38).ok_or(CryptoError::MalformedKeyFile)?;
    let nonce: [u8; 12] = header
        .get(38..50)
        .and_then(|b| b.try_into().ok())
        .ok_or(CryptoError::MalformedKeyFile)?;
    let key = derive(passphrase, salt, costs)?;
    let secret = Aes256Gcm::new(&key.into())
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: sealed,
                aad: header,
            },
        )
        .map_err(|_| CryptoError::WrongPassphrase)?;
    <[u8; 32]>::try_from(secret.as_slice()).map_err(|_| CryptoError::MalformedKeyFile)
}

fn derive(passphrase: &str, salt: &[u8], costs: Costs) -> Result<[u8; 32], CryptoError> {
    let params = Params::new(costs.m_kib, costs.t, costs.p, Some(32))
        .map_err(|_| CryptoError::MalformedKeyFile)?;
    let phrase: String = passphrase.nfkd().collect();
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(phrase.as_bytes(), salt, &mut key)
        .map_err(|_| CryptoError::MalformedKeyFile)?;
    Ok(key)
}

/// Creates `path` (failing if it exists) readable by its owner only, and writes `bytes`.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), CryptoError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Costs = Costs {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[test]
    fn encoded_file_decodes_with_the_right_passphrase_only() {
        let id = Identity::random().unwrap();
        let bytes = encode(&id, "correct horse", CHEAP).unwrap();
        assert_eq!(bytes.len(), FILE_LEN);
        assert_eq!(decode(&bytes, "correct horse").unwrap(), id.secret_bytes());
        assert!(matches!(
            decode(&bytes, "correct horsf"),
            Err(CryptoError::WrongPassphrase)
        ));
    }

    #[test]
    fn altering_any_byte_is_refused() {
        let id = Identity::random().unwrap();
        let bytes = encode(&id, "pw", CHEAP).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            // Byte 11 raises the memory cost by 64 MiB: slow here, and covered by the AAD like
            // its neighbours, which are checked.
            if i == 11 {
                continue;
            }
            assert!(decode(&bad, "pw").is_err(), "byte {i}");
        }
    }

    #[test]
    fn other_versions_and_truncations_are_named() {
        let id = Identity::random().unwrap();
        let mut bytes = encode(&id, "pw", CHEAP).unwrap();
        assert!(matches!(
            decode(&bytes[..FILE_LEN - 1], "pw"),
            Err(CryptoError::MalformedKeyFile)
        ));
        assert!(matches!(
            decode(b"not a key file", "pw"),
            Err(CryptoError::MalformedKeyFile)
        ));
        bytes[8] = 2;
        assert!(matches!(
            decode(&bytes, "pw"),
            Err(CryptoError::UnsupportedKeyFileVersion(2))
        ));
    }

    #[test]
    fn crafted_costs_are_refused_before_allocating() {
        let id = Identity::random().unwrap();
        let mut bytes = encode(&id, "pw", CHEAP).unwrap();
        bytes[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode(&bytes, "pw"),
            Err(CryptoError::MalformedKeyFile)
        ));
    }
}

//! The server's TLS files: a PEM certificate chain, its private key and, for mutual TLS, the CA
//! that client certificates must chain to; loaded into a rustls server configuration.
//!
//! In scope: [`TlsFiles`], [`TlsError`], reading and checking the files (PEM parsing through
//! rustls-pki-types), the rustls configuration the server uses (the `ring` provider, TLS 1.3 and
//! 1.2, ALPN `http/1.1`, client certificates required and verified when a CA file is given).
//! Out of scope: driving TLS on sockets (in `pool::tls`), certificate generation (the binary's
//! `cert` subcommand).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// The files of a TLS server (MicroWebSrv2's `EnableSSL(certFile, keyFile, caFile)`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The PEM certificate chain, the server's certificate first.
    pub cert_file: PathBuf,
    /// The PEM private key of the certificate: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key_file: PathBuf,
    /// PEM certificates of the CA(s) client certificates must chain to. When set, every client
    /// must present a valid certificate (mutual TLS). Default: none (no client certificate).
    pub ca_file: Option<PathBuf>,
}

/// Which of the TLS files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFileKind {
    /// The certificate chain.
    Certificate,
    /// The private key.
    Key,
    /// The CA certificates for client certificates.
    Ca,
}

impl fmt::Display for TlsFileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFileKind::Certificate => "certificate file",
            TlsFileKind::Key => "private key file",
            TlsFileKind::Ca => "CA file",
        })
    }
}

/// A TLS file that could not be used: which file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsError {
    /// Which file.
    pub kind: TlsFileKind,
    /// Its path, as given.
    pub path: PathBuf,
    /// What is wrong, in words.
    pub problem: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.path.display(), self.problem)
    }
}

impl std::error::Error for TlsError {}

impl TlsError {
    fn new(kind: TlsFileKind, path: &Path, problem: impl Into<String>) -> TlsError {
        TlsError {
            kind,
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

impl TlsFiles {
    /// Names a certificate chain and its key (no client certificates).
    #[must_use]
    pub fn new(cert_file: impl AsRef<Path>, key_file: impl AsRef<Path>) -> TlsFiles {
        TlsFiles {
            cert_file: cert_file.as_ref().to_path_buf(),
            key_file: key_file.as_ref().to_path_buf(),
            ca_file: None,
        }
    }

    /// Requires client certificates chaining to the CA(s) in `ca_file` (mutual TLS).
    #[must_use]
    pub fn with_ca_file(mut self, ca_file: impl AsRef<Path>) -> TlsFiles {
        self.ca_file = Some(ca_file.as_ref().to_path_buf());
        self
    }

    /// Reads and checks the files, and builds the rustls configuration: the `ring` provider,
    /// TLS 1.3 and 1.2, ALPN `http/1.1`, and with a CA file client certificates required and
    /// verified (WebPKI).
    ///
    /// # Errors
    ///
    /// [`TlsError`] naming the file and the problem: unreadable, not PEM, holding no certificate
    /// or no key, a key that does not match the certificate, an unusable CA.
    pub fn load(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let chain = read_certs(TlsFileKind::Certificate, &self.cert_file)?;
        let key = read_key(&self.key_file)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::new(TlsFileKind::Certificate, &self.cert_file, e.to_string()))?;
        let builder = match &self.ca_file {
            None => builder.with_no_client_auth(),
            Some(ca_file) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(TlsFileKind::Ca, ca_file)? {
                    roots.add(cert).map_err(|e| {
                        TlsError::new(TlsFileKind::Ca, ca_file, format!("unusable CA: {e}"))
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| {
                            TlsError::new(TlsFileKind::Ca, ca_file, format!("unusable CA: {e}"))
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            let problem = match e {
                rustls::Error::InconsistentKeys(_) => {
                    format!(
                        "the key does not match the certificate in {}",
                        self.cert_file.display()
                    )
                }
                other => format!("unusable key: {other}"),
            };
            TlsError::new(TlsFileKind::Key, &self.key_file, problem)
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_file(kind: TlsFileKind, path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|e| TlsError::new(kind, path, format!("cannot read it: {e}")))
}

fn pem_problem(e: &pem::Error) -> String {
    format!("not valid PEM: {e}")
}

/// Reads every certificate of a PEM file (at least one).
fn read_certs(kind: TlsFileKind, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(kind, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(kind, path, pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            kind,
            path,
            "no certificate in it (expected a PEM \"BEGIN CERTIFICATE\" block)",
        ));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file: PKCS#8, PKCS#1 or SEC1.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let kind = TlsFileKind::Key;
    let bytes = read_file(kind, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::new(
            kind,
            path,
            "no private key in it (expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \
             \"EC PRIVATE KEY\" block)",
        ),
        e => TlsError::new(kind, path, pem_problem(&e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_missing_file_and_the_problem() {
        let files = TlsFiles::new("/nonexistent/cert.pem", "/nonexistent/key.pem");
        let e = files.load().expect_err("missing files");
        assert_eq!(e.kind, TlsFileKind::Certificate);
        let text = e.to_string();
        assert!(
            text.starts_with("certificate file /nonexistent/cert.pem: cannot read it"),
            "{text}"
        );
    }
}

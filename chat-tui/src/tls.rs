//! TLS for `wss://` servers: which certificates the client trusts (the
//! system's roots, or the CA file of `--ca-file`), and a failed handshake
//! told in one line a person can act on instead of a raw rustls error.
//!
//! The system's roots come from `rustls-native-certs` (the same store
//! `curl` and the system's tools use, `SSL_CERT_FILE` included), not from
//! a CA list compiled into the binary: a CA the administrator added is
//! trusted, and a distrusted one is dropped by the next system update.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, PemObject};
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// Where the certificates the client trusts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The operating system's store.
    System,
    /// Only the CA certificates in this file (`--ca-file`).
    CaFile(PathBuf),
}

/// Why no TLS configuration could be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error(
        "no trusted CA certificates found on this system ({0}); pass --ca-file FILE for the server's CA"
    )]
    NoSystemRoots(String),
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The client's TLS configuration for `wss://`, and what it trusts.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    trust: Trust,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

/// Two configurations are the same when they trust the same source: the
/// rest of a configuration follows from it.
impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        self.trust == other.trust
    }
}

impl Eq for ClientTls {}

impl ClientTls {
    /// Trusts the CAs in `ca_file`, or the system's roots without one.
    /// Reads files: call it before the runtime starts.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, TlsSetupError> {
        let (roots, trust) = match ca_file {
            Some(path) => (ca_file_roots(path)?, Trust::CaFile(path.to_path_buf())),
            None => (system_roots()?, Trust::System),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
            trust,
        })
    }

    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// A failed handshake in one line: what is wrong and what to do.
    pub fn describe(&self, error: &rustls::Error) -> String {
        use rustls::Error;
        let certificate = match error {
            Error::InvalidCertificate(certificate) => certificate,
            Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
                return "the server did not answer in TLS (is it a ws:// server?)".to_owned();
            }
            other => return format!("TLS handshake failed: {other}"),
        };
        match (certificate, &self.trust) {
            // A bad signature: a CA of the same name, but not the signer.
            (CertificateError::UnknownIssuer | CertificateError::BadSignature, Trust::System) => {
                "the server's certificate is not signed by a CA this system trusts \
                 (for a private CA pass --ca-file FILE)"
                    .to_owned()
            }
            (
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
                Trust::CaFile(path),
            ) => format!(
                "the server's certificate is not signed by the CA in {}",
                path.display()
            ),
            (
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                _,
            ) => "the server's certificate is not valid for this host name".to_owned(),
            (CertificateError::Expired | CertificateError::ExpiredContext { .. }, _) => {
                "the server's certificate has expired".to_owned()
            }
            (other, _) => format!("the server's certificate was refused ({other:?})"),
        }
    }
}

fn ca_file_roots(path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let failed = |reason: String| TlsSetupError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .map_err(|e| {
            failed(match e {
                pem::Error::Io(e) => e.to_string(),
                other => format!("not valid PEM ({other})"),
            })
        })?;
    if certs.is_empty() {
        return Err(failed("no certificate in it".to_owned()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| failed(format!("not a usable CA certificate ({e})")))?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, TlsSetupError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = match found.errors.first() {
            Some(e) => e.to_string(),
            None => "the store is empty".to_owned(),
        };
        return Err(TlsSetupError::NoSystemRoots(why));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_read_or_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        let e = ClientTls::new(Some(&path)).unwrap_err();
        assert!(e.to_string().starts_with("cannot read CA file "), "{e}");
        assert!(e.to_string().contains("ca.pem"), "{e}");
        std::fs::write(&path, "hello\n").unwrap();
        let e = ClientTls::new(Some(&path)).unwrap_err().to_string();
        assert!(e.ends_with("no certificate in it"), "{e}");

        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(&path, made.cert.pem()).unwrap();
        let tls = ClientTls::new(Some(&path)).unwrap();
        assert_eq!(tls.trust(), &Trust::CaFile(path.clone()));
    }

    #[test]
    fn handshake_failures_read_as_one_actionable_line() {
        let file = ClientTls {
            config: Arc::new(
                ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth(),
            ),
            trust: Trust::CaFile(PathBuf::from("/etc/chat/ca.pem")),
        };
        let system = ClientTls {
            trust: Trust::System,
            ..file.clone()
        };
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            file.describe(&unknown),
            "the server's certificate is not signed by the CA in /etc/chat/ca.pem"
        );
        assert!(system.describe(&unknown).contains("--ca-file"));
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(file.describe(&plain).contains("ws://"));
        for line in [file.describe(&unknown), system.describe(&plain)] {
            assert!(!line.contains('\n'), "{line}");
        }
    }
}

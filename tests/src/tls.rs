//! TLS fixtures: self-signed certificates made with `rcgen` (written to
//! files for `chat-server --tls-cert/--tls-key` and `chat-tui --ca-file`),
//! a rustls client configuration trusting given certificates, and HTTP
//! requests over TLS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::http::{HttpResponse, exchange};

/// Numbers test certificates, so each has a name of its own.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// A self-signed certificate for `127.0.0.1` and `localhost`, and its key.
pub struct TestCertificate {
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate as the server presents it in the handshake.
    pub der: Vec<u8>,
}

impl TestCertificate {
    /// A fresh key pair and certificate, different every call, down to
    /// its name: two certificates of one name would look to a verifier
    /// like one CA with a bad signature rather than an unknown issuer.
    pub fn new() -> Self {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let mut params = rcgen::CertificateParams::new(names).expect("valid subject names");
        let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("chat-e2e test {} #{serial}", std::process::id()),
        );
        let key = rcgen::KeyPair::generate().expect("rcgen makes a key pair");
        let cert = params.self_signed(&key).expect("rcgen signs a certificate");
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// Writes `NAME.crt` and `NAME.key` into `dir`, replacing what is there.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("the certificate file can be written");
        std::fs::write(&key, &self.key_pem).expect("the key file can be written");
        (cert, key)
    }

    /// The server flags that serve this certificate from `dir`.
    pub fn server_args(&self, dir: &Path, name: &str) -> Vec<String> {
        let (cert, key) = self.write(dir, name);
        vec![
            "--tls-cert".to_owned(),
            cert.display().to_string(),
            "--tls-key".to_owned(),
            key.display().to_string(),
        ]
    }
}

impl Default for TestCertificate {
    fn default() -> Self {
        Self::new()
    }
}

/// A client configuration that trusts exactly `trusted`.
pub fn client_config(trusted: &[&TestCertificate]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in trusted {
        roots
            .add(CertificateDer::from(cert.der.clone()))
            .expect("a test certificate is a usable trust anchor");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// `GET path` over TLS to `addr` (verified as `127.0.0.1`), read until the
/// response is complete or the connection ends, all within `limit`.
pub async fn https_get(
    addr: SocketAddr,
    path: &str,
    config: Arc<ClientConfig>,
    limit: Duration,
) -> HttpResponse {
    let deadline = Instant::now() + limit;
    let tcp = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .expect("TCP connect timed out")
        .expect("TCP connect to the server");
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = timeout_at(deadline, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
        .expect("TLS handshake with the server");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: chat-e2e\r\nConnection: close\r\n\r\n"
    );
    exchange(&mut tls, request.as_bytes(), deadline).await
}

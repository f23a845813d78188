//! TLS on the listening port: the certificate chain and key read from PEM
//! files ([`ServerTls`]), re-read on request so a renewed certificate is
//! served without a restart, and the one stream type ([`Stream`]) every
//! connection is served over, plain TCP or TLS.
//!
//! The TLS handshake is not a step of its own: a [`Stream`] made with TLS
//! starts mid-handshake and finishes it on its first read or write, so the
//! listener's existing handshake timeout (around reading the HTTP request
//! head) bounds the TLS handshake too, and `server.rs` does not change shape.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::sync::lock;

/// Why the certificate files cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    HalfGiven(&'static str),
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the TLS key {key} does not fit the certificate {cert}: {source}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The certificate and key files, and the server configuration last read
/// from them, which every new connection's handshake uses.
#[derive(Clone)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    /// Swapped whole on reload; each handshake takes a clone of the `Arc`,
    /// so connections already open keep the configuration they began with.
    /// A std mutex: it is held only to clone or replace the `Arc`.
    current: Arc<Mutex<Arc<ServerConfig>>>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads `cert` (a PEM chain, leaf first) and `key` (a PEM private
    /// key) and checks that they fit together. Blocking file reads: call it
    /// at start-up or off the runtime.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let config = read_config(cert, key)?;
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: Arc::new(Mutex::new(config)),
        })
    }

    /// Re-reads both files; on any error the configuration in use stays.
    /// Blocking file reads: run it off the runtime.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = read_config(&self.cert, &self.key)?;
        *lock(&self.current) = config;
        Ok(())
    }

    /// The certificate file, for log lines.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(lock(&self.current).clone())
    }
}

/// The process's one TLS provider. Named explicitly, so that rustls never
/// has to guess a process default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_chain(cert)?;
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: pem_reason(e, "no private key in it"),
    })?;
    let mismatch = |source| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(mismatch)?;
    // One HTTP/1.1 request per connection, as over plain TCP.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let failed = |reason| TlsError::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| failed(pem_reason(e, "no certificate in it")))?;
    if chain.is_empty() {
        return Err(failed("no certificate in it".to_owned()));
    }
    Ok(chain)
}

/// A PEM error as one short phrase: the OS's words for a file problem.
fn pem_reason(error: pem::Error, none_found: &str) -> String {
    match error {
        pem::Error::Io(e) => e.to_string(),
        pem::Error::NoItemsFound => none_found.to_owned(),
        other => format!("not valid PEM ({other})"),
    }
}

/// A connection's byte stream: plain TCP, or TLS over it. The TLS states
/// are boxed so a plain connection pays only a pointer's width for them.
pub enum Stream {
    Plain(TcpStream),
    /// The TLS handshake, finished by the first read or write.
    Accepting(Box<tokio_rustls::Accept<TcpStream>>),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// `socket` as it is, or starting its TLS handshake when `tls` is set.
    pub fn new(socket: TcpStream, tls: Option<&ServerTls>) -> Self {
        match tls {
            None => Self::Plain(socket),
            Some(tls) => Self::Accepting(Box::new(tls.acceptor().accept(socket))),
        }
    }

    /// The TCP socket under the stream.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(socket) => Some(socket),
            Self::Accepting(accept) => accept.get_ref(),
            Self::Tls(tls) => Some(tls.get_ref().0),
        }
    }

    /// Drives the handshake; `Ready(Ok)` once the stream is plain or TLS.
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Self::Accepting(accept) = self {
            let tls = ready!(Pin::new(&mut **accept).poll(cx))?;
            *self = Self::Tls(Box::new(tls));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_open(cx))?;
        match this {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            Self::Accepting(_) => Poll::Pending,
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_open(cx))?;
        match this {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            Self::Accepting(_) => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_open(cx))?;
        match this {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
            Self::Accepting(_) => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
            Self::Accepting(_) => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_open(cx))?;
        match this {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            Self::Accepting(_) => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            // Nothing was said over TLS yet: closing the socket is all.
            Self::Accepting(_) => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_are_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = ServerTls::load(&missing, &missing).unwrap_err();
        assert!(matches!(e, TlsError::Certificate { .. }), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");
        assert!(e.to_string().contains("No such file"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = ServerTls::load(&empty, &empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot read the TLS certificate {}: no certificate in it",
                empty.display()
            )
        );
    }

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn a_failed_reload_keeps_the_configuration_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "first");
        let tls = ServerTls::load(&cert, &key).unwrap();
        let before = lock(&tls.current).clone();

        let (_, other_key) = write_pair(dir.path(), "second");
        std::fs::copy(&other_key, &key).unwrap();
        let e = tls.reload().unwrap_err();
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        assert!(Arc::ptr_eq(&before, &lock(&tls.current)));

        std::fs::write(&cert, "garbage").unwrap();
        assert!(matches!(tls.reload(), Err(TlsError::Certificate { .. })));
        assert!(Arc::ptr_eq(&before, &lock(&tls.current)));

        let (new_cert, new_key) = write_pair(dir.path(), "third");
        std::fs::copy(&new_cert, &cert).unwrap();
        std::fs::copy(&new_key, &key).unwrap();
        tls.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &lock(&tls.current)));
    }

    #[test]
    fn a_plain_stream_stays_small() {
        // A plain connection must not carry a TLS connection's state inline.
        assert!(
            std::mem::size_of::<Stream>() <= std::mem::size_of::<TcpStream>() + 8,
            "{} bytes",
            std::mem::size_of::<Stream>()
        );
    }
}

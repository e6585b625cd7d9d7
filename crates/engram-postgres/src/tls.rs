//! TLS to Postgres with rustls, as the URL's `sslmode` says (libpq's
//! meaning): `disable` (never), `prefer` (TLS when the server offers it,
//! unverified; the default), `require` (TLS, unverified), `verify-ca` (the
//! chain checked against `sslrootcert`, or the system's roots), and
//! `verify-full` (the chain and the host name). tokio-postgres knows only
//! the first three: the verifying modes are read here and handed to it as
//! `require`, with a verifier that does the checking.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use engram_domain::error::{Error, Result};
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// What the server's certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Nothing (`prefer`, `require`): encrypted, not authenticated.
    Nothing,
    /// The chain (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// The URL tokio-postgres gets, and how its TLS is to be verified.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub url: String,
    pub verify: Verify,
    pub root_cert: Option<PathBuf>,
}

/// Reads `sslmode` and `sslrootcert` from a URL (`postgres://…?sslmode=…`)
/// or a key/value string (`host=… sslmode=…`).
pub(crate) fn settings(url: &str) -> Settings {
    let mut verify = Verify::Nothing;
    let mut root_cert = None;
    let mut keep = |key: &str, value: &str| -> Option<String> {
        match (key, value) {
            ("sslmode", "verify-ca") => {
                verify = Verify::Chain;
                Some("require".into())
            }
            ("sslmode", "verify-full") => {
                verify = Verify::Full;
                Some("require".into())
            }
            ("sslrootcert", path) => {
                root_cert = Some(PathBuf::from(path));
                None
            }
            _ => Some(value.to_owned()),
        }
    };
    let url = if let Some((base, query)) = url.split_once('?') {
        let params: Vec<String> = query
            .split('&')
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                keep(key, value).map(|v| format!("{key}={v}"))
            })
            .collect();
        if params.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", params.join("&"))
        }
    } else if url.contains("://") {
        url.to_owned()
    } else {
        url.split_whitespace()
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                keep(key, value).map(|v| format!("{key}={v}"))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    Settings {
        url,
        verify,
        root_cert,
    }
}

/// The connector for `settings`.
pub(crate) fn connector(settings: &Settings) -> Result<RustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &settings.root_cert {
        Some(path) => {
            for cert in certificates(path)? {
                roots.add(cert).map_err(|e| {
                    Error::invalid(
                        "postgres_url",
                        format!("sslrootcert {}: {e}", path.display()),
                    )
                })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let verifier: Arc<dyn ServerCertVerifier> = match settings.verify {
        Verify::Nothing => Arc::new(Unverified(provider.clone())),
        Verify::Chain | Verify::Full => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| {
                        Error::invalid(
                            "postgres_url",
                            format!(
                                "sslmode={:?} needs CA certificates (sslrootcert): {e}",
                                settings.verify
                            ),
                        )
                    })?;
            Arc::new(Checked {
                webpki,
                names: settings.verify == Verify::Full,
            })
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("postgres_url", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(RustlsConnect(Arc::new(config)))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |e: String| {
        Error::invalid(
            "postgres_url",
            format!("sslrootcert {}: {e}", path.display()),
        )
    };
    CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))
}

/// `prefer` and `require`: any certificate (libpq checks none either).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (the chain only) and `verify-full` (and the name).
#[derive(Debug)]
struct Checked {
    webpki: Arc<WebPkiServerVerifier>,
    names: bool,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// tokio-postgres's TLS over rustls.
#[derive(Debug, Clone)]
pub(crate) struct RustlsConnect(Arc<rustls::ClientConfig>);

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsHandshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsHandshake> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsHandshake {
            config: self.0.clone(),
            name,
        })
    }
}

/// One handshake.
#[derive(Debug)]
pub(crate) struct RustlsHandshake {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsHandshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(RustlsStream(tls))
        })
    }
}

/// A TLS session with Postgres.
#[derive(Debug)]
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_from_urls_and_key_values() {
        let s = settings(
            "postgres://u@db:5432/x?sslmode=verify-full&sslrootcert=/ca.pem&application_name=e",
        );
        assert_eq!(
            s.url,
            "postgres://u@db:5432/x?sslmode=require&application_name=e"
        );
        assert_eq!(s.verify, Verify::Full);
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/ca.pem")));
        let s = settings("host=db sslmode=verify-ca user=u");
        assert_eq!(s.url, "host=db sslmode=require user=u");
        assert_eq!(s.verify, Verify::Chain);
        let s = settings("postgres://u@db/x?sslmode=disable");
        assert_eq!(
            (s.url.as_str(), s.verify),
            ("postgres://u@db/x?sslmode=disable", Verify::Nothing)
        );
        assert_eq!(settings("postgres://u@db/x").url, "postgres://u@db/x");
    }
}

//! The webhook over real TLS: an AdmissionReview POSTed over HTTPS gets
//! its answer, and a certificate rotated on disk (as cert-manager does) is
//! the one served from the next handshake on, without a restart. The
//! client pins the certificate it expects, so the test sees which one the
//! server presented.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engram_injector::Defaults;
use engram_injector::server::{Config, serve_on};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Accepts exactly one certificate.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A new self-signed certificate for `localhost`, written to `dir`; its
/// DER.
fn issue(dir: &Path) -> CertificateDer<'static> {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    // Written whole then renamed, as a rotation replaces a file.
    for (name, pem) in [
        ("tls.crt", issued.cert.pem()),
        ("tls.key", issued.signing_key.serialize_pem()),
    ] {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, pem).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
    issued.cert.der().clone()
}

/// One HTTPS request, pinning `cert`: the status and the body, or the TLS
/// error.
async fn request(
    port: u16,
    cert: &CertificateDer<'static>,
    head: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            cert: cert.clone(),
            provider,
        }))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{head} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let text = String::from_utf8_lossy(&reply);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let start = text.find("\r\n\r\n").expect("headers end") + 4;
    Ok((status, reply[start..].to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_answers_over_tls_and_serves_a_rotated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let first = issue(dir.path());
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let defaults: Defaults =
        serde_json::from_slice(&std::fs::read(here.join("defaults.json")).unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = Config {
        listen: listener.local_addr().unwrap(),
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
        defaults,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_on(listener, config, async {
        let _ = stopped.await;
    }));

    let fixture = std::fs::read(here.join("fixtures/annotated.json")).unwrap();
    let (status, body) = request(port, &first, "POST /mutate", &fixture)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let sent: Value = serde_json::from_slice(&fixture).unwrap();
    assert_eq!(answer["response"]["uid"], sent["request"]["uid"]);
    assert_eq!(answer["response"]["patchType"], "JSONPatch");
    let (status, body) = request(port, &first, "GET /healthz", b"").await.unwrap();
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    let (status, _) = request(port, &first, "POST /mutate", b"{}").await.unwrap();
    assert_eq!(status, 400, "no AdmissionReview");
    let (status, _) = request(port, &first, "GET /mutate", b"").await.unwrap();
    assert_eq!(status, 405);

    // Rotated on disk: the next handshakes present the new certificate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = issue(dir.path());
    assert_ne!(first, second);
    let mut served = None;
    for _ in 0..50 {
        if let Ok(reply) = request(port, &second, "GET /healthz", b"").await {
            served = Some(reply.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served, Some(200), "the rotated certificate is served");
    assert!(
        request(port, &first, "GET /healthz", b"").await.is_err(),
        "the old one no longer"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

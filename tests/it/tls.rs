//! TLS and mTLS on the gRPC listener (rustls): a Rust client, `buf curl`
//! and the Python client (grpcio) reach engram over TLS; under mTLS a
//! client without a certificate, or with one another CA signed, is refused.
//! Plaintext on an address other hosts reach is refused at start unless
//! `--allow-plaintext`. Certificates are made by the test (rcgen). The buf
//! and Python parts use the test virtualenv (`ENGRAM_TEST_VENV`, else
//! target/venv) and say they were skipped without it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use engram::pb;
use engram::pb::compliance_service_client::ComplianceServiceClient;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio_rustls::rustls;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A CA, and certificates it signs, written as PEM files in `dir`.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Self {
        let pki = Self {
            dir: dir.to_owned(),
        };
        let ca = pki.ca("ca");
        pki.leaf(&ca, "server", &["localhost", "127.0.0.1"], None);
        pki.leaf(&ca, "client", &[], Some("agent-1"));
        pki.leaf(&ca, "dpo", &["dpo.ops.example"], Some("dpo"));
        let rogue = pki.ca("rogue-ca");
        pki.leaf(&rogue, "rogue", &[], Some("intruder"));
        pki
    }

    fn ca(&self, name: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("engram test {name}"));
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(self.path(&format!("{name}.pem")), ca.pem()).unwrap();
        ca
    }

    fn leaf(&self, ca: &CertifiedIssuer<'_, KeyPair>, name: &str, sans: &[&str], cn: Option<&str>) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        let cert = params.signed_by(&key, ca).unwrap();
        std::fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// engram started with `flags`; its port, once it logs it.
fn start(data: &Path, flags: &[String]) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["serve", "--log-format", "json", "--data-dir"])
        .arg(data)
        .args(flags)
        // A `--listen` among `flags` wins.
        .env("ENGRAM_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == "listening"
            {
                let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("engram logs its address");
    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
    (child, port)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A health check over TLS trusting `ca`, with a client certificate when
/// given: the status, or why the call failed.
async fn check(port: u16, ca: &Path, client: Option<(&Path, &Path)>) -> Result<i32, String> {
    let reply = HealthClient::new(channel(port, ca, client).await?)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(reply.into_inner().status)
}

/// A channel over TLS trusting `ca`, with a client certificate when given.
async fn channel(
    port: u16,
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<tonic::transport::Channel, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
                let tls = connector
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| format!("{e:?}"))
}

fn venv() -> Option<PathBuf> {
    let venv = std::env::var_os("ENGRAM_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv"));
    let venv = if venv.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(venv)
    } else {
        venv
    };
    venv.join("bin/python").exists().then_some(venv)
}

const PYTHON_CHECK: &str = r#"
import sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
port, ca = sys.argv[1], open(sys.argv[2], "rb").read()
key = open(sys.argv[4], "rb").read() if len(sys.argv) > 4 else None
chain = open(sys.argv[3], "rb").read() if len(sys.argv) > 4 else None
creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=chain)
with grpc.secure_channel(f"localhost:{port}", creds) as ch:
    status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status
    print(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reach_engram_over_tls_and_mtls_refuses_a_stranger() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("server.pem"),
        pki.path("server.key"),
    );
    let tls_flags = |mtls: bool| {
        let mut f = vec![
            "--tls-cert".to_owned(),
            cert.display().to_string(),
            "--tls-key".to_owned(),
            key.display().to_string(),
        ];
        if mtls {
            f.extend([
                "--tls-client-ca".to_owned(),
                ca.display().to_string(),
                "--admin-identity".to_owned(),
                "dpo:stats+audit:dpo.ops.example".to_owned(),
            ]);
        }
        f
    };
    let venv = venv();

    // TLS: the Rust client, buf curl and grpcio.
    let (child, port) = start(&dir.path().join("data-tls"), &tls_flags(false));
    let mut status = Err(String::new());
    for _ in 0..100 {
        status = check(port, &ca, None).await;
        if status == Ok(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, Ok(1), "SERVING over TLS");
    let plain = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let refused = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await;
        assert!(refused.is_err(), "no plaintext on a TLS listener");
    }
    match &venv {
        Some(venv) => {
            let listed = Command::new(venv.join("bin/buf"))
                .args(["curl", "--protocol", "grpc", "--cacert"])
                .arg(&ca)
                .args(["--list-services", &format!("https://localhost:{port}")])
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&listed.stdout);
            assert!(
                listed.status.success() && out.contains("engram.v1.MemoryService"),
                "{out}{}",
                String::from_utf8_lossy(&listed.stderr)
            );
            let python = Command::new(venv.join("bin/python"))
                .args(["-c", PYTHON_CHECK, &port.to_string()])
                .arg(&ca)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&python.stdout).trim(),
                "SERVING",
                "{}",
                String::from_utf8_lossy(&python.stderr)
            );
        }
        None => eprintln!("SKIPPED: buf curl and grpcio over TLS (no test virtualenv)"),
    }
    stop(child);

    // mTLS: a client the CA signed gets in; none, or a stranger, does not.
    let (child, port) = start(&dir.path().join("data-mtls"), &tls_flags(true));
    let client = (pki.path("client.pem"), pki.path("client.key"));
    let mut status = Err(String::new());
    for _ in 0..100 {
        status = check(port, &ca, Some((&client.0, &client.1))).await;
        if status == Ok(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, Ok(1), "SERVING over mTLS");
    assert!(
        check(port, &ca, None).await.is_err(),
        "no certificate: refused"
    );
    let rogue = (pki.path("rogue.pem"), pki.path("rogue.key"));
    assert!(
        check(port, &ca, Some((&rogue.0, &rogue.1))).await.is_err(),
        "another CA's certificate: refused"
    );
    // An administrative call authorised by a certificate, and audited; a
    // certificate no identity names is refused, audited too.
    let dpo = (pki.path("dpo.pem"), pki.path("dpo.key"));
    let mut admin =
        ComplianceServiceClient::new(channel(port, &ca, Some((&dpo.0, &dpo.1))).await.unwrap());
    let audited = |admin: &mut ComplianceServiceClient<tonic::transport::Channel>| {
        let mut admin = admin.clone();
        async move {
            admin
                .verify_audit_log(pb::VerifyAuditLogRequest {
                    tenant_id: "clinic".into(),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let before = audited(&mut admin).await;
    admin
        .get_memory_stats(pb::GetMemoryStatsRequest {
            tenant_id: "clinic".into(),
            max_users: 0,
        })
        .await
        .expect("the dpo identity may read stats");
    let mut stranger = ComplianceServiceClient::new(
        channel(port, &ca, Some((&client.0, &client.1)))
            .await
            .unwrap(),
    );
    let refused = stranger
        .get_memory_stats(pb::GetMemoryStatsRequest {
            tenant_id: "clinic".into(),
            max_users: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let after = audited(&mut admin).await;
    assert!(after.valid);
    assert!(after.entries >= before.entries + 2, "{before:?} {after:?}");
    if let Some(venv) = &venv {
        let listed = Command::new(venv.join("bin/buf"))
            .args(["curl", "--protocol", "grpc", "--cacert"])
            .arg(&ca)
            .arg("--cert")
            .arg(&client.0)
            .arg("--key")
            .arg(&client.1)
            .args(["--list-services", &format!("https://localhost:{port}")])
            .output()
            .unwrap();
        assert!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let python = Command::new(venv.join("bin/python"))
            .args(["-c", PYTHON_CHECK, &port.to_string()])
            .arg(&ca)
            .arg(&client.0)
            .arg(&client.1)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), "SERVING");
        let anonymous = Command::new(venv.join("bin/python"))
            .args(["-c", PYTHON_CHECK, &port.to_string()])
            .arg(&ca)
            .output()
            .unwrap();
        assert!(
            !anonymous.status.success(),
            "grpcio without a certificate: refused"
        );
    }
    stop(child);
}

#[test]
fn plaintext_where_other_hosts_reach_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("refusing to serve plaintext"), "{said}");

    let (child, _) = start(
        dir.path(),
        &[
            "--allow-plaintext".to_owned(),
            "--listen".to_owned(),
            "0.0.0.0:0".to_owned(),
        ],
    );
    stop(child);
}

/// The hot tier over TLS: a Redis that also listens with TLS (its
/// certificate signed by the test's CA), reached by `rediss://`: the
/// window lands in it and is read from it; with another CA trusted, no
/// TLS session: nothing reaches Redis, the window comes from Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_with_the_ca_and_not_without() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let redis = engram_testrig::RedisServer::start_with_tls(
        &std::fs::read_to_string(pki.path("server.pem")).unwrap(),
        &std::fs::read_to_string(pki.path("server.key")).unwrap(),
    );
    let tls_port = redis.tls_port().unwrap();
    let db = engram_testrig::PgDatabase::create();
    for (ca, cached) in [
        (pki.path("ca.pem"), true),
        (pki.path("rogue-ca.pem"), false),
    ] {
        let prefix = engram_testrig::unique_prefix();
        let metrics_port = engram_testrig::free_port();
        let flags = [
            "--postgres-url".to_owned(),
            db.url.clone(),
            "--redis-url".to_owned(),
            format!("rediss://127.0.0.1:{tls_port}"),
            "--redis-tls-ca".to_owned(),
            ca.display().to_string(),
            "--redis-prefix".to_owned(),
            prefix.clone(),
            "--metrics-listen".to_owned(),
            format!("127.0.0.1:{metrics_port}"),
        ];
        let (child, port) = start(&dir.path().join(&prefix), &flags);
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut memory = pb::memory_service_client::MemoryServiceClient::new(channel);
        memory
            .append_messages(pb::AppendMessagesRequest {
                tenant_id: "clinic".into(),
                conversation_id: "c1".into(),
                user_id: "ana".into(),
                messages: vec![pb::NewMessage {
                    role: pb::Role::User as i32,
                    content: "oi".into(),
                    ..Default::default()
                }],
            })
            .await
            .unwrap();
        let compose = || {
            let mut memory = memory.clone();
            async move {
                memory
                    .compose_context(pb::ComposeContextRequest {
                        tenant_id: "clinic".into(),
                        conversation_id: "c1".into(),
                        user_id: "ana".into(),
                        input: "tudo bem?".into(),
                        token_budget: 300,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        // The first read misses and repairs the hot tier in the background;
        // the second finds it there (when it can be reached).
        compose().await;
        let keys = || {
            redis
                .cli(&["--scan", "--pattern", &format!("{prefix}*")])
                .unwrap_or_default()
        };
        if cached {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while keys().trim().is_empty() && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let composed = compose().await;
        let keys = keys();
        // The window came from the hot tier, or (another CA: no TLS
        // session, nothing reaches Redis) from Postgres after a failed read.
        let metrics = crate::common::scrape(metrics_port);
        let hot = |result: &str| {
            metrics.lines().any(|l| {
                l.starts_with("engram_tier_reads_total{")
                    && l.contains("tier=\"hot\"")
                    && l.contains("what=\"recent\"")
                    && l.contains(&format!("result=\"{result}\""))
            })
        };
        assert!(
            composed.text.contains("oi"),
            "the window is served either way"
        );
        if cached {
            assert!(!keys.trim().is_empty(), "the hot tier holds the window");
            assert!(hot("hit"), "{metrics}");
        } else {
            assert!(keys.trim().is_empty(), "{keys}");
            assert!(hot("error") && !hot("hit"), "{metrics}");
        }
        stop(child);
    }
}

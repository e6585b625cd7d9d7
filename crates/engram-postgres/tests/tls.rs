//! The cold store over TLS to a private Postgres that accepts TLS only
//! (`hostssl`, a certificate made by the test for 127.0.0.1), each
//! `sslmode` with libpq's meaning: `disable` is refused by the server;
//! `require` encrypts without checking; `verify-ca` checks the chain
//! (another CA is refused); `verify-full` also the host name (`localhost`
//! is not in the certificate: refused).

use std::time::Duration;

use engram_domain::ports::ColdStore;
use engram_postgres::{PostgresColdStore, PostgresConfig};
use engram_testrig::PrivatePostgres;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

async fn answers(url: String) -> Result<(), String> {
    let store = PostgresColdStore::new(&PostgresConfig {
        url,
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
    })
    .map_err(|e| e.to_string())?;
    store.ping().await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_means_what_libpq_says() {
    let authority = ca();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &authority)
        .unwrap();
    let pg = PrivatePostgres::start_with_tls(&cert.pem(), &key.serialize_pem());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ca.pem");
    std::fs::write(&root, authority.pem()).unwrap();
    let stranger = dir.path().join("other-ca.pem");
    std::fs::write(&stranger, ca().pem()).unwrap();
    let url = |host: &str, query: &str| {
        format!("postgres://postgres@{host}:{}/postgres?{query}", pg.port)
    };
    let root = root.display().to_string();

    let full = url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    answers(full).await.expect("verify-full with the CA");
    answers(url("127.0.0.1", "sslmode=require"))
        .await
        .expect("require: encrypted, unchecked");
    answers(url(
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={root}"),
    ))
    .await
    .expect("verify-ca: the chain, not the name");

    assert!(
        answers(url("127.0.0.1", "sslmode=disable")).await.is_err(),
        "the server takes TLS only"
    );
    let other = stranger.display();
    assert!(
        answers(url(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={other}")
        ))
        .await
        .is_err(),
        "another CA's chain is refused"
    );
    assert!(
        answers(url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={root}")
        ))
        .await
        .is_err(),
        "a name the certificate does not hold is refused"
    );
}

//! Encryption at rest through the real binary: what Postgres, Redis and the
//! embedded store hold is read directly and holds no plaintext, while the
//! API answers in the clear; master keys rotate across restarts; erasure
//! shreds the user's key.

use std::path::Path;
use std::time::Duration;

use crate::common::{Sidecar, admin, current_facts, eventually, indexed, pg_dump, redis_dump};
use engram::pb;
use engram_testrig::{PgDatabase, RedisServer, unique_prefix};

const TENANT: &str = "clinic";
const CPF: &str = "529.982.247-25";
const PHONE: &str = "11999998888";
/// Words of the conversation no store may hold in the clear.
const SECRETS: [&str; 6] = [
    CPF,
    PHONE,
    "penicilina",
    "Ferreira",
    "amoxicilina",
    "retorno",
];

const K1: &str = "k1:0101010101010101010101010101010101010101010101010101010101010101";
const K2: &str = "k2:0202020202020202020202020202020202020202020202020202020202020202";

fn keys(specs: &[&str]) -> Vec<String> {
    specs
        .iter()
        .flat_map(|k| ["--encryption-key".to_owned(), (*k).to_owned()])
        .collect()
}

fn turn(role: pb::Role, content: &str) -> pb::NewMessage {
    pb::NewMessage {
        role: role as i32,
        content: content.into(),
        ..Default::default()
    }
}

/// Alice's conversation, facts and a handover with notes: every kind of
/// text that is sealed.
async fn fill(sidecar: &Sidecar) {
    sidecar
        .memory()
        .append_messages(pb::AppendMessagesRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            user_id: "alice".into(),
            messages: vec![
                turn(
                    pb::Role::User,
                    &format!("Meu nome é Alice Ferreira, CPF {CPF}."),
                ),
                turn(pb::Role::Assistant, "Obrigado! Como posso ajudar?"),
                turn(pb::Role::User, "Tenho alergia a penicilina."),
                turn(pb::Role::Assistant, "Anotado: alergia a penicilina."),
            ],
        })
        .await
        .unwrap();
    sidecar
        .facts()
        .put_facts(pb::PutFactsRequest {
            tenant_id: TENANT.into(),
            user_id: "alice".into(),
            facts: vec![pb::FactInput {
                key: "phone".into(),
                value_json: format!("\"{PHONE}\""),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    let mut handover = sidecar.handover();
    let started = handover
        .start_handover(pb::StartHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            operator_id: "op-1".into(),
            reason: "Ferreira pediu amoxicilina".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .handover
        .unwrap();
    handover
        .end_handover(pb::EndHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            handover_id: started.handover_id,
            resolution_status: pb::ResolutionStatus::Resolved as i32,
            notes: "Marcado retorno; ligar para 11999998888".into(),
        })
        .await
        .unwrap();
}

fn recent_c1() -> pb::GetRecentRequest {
    pb::GetRecentRequest {
        tenant_id: TENANT.into(),
        conversation_id: "c1".into(),
        limit: 10,
    }
}

/// Reads everything back through the API and checks it is plaintext.
async fn read_back(sidecar: &Sidecar) {
    let recent = sidecar
        .memory()
        .get_recent(recent_c1())
        .await
        .unwrap()
        .into_inner();
    let contents: Vec<&str> = recent.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        [
            format!("Meu nome é Alice Ferreira, CPF {CPF}.").as_str(),
            "Obrigado! Como posso ajudar?",
            "Tenho alergia a penicilina.",
            "Anotado: alergia a penicilina.",
        ]
    );
    let facts = current_facts(sidecar, TENANT, "alice").await;
    assert_eq!(facts.len(), 1);
    assert_eq!(facts[0].value_json, format!("\"{PHONE}\""));

    // Lexical search finds exact (folded) terms of sealed messages.
    let hits = sidecar
        .memory()
        .search(pb::SearchRequest {
            tenant_id: TENANT.into(),
            user_id: "alice".into(),
            query: "PENICILINA".into(),
            mode: pb::SearchMode::Lexical as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    let found: Vec<&str> = hits
        .iter()
        .map(|h| h.message.as_ref().unwrap().content.as_str())
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|c| c.contains("penicilina")));

    let handover = eventually("the handover summary", Duration::from_secs(60), || async {
        let state = sidecar
            .handover()
            .get_handover(pb::GetHandoverRequest {
                tenant_id: TENANT.into(),
                conversation_id: "c1".into(),
            })
            .await
            .ok()?
            .into_inner()
            .handover?;
        (state.summary_job_status == pb::SummaryJobStatus::Done as i32).then_some(state)
    })
    .await;
    assert_eq!(handover.reason, "Ferreira pediu amoxicilina");
    let summary = handover.summary.unwrap();
    assert!(
        summary.ai_resumption_context.contains("retorno"),
        "{}",
        summary.ai_resumption_context
    );

    // The composed context (summary, facts, history) is plaintext too.
    let composed = sidecar
        .memory()
        .compose_context(pb::ComposeContextRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            user_id: "alice".into(),
            input: "Qual é a minha alergia?".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(composed.text.contains("penicilina"), "{}", composed.text);
    assert!(composed.text.contains(PHONE), "{}", composed.text);
}

fn assert_sealed(rows: &[String], store: &str) {
    for secret in SECRETS {
        for row in rows {
            if let Some(at) = row.find(secret) {
                // Where, without printing a whole file.
                let from = row.floor_char_boundary(at.saturating_sub(60));
                let around: String = row[from..].chars().take(140).collect();
                panic!("{secret} in the clear in {store}: …{around:?}…");
            }
        }
    }
}

/// The master key ids the tenant's data keys are wrapped by, by subject.
fn wrapped_by(db: &PgDatabase) -> Vec<(String, String)> {
    db.query(&format!(
        "SELECT subject, master_id FROM \"t_{TENANT}\".data_keys ORDER BY subject"
    ))
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
    .collect()
}

fn pg_flags(db: &PgDatabase, redis: &RedisServer, prefix: &str, extra: &[String]) -> Vec<String> {
    let mut flags = vec![
        "--postgres-url".to_owned(),
        db.url.clone(),
        "--redis-url".to_owned(),
        redis.url(),
        "--redis-prefix".to_owned(),
        prefix.to_owned(),
        "--summary-every".to_owned(),
        "2".to_owned(),
    ];
    flags.extend_from_slice(extra);
    flags
}

/// A database, a Redis server, a key prefix and a data directory of
/// one test.
fn stores() -> (PgDatabase, RedisServer, String, tempfile::TempDir) {
    (
        PgDatabase::create(),
        RedisServer::start(),
        unique_prefix(),
        tempfile::tempdir().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_redis_hold_no_plaintext_keys_rotate_and_erasure_shreds() {
    let (db, redis, prefix, dir) = stores();

    let sidecar =
        Sidecar::start_with(dir.path(), &pg_flags(&db, &redis, &prefix, &keys(&[K1]))).await;
    fill(&sidecar).await;
    indexed(&sidecar, TENANT).await;
    // Twice: the second reads come from Redis (and the near-cache).
    read_back(&sidecar).await;
    read_back(&sidecar).await;

    let rows = pg_dump(&db, TENANT);
    assert!(
        rows.iter().any(|r| r.starts_with("summaries:")),
        "a running summary is stored"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("messages:") && r.contains("enc1:")),
        "messages are sealed"
    );
    assert_sealed(&rows, "Postgres");
    let cached = redis_dump(redis.port, &prefix);
    assert!(
        cached.iter().any(|(_, v)| v.contains("enc1:")),
        "Redis holds sealed copies: {cached:?}"
    );
    let cached: Vec<String> = cached
        .into_iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    assert_sealed(&cached, "Redis");
    // One key for alice, one for the tenant's search terms.
    assert_eq!(
        wrapped_by(&db),
        [("".into(), "k1".into()), ("alice".into(), "k1".into())]
    );
    sidecar.stop().await;

    // Rotation: k2 first, k1 still there to unwrap; the keys are re-wrapped
    // by k2 as they are loaded.
    let sidecar = Sidecar::start_with(
        dir.path(),
        &pg_flags(&db, &redis, &prefix, &keys(&[K2, K1])),
    )
    .await;
    read_back(&sidecar).await;
    assert_eq!(
        wrapped_by(&db),
        [("".into(), "k2".into()), ("alice".into(), "k2".into())]
    );
    sidecar.stop().await;

    // k1 gone: everything still reads.
    let sidecar =
        Sidecar::start_with(dir.path(), &pg_flags(&db, &redis, &prefix, &keys(&[K2]))).await;
    read_back(&sidecar).await;

    // Erasure deletes alice's key with her data; the tenant's stays.
    let report = sidecar
        .compliance()
        .erase_subject(admin(pb::EraseSubjectRequest {
            tenant_id: TENANT.into(),
            user_id: "alice".into(),
            reason: "LGPD art. 18 VI request".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(report.tiers.iter().all(|t| t.verified), "{report:?}");
    assert_eq!(wrapped_by(&db), [("".into(), "k2".into())]);
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_key_sealed_data_is_refused_not_served() {
    let (db, redis, prefix, dir) = stores();
    let sidecar =
        Sidecar::start_with(dir.path(), &pg_flags(&db, &redis, &prefix, &keys(&[K1]))).await;
    fill(&sidecar).await;
    sidecar.stop().await;

    // No key at all: FAILED_PRECONDITION, never ciphertext as if it were
    // the conversation.
    let sidecar = Sidecar::start_with(
        dir.path(),
        &pg_flags(&db, &redis, &prefix, &["--no-cache".to_owned()]),
    )
    .await;
    let status = sidecar.memory().get_recent(recent_c1()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    sidecar.stop().await;

    // Only another master key: the data keys do not unwrap.
    let sidecar = Sidecar::start_with(
        dir.path(),
        &pg_flags(
            &db,
            &redis,
            &prefix,
            &[
                "--no-cache".to_owned(),
                "--encryption-key".to_owned(),
                K2.to_owned(),
            ],
        ),
    )
    .await;
    let status = sidecar
        .facts()
        .get_facts(pb::GetFactsRequest {
            tenant_id: TENANT.into(),
            user_id: "alice".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("k1"), "{status:?}");
    assert!(!status.message().contains(PHONE), "{status:?}");
    sidecar.stop().await;
}

/// Every file under `dir`, as lossy text.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push(format!(
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&bytes)
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [keys(&[K1]), vec!["--summary-every".into(), "2".into()]].concat();
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    fill(&sidecar).await;
    indexed(&sidecar, TENANT).await;
    read_back(&sidecar).await;
    sidecar.stop().await;
    assert_sealed(&files(dir.path()), "the data directory");

    // After a restart (nothing cached) it all reads back.
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    read_back(&sidecar).await;
    sidecar.stop().await;
}

//! Data-subject rights, retention, the audit log and admin authorization
//! through the real binary: on the embedded default, and on Postgres and
//! Redis with two sidecars, reading the stores directly afterwards.
//! Long: one test per right and per backend, each reading the stores.

use crate::common::{
    ADMIN_TOKEN, Sidecar, admin, current_facts, indexed, pg_dump, redis_dump, with_token,
};
use engram::pb;
use engram_testrig::{PgDatabase, RedisServer, unique_prefix};
use tonic::Code;

const TENANT: &str = "clinic";
const CPF: &str = "529.982.247-25";

fn append(user: &str, conversation: &str, contents: &[&str]) -> pb::AppendMessagesRequest {
    pb::AppendMessagesRequest {
        tenant_id: TENANT.into(),
        conversation_id: conversation.into(),
        user_id: user.into(),
        messages: contents
            .iter()
            .map(|c| pb::NewMessage {
                role: pb::Role::User as i32,
                content: (*c).into(),
                ..Default::default()
            })
            .collect(),
    }
}

fn put_phone(user: &str, phone: &str) -> pb::PutFactsRequest {
    pb::PutFactsRequest {
        tenant_id: TENANT.into(),
        user_id: user.into(),
        facts: vec![pb::FactInput {
            key: "phone".into(),
            value_json: format!("\"{phone}\""),
            ..Default::default()
        }],
    }
}

fn erase(user: &str) -> pb::EraseSubjectRequest {
    pb::EraseSubjectRequest {
        tenant_id: TENANT.into(),
        user_id: user.into(),
        reason: "LGPD art. 18 VI request".into(),
    }
}

fn export(user: &str) -> pb::ExportSubjectDataRequest {
    pb::ExportSubjectDataRequest {
        tenant_id: TENANT.into(),
        user_id: user.into(),
        reason: "LGPD art. 18 II request".into(),
    }
}

fn verify() -> pb::VerifyAuditLogRequest {
    pb::VerifyAuditLogRequest {
        tenant_id: TENANT.into(),
    }
}

/// Fills a user's memory: two conversations with a CPF, facts with
/// history.
async fn fill(sidecar: &Sidecar, user: &str) {
    let mut memory = sidecar.memory();
    for c in ["c1", "c2"] {
        let conversation = format!("{user}-{c}");
        memory
            .append_messages(append(
                user,
                &conversation,
                &[&format!("meu CPF é {CPF}"), "tenho dor no dente"],
            ))
            .await
            .unwrap();
    }
    // Alice's numbers are hers alone: the residue checks look for them.
    let phones = match user {
        "alice" => ["11999998888", "11999997777"],
        _ => ["21988886666", "21988885555"],
    };
    let mut facts = sidecar.facts();
    for phone in phones {
        facts.put_facts(put_phone(user, phone)).await.unwrap();
    }
}

async fn exported(sidecar: &Sidecar, user: &str) -> Vec<(String, String)> {
    let mut stream = sidecar
        .compliance()
        .export_subject_data(admin(export(user)))
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(record) = stream.message().await.unwrap() {
        out.push((record.kind, record.json));
    }
    out
}

fn count(records: &[(String, String)], kind: &str) -> usize {
    records.iter().filter(|(k, _)| k == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_need_a_scoped_token_and_refusals_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let hash = engram::admin::token_hash;
    let flags = [
        "--admin-token".to_owned(),
        format!("ops:stats:{}", hash("ops-token")),
        "--admin-token".to_owned(),
        format!("dpo:all:{}", hash("dpo-token")),
    ];
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    let mut client = sidecar.compliance();

    let status = client.erase_subject(erase("alice")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client
        .erase_subject(with_token(erase("alice"), "guess"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client
        .erase_subject(with_token(erase("alice"), "ops-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // The suite's default token is not configured on this sidecar.
    let status = client
        .verify_audit_log(with_token(verify(), ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    client
        .get_memory_stats(with_token(
            pb::GetMemoryStatsRequest {
                tenant_id: TENANT.into(),
                max_users: 0,
            },
            "ops-token",
        ))
        .await
        .unwrap();
    let status = client
        .get_memory_stats(pb::GetMemoryStatsRequest {
            tenant_id: TENANT.into(),
            max_users: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // Every refusal and the granted call are in the log, which verifies.
    let v = client
        .verify_audit_log(with_token(verify(), "dpo-token"))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid);
    assert_eq!(v.entries, 6);
    // The refusals about alice are part of her export, by pseudonym.
    let mut stream = client
        .export_subject_data(with_token(export("alice"), "dpo-token"))
        .await
        .unwrap()
        .into_inner();
    let mut audit = Vec::new();
    while let Some(r) = stream.message().await.unwrap() {
        assert_eq!(r.kind, "audit");
        audit.push(serde_json::from_str::<serde_json::Value>(&r.json).unwrap());
    }
    let results: Vec<&str> = audit
        .iter()
        .map(|e| e["entry"]["result"].as_str().unwrap())
        .collect();
    assert_eq!(results.len(), 4, "{results:?}");
    assert!(results[..3].iter().all(|r| r.starts_with("refused")));
    assert_eq!(results[3], "ok: export started");
    assert!(audit.iter().all(|e| !e.to_string().contains("alice")));
    let actors: Vec<&str> = audit
        .iter()
        .map(|e| e["entry"]["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["anonymous", "unknown-token", "ops", "dpo"]);

    // Bad input is refused before anything happens.
    let status = client
        .erase_subject(with_token(
            pb::EraseSubjectRequest {
                reason: String::new(),
                ..erase("alice")
            },
            "dpo-token",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("reason"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_is_exported_then_erased_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    fill(&sidecar, "alice").await;
    fill(&sidecar, "bob").await;
    indexed(&sidecar, TENANT).await;
    // Warm the cache.
    let mut memory = sidecar.memory();
    memory
        .get_recent(pb::GetRecentRequest {
            tenant_id: TENANT.into(),
            conversation_id: "alice-c1".into(),
            limit: 10,
        })
        .await
        .unwrap();

    let records = exported(&sidecar, "alice").await;
    assert_eq!(count(&records, "conversation"), 2);
    assert_eq!(count(&records, "message"), 4);
    assert_eq!(count(&records, "fact"), 2, "the fact with its history");
    assert_eq!(
        count(&records, "audit"),
        2,
        "the phone's rectification, the export"
    );
    assert!(records.iter().all(|(_, json)| !json.contains("bob")));
    for (kind, json) in &records {
        serde_json::from_str::<serde_json::Value>(json).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }

    let report = sidecar
        .compliance()
        .erase_subject(admin(erase("alice")))
        .await
        .unwrap()
        .into_inner();
    let tiers: Vec<(&str, u64, bool)> = report
        .tiers
        .iter()
        .map(|t| (t.tier.as_str(), t.removed, t.verified))
        .collect();
    assert_eq!(
        tiers,
        [
            ("cold", 2 + 4 + 2, true),
            ("outbox", 0, true),
            ("hot", 1, true),
            ("semantic", 4, true)
        ],
        "conversations + messages + fact versions"
    );

    let recent = memory
        .get_recent(pb::GetRecentRequest {
            tenant_id: TENANT.into(),
            conversation_id: "alice-c1".into(),
            limit: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(recent.messages.is_empty());
    let hits = memory
        .search(pb::SearchRequest {
            tenant_id: TENANT.into(),
            user_id: "alice".into(),
            query: "CPF dente".into(),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert!(hits.is_empty());
    let facts = current_facts(&sidecar, TENANT, "alice").await;
    assert!(facts.is_empty());
    // Bob keeps everything; alice's export now holds only the log.
    assert_eq!(count(&exported(&sidecar, "bob").await, "message"), 4);
    let after = exported(&sidecar, "alice").await;
    assert!(after.iter().all(|(kind, _)| kind == "audit"), "{after:?}");
    assert_eq!(after.len(), 4, "rectification, export, erasure, export");
    assert!(after[2].1.contains("cold=8"), "{}", after[2].1);
    let v = sidecar
        .compliance()
        .verify_audit_log(admin(verify()))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_subject_leaves_nothing_in_postgres_redis_the_index_or_another_sidecars_near_cache()
 {
    let db = PgDatabase::create();
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let flags = vec![
        "--postgres-url".to_owned(),
        db.url.clone(),
        "--redis-url".to_owned(),
        redis.url(),
        "--redis-prefix".to_owned(),
        prefix.clone(),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Sidecar::start_with(dir_a.path(), &flags).await;
    fill(&a, "alice").await;
    fill(&a, "bob").await;
    // A's index has every point (each sidecar here has its own embedded
    // index; production shares Qdrant).
    indexed(&a, TENANT).await;
    let b = Sidecar::start_with(dir_b.path(), &flags).await;

    // B caches alice's window and facts (near-cache and Redis).
    let recent = pb::GetRecentRequest {
        tenant_id: TENANT.into(),
        conversation_id: "alice-c1".into(),
        limit: 10,
    };
    let facts = pb::GetFactsRequest {
        tenant_id: TENANT.into(),
        user_id: "alice".into(),
        ..Default::default()
    };
    for _ in 0..2 {
        b.memory().get_recent(recent.clone()).await.unwrap();
        assert_eq!(
            b.facts()
                .get_facts(facts.clone())
                .await
                .unwrap()
                .into_inner()
                .facts
                .len(),
            1
        );
    }
    assert!(
        redis_dump(redis.port, &prefix)
            .iter()
            .any(|(_, v)| v.contains(CPF)),
        "the window is cached in Redis before the erasure"
    );

    let report = a
        .compliance()
        .erase_subject(admin(erase("alice")))
        .await
        .unwrap()
        .into_inner();
    let tiers: Vec<&str> = report.tiers.iter().map(|t| t.tier.as_str()).collect();
    assert_eq!(tiers, ["cold", "outbox", "hot", "semantic", "near_cache"]);
    assert!(report.tiers.iter().all(|t| t.verified), "{report:?}");
    assert_eq!(report.tiers[0].removed, 8);
    assert_eq!(report.tiers[3].removed, 4);

    // B's near-cache was fenced through the invalidation channel.
    let window = b.memory().get_recent(recent.clone()).await.unwrap();
    assert!(window.into_inner().messages.is_empty());
    assert!(
        b.facts()
            .get_facts(facts.clone())
            .await
            .unwrap()
            .into_inner()
            .facts
            .is_empty()
    );

    // Postgres, read directly: no row of any table holds alice, her CPF or
    // her phone numbers; bob's rows are all there.
    let rows = pg_dump(&db, TENANT);
    for needle in ["alice", CPF, "11999998888", "11999997777"] {
        let found: Vec<&String> = rows.iter().filter(|r| r.contains(needle)).collect();
        if needle == CPF {
            assert!(
                found.iter().all(|r| r.contains("bob")),
                "only bob's messages hold a CPF: {found:?}"
            );
        } else {
            assert!(found.is_empty(), "{needle} left in Postgres: {found:?}");
        }
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r.starts_with("messages:") && r.contains("bob"))
            .count(),
        4
    );
    // Redis, read directly: what is left of alice is tombstones that hold
    // no data (they refuse a late read-repair until they expire).
    for (key, value) in redis_dump(redis.port, &prefix) {
        if key.contains("alice") {
            assert!(
                value.trim().is_empty() || value.trim().starts_with("F:"),
                "{key} still holds {value}"
            );
        }
        assert!(
            !value.contains("alice") && !value.contains("11999997777"),
            "{key} holds {value}"
        );
    }
    // The log verifies and names alice by pseudonym only.
    let v = a
        .compliance()
        .verify_audit_log(admin(verify()))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid);
    assert!(
        !pg_dump(&db, TENANT)
            .iter()
            .any(|r| r.starts_with("audit_log:") && r.contains("alice"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_audit_row_is_detected() {
    let db = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let flags = vec!["--postgres-url".to_owned(), db.url.clone()];
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    fill(&sidecar, "alice").await;
    let mut client = sidecar.compliance();
    for user in ["alice", "bob", "carol"] {
        client
            .set_legal_hold(admin(pb::SetLegalHoldRequest {
                tenant_id: TENANT.into(),
                user_id: user.into(),
                hold: true,
                reason: "litigation 123".into(),
            }))
            .await
            .unwrap();
    }
    let v = client
        .verify_audit_log(admin(verify()))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid);
    assert_eq!(v.entries, 4, "the facts rectification and three holds");

    // The table refuses changes outright...
    let refused = std::panic::catch_unwind(|| {
        db.query("UPDATE \"t_clinic\".audit_log SET reason = 'x' WHERE seq = 2")
    });
    assert!(refused.is_err(), "audit_log is append-only");
    // ...and a change made around the trigger breaks the chain there.
    db.query(
        "ALTER TABLE \"t_clinic\".audit_log DISABLE TRIGGER audit_log_append_only; \
         UPDATE \"t_clinic\".audit_log SET result = 'refused' WHERE seq = 3; \
         ALTER TABLE \"t_clinic\".audit_log ENABLE TRIGGER audit_log_append_only",
    );
    let v = client
        .verify_audit_log(admin(verify()))
        .await
        .unwrap()
        .into_inner();
    assert!(!v.valid);
    assert_eq!(v.first_broken_seq, 3);

    // A removed last entry is found against the chain's head.
    let fresh = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let flags = vec!["--postgres-url".to_owned(), fresh.url.clone()];
    let other = Sidecar::start_with(dir.path(), &flags).await;
    fill(&other, "alice").await;
    fresh.query(
        "ALTER TABLE \"t_clinic\".audit_log DISABLE TRIGGER audit_log_append_only; \
         DELETE FROM \"t_clinic\".audit_log WHERE seq = (SELECT max(seq) FROM \"t_clinic\".audit_log)",
    );
    let v = other
        .compliance()
        .verify_audit_log(admin(verify()))
        .await
        .unwrap()
        .into_inner();
    assert!(!v.valid);
    assert_eq!(v.first_broken_seq, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_dry_run_and_run_agree_and_legal_holds_are_kept() {
    let db = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let flags = vec!["--postgres-url".to_owned(), db.url.clone()];
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    for user in ["ana", "bia", "caio"] {
        fill(&sidecar, user).await;
    }
    indexed(&sidecar, TENANT).await;
    let mut client = sidecar.compliance();
    let run = |dry_run| {
        admin(pb::RunRetentionRequest {
            tenant_id: TENANT.into(),
            dry_run,
        })
    };
    // No policy: nothing happens.
    let r = client.run_retention(run(false)).await.unwrap().into_inner();
    assert_eq!((r.deleted, r.anonymized, r.held), (0, 0, 0));

    let policy = |id: &str, days, action: pb::RetentionAction| {
        admin(pb::PutRetentionPolicyRequest {
            tenant_id: TENANT.into(),
            policy: Some(pb::RetentionPolicy {
                policy_id: id.into(),
                vertical: pb::Vertical::Dental as i32,
                retention_days: days,
                action: action as i32,
            }),
        })
    };
    let status = client
        .put_retention_policy(policy("cold", 30, pb::RetentionAction::Archive))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = client
        .put_retention_policy(policy("bad id!", 30, pb::RetentionAction::Delete))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    client
        .put_retention_policy(policy("chats", 30, pb::RetentionAction::Delete))
        .await
        .unwrap();
    client
        .set_legal_hold(admin(pb::SetLegalHoldRequest {
            tenant_id: TENANT.into(),
            user_id: "bia".into(),
            hold: true,
            reason: "lawsuit".into(),
        }))
        .await
        .unwrap();
    // Ana's and bia's conversations went idle 40 days ago (set in the
    // store: the clock cannot be moved), one of caio's 10 days ago.
    db.query(
        "UPDATE \"t_clinic\".conversations SET updated_us = updated_us - 40 * 86400000000 \
         WHERE user_id IN ('ana', 'bia'); \
         UPDATE \"t_clinic\".conversations SET updated_us = updated_us - 10 * 86400000000 \
         WHERE conversation_id = 'caio-c1'",
    );

    let dry = client.run_retention(run(true)).await.unwrap().into_inner();
    assert_eq!((dry.deleted, dry.anonymized, dry.held), (4, 0, 4));
    assert_eq!(
        db.query("SELECT count(*) FROM \"t_clinic\".messages")[0][0].as_deref(),
        Some("12"),
        "a dry run changes nothing"
    );
    let done = client.run_retention(run(false)).await.unwrap().into_inner();
    assert_eq!(
        (done.deleted, done.anonymized, done.held),
        (dry.deleted, dry.anonymized, dry.held)
    );
    let left = db.query(
        "SELECT user_id, count(*) FROM \"t_clinic\".messages GROUP BY user_id ORDER BY user_id",
    );
    assert_eq!(
        left,
        [
            vec![Some("bia".to_owned()), Some("4".to_owned())],
            vec![Some("caio".to_owned()), Some("4".to_owned())]
        ]
    );
    let again = client.run_retention(run(true)).await.unwrap().into_inner();
    assert_eq!((again.deleted, again.held), (0, 4));

    // A longer anonymize policy now applies instead: bia's hold released,
    // her conversations are masked, not deleted.
    client
        .put_retention_policy(policy("records", 35, pb::RetentionAction::Anonymize))
        .await
        .unwrap();
    client
        .set_legal_hold(admin(pb::SetLegalHoldRequest {
            tenant_id: TENANT.into(),
            user_id: "bia".into(),
            hold: false,
            reason: "lawsuit settled".into(),
        }))
        .await
        .unwrap();
    let dry = client.run_retention(run(true)).await.unwrap().into_inner();
    let done = client.run_retention(run(false)).await.unwrap().into_inner();
    assert_eq!((dry.anonymized, dry.deleted, dry.held), (4, 0, 0));
    assert_eq!((done.anonymized, done.deleted), (4, 0));
    let contents: Vec<String> = db
        .query("SELECT content FROM \"t_clinic\".messages WHERE user_id = 'bia' ORDER BY 1")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    assert_eq!(contents.len(), 4);
    assert!(contents.iter().all(|c| !c.contains(CPF)), "{contents:?}");
    assert!(contents.contains(&"meu CPF é ***.***.***-25".to_owned()));
    let again = client.run_retention(run(true)).await.unwrap().into_inner();
    assert_eq!(again.anonymized, 0, "anonymized once");
    let v = client
        .verify_audit_log(admin(verify()))
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid);
}

//! A data directory written by an earlier release opens and reads the same
//! with this one: a user's embedded data survives the upgrade.
//!
//! `tests/fixtures/data-2026-12/` holds what `write_fixture` wrote with the
//! code of December 2026 (every aggregate of the cold store: messages,
//! facts with history, a summary, an ended handover with its queued job,
//! the audit chain, retention policy and legal hold, a data key, the
//! indexing outbox, and the vector index). The test copies it, writes the
//! same data into a fresh directory with today's code, and reads both the
//! same way: every read must agree.
//!
//! When it fails, a stored form changed: make the old form still read
//! (`#[serde(alias)]`, `#[serde(default)]`, a migration on open) rather
//! than rewriting the fixture. A release that changes a stored form on
//! purpose adds a fixture of its own (`ENGRAM_WRITE_FIXTURE=DIR cargo test
//! -p engram-embedded --test stored_data -- --ignored`) and keeps the old
//! ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engram_domain::audit::NewAuditEntry;
use engram_domain::handover::{HandoverEnd, NewHandover, Resolution};
use engram_domain::ids::{ConversationId, FactKey, HandoverId, MessageId, OperatorId};
use engram_domain::ids::{TenantId, UserId};
use engram_domain::model::{
    FactInput, FactSource, FactSourceKind, MessageFilter, NewMessage, Role, Scope, WrappedKey,
};
use engram_domain::ports::{
    ColdStore, ComplianceStore, FactStore, HandoverStore, IndexPoint, KeyStore, MessageStore,
    OutboxQueue, SemanticIndex, SummaryStore,
};
use engram_domain::retention::{RetentionAction, RetentionPolicy};
use engram_domain::summary::{Section, Summary, SummaryItem, Vertical};
use engram_domain::time::Timestamp;
use engram_embedded::{EmbeddedColdStore, EmbeddedIndex};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// Every fixture a release wrote; each must still read.
const RELEASES: &[&str] = &["data-2026-12"];
const CACHE: usize = 1 << 20;
const INDEX: &str = "fixture-model";
const DIMENSION: usize = 4;

fn tenant() -> TenantId {
    TenantId::parse("tenant_id", "fixture").unwrap()
}
fn user(id: &str) -> UserId {
    UserId::parse("user_id", id).unwrap()
}
fn conversation(id: &str) -> ConversationId {
    ConversationId::parse("conversation_id", id).unwrap()
}
fn key(k: &str) -> FactKey {
    FactKey::parse("key", k).unwrap()
}
/// 2026-12-01T00:00:00Z plus `minutes`.
fn at(minutes: i64) -> Timestamp {
    Timestamp(1_796_083_200_000_000 + minutes * 60_000_000)
}

fn message(id: &str, role: Role, content: &str, minute: i64) -> NewMessage {
    NewMessage {
        message_id: MessageId::parse("message_id", id).unwrap(),
        client_id: true,
        role,
        content: content.to_owned(),
        created_at: at(minute),
        metadata: BTreeMap::from([("channel".to_owned(), "whatsapp".to_owned())]),
        importance: 0.25 + minute as f32 / 100.0,
        tokens: 10 + minute as u32,
    }
}

fn fact(k: &str, json: &str, minute: i64) -> FactInput {
    FactInput {
        key: key(k),
        value: engram_domain::facts::canonical_json("value_json", json).unwrap(),
        valid_at: at(minute),
        source: FactSource {
            kind: FactSourceKind::Message,
            reference: "c1#2".into(),
        },
        confidence: 0.9,
    }
}

/// The data every fixture holds, written through the ports.
async fn write(store: &EmbeddedColdStore, index: &EmbeddedIndex) {
    let (t, u, c1, c2) = (tenant(), user("u1"), conversation("c1"), conversation("c2"));
    store
        .append(
            &t,
            &c1,
            &u,
            vec![
                message(
                    "m1",
                    Role::User,
                    "Olá, quero remarcar a consulta de terça",
                    1,
                ),
                message("m2", Role::Assistant, "Claro! Qual horário prefere?", 2),
                message("m3", Role::User, "Prefiro de manhã, depois das 9h", 3),
            ],
            at(3),
        )
        .await
        .unwrap();
    store
        .append(
            &t,
            &c2,
            &u,
            vec![message("m4", Role::User, "A fatura chegou duplicada", 10)],
            at(10),
        )
        .await
        .unwrap();
    store
        .put_facts(
            &t,
            &u,
            vec![
                fact("preferred_time", "\"mornings\"", 3),
                fact("name", "\"Ana\"", 1),
            ],
            at(4),
        )
        .await
        .unwrap();
    store
        .put_facts(
            &t,
            &u,
            vec![fact("preferred_time", "\"after 9\"", 5)],
            at(5),
        )
        .await
        .unwrap();
    store
        .invalidate_fact(&t, &u, &key("name"), at(6))
        .await
        .unwrap();
    let summary = Summary {
        vertical: Vertical::Dental,
        from_seq: 1,
        to_seq: 3,
        items: vec![SummaryItem {
            message_id: MessageId::parse("message_id", "m3").unwrap(),
            seq: 3,
            role: Role::User,
            created_at: at(3),
            sentence: "Prefiro de manhã, depois das 9h".into(),
            section: Section::Decisions,
            score: 0.75,
            tokens: 14,
        }],
        source_tokens: 36,
    };
    store.put_summary(&t, &c1, &summary).await.unwrap();
    let handover = HandoverId::parse("handover_id", "h1").unwrap();
    store
        .start_handover(
            &t,
            NewHandover {
                handover_id: handover.clone(),
                conversation_id: c1.clone(),
                operator_id: OperatorId::parse("operator_id", "op1").unwrap(),
                reason: "billing".into(),
                started_at: at(20),
            },
        )
        .await
        .unwrap();
    store
        .end_handover(
            &t,
            HandoverEnd {
                handover_id: handover,
                conversation_id: c1,
                resolution: Resolution::Resolved,
                notes: "rescheduled".into(),
                ended_at: at(30),
            },
        )
        .await
        .unwrap();
    for (action, minute) in [
        ("compliance.export_subject", 40),
        ("compliance.erase_subject", 41),
    ] {
        let entry = NewAuditEntry {
            actor: "dpo".into(),
            action: action.into(),
            subject: "s:1f2e".into(),
            reason: "ticket 7".into(),
            result: "ok".into(),
        };
        store.append_audit(&t, entry, at(minute)).await.unwrap();
    }
    let policy = RetentionPolicy {
        policy_id: "dental".into(),
        vertical: Vertical::Dental,
        retention_days: 7_300,
        action: RetentionAction::Anonymize,
    };
    store.put_retention_policy(&t, &policy).await.unwrap();
    store.set_legal_hold(&t, &user("u2"), true).await.unwrap();
    let wrapped = WrappedKey {
        master_id: "k2026".into(),
        bytes: (0u8..60).collect(),
    };
    store.insert_data_key(&t, "u1", wrapped).await.unwrap();
    let point = |seq: u64, v: [f32; DIMENSION]| IndexPoint {
        user_id: user("u1"),
        conversation_id: conversation("c1"),
        seq,
        role: Role::User,
        created_at: at(seq as i64),
        vector: v.to_vec(),
    };
    index
        .upsert(
            &t,
            vec![
                point(1, [1.0, 0.0, 0.0, 0.0]),
                point(3, [0.6, 0.8, 0.0, 0.0]),
            ],
        )
        .await
        .unwrap();
}

/// Everything the ports read back, rendered for comparison.
async fn read(store: &EmbeddedColdStore, index: &EmbeddedIndex) -> Vec<(&'static str, String)> {
    let (t, u, c1, c2) = (tenant(), user("u1"), conversation("c1"), conversation("c2"));
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut put = |what: &'static str, value: String| out.push((what, value));
    put("tenants", format!("{:?}", store.tenants().await.unwrap()));
    put(
        "conversation",
        format!("{:?}", store.conversation(&t, &c1).await.unwrap()),
    );
    put(
        "recent",
        format!("{:?}", store.recent(&t, &c1, 10).await.unwrap()),
    );
    put(
        "after",
        format!("{:?}", store.messages_after(&t, &c2, 0, 10).await.unwrap()),
    );
    let positions = [(c1.clone(), 2), (c2.clone(), 1)];
    put(
        "at",
        format!("{:?}", store.messages_at(&t, &positions).await.unwrap()),
    );
    let listed = store.list_conversations(&t, &u, None, 10).await.unwrap();
    put("list", format!("{listed:?}"));
    put(
        "history",
        format!("{:?}", store.user_history(&t, &u).await.unwrap()),
    );
    let scope = Scope::User(u.clone());
    let filter = MessageFilter::default();
    let hits = store
        .search_lexical(&t, &scope, "fatura consulta", &filter, 5)
        .await
        .unwrap();
    put("lexical", format!("{hits:?}"));
    // A fact revision is a clock reading: only that it is set is compared.
    let snapshot = store.current_facts(&t, &u).await.unwrap();
    put(
        "facts",
        format!("{} {:?}", snapshot.rev > 0, snapshot.facts),
    );
    put(
        "facts as of",
        format!("{:?}", store.facts_as_of(&t, &u, at(4)).await.unwrap()),
    );
    let history = store
        .fact_history(&t, &u, &key("preferred_time"))
        .await
        .unwrap();
    put("fact history", format!("{history:?}"));
    put(
        "all facts",
        format!("{:?}", store.all_facts(&t, &u).await.unwrap()),
    );
    put(
        "summary",
        format!("{:?}", store.summary(&t, &c1).await.unwrap()),
    );
    put(
        "summaries",
        format!("{:?}", store.user_summaries(&t, &u, 5).await.unwrap()),
    );
    put(
        "handover",
        format!("{:?}", store.handover(&t, &c1).await.unwrap()),
    );
    put(
        "jobs",
        format!("{:?}", store.handover_jobs_queued(&t).await.unwrap()),
    );
    put(
        "audit",
        format!("{:?}", store.audit_entries(&t, 0, 10).await.unwrap()),
    );
    put(
        "audit head",
        format!("{:?}", store.audit_head(&t).await.unwrap()),
    );
    put(
        "policies",
        format!("{:?}", store.retention_policies(&t).await.unwrap()),
    );
    put(
        "holds",
        format!("{:?}", store.legal_holds(&t).await.unwrap()),
    );
    put(
        "data key",
        format!("{:?}", store.data_key(&t, "u1").await.unwrap()),
    );
    put(
        "outbox",
        format!("{:?}", store.outbox_stats(&t).await.unwrap()),
    );
    let claimed = store.claim_outbox(&t, 10, at(100), at(101)).await.unwrap();
    put("outbox jobs", format!("{claimed:?}"));
    put(
        "stats",
        format!("{:?}", store.memory_stats(&t, 10).await.unwrap()),
    );
    let near = index
        .search(&t, &scope, &[0.6, 0.8, 0.0, 0.0], &filter, 5)
        .await
        .unwrap();
    put("vectors", format!("{near:?}"));
    out
}

fn open(dir: &Path) -> (EmbeddedColdStore, EmbeddedIndex) {
    let store = EmbeddedColdStore::open(dir, CACHE).unwrap();
    let index = EmbeddedIndex::open(dir, INDEX, DIMENSION, CACHE).unwrap();
    (store, index)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test]
async fn data_written_by_earlier_releases_reads_as_today_s_writes_do() {
    let fresh = tempfile::tempdir().unwrap();
    let (store, index) = open(fresh.path());
    write(&store, &index).await;
    let today = read(&store, &index).await;
    for release in RELEASES {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(&PathBuf::from(FIXTURES).join(release), copy.path());
        let (store, index) = open(copy.path());
        let then = read(&store, &index).await;
        assert_eq!(then.len(), today.len());
        for ((what, old), (_, new)) in then.iter().zip(&today) {
            assert_eq!(old, new, "{what} reads otherwise from the {release} data");
        }
    }
}

#[tokio::test]
#[ignore = "writes a new fixture: once per release that changes a stored form"]
async fn write_fixture() {
    let dir = std::env::var("ENGRAM_WRITE_FIXTURE").expect("ENGRAM_WRITE_FIXTURE=DIR");
    let dir = PathBuf::from(FIXTURES).join(dir);
    assert!(
        !dir.exists(),
        "{} exists: fixtures are never rewritten",
        dir.display()
    );
    let (store, index) = open(&dir);
    write(&store, &index).await;
    // Closed cleanly: the writer threads drop the databases once their
    // channels close.
    drop((store, index));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}

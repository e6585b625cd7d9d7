//! Several sidecars, one semantic index: two engram processes on the same
//! Postgres, Redis and Qdrant, all real servers started by the test rig
//! (Qdrant from `ENGRAM_TEST_QDRANT_BIN` or `qdrant` on `PATH`; without
//! one these tests say they were skipped). What one sidecar indexes the
//! other finds by meaning, and what one erases, deletes or lets retention
//! delete leaves no point behind, read straight from Qdrant. A model change fills a new
//! collection while the old one answers.

use std::time::Duration;

use crate::common::{Sidecar, admin, append_turns, eventually, indexed};
use engram::pb;
use engram_testrig::{
    ModelServer, PgDatabase, QdrantServer, free_port, shared_qdrant, shared_server, unique_prefix,
};

const TENANT: &str = "clinic";
const TOOTH: &str = "estou com uma dor de dente muito forte desde ontem";

/// Flags of a sidecar on the shared servers; the collection prefix keeps
/// this test's collections apart.
fn flags(db: &PgDatabase, qdrant: &QdrantServer, prefix: &str) -> Vec<String> {
    [
        "--postgres-url",
        &db.url,
        "--redis-url",
        &shared_server().url(),
        "--redis-prefix",
        prefix,
        "--qdrant-url",
        &qdrant.url(),
        "--qdrant-collection-prefix",
        prefix,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// User turns appended through `sidecar` (the common helper).
async fn append(sidecar: &Sidecar, user: &str, conversation: &str, contents: &[&str]) {
    let turns: Vec<_> = contents.iter().map(|c| (pb::Role::User, *c)).collect();
    append_turns(sidecar, TENANT, user, conversation, &turns).await;
}

/// A semantic Search of the user's history.
fn semantic(user: &str, query: &str) -> pb::SearchRequest {
    pb::SearchRequest {
        tenant_id: TENANT.into(),
        user_id: user.into(),
        query: query.into(),
        mode: pb::SearchMode::Semantic as i32,
        limit: 3,
        ..Default::default()
    }
}

/// ComposeContext for ana in `conversation`, 500 tokens.
async fn compose(sidecar: &Sidecar, conversation: &str, input: &str) -> pb::ComposeContextResponse {
    sidecar
        .memory()
        .compose_context(pb::ComposeContextRequest {
            tenant_id: TENANT.into(),
            conversation_id: conversation.into(),
            user_id: "ana".into(),
            input: input.into(),
            token_budget: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// The contents semantic Search finds for the user, best first.
async fn by_meaning(sidecar: &Sidecar, user: &str, query: &str) -> Vec<String> {
    let reply = sidecar
        .memory()
        .search(semantic(user, query))
        .await
        .unwrap()
        .into_inner();
    assert!(!reply.semantic_unavailable, "Qdrant answers");
    reply
        .hits
        .into_iter()
        .filter_map(|h| h.message.map(|m| m.content))
        .collect()
}

/// Points of a user in this test's collections, counted by Qdrant.
fn points_of(qdrant: &QdrantServer, prefix: &str, user: &str) -> u64 {
    let collections = qdrant.collections(prefix);
    assert!(!collections.is_empty(), "a collection was created");
    collections
        .iter()
        .map(|c| qdrant.count_points(c, "user", user).expect("Qdrant counts"))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_sidecar_indexes_another_finds_and_an_erasure_leaves_no_point() {
    let Some(qdrant) = shared_qdrant() else {
        eprintln!("SKIPPED: no Qdrant server binary (set ENGRAM_TEST_QDRANT_BIN)");
        return;
    };
    let db = PgDatabase::create();
    let prefix = unique_prefix();
    let f = flags(&db, qdrant, &prefix);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Sidecar::start_with(dir_a.path(), &f).await;
    let b = Sidecar::start_with(dir_b.path(), &f).await;

    append(&a, "ana", "c1", &[TOOTH, "qual o valor da consulta?"]).await;
    append(&a, "ana", "c2", &["vocês aceitam cartão?"]).await;
    append(&a, "bob", "c3", &["minha dor de dente passou"]).await;
    append(&a, "caio", "c4", &["meu dente quebrou no almoço"]).await;
    indexed(&a, TENANT).await;
    assert_eq!(points_of(qdrant, &prefix, "ana"), 3);
    assert_eq!(points_of(qdrant, &prefix, "bob"), 1);
    assert_eq!(points_of(qdrant, &prefix, "caio"), 1);

    // B finds by meaning what A wrote, and composes with it.
    let found = by_meaning(&b, "ana", "dor de dente forte").await;
    assert_eq!(found.first().map(String::as_str), Some(TOOTH), "{found:?}");
    let composed = compose(&b, "c9", "ainda estou com dor de dente forte").await;
    assert!(composed.text.contains(TOOTH), "{}", composed.text);
    assert!(composed.degraded.is_empty(), "{:?}", composed.degraded);

    // A deletes a conversation: B's recall loses it, Qdrant holds none of
    // its points.
    a.memory()
        .delete_conversation(pb::DeleteConversationRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c2".into(),
        })
        .await
        .unwrap();
    indexed(&a, TENANT).await;
    assert_eq!(points_of(qdrant, &prefix, "ana"), 2);

    // Retention on A deletes caio's conversation, idle 40 days (set in
    // the store: the clock cannot be moved): none of its points is left
    // and B no longer finds it.
    let mut admin_client = a.compliance();
    admin_client
        .put_retention_policy(admin(pb::PutRetentionPolicyRequest {
            tenant_id: TENANT.into(),
            policy: Some(pb::RetentionPolicy {
                policy_id: "chats".into(),
                vertical: pb::Vertical::Dental as i32,
                retention_days: 30,
                action: pb::RetentionAction::Delete as i32,
            }),
        }))
        .await
        .unwrap();
    db.query(&format!(
        "UPDATE \"t_{TENANT}\".conversations SET updated_us = updated_us - 40 * 86400000000 \
         WHERE user_id = 'caio'"
    ));
    let retention = admin_client
        .run_retention(admin(pb::RunRetentionRequest {
            tenant_id: TENANT.into(),
            dry_run: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retention.deleted, 1, "{retention:?}");
    indexed(&a, TENANT).await;
    assert_eq!(points_of(qdrant, &prefix, "caio"), 0);
    assert!(by_meaning(&b, "caio", "dente quebrado").await.is_empty());

    // A erases ana: not one of her points is left, B's recall returns none
    // of her messages, and bob keeps his.
    let erased = a
        .compliance()
        .erase_subject(admin(pb::EraseSubjectRequest {
            tenant_id: TENANT.into(),
            user_id: "ana".into(),
            reason: "LGPD art. 18, VI".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let semantic = erased.tiers.iter().find(|t| t.tier == "semantic");
    assert!(
        semantic.is_some_and(|t| t.verified && t.removed == 2),
        "{erased:?}"
    );
    assert_eq!(points_of(qdrant, &prefix, "ana"), 0);
    assert!(by_meaning(&b, "ana", "dor de dente forte").await.is_empty());
    assert_eq!(points_of(qdrant, &prefix, "bob"), 1);
    let bob = eventually("bob's recall on B", Duration::from_secs(10), || async {
        let found = by_meaning(&b, "bob", "dor de dente").await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(bob, ["minha dor de dente passou"]);
}

/// The tenant's memory statistics.
async fn stats(sidecar: &Sidecar) -> pb::GetMemoryStatsResponse {
    sidecar
        .compliance()
        .get_memory_stats(admin(pb::GetMemoryStatsRequest {
            tenant_id: TENANT.into(),
            max_users: 0,
        }))
        .await
        .unwrap()
        .into_inner()
}

async fn pending_jobs(sidecar: &Sidecar) -> u64 {
    stats(sidecar).await.indexing.map_or(0, |i| i.pending_jobs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qdrant_killed_degrades_recall_keeps_the_jobs_and_loses_nothing_once_back() {
    let Some(mut qdrant) = QdrantServer::start() else {
        eprintln!("SKIPPED: no Qdrant server binary (set ENGRAM_TEST_QDRANT_BIN)");
        return;
    };
    let db = PgDatabase::create();
    let prefix = unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    let a = Sidecar::start_with(dir.path(), &flags(&db, &qdrant, &prefix)).await;
    append(&a, "ana", "c1", &[TOOTH, "qual o valor da consulta?"]).await;
    indexed(&a, TENANT).await;
    assert_eq!(points_of(&qdrant, &prefix, "ana"), 2);
    let collections = qdrant.collections(&prefix);

    // Qdrant killed: writes are acknowledged (the cold store has them),
    // recall answers without the semantic index and says so, the jobs wait.
    qdrant.kill();
    append(&a, "ana", "c1", &["pode ser amanhã às 10h?"]).await;
    append(&a, "ana", "c2", &["outra conversa, já apagada"]).await;
    append(&a, "bob", "c3", &["minha dor de dente passou"]).await;
    a.memory()
        .delete_conversation(pb::DeleteConversationRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c2".into(),
        })
        .await
        .unwrap();
    let composed = compose(&a, "c1", "dor de dente").await;
    assert!(
        composed.degraded.iter().any(|d| d == "semantic"),
        "{:?}",
        composed.degraded
    );
    assert!(
        composed.text.contains("pode ser amanhã"),
        "{}",
        composed.text
    );
    let search = a.memory().search(semantic("ana", "dor de dente")).await;
    match search {
        Ok(reply) => assert!(reply.into_inner().semantic_unavailable),
        Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
    }
    assert!(pending_jobs(&a).await > 0, "the jobs are kept for a retry");

    // Qdrant back with its data: the backlog drains, every stored message
    // has its point, the deleted conversation none.
    qdrant.restart();
    eventually("the backlog to drain", Duration::from_secs(120), || async {
        (pending_jobs(&a).await == 0).then_some(())
    })
    .await;
    assert_eq!(
        qdrant.collections(&prefix),
        collections,
        "the same collection"
    );
    let points = points_of(&qdrant, &prefix, "ana") + points_of(&qdrant, &prefix, "bob");
    assert_eq!(points, stats(&a).await.messages);
    assert_eq!(points, 4);
    assert_eq!(
        qdrant.count_points(&collections[0], "conversation", "c2"),
        Some(0)
    );
    assert_eq!(
        by_meaning(&a, "ana", "dor de dente forte")
            .await
            .first()
            .map(String::as_str),
        Some(TOOTH)
    );

    // Restarted with its data again: nothing lost.
    qdrant.restart();
    assert_eq!(points_of(&qdrant, &prefix, "ana"), 3);
}

/// Points of a user in one collection, counted by Qdrant.
fn points_in(qdrant: &QdrantServer, collection: &str, user: &str) -> u64 {
    qdrant
        .count_points(collection, "user", user)
        .expect("Qdrant counts")
}

/// A model change: a sidecar with a new embedding model and the old one
/// named as previous fills a new collection from the cold store while the
/// old collection answers; once the new one caught up it answers (by
/// meaning, as the old model could not), and an erasure reaches both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_collection_answers_until_a_new_models_caught_up() {
    let Some(qdrant) = shared_qdrant() else {
        eprintln!("SKIPPED: no Qdrant server binary (set ENGRAM_TEST_QDRANT_BIN)");
        return;
    };
    let db = PgDatabase::create();
    let prefix = unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    let hashing = flags(&db, qdrant, &prefix);
    let old = Sidecar::start_with(dir.path(), &hashing).await;
    append(&old, "ana", "c1", &[TOOTH, "qual o valor da consulta?"]).await;
    append(&old, "ana", "c2", &["vocês aceitam cartão?"]).await;
    indexed(&old, TENANT).await;
    let old_collections = qdrant.collections(&prefix);
    assert_eq!(old_collections.len(), 1, "{old_collections:?}");
    old.stop().await;

    // The new model's server is not up yet: its collection cannot fill.
    let port = free_port();
    let mut changed = hashing.clone();
    changed.extend(
        [
            "--embedder-url",
            &format!("http://127.0.0.1:{port}/v1"),
            "--embedder-dimension",
            "384",
            "--previous-embedder-model",
            "hashing",
        ]
        .map(str::to_owned),
    );
    let new = Sidecar::start_with(dir.path(), &changed).await;
    let found = by_meaning(&new, "ana", "dor de dente forte").await;
    assert_eq!(found.first().map(String::as_str), Some(TOOTH), "{found:?}");
    let composed = compose(&new, "c9", "ainda estou com dor de dente forte").await;
    assert!(composed.text.contains(TOOTH), "{}", composed.text);
    assert!(composed.degraded.is_empty(), "{:?}", composed.degraded);
    let collections = qdrant.collections(&prefix);
    let fresh: Vec<&String> = collections
        .iter()
        .filter(|c| !old_collections.contains(c))
        .collect();
    assert_eq!(fresh.len(), 1, "{collections:?}");
    assert_eq!(points_in(qdrant, fresh[0], "ana"), 0);

    // The model answers: the new collection fills from the cold store,
    // then answers by meaning (no word in common with the message).
    let _model = ModelServer::start_on(port);
    indexed(&new, TENANT).await;
    assert_eq!(points_in(qdrant, fresh[0], "ana"), 3);
    let found = eventually(
        "the new collection to answer",
        Duration::from_secs(10),
        || async {
            let found = by_meaning(&new, "ana", "my tooth hurts a lot").await;
            (found.first().map(String::as_str) == Some(TOOTH)).then_some(found)
        },
    )
    .await;
    assert_eq!(found[0], TOOTH);

    // An erasure leaves no point of ana in either collection.
    let erased = new
        .compliance()
        .erase_subject(admin(pb::EraseSubjectRequest {
            tenant_id: TENANT.into(),
            user_id: "ana".into(),
            reason: "LGPD art. 18, VI".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let semantic = erased.tiers.iter().find(|t| t.tier == "semantic");
    assert!(
        semantic.is_some_and(|t| t.verified && t.removed == 6),
        "{erased:?}"
    );
    assert_eq!(points_of(qdrant, &prefix, "ana"), 0);
}

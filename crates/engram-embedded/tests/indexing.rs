//! Indexing: under a model server that stops answering, the work done
//! before the failure is kept, only the rest waits for a retry, and all of
//! it is indexed once the model answers again; a message is embedded after
//! the turn before it; a new index (another model) is filled from the cold
//! store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engram_contract::fixtures::{at, conversation, message, tenant, user};
use engram_domain::model::Role;
use engram_domain::ports::{EmbedKind, Embedder, MessageStore, SemanticIndex, index_name};
use engram_domain::{Error, Result};
use engram_embedded::{EmbeddedColdStore, EmbeddedHotTier, EmbeddedIndex, HotConfig};
use engram_engine::{Engine, EngineConfig};
use engram_models::HashingEmbedder;

/// The hashing embedder that answers `allowed` requests, then fails every
/// other one as a timed-out model server would.
struct Allowance {
    inner: HashingEmbedder,
    allowed: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl Embedder for Allowance {
    fn model(&self) -> &str {
        self.inner.model()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    async fn embed(&self, texts: &[&str], kind: EmbedKind) -> Result<Vec<Vec<f32>>> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let granted = self
            .allowed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !granted {
            return Err(Error::Unavailable {
                backend: "embedder",
                reason: "timed out".into(),
            });
        }
        self.inner.embed(texts, kind).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_embedding_request_releases_only_the_work_not_done() {
    let dir = tempfile::tempdir().unwrap();
    let (t, u, c) = (tenant(), user("u1"), conversation("c1"));
    // Ten appends of one message, stored before the worker starts: ten
    // jobs, claimed together.
    let cold = EmbeddedColdStore::open(dir.path(), 8 << 20).unwrap();
    for i in 0..10 {
        let said = format!("message number {i}");
        cold.append(&t, &c, &u, vec![message(Role::User, &said, i)], at(i))
            .await
            .unwrap();
    }

    // Four messages an embedding request; the model server answers two
    // requests, then times out.
    let allowed = Arc::new(AtomicUsize::new(2));
    let requests = Arc::new(AtomicUsize::new(0));
    let embedder = Allowance {
        inner: HashingEmbedder::new(64),
        allowed: allowed.clone(),
        requests: requests.clone(),
    };
    let mut config = EngineConfig::default();
    config.indexer.embed_batch = 4;
    config.indexer.sweep = Duration::from_millis(100);
    let index = EmbeddedIndex::open(dir.path(), &index_name(&embedder), 64, 1 << 20).unwrap();
    let engine = Engine::new(
        cold,
        EmbeddedHotTier::new(&HotConfig::default()),
        index,
        embedder,
        config,
    );
    let pending = || async { engine.memory_stats(&t, 1).await.unwrap().outbox.pending };

    let deadline = Instant::now() + Duration::from_secs(30);
    while requests.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "the worker never asked thrice");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The eight messages of the two answered requests are indexed for
    // good; only the last two jobs wait for a retry. (Before, the failure
    // released all ten, and the answered requests were paid for again.)
    assert_eq!(pending().await, 2, "only the work not done waits");

    // The server answers again: the rest is indexed.
    allowed.store(usize::MAX, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending().await > 0 {
        assert!(Instant::now() < deadline, "indexing never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hashing embedder under a model name of the test's choosing, as a
/// language model (contextual passages), that keeps the passages it was
/// asked to embed.
struct Recording {
    inner: HashingEmbedder,
    model: String,
    passages: Arc<Mutex<Vec<String>>>,
}

impl Embedder for Recording {
    fn model(&self) -> &str {
        &self.model
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    async fn embed(&self, texts: &[&str], kind: EmbedKind) -> Result<Vec<Vec<f32>>> {
        if kind == EmbedKind::Passage {
            let mut passages = self.passages.lock().unwrap();
            passages.extend(texts.iter().map(|t| t.to_string()));
        }
        self.inner.embed(texts, kind).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_model_gets_every_stored_message_embedded_after_its_previous_turn() {
    let dir = tempfile::tempdir().unwrap();
    let (t, u, c) = (tenant(), user("u1"), conversation("c1"));
    let cold = EmbeddedColdStore::open(dir.path(), 8 << 20).unwrap();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let open = |model: &str| {
        let embedder = Recording {
            inner: HashingEmbedder::new(64),
            model: model.to_string(),
            passages: recorded.clone(),
        };
        let index = EmbeddedIndex::open(dir.path(), &index_name(&embedder), 64, 1 << 20).unwrap();
        let mut config = EngineConfig::default();
        config.indexer.sweep = Duration::from_millis(100);
        let engine = Engine::new(
            cold.clone(),
            EmbeddedHotTier::new(&HotConfig::default()),
            index.clone(),
            embedder,
            config,
        );
        (engine, index)
    };

    let said = [
        (Role::User, "Qual o horário da consulta?"),
        (Role::Assistant, "Às 15h de terça."),
        (Role::Assistant, "Traga seus exames."),
    ];
    for (i, (role, text)) in said.into_iter().enumerate() {
        let i = i as i64;
        cold.append(&t, &c, &u, vec![message(role, text, i)], at(i))
            .await
            .unwrap();
    }
    let (engine, first) = open("model-a");
    engine.flush_index(Duration::from_secs(30)).await;
    assert_eq!(first.count_user(&t, &u).await.unwrap(), 3);
    // The answer is embedded after the question it answers.
    let passages = std::mem::take(&mut *recorded.lock().unwrap());
    assert!(
        passages.contains(&"Qual o horário da consulta?\nÀs 15h de terça.".to_string()),
        "{passages:?}"
    );
    // A turn after one of the same party is embedded alone: it would
    // otherwise outrank the turn it follows for that turn's own words.
    assert!(
        passages.contains(&"Traga seus exames.".to_string()),
        "{passages:?}"
    );
    drop(engine);
    // The first engine's worker stops once it sees its engine gone.
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Another model: its index starts empty and is filled from the cold
    // store, without a single append.
    let (engine, second) = open("model-b");
    let deadline = Instant::now() + Duration::from_secs(30);
    while second.count_user(&t, &u).await.unwrap() < 3 {
        assert!(Instant::now() < deadline, "the new index was never filled");
        engine.flush_index(Duration::from_secs(5)).await;
    }
    assert_eq!(engine.memory_stats(&t, 1).await.unwrap().outbox.pending, 0);
}

//! The engine's background workers (indexer, handover jobs, the retention
//! scheduler) end with it: once an engine is dropped, nothing holds its
//! stores open, so the same directory opens again (redb allows one opener
//! of a file). The retention scheduler also has an owner that stops it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use engram_domain::ids::TenantId;
use engram_domain::ports::index_name;
use engram_domain::retention::RetentionAction;
use engram_domain::retention::RetentionPolicy;
use engram_domain::summary::Vertical;
use engram_embedded::{EmbeddedColdStore, EmbeddedHotTier, EmbeddedIndex, HotConfig};
use engram_engine::{Engine, EngineConfig, RetentionRuns};
use engram_models::HashingEmbedder;
use engram_rules::compliance::Masking;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_engine_lets_its_store_open_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::default();
    config.indexer.sweep = Duration::from_millis(50);
    config.handover.sweep = Duration::from_millis(50);
    let embedder = HashingEmbedder::new(64);
    let index = EmbeddedIndex::open(dir.path(), &index_name(&embedder), 64, 1 << 20).unwrap();
    let engine = Engine::new(
        EmbeddedColdStore::open(dir.path(), 1 << 20).unwrap(),
        EmbeddedHotTier::new(&HotConfig::default()),
        index,
        embedder,
        config,
    );
    // Let both workers start their loops.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(engine);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match EmbeddedColdStore::open(dir.path(), 1 << 20) {
            Ok(_) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "a worker still holds the store: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn engine_in(
    dir: &std::path::Path,
) -> Engine<EmbeddedColdStore, EmbeddedHotTier, EmbeddedIndex, HashingEmbedder> {
    let embedder = HashingEmbedder::new(64);
    let index = EmbeddedIndex::open(dir, &index_name(&embedder), 64, 1 << 20).unwrap();
    Engine::new(
        EmbeddedColdStore::open(dir, 1 << 20).unwrap(),
        EmbeddedHotTier::new(&HotConfig::default()),
        index,
        embedder,
        EngineConfig::default(),
    )
}

fn runs() -> RetentionRuns {
    RetentionRuns {
        masking: Arc::new(|_| Masking::Mask),
        describe_error: |error| error.to_string(),
    }
}

/// Waits until `done` holds, at most 10 s.
async fn eventually(mut done: impl AsyncFnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_scheduler_runs_audits_and_stops_when_its_owner_says() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(engine_in(dir.path()));
    let tenant = TenantId::parse("tenant_id", "clinic").unwrap();
    let policy = RetentionPolicy {
        policy_id: "five-years".into(),
        vertical: Vertical::Medical,
        retention_days: 1825,
        action: RetentionAction::Anonymize,
    };
    engine.put_retention_policy(&tenant, &policy).await.unwrap();
    assert!(
        engine.start_retention(Duration::ZERO, runs()).is_none(),
        "a zero interval schedules nothing"
    );

    let scheduler = engine
        .start_retention(Duration::from_millis(50), runs())
        .unwrap();
    assert!(scheduler.is_running());
    // Each run leaves an entry in the tenant's audit chain.
    eventually(
        async || engine.verify_audit(&tenant).await.unwrap().entries >= 2,
        "two scheduled runs audited",
    )
    .await;
    scheduler.stop().await;
    let after_stop = engine.verify_audit(&tenant).await.unwrap();
    assert_eq!(after_stop.first_broken, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        engine.verify_audit(&tenant).await.unwrap().entries,
        after_stop.entries,
        "no run after stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_scheduler_ends_with_its_engine() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(engine_in(dir.path()));
    let scheduler = engine
        .start_retention(Duration::from_millis(20), runs())
        .unwrap();
    drop(engine);
    let deadline = Instant::now() + Duration::from_secs(10);
    while scheduler.is_running() {
        assert!(
            Instant::now() < deadline,
            "the scheduler outlived its engine"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing holds the store open.
    eventually(
        async || EmbeddedColdStore::open(dir.path(), 1 << 20).is_ok(),
        "the store opens again",
    )
    .await;
}

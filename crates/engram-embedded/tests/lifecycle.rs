//! The engine's background workers (indexer, handover jobs) end with it:
//! once an engine is dropped, nothing holds its stores open, so the same
//! directory opens again (redb allows one opener of a file).

use std::time::{Duration, Instant};

use engram_core::engine::{Engine, EngineConfig};
use engram_core::ports::index_name;
use engram_embedded::{EmbeddedColdStore, EmbeddedHotTier, EmbeddedIndex, HotConfig};
use engram_models::HashingEmbedder;

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

//! The embedded backends against the contract suite.

use engram_embedded::{EmbeddedColdStore, EmbeddedHotTier, EmbeddedIndex, HotConfig};
use tempfile::TempDir;

async fn make_cold() -> (EmbeddedColdStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (EmbeddedColdStore::open(dir.path(), 8 << 20).unwrap(), dir)
}

async fn make_hot(window: usize) -> (EmbeddedHotTier, ()) {
    (
        EmbeddedHotTier::new(&HotConfig {
            window,
            ..HotConfig::default()
        }),
        (),
    )
}

async fn make_index(dimension: usize) -> (EmbeddedIndex, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        EmbeddedIndex::open(dir.path(), "contract", dimension, 8 << 20).unwrap(),
        dir,
    )
}

mod cold {
    use super::*;
    engram_contract::cold_store_suite!(make_cold);
}

mod hot {
    use super::*;
    engram_contract::hot_tier_suite!(make_hot);
}

mod index {
    use super::*;
    engram_contract::semantic_index_suite!(make_index);
}

//! The embedded backends against the contract suite.

use engram_crypto::keys::SubjectKeys;
use engram_crypto::sealed::{SealedCold, SealedHot};
use engram_crypto::{Keyring, MasterKey};
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

fn keys() -> SubjectKeys {
    SubjectKeys::new(Keyring::new(vec![MasterKey::new("contract", &[7; 32])]).unwrap())
}

/// The embedded store behind encryption at rest: the decorator must keep
/// every guarantee of the store it wraps.
async fn make_sealed_cold() -> (SealedCold<EmbeddedColdStore>, TempDir) {
    let (cold, dir) = make_cold().await;
    (SealedCold::new(cold, Some(keys())), dir)
}

async fn make_sealed_hot(
    window: usize,
) -> (SealedHot<EmbeddedHotTier, EmbeddedColdStore>, TempDir) {
    let (cold, dir) = make_sealed_cold().await;
    let (hot, ()) = make_hot(window).await;
    (cold.seal_hot(hot), dir)
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

mod sealed_cold {
    use super::*;
    engram_contract::cold_store_suite!(make_sealed_cold);
}

mod sealed_hot {
    use super::*;
    engram_contract::hot_tier_suite!(make_sealed_hot);
}

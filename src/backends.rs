//! Which backends engram runs on. The only place that names them.

use anyhow::Context;
use engram_core::engine::{Engine, EngineConfig};
use engram_core::ports::Embedder;
use engram_embed::HashingEmbedder;
use engram_embedded::{EmbeddedColdStore, EmbeddedHotTier, EmbeddedIndex, HotConfig};

use crate::config::ServeArgs;

pub type AppEngine = Engine<EmbeddedColdStore, EmbeddedHotTier, EmbeddedIndex, HashingEmbedder>;

/// Builds the engine on the embedded default: an in-process hot tier and
/// redb files under the data directory.
pub fn build(args: &ServeArgs) -> anyhow::Result<AppEngine> {
    let window = args.recent_window as usize;
    let dir = &args.data_dir;
    let cache = (args.store_cache_mb as usize) << 20;
    let cold = EmbeddedColdStore::open(dir, cache)
        .with_context(|| format!("opening the cold store in {}", dir.display()))?;
    let hot = EmbeddedHotTier::new(&HotConfig {
        window,
        hot_ttl: args.hot_ttl(),
        warm_ttl: args.warm_ttl(),
        max_bytes: args.hot_cache_mb * 1024 * 1024,
    });
    let embedder = HashingEmbedder::default();
    let index = EmbeddedIndex::open(dir, embedder.model(), embedder.dimension(), cache)
        .with_context(|| format!("opening the vector index in {}", dir.display()))?;
    Ok(Engine::new(
        cold,
        hot,
        index,
        embedder,
        EngineConfig {
            recent_window: window,
            ..EngineConfig::default()
        },
    ))
}

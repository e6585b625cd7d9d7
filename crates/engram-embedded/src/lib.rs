//! engram's embedded backends: what `engram` runs on with no configuration.
//! An in-process hot tier (moka), a file-backed cold store and a vector index
//! (both redb files under the data directory).
//!
//! Implements the port traits of `engram-domain` and depends on nothing else
//! of engram's but `engram-text` (the terms its lexical index shares with
//! the query side).

mod cold;
mod hot;
mod index;
mod writer;

pub use cold::EmbeddedColdStore;
pub use hot::{EmbeddedHotTier, HotConfig};
pub use index::EmbeddedIndex;

//! The engine: the write and read paths of SPEC §2 over the port traits.
//!
//! Writes go to the cold store first and are acknowledged only after it
//! committed; the hot tier is then updated (or fenced) before the call
//! returns, so the same sidecar reads its own writes; indexing runs in the
//! background. Reads go to the hot tier, fall back to the cold store on a
//! miss or a hot-tier failure, and repair the hot tier in the background.

mod compose;
mod facts;
mod indexer;
mod messages;
mod search;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::error::Result;
use crate::ids::TenantId;
use crate::importance::ImportanceRules;
use crate::ports::{ColdStore, Embedder, HotTier, SemanticIndex};

pub use compose::{ComposeQuery, ComposeResult, Timing};
pub use messages::MessageDraft;
pub use search::{SearchHit, SearchMode, SearchQuery, SearchResult};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Messages per conversation kept in the hot tier and considered as
    /// recent history by ComposeContext.
    pub recent_window: usize,
    pub importance: ImportanceRules,
    /// Capacity of the indexing queue (appends wait when it is full).
    pub index_queue: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            recent_window: 50,
            importance: ImportanceRules::default(),
            index_queue: 10_000,
        }
    }
}

/// engram's core service over a set of backends.
#[derive(Debug)]
pub struct Engine<C, H, I, E> {
    cold: C,
    hot: Arc<H>,
    index: Arc<I>,
    embedder: Arc<E>,
    indexer: mpsc::Sender<indexer::IndexJob>,
    config: EngineConfig,
}

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    /// Builds the engine and starts its background indexer (needs a Tokio
    /// runtime).
    pub fn new(cold: C, hot: H, index: I, embedder: E, config: EngineConfig) -> Self {
        let index = Arc::new(index);
        let embedder = Arc::new(embedder);
        let indexer = indexer::spawn(index.clone(), embedder.clone(), config.index_queue);
        Self {
            cold,
            hot: Arc::new(hot),
            index,
            embedder,
            indexer,
            config,
        }
    }

    /// Answers when every backend answers.
    pub async fn ready(&self) -> Result<()> {
        self.cold.ping().await?;
        self.hot.ping().await?;
        self.index.ping().await
    }

    /// Waits until everything queued for indexing so far is indexed (or
    /// given up), at most `timeout`.
    pub async fn flush_index(&self, timeout: Duration) {
        let (done, wait) = oneshot::channel();
        if self
            .indexer
            .send(indexer::IndexJob::Flush(done))
            .await
            .is_ok()
            && tokio::time::timeout(timeout, wait).await.is_err()
        {
            warn!("index flush timed out");
        }
    }

    pub fn embedder(&self) -> &E {
        &self.embedder
    }

    fn note_hot_failure(tenant: &TenantId, op: &'static str, error: &crate::Error) {
        warn!(%tenant, op, error = %error.redacted(), "hot tier degraded; using the cold store");
    }
}

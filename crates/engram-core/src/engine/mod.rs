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

use tracing::{debug, warn};

use crate::error::Result;
use crate::ids::TenantId;
use crate::importance::ImportanceRules;
use crate::ports::{ColdStore, Embedder, HotTier, SemanticIndex};

pub use compose::{ComposeQuery, ComposeResult, Timing};
pub use indexer::{IndexerConfig, SummaryConfig};
pub use messages::MessageDraft;
pub use search::{SearchHit, SearchMode, SearchQuery, SearchResult};

/// Smallest token cap of a Summarize (a fifth of the source above it).
const SUMMARIZE_MIN_TOKENS: u32 = 160;
/// Messages read per page by Summarize.
const SUMMARIZE_PAGE: usize = 1000;

/// What each tier answered to a ping.
#[derive(Debug)]
pub struct Readiness {
    pub cold: Result<()>,
    pub hot: Result<()>,
    pub index: Result<()>,
}

impl Readiness {
    /// engram serves while its source of truth answers: without the hot tier
    /// it is slower, without the index it composes without semantic recall.
    pub fn serving(&self) -> bool {
        self.cold.is_ok()
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Messages per conversation kept in the hot tier and considered as
    /// recent history by ComposeContext.
    pub recent_window: usize,
    pub importance: ImportanceRules,
    pub indexer: IndexerConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            recent_window: 50,
            importance: ImportanceRules::default(),
            indexer: IndexerConfig::default(),
        }
    }
}

/// engram's core service over a set of backends.
#[derive(Debug)]
pub struct Engine<C, H, I, E> {
    cold: Arc<C>,
    hot: Arc<H>,
    index: Arc<I>,
    embedder: Arc<E>,
    indexer: indexer::Indexer,
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
        let cold = Arc::new(cold);
        let index = Arc::new(index);
        let embedder = Arc::new(embedder);
        let indexer = indexer::spawn(
            cold.clone(),
            index.clone(),
            embedder.clone(),
            config.indexer.clone(),
        );
        Self {
            cold,
            hot: Arc::new(hot),
            index,
            embedder,
            indexer,
            config,
        }
    }

    /// Asks every tier whether it answers.
    pub async fn readiness(&self) -> Readiness {
        let (cold, hot, index) = tokio::join!(self.cold.ping(), self.hot.ping(), self.index.ping());
        Readiness { cold, hot, index }
    }

    /// What a tenant's memory holds, with at most `max_users` users.
    pub async fn memory_stats(
        &self,
        tenant: &TenantId,
        max_users: usize,
    ) -> Result<crate::model::MemoryStats> {
        self.cold.memory_stats(tenant, max_users).await
    }

    /// Compresses the messages `from_seq..=to_seq` of a conversation (0:
    /// from the start / to the end) with a vertical's template, into at
    /// most a fifth of their tokens (at least `SUMMARIZE_MIN_TOKENS`). Returns the summary and
    /// the time it took. The running summary is kept by the indexing jobs;
    /// this call only computes.
    pub async fn summarize(
        &self,
        tenant: &TenantId,
        conversation: &crate::ids::ConversationId,
        vertical: crate::summary::Vertical,
        from_seq: u64,
        to_seq: u64,
    ) -> Result<(crate::summary::Summary, Duration)> {
        let started = std::time::Instant::now();
        if to_seq != 0 && from_seq > to_seq {
            return Err(crate::Error::invalid("from_seq", "is after to_seq"));
        }
        if self
            .cold
            .conversation(tenant, conversation)
            .await?
            .is_none()
        {
            return Err(crate::Error::NotFound {
                what: "conversation",
                id: conversation.to_string(),
            });
        }
        let mut messages = Vec::new();
        let mut after = from_seq.saturating_sub(1);
        loop {
            let page = self
                .cold
                .messages_after(tenant, conversation, after, SUMMARIZE_PAGE)
                .await?;
            let full = page.len() == SUMMARIZE_PAGE;
            after = page.last().map_or(after, |m| m.seq);
            messages.extend(page.into_iter().filter(|m| to_seq == 0 || m.seq <= to_seq));
            if !full || (to_seq != 0 && after >= to_seq) {
                break;
            }
        }
        let source: u64 = messages.iter().map(|m| u64::from(m.tokens)).sum();
        let cap = u32::try_from(source / 5)
            .unwrap_or(u32::MAX)
            .max(SUMMARIZE_MIN_TOKENS);
        let summary = crate::summary::summarize(None, &messages, vertical, cap);
        Ok((summary, started.elapsed()))
    }

    /// The embedding model the semantic index is built with.
    pub fn embedding_model(&self) -> &str {
        self.embedder.model()
    }

    /// Waits until the indexing jobs due now are done (or deferred after a
    /// failure), at most `timeout`.
    pub async fn flush_index(&self, timeout: Duration) {
        if tokio::time::timeout(timeout, self.indexer.flush())
            .await
            .is_err()
        {
            warn!("index flush timed out");
        }
    }

    /// A hot-tier call failed and the cold store answered instead. Logged
    /// at debug: while Redis is down every request would log; the readiness
    /// check reports the outage once.
    fn note_hot_failure(tenant: &TenantId, op: &'static str, error: &crate::Error) {
        debug!(%tenant, op, error = %error.redacted(), "hot tier failed; using the cold store");
    }
}

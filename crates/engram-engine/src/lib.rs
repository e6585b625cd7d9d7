//! The engine: the write and read paths of SPEC §2 over the port traits.
//!
//! Writes go to the cold store first and are acknowledged only after it
//! committed; the hot tier is then updated (or fenced) before the call
//! returns, so the same sidecar reads its own writes; indexing runs in the
//! background. Reads go to the hot tier, fall back to the cold store on a
//! miss or a hot-tier failure, and repair the hot tier in the background.

mod compliance;
mod compose;
mod extract;
mod facts;
mod handover;
mod indexer;
mod messages;
mod previous;
mod schedule;
mod search;
mod summarize;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{debug, warn};

use engram_domain::error::Result;
use engram_domain::ids::TenantId;
use engram_domain::ports::{ColdStore, Embedder, HotTier, LanguageModel, SemanticIndex};
use engram_text::importance::ImportanceRules;

pub use compliance::{SubjectRecord, TierErasure};
pub use compose::{ComposeQuery, ComposeResult, Timing};
pub use extract::{Extracted, ProposedFact};
pub use handover::{HandoverJobConfig, OperatorEvent};
pub use indexer::{IndexerConfig, SummaryConfig};
pub use messages::MessageDraft;
pub use schedule::{RetentionRuns, RetentionScheduler, retention_report};
pub use search::{SearchHit, SearchMode, SearchQuery, SearchResult};
pub use summarize::Summarized;

/// Messages read per page by the background jobs and Summarize.
const READ_PAGE: usize = 500;

/// The messages of a conversation after `after_seq`, up to `to_seq` (0: to
/// the end), read page by page.
pub(crate) async fn messages_since<C: ColdStore>(
    cold: &C,
    tenant: &TenantId,
    conversation: &engram_domain::ids::ConversationId,
    after_seq: u64,
    to_seq: u64,
) -> Result<Vec<engram_domain::model::Message>> {
    let mut messages = Vec::new();
    let mut after = after_seq;
    loop {
        let page = cold
            .messages_after(tenant, conversation, after, READ_PAGE)
            .await?;
        let full = page.len() == READ_PAGE;
        after = page.last().map_or(after, |m| m.seq);
        messages.extend(page.into_iter().filter(|m| to_seq == 0 || m.seq <= to_seq));
        if !full || (to_seq != 0 && after >= to_seq) {
            return Ok(messages);
        }
    }
}

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
    /// Writes Summarize's and handovers' summaries when set; the
    /// extractive summary answers when it fails or overruns `llm_timeout`.
    pub language_model: Option<Arc<dyn LanguageModel>>,
    /// Longest wait for the language model.
    pub llm_timeout: Duration,
    /// Handover summary jobs.
    pub handover: HandoverJobConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            recent_window: 50,
            importance: ImportanceRules::default(),
            indexer: IndexerConfig::default(),
            language_model: None,
            llm_timeout: Duration::from_secs(30),
            handover: HandoverJobConfig::default(),
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
    /// The previous model's index, answering while the current one
    /// catches up.
    previous: Option<previous::Previous<I, E>>,
    indexer: indexer::Indexer,
    handovers: handover::Handovers,
    /// The background workers' tasks: a worker ends only with its engine,
    /// so one that finished before has panicked.
    workers: [(&'static str, JoinHandle<()>); 2],
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
        Self::with_previous_index(cold, hot, index, embedder, None, config)
    }

    /// Builds the engine with the index of the embedding model used before
    /// `embedder` and that model's embedder: they answer a tenant's
    /// semantic queries until `index` caught up with the tenant's stored
    /// messages, and deletions reach both.
    pub fn with_previous_index(
        cold: C,
        hot: H,
        index: I,
        embedder: E,
        previous: Option<(I, E)>,
        config: EngineConfig,
    ) -> Self {
        let cold = Arc::new(cold);
        let index = Arc::new(index);
        let previous = previous
            .map(|(index, old_embedder)| previous::Previous::new(index, old_embedder, &embedder));
        let embedder = Arc::new(embedder);
        let (indexer, indexing) = indexer::spawn(
            cold.clone(),
            index.clone(),
            previous.as_ref().map(|p| p.index.clone()),
            embedder.clone(),
            config.indexer.clone(),
        );
        let (handovers, summarizing) = handover::spawn(
            cold.clone(),
            config.language_model.clone(),
            config.llm_timeout,
            config.indexer.summary.vertical,
            config.handover.clone(),
        );
        Self {
            cold,
            hot: Arc::new(hot),
            index,
            embedder,
            previous,
            indexer,
            handovers,
            workers: [("indexer", indexing), ("handover", summarizing)],
            config,
        }
    }

    /// Asks every tier whether it answers.
    pub async fn readiness(&self) -> Readiness {
        let (cold, hot, index) = tokio::join!(self.cold.ping(), self.hot.ping(), self.index.ping());
        Readiness { cold, hot, index }
    }

    /// The engine's background workers, and whether each still runs (a
    /// worker ends only with its engine; one that stopped before has
    /// panicked, and its queue waits in the cold store).
    pub fn workers(&self) -> [(&'static str, bool); 2] {
        self.workers
            .each_ref()
            .map(|(name, task)| (*name, !task.is_finished()))
    }

    /// The hot tier (for what only its implementation can tell).
    pub fn hot(&self) -> &H {
        &self.hot
    }

    /// The indexing jobs pending over every tenant, and when the oldest was
    /// written.
    pub async fn index_backlog(&self) -> Result<engram_domain::model::OutboxStats> {
        let mut total = engram_domain::model::OutboxStats::default();
        for tenant in self.cold.outbox_tenants().await? {
            let stats = self.cold.outbox_stats(&tenant).await?;
            total.pending += stats.pending;
            total.oldest = match (total.oldest, stats.oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(total)
    }

    /// The handover summary jobs queued over every tenant.
    pub async fn handover_backlog(&self) -> Result<u64> {
        let mut total = 0;
        for tenant in self.cold.handover_job_tenants().await? {
            total += self.cold.handover_jobs_queued(&tenant).await?;
        }
        Ok(total)
    }

    /// What a tenant's memory holds, with at most `max_users` users.
    pub async fn memory_stats(
        &self,
        tenant: &TenantId,
        max_users: usize,
    ) -> Result<engram_domain::model::MemoryStats> {
        self.cold.memory_stats(tenant, max_users).await
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
    fn note_hot_failure(tenant: &TenantId, op: &'static str, error: &engram_domain::Error) {
        debug!(%tenant, op, error = %error.redacted(), "hot tier failed; using the cold store");
    }
}

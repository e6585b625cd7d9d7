//! The indexing worker: takes the cold store's outbox jobs, embeds the
//! messages in batches, upserts them into the semantic index, and removes
//! the jobs once the index has them.
//!
//! The outbox is written in the transaction of each append and deletion,
//! so nothing acknowledged is ever missing from the index for longer than
//! the worker's lag, whatever crashes: a job is leased while it is worked
//! on, taken again when its lease expires, and retried with backoff when
//! the embedder or the index fails. Jobs of a conversation are done in
//! order, so a deletion is never overtaken by an older upsert.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use engram_backoff::Backoff;
use engram_context::summary::summarize;
use engram_domain::error::Result;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Conversation, Message, OutboxJob, OutboxOp, Role};
use engram_domain::ports::{ColdStore, EmbedKind, Embedder, IndexPoint, SemanticIndex, index_name};
use engram_domain::summary::Vertical;
use engram_domain::time::Timestamp;

/// Jobs claimed at once.
const CLAIM: usize = 64;
/// Messages read from the cold store at once.
const READ: usize = 256;
/// When a failed job is tried again: from its first retry, doubling, jittered.
const RETRY: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));

/// Indexing settings.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// How often every tenant's outbox is checked for jobs this sidecar was
    /// not told about (another sidecar's, a crashed run's, retries).
    pub sweep: Duration,
    /// Texts per embedding request.
    pub embed_batch: usize,
    /// The running summaries the worker keeps up to date.
    pub summary: SummaryConfig,
    /// How long a claimed job is reserved for this worker: longer than a
    /// batch takes to embed, short enough that the jobs of a crashed
    /// sidecar are soon taken by another (or by its restart).
    pub lease: Duration,
    /// How long the worker, woken by an append, waits for more before it
    /// claims: appends come in streams, and one claim, one embedding
    /// request and one removal for several of them cost what each of them
    /// alone would. It adds at most this much to the indexing lag; a
    /// flush does not wait.
    pub gather: Duration,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self {
            sweep: Duration::from_secs(2),
            embed_batch: 32,
            summary: SummaryConfig::default(),
            lease: Duration::from_secs(30),
            gather: Duration::from_millis(20),
        }
    }
}

/// How running summaries are kept.
#[derive(Debug, Clone)]
pub struct SummaryConfig {
    /// A conversation's summary is refreshed once it has this many
    /// messages more than the summary covers.
    pub every: u64,
    pub vertical: Vertical,
    /// Most tokens of a summary's text.
    pub max_tokens: u32,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        Self {
            every: 10,
            vertical: Vertical::General,
            max_tokens: 400,
        }
    }
}

/// Talks to the running worker.
#[derive(Debug, Clone)]
pub(crate) struct Indexer {
    hints: mpsc::Sender<TenantId>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
}

impl Indexer {
    /// Tells the worker that a tenant has new jobs (best effort: the sweep
    /// finds them anyway).
    pub(crate) fn hint(&self, tenant: &TenantId) {
        let _ = self.hints.try_send(tenant.clone());
    }

    /// Waits until the jobs due now are done (or retried later).
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.flushes.send(done).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// What is embedded for a message: the end of the turn before it in its
/// conversation (at most `PASSAGE_CONTEXT` characters) when another party
/// wrote it, then the message.
/// A reply is found through the question it answers: on LoCoMo, dense
/// retrieval finds 10 points more evidence at depths 10–40 than with the
/// message alone (BENCHMARKS.md). The version of this rule is part of the
/// index's identity (`ports::PASSAGES`): changing it re-indexes.
pub(crate) fn passage(previous: Option<&str>, content: &str) -> String {
    match previous.map(str::trim).filter(|p| !p.is_empty()) {
        None => content.to_string(),
        Some(previous) => {
            let start = previous
                .char_indices()
                .rev()
                .nth(PASSAGE_CONTEXT - 1)
                .map_or(0, |(i, _)| i);
            format!("{}\n{content}", &previous[start..])
        }
    }
}

/// Characters of the previous turn a passage carries.
const PASSAGE_CONTEXT: usize = 600;

/// How many of the leading index jobs make one run: at least the first,
/// then more while their messages fit in one embedding request.
fn index_run(jobs: &[OutboxJob], embed_batch: usize) -> usize {
    let mut messages = 0;
    jobs.iter()
        .take_while(|j| match j.op {
            OutboxOp::Index { from_seq, to_seq } => {
                let first = messages == 0;
                messages += to_seq.saturating_sub(from_seq) + 1;
                first || messages <= embed_batch.max(1) as u64
            }
            OutboxOp::Delete => false,
        })
        .count()
}

struct Worker<C, I, E> {
    cold: Arc<C>,
    index: Arc<I>,
    /// The previous model's index: deletions reach it too.
    previous: Option<Arc<I>>,
    embedder: Arc<E>,
    config: IndexerConfig,
}

pub(crate) fn spawn<C: ColdStore, I: SemanticIndex, E: Embedder>(
    cold: Arc<C>,
    index: Arc<I>,
    previous: Option<Arc<I>>,
    embedder: Arc<E>,
    config: IndexerConfig,
) -> (Indexer, JoinHandle<()>) {
    let (hints, hint_rx) = mpsc::channel(4096);
    let (flushes, flush_rx) = mpsc::channel(16);
    let worker = Worker {
        cold,
        index,
        previous,
        embedder,
        config,
    };
    let task = tokio::spawn(worker.run(hint_rx, flush_rx));
    (Indexer { hints, flushes }, task)
}

impl<C: ColdStore, I: SemanticIndex, E: Embedder> Worker<C, I, E> {
    async fn run(
        self,
        mut hints: mpsc::Receiver<TenantId>,
        mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    ) {
        let mut sweep = tokio::time::interval(self.config.sweep);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tenants = BTreeSet::new();
        let mut seen = HashSet::new();
        // Every tenant's messages, queued once for an index that has not
        // had them (a new model, passages built another way).
        match self.cold.tenants().await {
            Ok(found) => tenants.extend(found),
            Err(error) => debug!(error = %error.redacted(), "listing tenants failed"),
        }
        // The sweep's first tick is at once: those tenants are queued and
        // drained below before anything else.
        loop {
            let mut flushed = None;
            tokio::select! {
                hint = hints.recv() => match hint {
                    Some(tenant) => {
                        tenants.insert(tenant);
                        tokio::select! {
                            _ = tokio::time::sleep(self.config.gather) => {}
                            Some(done) = flushes.recv() => {
                                self.sweep(&mut tenants).await;
                                flushed = Some(done);
                            }
                        }
                    }
                    None => return,
                },
                _ = sweep.tick() => self.sweep(&mut tenants).await,
                Some(done) = flushes.recv() => {
                    self.sweep(&mut tenants).await;
                    flushed = Some(done);
                }
            }
            while let Ok(tenant) = hints.try_recv() {
                tenants.insert(tenant);
            }
            self.queue_reindex(&tenants, &mut seen).await;
            self.drain(&mut tenants, flushed.is_some()).await;
            if let Some(done) = flushed {
                let _ = done.send(());
            }
        }
    }

    /// Queues the re-indexing of the tenants not seen yet by this worker
    /// for the index it fills (a no-op for those whose messages were queued
    /// for it before).
    async fn queue_reindex(&self, tenants: &BTreeSet<TenantId>, seen: &mut HashSet<TenantId>) {
        let index = index_name(self.embedder.as_ref());
        for tenant in tenants {
            if seen.contains(tenant) {
                continue;
            }
            match self
                .cold
                .queue_reindex(tenant, &index, Timestamp::now())
                .await
            {
                Ok(queued) => {
                    if queued > 0 {
                        info!(%tenant, queued, index = %index, "messages queued for a new index");
                    }
                    seen.insert(tenant.clone());
                }
                Err(error) => {
                    debug!(%tenant, error = %error.redacted(), "queueing a re-index failed")
                }
            }
        }
    }

    async fn sweep(&self, tenants: &mut BTreeSet<TenantId>) {
        match self.cold.outbox_tenants().await {
            Ok(found) => tenants.extend(found),
            Err(error) => debug!(error = %error.redacted(), "outbox sweep failed"),
        }
    }

    /// Works through every tenant's due jobs, a batch per tenant in turn.
    /// A claim that found fewer than it could take has emptied the
    /// tenant's queue: what was appended since is gathered for the next
    /// round (its hints wake the worker), unless `until_empty`.
    async fn drain(&self, tenants: &mut BTreeSet<TenantId>, until_empty: bool) {
        while !tenants.is_empty() {
            for tenant in tenants.clone() {
                let now = Timestamp::now();
                let lease_until = now.plus(self.config.lease);
                match self
                    .cold
                    .claim_outbox(&tenant, CLAIM, now, lease_until)
                    .await
                {
                    Ok(jobs) if jobs.is_empty() => {
                        tenants.remove(&tenant);
                    }
                    Ok(jobs) => {
                        let emptied = jobs.len() < CLAIM && !until_empty;
                        if !self.process(&tenant, jobs).await || emptied {
                            tenants.remove(&tenant);
                        }
                    }
                    Err(error) => {
                        debug!(%tenant, error = %error.redacted(), "outbox claim failed");
                        tenants.remove(&tenant);
                    }
                }
            }
        }
    }

    /// Does claimed jobs in order, in runs of about one embedding request
    /// each, and removes each run's jobs as soon as it is done: a failure
    /// (a model server that timed out) releases for a retry only the run
    /// that failed and the later ones, never the work already done.
    /// Returns false after a failure.
    async fn process(&self, tenant: &TenantId, jobs: Vec<OutboxJob>) -> bool {
        let mut i = 0;
        while i < jobs.len() {
            let end = match jobs[i].op {
                OutboxOp::Delete => i + 1,
                OutboxOp::Index { .. } => i + index_run(&jobs[i..], self.config.embed_batch),
            };
            let run = &jobs[i..end];
            let done = match run[0].op {
                OutboxOp::Delete => {
                    self.delete_conversation(tenant, &run[0].user_id, &run[0].conversation_id)
                        .await
                }
                OutboxOp::Index { .. } => self.index_messages(tenant, run).await,
            };
            let ids: Vec<u64> = run.iter().map(|j| j.id).collect();
            let outcome = match done {
                Ok(()) => self.cold.finish_outbox(tenant, &ids).await,
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                self.release(tenant, &jobs[i..], &error).await;
                return false;
            }
            i = end;
        }
        true
    }

    async fn release(&self, tenant: &TenantId, jobs: &[OutboxJob], error: &engram_domain::Error) {
        let attempts = jobs[0].attempts;
        let delay = RETRY.delay(attempts);
        warn!(
            %tenant,
            attempts,
            retry_in_ms = delay.as_millis() as u64,
            error = %error.redacted(),
            "indexing failed; will retry"
        );
        let ids: Vec<u64> = jobs.iter().map(|j| j.id).collect();
        let not_before = Timestamp::now().plus(delay);
        if let Err(error) = self.cold.defer_outbox(tenant, &ids, not_before).await {
            // The leases expire by themselves.
            debug!(%tenant, error = %error.redacted(), "outbox deferral failed");
        }
    }

    async fn index_messages(&self, tenant: &TenantId, jobs: &[OutboxJob]) -> Result<()> {
        let positions: Vec<(ConversationId, u64)> = jobs
            .iter()
            .flat_map(|j| match j.op {
                OutboxOp::Index { from_seq, to_seq } => (from_seq..=to_seq)
                    .map(|seq| (j.conversation_id.clone(), seq))
                    .collect(),
                OutboxOp::Delete => Vec::new(),
            })
            .collect();
        for chunk in positions.chunks(READ) {
            let messages = self.cold.messages_at(tenant, chunk).await?;
            let previous = if self.embedder.contextual_passages() {
                self.previous_turns(tenant, &messages).await?
            } else {
                HashMap::new()
            };
            for batch in messages.chunks(self.config.embed_batch.max(1)) {
                self.upsert(tenant, batch, &previous).await?;
            }
        }
        // A conversation deleted while its messages were being embedded
        // must not keep points: its deletion job may have run already.
        let conversations: HashSet<(&UserId, &ConversationId)> = jobs
            .iter()
            .map(|j| (&j.user_id, &j.conversation_id))
            .collect();
        for (user, conversation) in conversations {
            match self.cold.conversation(tenant, conversation).await? {
                None => {
                    self.index
                        .delete_conversation(tenant, user, conversation)
                        .await
                        .map(drop)?;
                }
                Some(meta) => self.refresh_summary(tenant, &meta).await?,
            }
        }
        Ok(())
    }

    /// Removes a conversation's points from the index, and from the
    /// previous model's if there is one.
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversation: &ConversationId,
    ) -> Result<()> {
        for index in std::iter::once(&self.index).chain(&self.previous) {
            index
                .delete_conversation(tenant, user, conversation)
                .await?;
        }
        Ok(())
    }

    /// Extends the conversation's running summary with the messages it
    /// does not cover yet, once there are `summary.every` of them. Part of
    /// the indexing job, so a crash before it is done redoes it.
    async fn refresh_summary(&self, tenant: &TenantId, meta: &Conversation) -> Result<()> {
        let config = &self.config.summary;
        let conversation = &meta.conversation_id;
        let previous = self.cold.summary(tenant, conversation).await?;
        let done = previous.as_ref().map_or(0, |s| s.to_seq);
        if config.every == 0 || meta.last_seq < done + config.every {
            return Ok(());
        }
        let messages =
            super::messages_since(self.cold.as_ref(), tenant, conversation, done, 0).await?;
        let summary = summarize(
            previous.as_ref(),
            &messages,
            config.vertical,
            config.max_tokens,
        );
        self.cold.put_summary(tenant, conversation, &summary).await
    }

    /// The content of the turn before each of `messages` in its
    /// conversation, by (conversation, seq) of that turn.
    async fn previous_turns(
        &self,
        tenant: &TenantId,
        messages: &[Message],
    ) -> Result<HashMap<(ConversationId, u64), (Role, String)>> {
        let mut found: HashMap<(ConversationId, u64), (Role, String)> = messages
            .iter()
            .map(|m| {
                (
                    (m.conversation_id.clone(), m.seq),
                    (m.role, m.content.clone()),
                )
            })
            .collect();
        let missing: Vec<(ConversationId, u64)> = messages
            .iter()
            .filter(|m| m.seq > 1)
            .map(|m| (m.conversation_id.clone(), m.seq - 1))
            .filter(|key| !found.contains_key(key))
            .collect();
        for chunk in missing.chunks(READ) {
            for m in self.cold.messages_at(tenant, chunk).await? {
                found.insert((m.conversation_id, m.seq), (m.role, m.content));
            }
        }
        Ok(found)
    }

    async fn upsert(
        &self,
        tenant: &TenantId,
        messages: &[Message],
        previous: &HashMap<(ConversationId, u64), (Role, String)>,
    ) -> Result<()> {
        let texts: Vec<String> = messages
            .iter()
            .map(|m| {
                // The other party's turn: what this one answers. (A turn
                // of the same party would lend its meaning to the next
                // message, which then outranks it.)
                let before = m
                    .seq
                    .checked_sub(1)
                    .and_then(|seq| previous.get(&(m.conversation_id.clone(), seq)))
                    .filter(|(role, _)| *role != m.role);
                passage(before.map(|(_, content)| content.as_str()), &m.content)
            })
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = self.embedder.embed(&texts, EmbedKind::Passage).await?;
        let points = messages
            .iter()
            .zip(vectors)
            .map(|(m, vector)| IndexPoint {
                user_id: m.user_id.clone(),
                conversation_id: m.conversation_id.clone(),
                seq: m.seq,
                role: m.role,
                created_at: m.created_at,
                vector,
            })
            .collect();
        self.index.upsert(tenant, points).await
    }
}

#[cfg(test)]
mod tests {
    use engram_domain::ids::{ConversationId, UserId};

    use super::*;

    fn job(op: OutboxOp) -> OutboxJob {
        OutboxJob {
            id: 1,
            conversation_id: ConversationId::parse("c", "c1").unwrap(),
            user_id: UserId::parse("u", "u1").unwrap(),
            op,
            attempts: 1,
            created_at: Timestamp(0),
        }
    }

    fn index(from_seq: u64, to_seq: u64) -> OutboxJob {
        job(OutboxOp::Index { from_seq, to_seq })
    }

    #[test]
    fn a_passage_is_the_end_of_the_previous_turn_then_the_message() {
        assert_eq!(passage(None, "sim, às 15h"), "sim, às 15h");
        assert_eq!(passage(Some("  "), "sim"), "sim");
        assert_eq!(
            passage(Some("Pode ser amanhã?"), "sim, às 15h"),
            "Pode ser amanhã?\nsim, às 15h"
        );
        let long = format!("início {}", "é".repeat(PASSAGE_CONTEXT));
        let p = passage(Some(&long), "ok");
        assert_eq!(p, format!("{}\nok", "é".repeat(PASSAGE_CONTEXT)));
    }

    #[test]
    fn a_run_is_about_one_embedding_request() {
        let ones: Vec<OutboxJob> = (1..=10).map(|s| index(s, s)).collect();
        assert_eq!(index_run(&ones, 4), 4);
        assert_eq!(index_run(&ones[8..], 4), 2);
        // A job larger than a request is a run of its own.
        let big = [index(1, 50), index(51, 51)];
        assert_eq!(index_run(&big, 32), 1);
        // A deletion ends a run.
        let mixed = [index(1, 1), job(OutboxOp::Delete), index(2, 2)];
        assert_eq!(index_run(&mixed, 32), 1);
    }
}

//! The port traits every backend implements.
//!
//! Each trait is one tier of SPEC §2: the cold store (source of truth), the
//! hot tier (a cache that may lose anything at any time), the semantic index
//! and the embedder. Every method is scoped by a tenant: an implementation
//! must never return or touch another tenant's data, whatever ids it gets.
//! The `engram-contract` crate holds the test suite each implementation must
//! pass.

use std::future::Future;

use crate::audit::{AuditEntry, NewAuditEntry};
use crate::error::Result;
use crate::handover::{Handover, HandoverEnd, HandoverSummary, NewHandover};
use crate::ids::{ConversationId, FactKey, HandoverId, TenantId, UserId};
use crate::model::WrappedKey;
use crate::model::{
    Appended, Conversation, ConversationCursor, Fact, FactInput, HistoryTotals, MemoryStats,
    Message, MessageFilter, NewMessage, OutboxJob, OutboxStats, PutFactResult, RecentWindow, Role,
    Scope, ScoredMessage,
};
use crate::retention::RetentionPolicy;
use crate::summary::Summary;
use crate::time::Timestamp;

/// What an append wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendOutcome {
    /// The conversation after the append.
    pub conversation: Conversation,
    /// One entry per appended message, in request order.
    pub messages: Vec<Appended>,
}

/// A user's current facts at a revision of their fact set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FactSnapshot {
    /// Increases with every change to the user's facts.
    pub rev: u64,
    /// Current facts, ordered by key.
    pub facts: Vec<Fact>,
}

/// The outcome of a fact write.
#[derive(Debug, Clone, PartialEq)]
pub struct FactWrite<T> {
    /// The user's fact revision after the write.
    pub rev: u64,
    pub value: T,
}

/// The cold tier: durable, the source of truth.
///
/// A method that returns `Ok` after writing has made the write durable.
/// A write that returns `Err` wrote nothing.
pub trait ColdStore: Send + Sync + 'static {
    /// Appends messages to a conversation atomically, creating it on first
    /// use. Sequence numbers continue the conversation's, gap-free. A message
    /// whose client-supplied id is already stored is returned as
    /// `deduplicated` when its role and content are the same, and fails the
    /// whole append with `AlreadyExists` otherwise. Appending with a user
    /// other than the conversation's fails with `FailedPrecondition`.
    /// The same transaction writes an indexing job for the new messages.
    fn append(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        user: &UserId,
        messages: Vec<NewMessage>,
        now: Timestamp,
    ) -> impl Future<Output = Result<AppendOutcome>> + Send;

    /// The conversation's metadata, if it exists.
    fn conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> impl Future<Output = Result<Option<Conversation>>> + Send;

    /// The conversation's metadata and its last `limit` messages.
    fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> impl Future<Output = Result<Option<RecentWindow>>> + Send;

    /// Up to `limit` messages with `seq > after_seq`, in sequence order.
    fn messages_after(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Message>>> + Send;

    /// The messages at these (conversation, seq) positions that exist, in
    /// the order given.
    fn messages_at(
        &self,
        tenant: &TenantId,
        positions: &[(ConversationId, u64)],
    ) -> impl Future<Output = Result<Vec<Message>>> + Send;

    /// A user's conversations, most recently updated first, after `cursor`.
    fn list_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
        cursor: Option<&ConversationCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Conversation>>> + Send;

    /// What the user's whole history holds: the sums over their
    /// conversations. (Pages through `list_conversations`; a store that
    /// can sum in one query should.)
    fn user_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<HistoryTotals>> + Send {
        async move {
            const PAGE: usize = 1000;
            let mut totals = HistoryTotals::default();
            let mut cursor = None;
            loop {
                let page = self
                    .list_conversations(tenant, user, cursor.as_ref(), PAGE)
                    .await?;
                for c in &page {
                    totals.add(c);
                }
                match page.last() {
                    Some(last) if page.len() == PAGE => {
                        cursor = Some(ConversationCursor::after(last))
                    }
                    _ => return Ok(totals),
                }
            }
        }
    }

    /// Deletes a conversation and its messages, and writes an indexing job
    /// that removes its points, in one transaction. Returns the deleted
    /// conversation, or `None` when it did not exist.
    fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> impl Future<Output = Result<Option<Conversation>>> + Send;

    /// Lexical search in the scope, best first, at most `limit` hits.
    fn search_lexical(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        query: &str,
        filter: &MessageFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ScoredMessage>>> + Send;

    /// Applies each input with the temporal semantics of `facts::plan_put`,
    /// each one atomically and all of them in one transaction.
    fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        facts: Vec<FactInput>,
        now: Timestamp,
    ) -> impl Future<Output = Result<FactWrite<Vec<PutFactResult>>>> + Send;

    /// The revision of the user's fact set (0 when the user has no facts
    /// row): one cheap read that a cached snapshot is checked against.
    fn fact_rev(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// The user's current facts with their revision.
    fn current_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<FactSnapshot>> + Send;

    /// The versions in effect at `at`, one per key, ordered by key.
    fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> impl Future<Output = Result<Vec<Fact>>> + Send;

    /// Every version of a key, ordered by (valid_at, version).
    fn fact_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
    ) -> impl Future<Output = Result<Vec<Fact>>> + Send;

    /// Ends the current version of a key at `at`. `NotFound` when the key has
    /// no current version; `InvalidArgument` when `at` is before its
    /// `valid_at`.
    fn invalidate_fact(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
        at: Timestamp,
    ) -> impl Future<Output = Result<FactWrite<Fact>>> + Send;

    /// Stores the running summary of a conversation, unless a summary that
    /// reaches further (`to_seq`) is already stored.
    fn put_summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        summary: &Summary,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The running summary of a conversation.
    fn summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> impl Future<Output = Result<Option<Summary>>> + Send;

    /// The running summaries of the user's most recently updated
    /// conversations, most recent first, at most `limit`.
    fn user_summaries(
        &self,
        tenant: &TenantId,
        user: &UserId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(ConversationId, Summary)>>> + Send;

    /// Tenants that hold conversations.
    fn tenants(&self) -> impl Future<Output = Result<Vec<TenantId>>> + Send;

    /// Queues the indexing of every stored message of the tenant that no
    /// pending job covers (one job per slice of at most `REINDEX_SLICE`
    /// messages of a conversation) for the semantic index named `index`,
    /// and records that it did, in one transaction — unless it was recorded
    /// for that index before: then nothing is written. Returns the messages
    /// queued (none for a new tenant, whose messages all have their jobs).
    /// What a new index (of another embedding model, or passages built
    /// another way) is filled from.
    fn queue_reindex(
        &self,
        tenant: &TenantId,
        index: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Whether the index named `index` holds every message the tenant had
    /// when its filling was queued: `queue_reindex` recorded it and no
    /// indexing job queued then or before is pending. True for a tenant
    /// with nothing stored. Until then, a previous model's index answers
    /// (`Engine::with_previous_index`).
    fn index_caught_up(
        &self,
        tenant: &TenantId,
        index: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Tenants that have indexing jobs pending.
    fn outbox_tenants(&self) -> impl Future<Output = Result<Vec<TenantId>>> + Send;

    /// Claims up to `limit` of the tenant's indexing jobs, oldest first, and
    /// leases them until `lease_until`. A job is claimable when it is due
    /// (`defer_outbox` time passed), its lease (if any) expired, and no
    /// earlier job of its conversation is leased: jobs of one conversation
    /// are done in order, and two claims never return the same job while it
    /// is leased.
    fn claim_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> impl Future<Output = Result<Vec<OutboxJob>>> + Send;

    /// Removes jobs that are done.
    fn finish_outbox(
        &self,
        tenant: &TenantId,
        ids: &[u64],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Releases claimed jobs to be retried from `not_before`.
    fn defer_outbox(
        &self,
        tenant: &TenantId,
        ids: &[u64],
        not_before: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The tenant's pending indexing jobs: how many, and when the oldest
    /// was written (cheap: read every few seconds for the metrics).
    fn outbox_stats(&self, tenant: &TenantId) -> impl Future<Output = Result<OutboxStats>> + Send;

    /// What the tenant's memory holds, with at most `max_users` users.
    fn memory_stats(
        &self,
        tenant: &TenantId,
        max_users: usize,
    ) -> impl Future<Output = Result<MemoryStats>> + Send;

    /// Records a handover: the AI is paused on the conversation.
    /// `NotFound` for an unknown conversation; `FailedPrecondition` when
    /// the conversation has an active handover (at most one at a time,
    /// whatever the number of sidecars).
    fn start_handover(
        &self,
        tenant: &TenantId,
        handover: NewHandover,
    ) -> impl Future<Output = Result<Handover>> + Send;

    /// Ends the active handover and queues its summary job, in one
    /// transaction. `NotFound` for an unknown handover (or one of another
    /// conversation); `FailedPrecondition` when it already ended.
    fn end_handover(
        &self,
        tenant: &TenantId,
        end: HandoverEnd,
    ) -> impl Future<Output = Result<Handover>> + Send;

    /// The active handover of a conversation, or else its last one.
    fn handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> impl Future<Output = Result<Option<Handover>>> + Send;

    /// How many handover summary jobs of the tenant are queued (claimed
    /// or not), for the metrics.
    fn handover_jobs_queued(&self, tenant: &TenantId) -> impl Future<Output = Result<u64>> + Send;

    /// Tenants with handover summary jobs queued.
    fn handover_job_tenants(&self) -> impl Future<Output = Result<Vec<TenantId>>> + Send;

    /// Claims up to `limit` due summary jobs of the tenant (ended
    /// handovers without a summary whose retry time passed and whose lease,
    /// if any, expired), oldest first, and leases them until
    /// `lease_until`. Two claims never return the same job while it is
    /// leased.
    fn claim_handover_jobs(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> impl Future<Output = Result<Vec<Handover>>> + Send;

    /// Stores the summary of a claimed handover unless it has one: returns
    /// false when another worker stored one first (one summary per
    /// handover, even when a lease expired under a slow worker).
    fn finish_handover_job(
        &self,
        tenant: &TenantId,
        handover: &Handover,
        summary: &HandoverSummary,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Releases a claimed job to be retried from `not_before`.
    fn defer_handover_job(
        &self,
        tenant: &TenantId,
        handover: &HandoverId,
        not_before: Timestamp,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Every version of every fact key of a user, ordered by key, then
    /// (valid_at, version): what a data-subject export holds.
    fn all_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<Vec<Fact>>> + Send;

    /// Erases everything held on a user, in one transaction: conversations
    /// with their messages, summaries, handovers and pending indexing jobs;
    /// facts with their history and revision; lexical postings. Writes no
    /// job back: the caller removes the index points itself.
    fn erase_user(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<ColdErasure>> + Send;

    /// Records still held on a user or on any of `conversations` (0 after
    /// an erasure): the erasure's verification, read straight from the store.
    fn user_residue(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversations: &[ConversationId],
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Appends an audit entry at the head of the tenant's chain (see
    /// [`crate::audit`]): the sequence number and hash are given under a
    /// lock on the head, so that concurrent writers extend one chain.
    fn append_audit(
        &self,
        tenant: &TenantId,
        entry: NewAuditEntry,
        at: Timestamp,
    ) -> impl Future<Output = Result<AuditEntry>> + Send;

    /// Audit entries after `after_seq`, in order, at most `limit`.
    fn audit_entries(
        &self,
        tenant: &TenantId,
        after_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>>> + Send;

    /// The head of the tenant's chain as the store records it (seq, hash).
    fn audit_head(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<(u64, Vec<u8>)>>> + Send;

    /// Creates or replaces a retention policy (by id).
    fn put_retention_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The tenant's retention policies, by id.
    fn retention_policies(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<RetentionPolicy>>> + Send;

    /// Places (`hold`) or releases a legal hold on a user.
    fn set_legal_hold(
        &self,
        tenant: &TenantId,
        user: &UserId,
        hold: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Tenants that have a retention policy.
    fn retention_tenants(&self) -> impl Future<Output = Result<Vec<TenantId>>> + Send;

    /// The users under a legal hold.
    fn legal_holds(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<UserId>>> + Send;

    /// Conversations last updated before `before` and not anonymized yet,
    /// ordered by id, after `after`, at most `limit`.
    fn expired_conversations(
        &self,
        tenant: &TenantId,
        before: Timestamp,
        after: Option<&ConversationId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Conversation>>> + Send;

    /// Replaces the content of the conversation's messages (`(seq,
    /// content)`), drops its running summary and its handovers' notes and
    /// summaries, marks it anonymized, moves its `updated_at` on by 1 µs
    /// (the row must change with the contents: it is what a cached window
    /// is checked against) and queues its re-indexing, in one
    /// transaction — unless the conversation changed since it was read
    /// (`last_seq`): then nothing is written and false is returned.
    fn anonymize_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        last_seq: u64,
        contents: Vec<(u64, String)>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The wrapped data key of one of the tenant's subjects (a user id, or
    /// "" for the tenant's own key), if one is stored.
    fn data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
    ) -> impl Future<Output = Result<Option<WrappedKey>>> + Send;

    /// Stores `key` as the subject's data key unless one is stored, and
    /// returns the stored one: of two sidecars creating it at once, both
    /// end up using the first one's.
    fn insert_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        key: WrappedKey,
    ) -> impl Future<Output = Result<WrappedKey>> + Send;

    /// Replaces the subject's data key with `key` (the same key wrapped by
    /// another master key) if it is still wrapped by `previous_master`;
    /// false when it is not (re-wrapped meanwhile, or erased).
    fn rewrap_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        previous_master: &str,
        key: WrappedKey,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Answers when the store can serve requests.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
}

/// What an erasure removed from the cold store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColdErasure {
    /// The user's conversations (their ids: the other tiers are keyed by
    /// them).
    pub conversations: Vec<ConversationId>,
    pub messages: u64,
    /// Fact versions.
    pub facts: u64,
    pub summaries: u64,
    pub handovers: u64,
    /// Pending indexing jobs.
    pub outbox_jobs: u64,
    /// The user's data key (encryption at rest): 1 when there was one.
    pub data_keys: u64,
}

impl ColdErasure {
    /// Records removed from the cold store proper (jobs are reported as
    /// their own tier).
    pub fn records(&self) -> u64 {
        self.conversations.len() as u64
            + self.messages
            + self.facts
            + self.summaries
            + self.handovers
            + self.data_keys
    }
}

/// The hot/warm tier: a cache. It may forget anything at any time, and a
/// shared one (Redis) may even roll back (a failover to a lagging replica, a
/// restart from an old snapshot): the engine serves an entry only when its
/// revision is the one the cold store holds now (`Engine::window`,
/// `Engine::current_facts`), so correctness never rests on the tier.
///
/// Entries carry a revision (a conversation's `last_seq`, a user's fact
/// revision). `fence_*(rev)` drops a cached entry older than `rev` and
/// refuses any later `put_*` older than `rev`; a `put_*` never replaces a
/// newer entry. This is what keeps a slow read-repair from re-installing data
/// that a write has already superseded, so that the cache keeps hitting.
pub trait HotTier: Send + Sync + 'static {
    /// The cached window of a conversation.
    fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> impl Future<Output = Result<Option<RecentWindow>>> + Send;

    /// Caches a window read from the cold store (revision: its `last_seq`).
    fn put_recent(
        &self,
        tenant: &TenantId,
        window: RecentWindow,
    ) -> impl Future<Output = Result<()>> + Send;

    /// After an append committed: extends the cached window with `messages`
    /// when it ends right before them, and otherwise fences the conversation
    /// at `conversation.last_seq`.
    fn extend_recent(
        &self,
        tenant: &TenantId,
        conversation: &Conversation,
        messages: &[Message],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Drops the conversation's window and refuses windows older than `rev`.
    fn fence_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        rev: u64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The cached current facts of a user.
    fn facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<FactSnapshot>>> + Send;

    /// Caches a user's current facts read from the cold store.
    fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        snapshot: FactSnapshot,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Drops the user's facts and refuses snapshots older than `rev`.
    fn fence_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        rev: u64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Answers when the tier can serve requests.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;

    /// True when fences also reach other sidecars' near-caches (through the
    /// invalidation bus).
    fn reaches_near_caches(&self) -> bool {
        false
    }
}

/// One embedded message in the semantic index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPoint {
    pub user_id: UserId,
    pub conversation_id: ConversationId,
    pub seq: u64,
    pub role: Role,
    pub created_at: Timestamp,
    pub vector: Vec<f32>,
}

/// A semantic search hit: where the message is, and its cosine similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexHit {
    pub conversation_id: ConversationId,
    pub seq: u64,
    pub score: f32,
}

/// The semantic index.
pub trait SemanticIndex: Send + Sync + 'static {
    /// Inserts or replaces points (keyed by conversation and seq).
    fn upsert(
        &self,
        tenant: &TenantId,
        points: Vec<IndexPoint>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The `limit` nearest points to `vector` in the scope, best first.
    fn search(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        vector: &[f32],
        filter: &MessageFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<IndexHit>>> + Send;

    /// Removes every point of a conversation; returns how many.
    fn delete_conversation(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversation: &ConversationId,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Removes every point of a user; returns how many.
    fn delete_user(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Points held on a user (an erasure's verification).
    fn count_user(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Answers when the index can serve requests.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
}

/// What a text is embedded as: some models embed queries and passages
/// differently (e5: "query: " / "passage: ").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedKind {
    Query,
    Passage,
}

/// A model name as it may appear in a file or collection name: ASCII
/// letters, digits and `-` kept, anything else `_`. An index is kept per
/// model under this name.
pub fn model_slug(model: &str) -> String {
    model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Messages per job of a re-indexing (`ColdStore::queue_reindex`).
pub const REINDEX_SLICE: u64 = 256;

/// Version of the way passages are built from messages with context (the
/// indexer's `passage`); part of an index's name, so that changing it
/// starts a new index filled from the cold store.
pub const PASSAGES: u32 = 2;

/// The name of the semantic index an embedder fills: its model, and how
/// passages are built. A new name is a new index (file or collection),
/// filled from the cold store through the outbox.
pub fn index_name(embedder: &impl Embedder) -> String {
    if embedder.contextual_passages() {
        format!("{}_passages-{PASSAGES}", model_slug(embedder.model()))
    } else {
        model_slug(embedder.model())
    }
}

/// Turns texts into vectors.
pub trait Embedder: Send + Sync + 'static {
    /// Model name (an index is tied to one model).
    fn model(&self) -> &str;

    /// Whether a message is embedded after the turn before it: true for
    /// language models, which relate a reply to the question it answers;
    /// false for bag-of-words embedders, where the previous turn's words
    /// only dilute the message's own.
    fn contextual_passages(&self) -> bool {
        true
    }

    /// Vector dimension.
    fn dimension(&self) -> usize;

    /// One unit-length vector per text, in order.
    fn embed(
        &self,
        texts: &[&str],
        kind: EmbedKind,
    ) -> impl Future<Output = Result<Vec<Vec<f32>>>> + Send;
}

/// A change another sidecar's near-cache must drop: entries older than `rev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    Conversation {
        tenant: TenantId,
        conversation: ConversationId,
        rev: u64,
    },
    Facts {
        tenant: TenantId,
        user: UserId,
        rev: u64,
    },
}

/// Where a sidecar announces its writes to the others.
pub trait InvalidationBus: Send + Sync + 'static {
    fn publish(&self, invalidation: Invalidation) -> impl Future<Output = Result<()>> + Send;
}

/// An in-process cache in front of a shared hot tier: a fenced hot tier that
/// can also forget everything at once.
pub trait NearCache: HotTier {
    fn clear(&self);
}

/// A hot tier that holds nothing: every read goes to the cold store.
/// For benchmarks of the cold path and for debugging a cache.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHotTier;

/// Holding nothing, it has nothing to clear: a near-cache that is never
/// there (the near-cache's tests put it in front of a shared tier).
impl NearCache for NoHotTier {
    fn clear(&self) {}
}

impl HotTier for NoHotTier {
    async fn recent(&self, _: &TenantId, _: &ConversationId) -> Result<Option<RecentWindow>> {
        Ok(None)
    }
    async fn put_recent(&self, _: &TenantId, _: RecentWindow) -> Result<()> {
        Ok(())
    }
    async fn extend_recent(&self, _: &TenantId, _: &Conversation, _: &[Message]) -> Result<()> {
        Ok(())
    }
    async fn fence_conversation(&self, _: &TenantId, _: &ConversationId, _: u64) -> Result<()> {
        Ok(())
    }
    async fn facts(&self, _: &TenantId, _: &UserId) -> Result<Option<FactSnapshot>> {
        Ok(None)
    }
    async fn put_facts(&self, _: &TenantId, _: &UserId, _: FactSnapshot) -> Result<()> {
        Ok(())
    }
    async fn fence_facts(&self, _: &TenantId, _: &UserId, _: u64) -> Result<()> {
        Ok(())
    }
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

/// A boxed future, for the ports used as trait objects.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A chat prompt for a language model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The instructions.
    pub system: String,
    /// The material: a transcript, notes.
    pub user: String,
    /// Longest answer, in tokens.
    pub max_tokens: u32,
}

/// A language model that writes text: the optional LLM summaries of
/// Summarize and of handovers. An engine has at most one, held as a trait
/// object, so the method returns a boxed future (a call costs seconds; the
/// box costs nothing in comparison).
pub trait LanguageModel: std::fmt::Debug + Send + Sync + 'static {
    /// Model name, reported with what it wrote.
    fn model(&self) -> &str;

    /// The model's answer to `prompt`.
    fn complete<'a>(&'a self, prompt: &'a Prompt) -> BoxFuture<'a, Result<String>>;
}

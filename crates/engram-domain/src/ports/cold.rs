//! The cold tier's ports, one per aggregate (messages, facts, summaries,
//! the indexing outbox, handovers, compliance, keys), and the cold store
//! that is all of them.

use std::future::Future;

use super::{AppendOutcome, ColdErasure, FactSnapshot, FactWrite};
use crate::audit::{AuditEntry, NewAuditEntry};
use crate::error::Result;
use crate::handover::{Handover, HandoverEnd, HandoverSummary, NewHandover};
use crate::ids::{ConversationId, FactKey, HandoverId, TenantId, UserId};
use crate::model::{
    Conversation, ConversationCursor, Fact, FactInput, HistoryTotals, MemoryStats, Message,
    MessageFilter, NewMessage, OutboxJob, OutboxStats, PutFactResult, RecentWindow, Scope,
    ScoredMessage, WrappedKey,
};
use crate::retention::RetentionPolicy;
use crate::summary::Summary;
use crate::time::Timestamp;

/// The cold tier: durable, the source of truth.
///
/// A method that returns `Ok` after writing has made the write durable.
/// A write that returns `Err` wrote nothing.
///
/// One trait per aggregate, each implemented in the backend file that
/// holds that aggregate; a cold store is all of them.
pub trait ColdStore:
    MessageStore
    + FactStore
    + SummaryStore
    + OutboxQueue
    + HandoverStore
    + ComplianceStore
    + KeyStore
    + Send
    + Sync
    + 'static
{
    /// Tenants that hold conversations.
    fn tenants(&self) -> impl Future<Output = Result<Vec<TenantId>>> + Send;

    /// What the tenant's memory holds, with at most `max_users` users.
    fn memory_stats(
        &self,
        tenant: &TenantId,
        max_users: usize,
    ) -> impl Future<Output = Result<MemoryStats>> + Send;

    /// Answers when the store can serve requests.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
}

/// Conversations and their messages: appends, reads, deletion, lexical
/// search.
pub trait MessageStore: Send + Sync + 'static {
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
}

/// A user's temporal facts: current, as of a time, their history.
pub trait FactStore: Send + Sync + 'static {
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

    /// Every version of every fact key of a user, ordered by key, then
    /// (valid_at, version): what a data-subject export holds.
    fn all_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> impl Future<Output = Result<Vec<Fact>>> + Send;
}

/// Conversations' running summaries.
pub trait SummaryStore: Send + Sync + 'static {
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
}

/// The indexing outbox: jobs written in the same transaction as the
/// messages they index, claimed under a lease by the indexer.
pub trait OutboxQueue: Send + Sync + 'static {
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
}

/// Human handovers and the summary jobs their ends queue.
pub trait HandoverStore: Send + Sync + 'static {
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
}

/// Erasure, access, the audit chain, retention policies and legal holds.
pub trait ComplianceStore: Send + Sync + 'static {
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
}

/// Wrapped data keys (encryption at rest).
pub trait KeyStore: Send + Sync + 'static {
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
}

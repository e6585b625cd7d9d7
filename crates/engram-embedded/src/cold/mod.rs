//! The embedded cold store: a redb file under the data directory.
//!
//! Keys start with the tenant id, so a tenant's data is a separate key
//! range and no lookup can cross into another tenant's. Values are JSON.

mod compliance;
mod conversations;
mod facts;
mod handovers;
mod lexical;
mod messages;
mod outbox;
mod summaries;

use std::path::Path;
use std::sync::Arc;

use engram_domain::audit::{AuditEntry, NewAuditEntry};
use engram_domain::handover::{Handover, HandoverEnd, HandoverSummary, NewHandover};
use engram_domain::ids::{ConversationId, FactKey, HandoverId, TenantId, UserId};
use engram_domain::model::WrappedKey;
use engram_domain::model::{
    Conversation, ConversationCursor, Fact, FactInput, MemoryStats, Message, MessageFilter,
    NewMessage, OutboxJob, OutboxStats, PutFactResult, RecentWindow, Scope, ScoredMessage,
};
use engram_domain::ports::{AppendOutcome, ColdErasure, ColdStore, FactSnapshot, FactWrite};
use engram_domain::retention::RetentionPolicy;
use engram_domain::summary::Summary;
use engram_domain::time::Timestamp;
use engram_domain::{Error, Result};
use redb::{Database, ReadTransaction, ReadableDatabase, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use compliance::ANONYMIZED;

use crate::writer::{Writer, storage};

/// (tenant, conversation) → Conversation
const CONVERSATIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("conversations");
/// (tenant, user, conversation) → ()
const USER_CONVERSATIONS: TableDefinition<(&str, &str, &str), ()> =
    TableDefinition::new("user_conversations");
/// (tenant, conversation, seq) → Message
const MESSAGES: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("messages");
/// (tenant, conversation, message id) → seq
const MESSAGE_IDS: TableDefinition<(&str, &str, &str), u64> = TableDefinition::new("message_ids");
/// (tenant, user, key, version) → Fact
const FACTS: TableDefinition<(&str, &str, &str, u64), &[u8]> = TableDefinition::new("facts");
/// (tenant, user) → revision of the user's facts
const FACT_REVS: TableDefinition<(&str, &str), u64> = TableDefinition::new("fact_revs");
/// (tenant, job id) → indexing job
const OUTBOX: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("outbox");
/// (tenant, conversation) → running summary
const SUMMARIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("summaries");
/// (tenant, user, term, conversation, seq) → term frequency << 32 | length
const POSTINGS: TableDefinition<(&str, &str, &str, &str, u64), u64> =
    TableDefinition::new("postings");
/// (tenant, user) → (messages, their total length in terms)
const TERM_STATS: TableDefinition<(&str, &str), (u64, u64)> = TableDefinition::new("term_stats");
/// Store-wide markers.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (tenant, index name) → when its messages were queued for that index
const INDEX_BUILDS: TableDefinition<(&str, &str), i64> = TableDefinition::new("index_builds");
/// tenant → last job id
const OUTBOX_SEQ: TableDefinition<&str, u64> = TableDefinition::new("outbox_seq");

/// The embedded, file-backed cold store.
#[derive(Debug, Clone)]
pub struct EmbeddedColdStore {
    db: Arc<Database>,
    writer: Writer,
    leases: Arc<outbox::Leases>,
    job_leases: Arc<handovers::JobLeases>,
}

impl EmbeddedColdStore {
    /// Opens (or creates) `dir/cold.redb` with a page cache of
    /// `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::unavailable("embedded store", format!("{}: {e}", dir.display())))?;
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(dir.join("cold.redb"))
            .map_err(storage)?;
        // Create the tables so that readers never see them missing.
        let txn = db.begin_write().map_err(storage)?;
        {
            txn.open_table(CONVERSATIONS).map_err(storage)?;
            txn.open_table(USER_CONVERSATIONS).map_err(storage)?;
            txn.open_table(MESSAGES).map_err(storage)?;
            txn.open_table(MESSAGE_IDS).map_err(storage)?;
            txn.open_table(FACTS).map_err(storage)?;
            txn.open_table(FACT_REVS).map_err(storage)?;
            txn.open_table(OUTBOX).map_err(storage)?;
            txn.open_table(OUTBOX_SEQ).map_err(storage)?;
            txn.open_table(INDEX_BUILDS).map_err(storage)?;
            txn.open_table(SUMMARIES).map_err(storage)?;
            txn.open_table(POSTINGS).map_err(storage)?;
            txn.open_table(TERM_STATS).map_err(storage)?;
            txn.open_table(META).map_err(storage)?;
            txn.open_table(handovers::HANDOVERS).map_err(storage)?;
            txn.open_table(handovers::HANDOVER_JOBS).map_err(storage)?;
            txn.open_table(compliance::AUDIT).map_err(storage)?;
            txn.open_table(compliance::AUDIT_HEAD).map_err(storage)?;
            txn.open_table(compliance::POLICIES).map_err(storage)?;
            txn.open_table(compliance::HOLDS).map_err(storage)?;
            txn.open_table(compliance::ANONYMIZED).map_err(storage)?;
            txn.open_table(compliance::DATA_KEYS).map_err(storage)?;
            lexical::build_current(&txn)?;
        }
        txn.commit().map_err(storage)?;
        let db = Arc::new(db);
        let writer = Writer::start(db.clone(), "cold")
            .map_err(|e| Error::unavailable("embedded store", e))?;
        Ok(Self {
            db,
            writer,
            leases: Arc::default(),
            job_leases: Arc::default(),
        })
    }

    /// Runs a read-only closure on a snapshot, off the async threads.
    async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<R> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage)?;
            f(&txn)
        })
        .await
        .map_err(|e| Error::Internal(format!("read task failed: {e}")))?
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(format!("encoding: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("corrupt record: {e}")))
}

/// The exclusive upper bound of the key range under `s`: tuples compare
/// element by element and ids never hold NUL, so `(…, s, x) < (…, after(s),
/// "")` for every `x`.
fn after(s: &str) -> String {
    format!("{s}\0")
}

/// The distinct tenants of a table keyed by (tenant, …), one seek each:
/// `first` is the tenant of the first key, `next_from(bound)` the tenant
/// of the first key at or after `bound`.
fn distinct_tenants(
    first: Option<String>,
    mut next_from: impl FnMut(&str) -> Result<Option<String>>,
) -> Result<Vec<TenantId>> {
    let mut out = Vec::new();
    let mut next = first;
    while let Some(tenant) = next {
        next = next_from(&after(&tenant))?;
        out.extend(TenantId::parse("tenant_id", &tenant).ok());
    }
    Ok(out)
}

/// Owned copies of the ids a closure on another thread needs.
macro_rules! owned {
    ($($id:ident),+) => { $(let $id = $id.clone();)+ };
}

impl ColdStore for EmbeddedColdStore {
    #[tracing::instrument(
        name = "cold.append",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn append(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        user: &UserId,
        messages: Vec<NewMessage>,
        now: Timestamp,
    ) -> Result<AppendOutcome> {
        owned!(tenant, conversation, user);
        self.writer
            .write(move |txn| messages::append(txn, &tenant, &conversation, &user, messages, now))
            .await
    }

    #[tracing::instrument(
        name = "cold.conversation",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Conversation>> {
        owned!(tenant, conversation);
        self.read(move |txn| conversations::conversation_in(txn, &tenant, &conversation))
            .await
    }

    #[tracing::instrument(
        name = "cold.recent",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<RecentWindow>> {
        owned!(tenant, conversation);
        self.read(move |txn| messages::recent(txn, &tenant, &conversation, limit))
            .await
    }

    #[tracing::instrument(
        name = "cold.messages_after",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn messages_after(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        owned!(tenant, conversation);
        self.read(move |txn| {
            messages::messages_after(txn, &tenant, &conversation, after_seq, limit)
        })
        .await
    }

    #[tracing::instrument(
        name = "cold.messages_at",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn messages_at(
        &self,
        tenant: &TenantId,
        positions: &[(ConversationId, u64)],
    ) -> Result<Vec<Message>> {
        let (tenant, positions) = (tenant.clone(), positions.to_vec());
        self.read(move |txn| messages::messages_at(txn, &tenant, &positions))
            .await
    }

    #[tracing::instrument(
        name = "cold.list_conversations",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn list_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
        cursor: Option<&ConversationCursor>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        let cursor = cursor.cloned();
        owned!(tenant, user);
        self.read(move |txn| messages::list(txn, &tenant, &user, cursor.as_ref(), limit))
            .await
    }

    #[tracing::instrument(
        name = "cold.delete_conversation",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Conversation>> {
        owned!(tenant, conversation);
        self.writer
            .write(move |txn| messages::delete(txn, &tenant, &conversation))
            .await
    }

    #[tracing::instrument(
        name = "cold.search_lexical",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn search_lexical(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        query: &str,
        filter: &MessageFilter,
        limit: usize,
    ) -> Result<Vec<ScoredMessage>> {
        let query = query.to_owned();
        owned!(tenant, scope, filter);
        self.read(move |txn| lexical::search(txn, &tenant, &scope, &query, &filter, limit))
            .await
    }

    #[tracing::instrument(
        name = "cold.put_facts",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        inputs: Vec<FactInput>,
        now: Timestamp,
    ) -> Result<FactWrite<Vec<PutFactResult>>> {
        owned!(tenant, user);
        self.writer
            .write(move |txn| facts::put(txn, &tenant, &user, inputs, now))
            .await
    }

    #[tracing::instrument(
        name = "cold.fact_rev",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn fact_rev(&self, tenant: &TenantId, user: &UserId) -> Result<u64> {
        owned!(tenant, user);
        self.read(move |txn| facts::current_rev(txn, &tenant, &user))
            .await
    }

    #[tracing::instrument(
        name = "cold.current_facts",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn current_facts(&self, tenant: &TenantId, user: &UserId) -> Result<FactSnapshot> {
        owned!(tenant, user);
        self.read(move |txn| facts::current(txn, &tenant, &user))
            .await
    }

    #[tracing::instrument(
        name = "cold.facts_as_of",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<Vec<Fact>> {
        owned!(tenant, user);
        self.read(move |txn| facts::as_of(txn, &tenant, &user, at))
            .await
    }

    #[tracing::instrument(
        name = "cold.fact_history",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn fact_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
    ) -> Result<Vec<Fact>> {
        owned!(tenant, user, key);
        self.read(move |txn| facts::key_history(txn, &tenant, &user, &key))
            .await
    }

    #[tracing::instrument(
        name = "cold.invalidate_fact",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn invalidate_fact(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
        at: Timestamp,
    ) -> Result<FactWrite<Fact>> {
        owned!(tenant, user, key);
        self.writer
            .write(move |txn| facts::invalidate(txn, &tenant, &user, &key, at))
            .await
    }

    #[tracing::instrument(
        name = "cold.put_summary",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn put_summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        summary: &Summary,
    ) -> Result<()> {
        let summary = summary.clone();
        owned!(tenant, conversation);
        self.writer
            .write(move |txn| summaries::put(txn, &tenant, &conversation, &summary))
            .await
    }

    #[tracing::instrument(
        name = "cold.summary",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Summary>> {
        owned!(tenant, conversation);
        self.read(move |txn| summaries::get(txn, &tenant, &conversation))
            .await
    }

    #[tracing::instrument(
        name = "cold.user_summaries",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn user_summaries(
        &self,
        tenant: &TenantId,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<(ConversationId, Summary)>> {
        owned!(tenant, user);
        self.read(move |txn| summaries::of_user(txn, &tenant, &user, limit))
            .await
    }

    #[tracing::instrument(
        name = "cold.tenants",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn tenants(&self) -> Result<Vec<TenantId>> {
        self.read(outbox::conversation_tenants).await
    }

    #[tracing::instrument(
        name = "cold.queue_reindex",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn queue_reindex(&self, tenant: &TenantId, index: &str, now: Timestamp) -> Result<u64> {
        owned!(tenant);
        let index = index.to_owned();
        self.writer
            .write(move |txn| outbox::queue_reindex(txn, &tenant, &index, now))
            .await
    }

    #[tracing::instrument(
        name = "cold.index_caught_up",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn index_caught_up(&self, tenant: &TenantId, index: &str) -> Result<bool> {
        owned!(tenant);
        let index = index.to_owned();
        self.read(move |txn| outbox::index_caught_up(txn, &tenant, &index))
            .await
    }

    #[tracing::instrument(
        name = "cold.outbox_tenants",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn outbox_tenants(&self) -> Result<Vec<TenantId>> {
        self.read(outbox::tenants).await
    }

    #[tracing::instrument(
        name = "cold.claim_outbox",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn claim_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<OutboxJob>> {
        let leases = self.leases.clone();
        owned!(tenant);
        self.read(move |txn| outbox::claim(txn, &leases, &tenant, limit, now, lease_until))
            .await
    }

    #[tracing::instrument(
        name = "cold.finish_outbox",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn finish_outbox(&self, tenant: &TenantId, ids: &[u64]) -> Result<()> {
        let ids = ids.to_vec();
        owned!(tenant);
        let (t, i) = (tenant.clone(), ids.clone());
        self.writer
            .write(move |txn| outbox::finish(txn, &t, &i))
            .await?;
        self.leases.release(&tenant, &ids);
        Ok(())
    }

    #[tracing::instrument(
        name = "cold.defer_outbox",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn defer_outbox(
        &self,
        tenant: &TenantId,
        ids: &[u64],
        not_before: Timestamp,
    ) -> Result<()> {
        let ids = ids.to_vec();
        owned!(tenant);
        let (t, i, leases) = (tenant.clone(), ids.clone(), self.leases.clone());
        self.writer
            .write(move |txn| outbox::defer(txn, &leases, &t, &i, not_before))
            .await?;
        self.leases.release(&tenant, &ids);
        Ok(())
    }

    #[tracing::instrument(
        name = "cold.outbox_stats",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn outbox_stats(&self, tenant: &TenantId) -> Result<OutboxStats> {
        owned!(tenant);
        self.read(move |txn| outbox::backlog(txn, &tenant)).await
    }

    #[tracing::instrument(
        name = "cold.memory_stats",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn memory_stats(&self, tenant: &TenantId, max_users: usize) -> Result<MemoryStats> {
        owned!(tenant);
        self.read(move |txn| outbox::stats(txn, &tenant, max_users))
            .await
    }

    #[tracing::instrument(
        name = "cold.start_handover",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn start_handover(&self, tenant: &TenantId, handover: NewHandover) -> Result<Handover> {
        owned!(tenant);
        self.writer
            .write(move |txn| handovers::start(txn, &tenant, handover))
            .await
    }

    #[tracing::instrument(
        name = "cold.end_handover",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn end_handover(&self, tenant: &TenantId, end: HandoverEnd) -> Result<Handover> {
        owned!(tenant);
        self.writer
            .write(move |txn| handovers::end(txn, &tenant, end))
            .await
    }

    #[tracing::instrument(
        name = "cold.handover",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Handover>> {
        let leases = self.job_leases.clone();
        owned!(tenant, conversation);
        self.read(move |txn| handovers::get(txn, &leases, &tenant, &conversation, Timestamp::now()))
            .await
    }

    #[tracing::instrument(
        name = "cold.handover_jobs_queued",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn handover_jobs_queued(&self, tenant: &TenantId) -> Result<u64> {
        owned!(tenant);
        self.read(move |txn| handovers::queued(txn, &tenant)).await
    }

    #[tracing::instrument(
        name = "cold.handover_job_tenants",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn handover_job_tenants(&self) -> Result<Vec<TenantId>> {
        self.read(handovers::tenants).await
    }

    #[tracing::instrument(
        name = "cold.claim_handover_jobs",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn claim_handover_jobs(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<Handover>> {
        let leases = self.job_leases.clone();
        owned!(tenant);
        self.read(move |txn| handovers::claim(txn, &leases, &tenant, limit, now, lease_until))
            .await
    }

    #[tracing::instrument(
        name = "cold.finish_handover_job",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn finish_handover_job(
        &self,
        tenant: &TenantId,
        handover: &Handover,
        summary: &HandoverSummary,
    ) -> Result<bool> {
        let handover = &handover.handover_id;
        let summary = summary.clone();
        owned!(tenant, handover);
        let (t, h) = (tenant.clone(), handover.clone());
        let stored = self
            .writer
            .write(move |txn| handovers::finish(txn, &t, &h, &summary))
            .await?;
        self.job_leases.release(&tenant, &handover);
        Ok(stored)
    }

    #[tracing::instrument(
        name = "cold.defer_handover_job",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn defer_handover_job(
        &self,
        tenant: &TenantId,
        handover: &HandoverId,
        not_before: Timestamp,
    ) -> Result<()> {
        owned!(tenant, handover);
        let (t, h) = (tenant.clone(), handover.clone());
        self.writer
            .write(move |txn| handovers::defer(txn, &t, &h, not_before))
            .await?;
        self.job_leases.release(&tenant, &handover);
        Ok(())
    }

    #[tracing::instrument(
        name = "cold.all_facts",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn all_facts(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Fact>> {
        owned!(tenant, user);
        self.read(move |txn| compliance::all_facts(txn, tenant.as_str(), user.as_str()))
            .await
    }

    #[tracing::instrument(
        name = "cold.erase_user",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn erase_user(&self, tenant: &TenantId, user: &UserId) -> Result<ColdErasure> {
        owned!(tenant, user);
        self.writer
            .write(move |txn| compliance::erase_user(txn, &tenant, &user))
            .await
    }

    #[tracing::instrument(
        name = "cold.user_residue",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn user_residue(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversations: &[ConversationId],
    ) -> Result<u64> {
        let conversations = conversations.to_vec();
        owned!(tenant, user);
        self.read(move |txn| compliance::user_residue(txn, &tenant, &user, &conversations))
            .await
    }

    #[tracing::instrument(
        name = "cold.append_audit",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn append_audit(
        &self,
        tenant: &TenantId,
        entry: NewAuditEntry,
        at: Timestamp,
    ) -> Result<AuditEntry> {
        owned!(tenant);
        self.writer
            .write(move |txn| compliance::append_audit(txn, tenant.as_str(), entry, at))
            .await
    }

    #[tracing::instrument(
        name = "cold.audit_entries",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn audit_entries(
        &self,
        tenant: &TenantId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        owned!(tenant);
        self.read(move |txn| compliance::audit_entries(txn, tenant.as_str(), after_seq, limit))
            .await
    }

    #[tracing::instrument(
        name = "cold.audit_head",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn audit_head(&self, tenant: &TenantId) -> Result<Option<(u64, Vec<u8>)>> {
        owned!(tenant);
        self.read(move |txn| compliance::audit_head(txn, tenant.as_str()))
            .await
    }

    #[tracing::instrument(
        name = "cold.put_retention_policy",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn put_retention_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<()> {
        let policy = policy.clone();
        owned!(tenant);
        self.writer
            .write(move |txn| compliance::put_policy(txn, tenant.as_str(), &policy))
            .await
    }

    #[tracing::instrument(
        name = "cold.retention_policies",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn retention_policies(&self, tenant: &TenantId) -> Result<Vec<RetentionPolicy>> {
        owned!(tenant);
        self.read(move |txn| compliance::policies(txn, tenant.as_str()))
            .await
    }

    #[tracing::instrument(
        name = "cold.set_legal_hold",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn set_legal_hold(&self, tenant: &TenantId, user: &UserId, hold: bool) -> Result<()> {
        owned!(tenant, user);
        self.writer
            .write(move |txn| compliance::set_hold(txn, tenant.as_str(), user.as_str(), hold))
            .await
    }

    #[tracing::instrument(
        name = "cold.retention_tenants",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn retention_tenants(&self) -> Result<Vec<TenantId>> {
        self.read(compliance::policy_tenants).await
    }

    #[tracing::instrument(
        name = "cold.legal_holds",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<UserId>> {
        owned!(tenant);
        self.read(move |txn| compliance::holds(txn, tenant.as_str()))
            .await
    }

    #[tracing::instrument(
        name = "cold.data_key",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn data_key(&self, tenant: &TenantId, subject: &str) -> Result<Option<WrappedKey>> {
        owned!(tenant);
        let subject = subject.to_owned();
        self.read(move |txn| compliance::data_key(txn, tenant.as_str(), &subject))
            .await
    }

    #[tracing::instrument(
        name = "cold.insert_data_key",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn insert_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        key: WrappedKey,
    ) -> Result<WrappedKey> {
        owned!(tenant);
        let subject = subject.to_owned();
        self.writer
            .write(move |txn| compliance::insert_data_key(txn, tenant.as_str(), &subject, key))
            .await
    }

    #[tracing::instrument(
        name = "cold.rewrap_data_key",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn rewrap_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        previous_master: &str,
        key: WrappedKey,
    ) -> Result<bool> {
        owned!(tenant);
        let (subject, previous_master) = (subject.to_owned(), previous_master.to_owned());
        self.writer
            .write(move |txn| {
                compliance::rewrap_data_key(txn, tenant.as_str(), &subject, &previous_master, &key)
            })
            .await
    }

    #[tracing::instrument(
        name = "cold.expired_conversations",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn expired_conversations(
        &self,
        tenant: &TenantId,
        before: Timestamp,
        after: Option<&ConversationId>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        let after = after.cloned();
        owned!(tenant);
        self.read(move |txn| {
            compliance::expired(txn, tenant.as_str(), before, after.as_ref(), limit)
        })
        .await
    }

    #[tracing::instrument(
        name = "cold.anonymize_conversation",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn anonymize_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        last_seq: u64,
        contents: Vec<(u64, String)>,
    ) -> Result<bool> {
        owned!(tenant, conversation);
        self.writer
            .write(move |txn| {
                compliance::anonymize(txn, &tenant, &conversation, last_seq, contents)
            })
            .await
    }

    #[tracing::instrument(
        name = "cold.ping",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn ping(&self) -> Result<()> {
        self.writer.alive()?;
        self.read(|txn| txn.open_table(CONVERSATIONS).map(drop).map_err(storage))
            .await
    }
}

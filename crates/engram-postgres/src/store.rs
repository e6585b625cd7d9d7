//! The pool, the per-tenant schema cache, and the ColdStore impl.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use engram_domain::audit::{AuditEntry, NewAuditEntry};
use engram_domain::handover::{Handover, HandoverEnd, HandoverSummary, NewHandover};
use engram_domain::ids::{ConversationId, FactKey, HandoverId, TenantId, UserId};
use engram_domain::model::WrappedKey;
use engram_domain::model::{
    Conversation, ConversationCursor, Fact, FactInput, HistoryTotals, MemoryStats, Message,
    MessageFilter, NewMessage, OutboxJob, OutboxStats, PutFactResult, RecentWindow, Scope,
    ScoredMessage,
};
use engram_domain::ports::{AppendOutcome, ColdErasure, ColdStore, FactSnapshot, FactWrite};
use engram_domain::retention::RetentionPolicy;
use engram_domain::summary::Summary;
use engram_domain::time::Timestamp;
use engram_domain::{Error, Result};
use tokio::sync::Mutex;

use crate::appends::AppendQueue;
use crate::error::{pg, pool};
use crate::schema::{migrate, schema_of};
use crate::{compliance, facts, handovers, messages, outbox, summaries};

/// How to reach Postgres.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// A libpq-style URL: `postgres://user@host:5432/db`.
    pub url: String,
    /// Most pooled connections.
    pub max_connections: usize,
    /// Longest wait for a pooled connection.
    pub acquire_timeout: Duration,
}

impl PostgresConfig {
    /// Checks the URL (and the TLS files it names) without connecting: a
    /// configuration error is found at startup, not at the first request.
    pub fn check(&self) -> Result<()> {
        let tls = crate::tls::settings(&self.url);
        tokio_postgres::Config::from_str(&tls.url).map_err(|e| {
            Error::invalid(
                "postgres_url",
                format!("{e}: a URL such as postgres://USER:PASSWORD@HOST:5432/DB"),
            )
        })?;
        crate::tls::connector(&tls).map(drop)
    }
}

/// The Postgres cold store.
#[derive(Debug, Clone)]
pub struct PostgresColdStore {
    pool: Pool,
    config: Arc<tokio_postgres::Config>,
    /// TLS for the migrations' own connections.
    tls: crate::tls::RustlsConnect,
    /// Tenants whose schema is known to be migrated by this process.
    migrated: moka::sync::Cache<TenantId, ()>,
    /// Serialises this process's migrations.
    migrating: Arc<Mutex<()>>,
    /// Concurrent appends, committed together.
    appends: AppendQueue,
}

impl PostgresColdStore {
    /// Builds the pool. Connections are opened on demand, so this succeeds
    /// while Postgres is down; `ping` tells when it answers.
    pub fn new(config: &PostgresConfig) -> Result<Self> {
        let tls = crate::tls::settings(&config.url);
        let pg_config = tokio_postgres::Config::from_str(&tls.url)
            .map_err(|e| Error::invalid("postgres_url", e.to_string()))?;
        let connector = crate::tls::connector(&tls)?;
        let manager = Manager::from_config(
            pg_config.clone(),
            connector.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_connections)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.acquire_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::invalid("postgres_url", e.to_string()))?;
        Ok(Self {
            pool,
            config: Arc::new(pg_config),
            tls: connector,
            migrated: moka::sync::Cache::new(100_000),
            migrating: Arc::new(Mutex::new(())),
            appends: AppendQueue::default(),
        })
    }

    /// A pooled connection and the tenant's schema, migrated.
    async fn tenant(&self, tenant: &TenantId) -> Result<(Object, String)> {
        let schema = self.migrated_schema(tenant).await?;
        let client = self.pool.get().await.map_err(pool)?;
        Ok((client, schema))
    }

    /// The tenant's schema, migrated.
    async fn migrated_schema(&self, tenant: &TenantId) -> Result<String> {
        if !self.migrated.contains_key(tenant) {
            let _guard = self.migrating.lock().await;
            if !self.migrated.contains_key(tenant) {
                migrate(&self.config, self.tls.clone(), tenant).await?;
                self.migrated.insert(tenant.clone(), ());
            }
        }
        Ok(schema_of(tenant))
    }

    /// A pooled connection and the tenant's schema, migrated, when the
    /// tenant exists: a read of a tenant that never wrote answers empty
    /// and creates nothing (no schema, no catalog entry), however many
    /// unknown tenant ids it is asked about.
    async fn existing(&self, tenant: &TenantId) -> Result<Option<(Object, String)>> {
        if !self.migrated.contains_key(tenant) {
            let client = self.pool.get().await.map_err(pool)?;
            let stmt = client
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .await
                .map_err(pg)?;
            let name = format!("t_{}", tenant.as_str());
            let exists: bool = client.query_one(&stmt, &[&name]).await.map_err(pg)?.get(0);
            if !exists {
                return Ok(None);
            }
        }
        // An existing schema is migrated as on a write (after an upgrade).
        self.tenant(tenant).await.map(Some)
    }

    /// Drops every schema whose name starts with `t_<prefix>`: for tests
    /// that created tenants with a run-specific prefix.
    pub async fn drop_tenants_with_prefix(&self, prefix: &str) -> Result<u64> {
        let client = self.pool.get().await.map_err(pool)?;
        let pattern = format!("t\\_{}%", prefix.replace('_', "\\_"));
        let rows = client
            .query(
                "SELECT quote_ident(nspname) FROM pg_namespace WHERE nspname LIKE $1",
                &[&pattern],
            )
            .await
            .map_err(pg)?;
        for row in &rows {
            let schema: String = row.get(0);
            client
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .map_err(pg)?;
        }
        self.migrated.invalidate_all();
        Ok(rows.len() as u64)
    }
}

impl ColdStore for PostgresColdStore {
    #[tracing::instrument(
        name = "cold.append",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn append(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        user: &UserId,
        new: Vec<NewMessage>,
        now: Timestamp,
    ) -> Result<AppendOutcome> {
        let s = self.migrated_schema(tenant).await?;
        let append = messages::PendingAppend {
            conversation: conversation.clone(),
            user: user.clone(),
            messages: new,
            now,
        };
        self.appends.append(&self.pool, s, append).await
    }

    #[tracing::instrument(
        name = "cold.conversation",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Conversation>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        messages::conversation(&client, &s, conversation, false).await
    }

    #[tracing::instrument(
        name = "cold.recent",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<RecentWindow>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        messages::recent(&client, &s, conversation, limit).await
    }

    #[tracing::instrument(
        name = "cold.messages_after",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn messages_after(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        messages::after(&client, &s, conversation, after_seq, limit).await
    }

    #[tracing::instrument(
        name = "cold.messages_at",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn messages_at(
        &self,
        tenant: &TenantId,
        positions: &[(ConversationId, u64)],
    ) -> Result<Vec<Message>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        messages::at(&client, &s, positions).await
    }

    #[tracing::instrument(
        name = "cold.list_conversations",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn list_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
        cursor: Option<&ConversationCursor>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        messages::list(&client, &s, user, cursor, limit).await
    }

    #[tracing::instrument(
        name = "cold.user_history",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn user_history(&self, tenant: &TenantId, user: &UserId) -> Result<HistoryTotals> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(HistoryTotals::default());
        };
        messages::user_history(&client, &s, user).await
    }

    #[tracing::instrument(
        name = "cold.delete_conversation",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Conversation>> {
        let Some((mut client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        messages::delete(&mut client, &s, conversation).await
    }

    #[tracing::instrument(
        name = "cold.search_lexical",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
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
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        messages::lexical(&client, &s, scope, query, filter, limit).await
    }

    #[tracing::instrument(
        name = "cold.put_facts",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        inputs: Vec<FactInput>,
        now: Timestamp,
    ) -> Result<FactWrite<Vec<PutFactResult>>> {
        let (mut client, s) = self.tenant(tenant).await?;
        facts::put(&mut client, &s, user, inputs, now).await
    }

    #[tracing::instrument(
        name = "cold.fact_rev",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn fact_rev(&self, tenant: &TenantId, user: &UserId) -> Result<u64> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(0);
        };
        facts::rev(&client, &s, user).await
    }

    #[tracing::instrument(
        name = "cold.current_facts",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn current_facts(&self, tenant: &TenantId, user: &UserId) -> Result<FactSnapshot> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(FactSnapshot {
                rev: 0,
                facts: Vec::new(),
            });
        };
        facts::current(&client, &s, user).await
    }

    #[tracing::instrument(
        name = "cold.facts_as_of",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<Vec<Fact>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        facts::as_of(&client, &s, user, at).await
    }

    #[tracing::instrument(
        name = "cold.fact_history",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn fact_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
    ) -> Result<Vec<Fact>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        facts::history(&client, &s, user, key).await
    }

    #[tracing::instrument(
        name = "cold.invalidate_fact",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn invalidate_fact(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
        at: Timestamp,
    ) -> Result<FactWrite<Fact>> {
        let Some((mut client, s)) = self.existing(tenant).await? else {
            // What the store answers for a key without a current version.
            return engram_domain::facts::plan_invalidate(&[], key.as_str(), at)
                .map(|value| FactWrite { rev: 0, value });
        };
        facts::invalidate(&mut client, &s, user, key, at).await
    }

    #[tracing::instrument(
        name = "cold.put_summary",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn put_summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        summary: &Summary,
    ) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        summaries::put(&client, &s, conversation, summary).await
    }

    #[tracing::instrument(
        name = "cold.summary",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Summary>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        summaries::get(&client, &s, conversation).await
    }

    #[tracing::instrument(
        name = "cold.user_summaries",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn user_summaries(
        &self,
        tenant: &TenantId,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<(ConversationId, Summary)>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        summaries::of_user(&client, &s, user, limit).await
    }

    #[tracing::instrument(
        name = "cold.tenants",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn tenants(&self) -> Result<Vec<TenantId>> {
        let client = self.pool.get().await.map_err(pool)?;
        outbox::conversation_tenants(&client).await
    }

    #[tracing::instrument(
        name = "cold.queue_reindex",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn queue_reindex(&self, tenant: &TenantId, index: &str, now: Timestamp) -> Result<u64> {
        let Some((mut client, s)) = self.existing(tenant).await? else {
            return Ok(0);
        };
        outbox::queue_reindex(&mut client, &s, index, now).await
    }

    #[tracing::instrument(
        name = "cold.index_caught_up",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn index_caught_up(&self, tenant: &TenantId, index: &str) -> Result<bool> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(true);
        };
        outbox::index_caught_up(&client, &s, index).await
    }

    #[tracing::instrument(
        name = "cold.outbox_tenants",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn outbox_tenants(&self) -> Result<Vec<TenantId>> {
        let client = self.pool.get().await.map_err(pool)?;
        outbox::tenants(&client).await
    }

    #[tracing::instrument(
        name = "cold.claim_outbox",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn claim_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<OutboxJob>> {
        let (mut client, s) = self.tenant(tenant).await?;
        outbox::claim(&mut client, &s, limit, now, lease_until).await
    }

    #[tracing::instrument(
        name = "cold.finish_outbox",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn finish_outbox(&self, tenant: &TenantId, ids: &[u64]) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        outbox::finish(&client, &s, ids).await
    }

    #[tracing::instrument(
        name = "cold.defer_outbox",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn defer_outbox(
        &self,
        tenant: &TenantId,
        ids: &[u64],
        not_before: Timestamp,
    ) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        outbox::defer(&client, &s, ids, not_before).await
    }

    #[tracing::instrument(
        name = "cold.outbox_stats",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn outbox_stats(&self, tenant: &TenantId) -> Result<OutboxStats> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(OutboxStats::default());
        };
        outbox::backlog(&client, &s).await
    }

    #[tracing::instrument(
        name = "cold.memory_stats",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn memory_stats(&self, tenant: &TenantId, max_users: usize) -> Result<MemoryStats> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(MemoryStats::default());
        };
        outbox::stats(&client, &s, max_users).await
    }

    #[tracing::instrument(
        name = "cold.start_handover",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn start_handover(&self, tenant: &TenantId, handover: NewHandover) -> Result<Handover> {
        let (client, s) = self.tenant(tenant).await?;
        handovers::start(&client, &s, &handover).await
    }

    #[tracing::instrument(
        name = "cold.end_handover",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn end_handover(&self, tenant: &TenantId, end: HandoverEnd) -> Result<Handover> {
        let (client, s) = self.tenant(tenant).await?;
        handovers::end(&client, &s, &end).await
    }

    #[tracing::instrument(
        name = "cold.handover",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Handover>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        handovers::get(&client, &s, conversation, Timestamp::now()).await
    }

    #[tracing::instrument(
        name = "cold.handover_jobs_queued",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn handover_jobs_queued(&self, tenant: &TenantId) -> Result<u64> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(0);
        };
        let row = client
            .query_one(
                &format!("SELECT count(*) FROM {s}.handovers WHERE job_status = 'queued'"),
                &[],
            )
            .await
            .map_err(crate::error::pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    #[tracing::instrument(
        name = "cold.handover_job_tenants",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn handover_job_tenants(&self) -> Result<Vec<TenantId>> {
        let client = self.pool.get().await.map_err(pool)?;
        outbox::tenants_with(&client, "handovers", "job_status = 'queued'").await
    }

    #[tracing::instrument(
        name = "cold.claim_handover_jobs",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn claim_handover_jobs(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<Handover>> {
        let (client, s) = self.tenant(tenant).await?;
        handovers::claim(&client, &s, limit, now, lease_until).await
    }

    #[tracing::instrument(
        name = "cold.finish_handover_job",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn finish_handover_job(
        &self,
        tenant: &TenantId,
        handover: &Handover,
        summary: &HandoverSummary,
    ) -> Result<bool> {
        let handover = &handover.handover_id;
        let (client, s) = self.tenant(tenant).await?;
        handovers::finish(&client, &s, handover, summary).await
    }

    #[tracing::instrument(
        name = "cold.defer_handover_job",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn defer_handover_job(
        &self,
        tenant: &TenantId,
        handover: &HandoverId,
        not_before: Timestamp,
    ) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        handovers::defer(&client, &s, handover, not_before).await
    }

    #[tracing::instrument(
        name = "cold.all_facts",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn all_facts(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Fact>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        compliance::all_facts(&client, &s, user).await
    }

    #[tracing::instrument(
        name = "cold.erase_user",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn erase_user(&self, tenant: &TenantId, user: &UserId) -> Result<ColdErasure> {
        let (mut client, s) = self.tenant(tenant).await?;
        compliance::erase_user(&mut client, &s, user).await
    }

    #[tracing::instrument(
        name = "cold.user_residue",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn user_residue(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversations: &[ConversationId],
    ) -> Result<u64> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(0);
        };
        compliance::user_residue(&client, &s, user, conversations).await
    }

    #[tracing::instrument(
        name = "cold.append_audit",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn append_audit(
        &self,
        tenant: &TenantId,
        entry: NewAuditEntry,
        at: Timestamp,
    ) -> Result<AuditEntry> {
        let (mut client, s) = self.tenant(tenant).await?;
        compliance::append_audit(&mut client, &s, entry, at).await
    }

    #[tracing::instrument(
        name = "cold.audit_entries",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn audit_entries(
        &self,
        tenant: &TenantId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        compliance::audit_entries(&client, &s, after_seq, limit).await
    }

    #[tracing::instrument(
        name = "cold.audit_head",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn audit_head(&self, tenant: &TenantId) -> Result<Option<(u64, Vec<u8>)>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        compliance::audit_head(&client, &s).await
    }

    #[tracing::instrument(
        name = "cold.put_retention_policy",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn put_retention_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        compliance::put_policy(&client, &s, policy).await
    }

    #[tracing::instrument(
        name = "cold.retention_policies",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn retention_policies(&self, tenant: &TenantId) -> Result<Vec<RetentionPolicy>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        compliance::policies(&client, &s).await
    }

    #[tracing::instrument(
        name = "cold.set_legal_hold",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn set_legal_hold(&self, tenant: &TenantId, user: &UserId, hold: bool) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        compliance::set_hold(&client, &s, user, hold).await
    }

    #[tracing::instrument(
        name = "cold.retention_tenants",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn retention_tenants(&self) -> Result<Vec<TenantId>> {
        let client = self.pool.get().await.map_err(pool)?;
        outbox::tenants_with(&client, "retention_policies", "TRUE").await
    }

    #[tracing::instrument(
        name = "cold.legal_holds",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<UserId>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        compliance::holds(&client, &s).await
    }

    #[tracing::instrument(
        name = "cold.data_key",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn data_key(&self, tenant: &TenantId, subject: &str) -> Result<Option<WrappedKey>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        compliance::data_key(&client, &s, subject).await
    }

    #[tracing::instrument(
        name = "cold.insert_data_key",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn insert_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        key: WrappedKey,
    ) -> Result<WrappedKey> {
        let (client, s) = self.tenant(tenant).await?;
        compliance::insert_data_key(&client, &s, subject, &key).await
    }

    #[tracing::instrument(
        name = "cold.rewrap_data_key",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn rewrap_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        previous_master: &str,
        key: WrappedKey,
    ) -> Result<bool> {
        let (client, s) = self.tenant(tenant).await?;
        compliance::rewrap_data_key(&client, &s, subject, previous_master, &key).await
    }

    #[tracing::instrument(
        name = "cold.expired_conversations",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn expired_conversations(
        &self,
        tenant: &TenantId,
        before: Timestamp,
        after: Option<&ConversationId>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        compliance::expired(&client, &s, before, after, limit).await
    }

    #[tracing::instrument(
        name = "cold.anonymize_conversation",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn anonymize_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        last_seq: u64,
        contents: Vec<(u64, String)>,
    ) -> Result<bool> {
        let (mut client, s) = self.tenant(tenant).await?;
        compliance::anonymize(&mut client, &s, conversation, last_seq, contents).await
    }

    #[tracing::instrument(
        name = "cold.ping",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn ping(&self) -> Result<()> {
        let client = self.pool.get().await.map_err(pool)?;
        client.simple_query("SELECT 1").await.map_err(pg)?;
        Ok(())
    }
}

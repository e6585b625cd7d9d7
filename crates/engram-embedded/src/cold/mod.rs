//! The embedded cold store: a redb file under the data directory.
//!
//! Keys start with the tenant id, so a tenant's data is a separate key
//! range and no lookup can cross into another tenant's. Values are JSON.

// Before the modules, which implement the ports with it.
/// Owned copies of the ids a closure on another thread needs.
macro_rules! owned {
    ($($id:ident),+) => { $(let $id = $id.clone();)+ };
}

mod compliance;
mod conversations;
mod facts;
mod handovers;
mod keys;
mod lexical;
mod messages;
mod outbox;
mod summaries;

use std::path::Path;
use std::sync::Arc;

use engram_domain::ids::TenantId;
use engram_domain::model::MemoryStats;
use engram_domain::ports::ColdStore;
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
            txn.open_table(keys::DATA_KEYS).map_err(storage)?;
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

impl ColdStore for EmbeddedColdStore {
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

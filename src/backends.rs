//! Which backends engram runs on: the only place that names them.
//!
//! Each tier is an enum over its backends (as Qdrant's `enum Shard`), so the
//! engine stays generic and monomorphic: no trait objects on the hot path.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engram_crypto::Keyring;
use engram_crypto::keys::SubjectKeys;
use engram_crypto::sealed::{SealedCold, SealedHot};
use engram_domain::audit::{AuditEntry, NewAuditEntry};
use engram_domain::handover::{Handover, HandoverEnd, HandoverSummary, NewHandover};
use engram_domain::ids::{ConversationId, FactKey, HandoverId, TenantId, UserId};
use engram_domain::model::{
    Conversation, ConversationCursor, Fact, FactInput, MemoryStats, Message, MessageFilter,
    NewMessage, OutboxJob, OutboxStats, PutFactResult, RecentWindow, Scope, ScoredMessage,
    WrappedKey,
};
use engram_domain::ports::{
    AppendOutcome, ColdErasure, ColdStore, ComplianceStore, EmbedKind, Embedder, FactSnapshot,
    FactStore, FactWrite, HandoverStore, HotTier, IndexHit, IndexPoint, KeyStore, LanguageModel,
    MessageStore, NoHotTier, OutboxQueue, SemanticIndex, SummaryStore, index_name,
};
use engram_domain::retention::RetentionPolicy;
use engram_domain::summary::{Summary, Vertical};
use engram_domain::{Result, Timestamp};
use engram_embedded::{EmbeddedColdStore, EmbeddedHotTier, EmbeddedIndex, HotConfig};
use engram_engine::{Engine, EngineConfig, HandoverJobConfig, IndexerConfig, SummaryConfig};
use engram_models::{
    ChatConfig, HashingEmbedder, HttpEmbedder, HttpEmbedderConfig, HttpLanguageModel, Roles,
};
use engram_postgres::PostgresColdStore;
use engram_qdrant::{QdrantConfig, QdrantIndex};
use engram_redis::near::{Layered, NearGate};
use engram_redis::{RedisHotTier, RedisInvalidations};

use crate::config::{EmbedderRoles, ServeArgs, SummaryVertical};

pub type AppEngine = Engine<SealedCold<Cold>, Hot, Index, Embed>;

/// The cold tier: the source of truth.
#[derive(Debug)]
pub enum Cold {
    Embedded(EmbeddedColdStore),
    Postgres(PostgresColdStore),
}

/// The hot/warm tier: in-process, or Redis behind this sidecar's near-cache.
#[derive(Debug)]
pub enum Hot {
    /// `--no-cache`: every read from the cold store.
    Off(NoHotTier),
    Embedded(EmbeddedHotTier),
    /// Redis holds sealed copies when encryption at rest is on; the
    /// near-cache, in this process's memory, holds them open.
    Redis(Box<Layered<EmbeddedHotTier, SealedHot<RedisHotTier, Cold>, RedisInvalidations>>),
}

/// The semantic index: in-process, or Qdrant shared by every sidecar.
#[derive(Debug)]
pub enum Index {
    Embedded(EmbeddedIndex),
    Qdrant(QdrantIndex),
}

/// The embedder: built in (no weights) or a model server.
#[derive(Debug)]
pub enum Embed {
    Hashing(HashingEmbedder),
    Http(Box<HttpEmbedder>),
}

impl Hot {
    /// With Redis: whether the invalidation subscription is up (the
    /// near-cache in use) and how many invalidations wait for Redis.
    pub fn subscription(&self) -> Option<(bool, usize)> {
        match self {
            Hot::Redis(layered) => Some((layered.near_in_use(), layered.queued_invalidations())),
            Hot::Off(_) | Hot::Embedded(_) => None,
        }
    }
}

// Each port method goes to whichever backend the enum holds: the
// `delegate` crate writes the match arms.
impl MessageStore for Cold {
    delegate::delegate! {
        to match self {
            Cold::Embedded(backend) => backend,
            Cold::Postgres(backend) => backend,
        } {
            async fn append(
                &self,
                t: &TenantId,
                c: &ConversationId,
                u: &UserId,
                m: Vec<NewMessage>,
                now: Timestamp,
            ) -> Result<AppendOutcome>;
            async fn conversation(&self, t: &TenantId, c: &ConversationId) -> Result<Option<Conversation>>;
            async fn recent(
                &self,
                t: &TenantId,
                c: &ConversationId,
                limit: usize,
            ) -> Result<Option<RecentWindow>>;
            async fn messages_after(
                &self,
                t: &TenantId,
                c: &ConversationId,
                after: u64,
                limit: usize,
            ) -> Result<Vec<Message>>;
            async fn messages_at(
                &self,
                t: &TenantId,
                positions: &[(ConversationId, u64)],
            ) -> Result<Vec<Message>>;
            async fn list_conversations(
                &self,
                t: &TenantId,
                u: &UserId,
                cursor: Option<&ConversationCursor>,
                limit: usize,
            ) -> Result<Vec<Conversation>>;
            async fn delete_conversation(
                &self,
                t: &TenantId,
                c: &ConversationId,
            ) -> Result<Option<Conversation>>;
            async fn search_lexical(
                &self,
                t: &TenantId,
                scope: &Scope,
                q: &str,
                f: &MessageFilter,
                limit: usize,
            ) -> Result<Vec<ScoredMessage>>;
        }
    }
}

impl FactStore for Cold {
    delegate::delegate! {
        to match self {
            Cold::Embedded(backend) => backend,
            Cold::Postgres(backend) => backend,
        } {
            async fn put_facts(
                &self,
                t: &TenantId,
                u: &UserId,
                facts: Vec<FactInput>,
                now: Timestamp,
            ) -> Result<FactWrite<Vec<PutFactResult>>>;
            async fn fact_rev(&self, t: &TenantId, u: &UserId) -> Result<u64>;
            async fn current_facts(&self, t: &TenantId, u: &UserId) -> Result<FactSnapshot>;
            async fn facts_as_of(&self, t: &TenantId, u: &UserId, at: Timestamp) -> Result<Vec<Fact>>;
            async fn fact_history(&self, t: &TenantId, u: &UserId, k: &FactKey) -> Result<Vec<Fact>>;
            async fn invalidate_fact(
                &self,
                t: &TenantId,
                u: &UserId,
                k: &FactKey,
                at: Timestamp,
            ) -> Result<FactWrite<Fact>>;
            async fn all_facts(&self, t: &TenantId, u: &UserId) -> Result<Vec<Fact>>;
        }
    }
}

impl SummaryStore for Cold {
    delegate::delegate! {
        to match self {
            Cold::Embedded(backend) => backend,
            Cold::Postgres(backend) => backend,
        } {
            async fn put_summary(&self, t: &TenantId, c: &ConversationId, summary: &Summary) -> Result<()>;
            async fn summary(&self, t: &TenantId, c: &ConversationId) -> Result<Option<Summary>>;
            async fn user_summaries(
                &self,
                t: &TenantId,
                u: &UserId,
                limit: usize,
            ) -> Result<Vec<(ConversationId, Summary)>>;
        }
    }
}

impl OutboxQueue for Cold {
    delegate::delegate! {
        to match self {
            Cold::Embedded(backend) => backend,
            Cold::Postgres(backend) => backend,
        } {
            async fn queue_reindex(&self, t: &TenantId, index: &str, now: Timestamp) -> Result<u64>;
            async fn index_caught_up(&self, t: &TenantId, index: &str) -> Result<bool>;
            async fn outbox_tenants(&self) -> Result<Vec<TenantId>>;
            async fn claim_outbox(
                &self,
                t: &TenantId,
                limit: usize,
                now: Timestamp,
                lease_until: Timestamp,
            ) -> Result<Vec<OutboxJob>>;
            async fn finish_outbox(&self, t: &TenantId, ids: &[u64]) -> Result<()>;
            async fn defer_outbox(&self, t: &TenantId, ids: &[u64], not_before: Timestamp) -> Result<()>;
            async fn outbox_stats(&self, t: &TenantId) -> Result<OutboxStats>;
        }
    }
}

impl HandoverStore for Cold {
    delegate::delegate! {
        to match self {
            Cold::Embedded(backend) => backend,
            Cold::Postgres(backend) => backend,
        } {
            async fn start_handover(&self, t: &TenantId, handover: NewHandover) -> Result<Handover>;
            async fn end_handover(&self, t: &TenantId, end: HandoverEnd) -> Result<Handover>;
            async fn handover(&self, t: &TenantId, c: &ConversationId) -> Result<Option<Handover>>;
            async fn handover_job_tenants(&self) -> Result<Vec<TenantId>>;
            async fn claim_handover_jobs(
                &self,
                t: &TenantId,
                limit: usize,
                now: Timestamp,
                lease_until: Timestamp,
            ) -> Result<Vec<Handover>>;
            async fn finish_handover_job(
                &self,
                t: &TenantId,
                h: &Handover,
                summary: &HandoverSummary,
            ) -> Result<bool>;
            async fn defer_handover_job(
                &self,
                t: &TenantId,
                h: &HandoverId,
                not_before: Timestamp,
            ) -> Result<()>;
            async fn handover_jobs_queued(&self, t: &TenantId) -> Result<u64>;
        }
    }
}

impl ComplianceStore for Cold {
    delegate::delegate! {
        to match self {
            Cold::Embedded(backend) => backend,
            Cold::Postgres(backend) => backend,
        } {
            async fn erase_user(&self, t: &TenantId, u: &UserId) -> Result<ColdErasure>;
            async fn user_residue(&self, t: &TenantId, u: &UserId, c: &[ConversationId]) -> Result<u64>;
            async fn append_audit(
                &self,
                t: &TenantId,
                entry: NewAuditEntry,
                at: Timestamp,
            ) -> Result<AuditEntry>;
            async fn audit_entries(
                &self,
                t: &TenantId,
                after_seq: u64,
                limit: usize,
            ) -> Result<Vec<AuditEntry>>;
            async fn audit_head(&self, t: &TenantId) -> Result<Option<(u64, Vec<u8>)>>;
            async fn put_retention_policy(&self, t: &TenantId, p: &RetentionPolicy) -> Result<()>;
            async fn retention_policies(&self, t: &TenantId) -> Result<Vec<RetentionPolicy>>;
            async fn set_legal_hold(&self, t: &TenantId, u: &UserId, hold: bool) -> Result<()>;
            async fn retention_tenants(&self) -> Result<Vec<TenantId>>;
            async fn legal_holds(&self, t: &TenantId) -> Result<Vec<UserId>>;
            async fn expired_conversations(
                &self,
                t: &TenantId,
                before: Timestamp,
                after: Option<&ConversationId>,
                limit: usize,
            ) -> Result<Vec<Conversation>>;
            async fn anonymize_conversation(
                &self,
                t: &TenantId,
                c: &ConversationId,
                last_seq: u64,
                contents: Vec<(u64, String)>,
            ) -> Result<bool>;
        }
    }
}

impl KeyStore for Cold {
    delegate::delegate! {
        to match self {
            Cold::Embedded(backend) => backend,
            Cold::Postgres(backend) => backend,
        } {
            async fn data_key(&self, t: &TenantId, subject: &str) -> Result<Option<WrappedKey>>;
            async fn insert_data_key(
                &self,
                t: &TenantId,
                subject: &str,
                key: WrappedKey,
            ) -> Result<WrappedKey>;
            async fn rewrap_data_key(
                &self,
                t: &TenantId,
                subject: &str,
                previous: &str,
                key: WrappedKey,
            ) -> Result<bool>;
        }
    }
}

impl ColdStore for Cold {
    delegate::delegate! {
        to match self {
            Cold::Embedded(backend) => backend,
            Cold::Postgres(backend) => backend,
        } {
            async fn tenants(&self) -> Result<Vec<TenantId>>;
            async fn memory_stats(&self, t: &TenantId, max_users: usize) -> Result<MemoryStats>;
            async fn ping(&self) -> Result<()>;
        }
    }
}

impl SemanticIndex for Index {
    delegate::delegate! {
        to match self {
            Index::Embedded(backend) => backend,
            Index::Qdrant(backend) => backend,
        } {
            async fn upsert(&self, t: &TenantId, points: Vec<IndexPoint>) -> Result<()>;
            async fn search(
                &self,
                t: &TenantId,
                scope: &Scope,
                vector: &[f32],
                filter: &MessageFilter,
                limit: usize,
            ) -> Result<Vec<IndexHit>>;
            async fn delete_conversation(
                &self,
                t: &TenantId,
                u: &UserId,
                c: &ConversationId,
            ) -> Result<u64>;
            async fn delete_user(&self, t: &TenantId, u: &UserId) -> Result<u64>;
            async fn count_user(&self, t: &TenantId, u: &UserId) -> Result<u64>;
            async fn ping(&self) -> Result<()>;
        }
    }
}

impl Embedder for Embed {
    delegate::delegate! {
        to match self {
            Embed::Hashing(backend) => backend,
            Embed::Http(backend) => backend,
        } {
            fn model(&self) -> &str;
            fn contextual_passages(&self) -> bool;
            fn dimension(&self) -> usize;
            async fn embed(&self, texts: &[&str], kind: EmbedKind) -> Result<Vec<Vec<f32>>>;
        }
    }
}

impl HotTier for Hot {
    delegate::delegate! {
        to match self {
            Hot::Off(backend) => backend,
            Hot::Embedded(backend) => backend,
            Hot::Redis(backend) => backend,
        } {
            async fn recent(&self, t: &TenantId, c: &ConversationId) -> Result<Option<RecentWindow>>;
            async fn put_recent(&self, t: &TenantId, w: RecentWindow) -> Result<()>;
            async fn extend_recent(&self, t: &TenantId, c: &Conversation, m: &[Message]) -> Result<()>;
            async fn fence_conversation(&self, t: &TenantId, c: &ConversationId, rev: u64) -> Result<()>;
            async fn facts(&self, t: &TenantId, u: &UserId) -> Result<Option<FactSnapshot>>;
            async fn put_facts(&self, t: &TenantId, u: &UserId, s: FactSnapshot) -> Result<()>;
            async fn fence_facts(&self, t: &TenantId, u: &UserId, rev: u64) -> Result<()>;
            async fn ping(&self) -> Result<()>;
        }
    }

    fn reaches_near_caches(&self) -> bool {
        matches!(self, Hot::Redis(_))
    }
}

/// Builds the engine: Postgres and Redis when their URLs are given, the
/// embedded backends otherwise; the vector index stays embedded under the
/// data directory.
pub async fn build(args: &ServeArgs) -> anyhow::Result<AppEngine> {
    let window = args.recent_window as usize;
    let dir = &args.data_dir;
    let cache = (args.store_cache_mb as usize) << 20;
    let cold = match &args.postgres_url {
        Some(url) => Cold::Postgres(
            PostgresColdStore::new(&args.postgres_config(url)).context("configuring Postgres")?,
        ),
        None => Cold::Embedded(
            EmbeddedColdStore::open(dir, cache)
                .with_context(|| format!("opening the cold store in {}", dir.display()))?,
        ),
    };
    let keys = if args.encryption_keys.is_empty() {
        None
    } else {
        let masters = args.encryption_keys.iter().map(|k| k.master()).collect();
        Some(SubjectKeys::new(
            Keyring::new(masters).map_err(anyhow::Error::msg)?,
        ))
    };
    let cold = SealedCold::new(cold, keys);
    let in_process = HotConfig {
        window,
        hot_ttl: args.hot_ttl(),
        warm_ttl: args.warm_ttl(),
        max_bytes: args.hot_cache_mb * 1024 * 1024,
    };
    let hot = match &args.redis_url {
        _ if args.no_cache => Hot::Off(NoHotTier),
        Some(url) => {
            let config = args.redis_config(url);
            let far = RedisHotTier::connect(config.clone()).context("configuring Redis")?;
            let near = EmbeddedHotTier::new(&in_process);
            let gate = NearGate::default();
            let bus = RedisInvalidations::start(&config, near.clone(), gate.clone())
                .context("starting the invalidation subscriber")?;
            Hot::Redis(Box::new(Layered::new(near, cold.seal_hot(far), bus, gate)))
        }
        None => Hot::Embedded(EmbeddedHotTier::new(&in_process)),
    };
    let embedder = open_embedder(args, &args.embedder_model, args.embedder_dimension).await?;
    let index = open_index(args, &index_name(&embedder), embedder.dimension()).await?;
    let previous = match &args.previous_embedder_model {
        None => None,
        Some(model) => {
            let old = open_embedder(args, model, args.previous_embedder_dimension)
                .await
                .context("preparing the previous embedding model")?;
            let name = args
                .previous_index
                .clone()
                .unwrap_or_else(|| index_name(&old));
            if name == index_name(&embedder) {
                return Err(crate::config::Invalid(format!(
                    "the previous index is the current one ({name}): name it with --previous-index"
                ))
                .into());
            }
            Some((open_index(args, &name, old.dimension()).await?, old))
        }
    };
    let language_model: Option<Arc<dyn LanguageModel>> = match &args.llm_url {
        None => None,
        Some(url) => {
            let mut config = ChatConfig::new(url.clone(), args.llm_model.clone());
            config.api_key = args.llm_api_key.clone();
            config.timeout = Duration::from_millis(args.llm_timeout_ms);
            Some(Arc::new(HttpLanguageModel::new(config)?))
        }
    };
    Ok(Engine::with_previous_index(
        cold,
        hot,
        index,
        embedder,
        previous,
        EngineConfig {
            recent_window: window,
            indexer: IndexerConfig {
                summary: SummaryConfig {
                    every: args.summary_every,
                    vertical: match args.summary_vertical {
                        SummaryVertical::General => Vertical::General,
                        SummaryVertical::Medical => Vertical::Medical,
                        SummaryVertical::Dental => Vertical::Dental,
                        SummaryVertical::Legal => Vertical::Legal,
                    },
                    ..SummaryConfig::default()
                },
                lease: args
                    .job_lease_ms
                    .map_or(IndexerConfig::default().lease, Duration::from_millis),
                ..IndexerConfig::default()
            },
            language_model,
            llm_timeout: Duration::from_millis(args.llm_timeout_ms),
            handover: HandoverJobConfig {
                lease: args
                    .job_lease_ms
                    .map_or(HandoverJobConfig::default().lease, Duration::from_millis),
                ..HandoverJobConfig::default()
            },
            ..EngineConfig::default()
        },
    ))
}

/// The embedder for `model`: the built-in hashing embedder without
/// `--embedder-url` (or when `model` is `hashing`), else the API's model.
async fn open_embedder(
    args: &ServeArgs,
    model: &str,
    dimension: Option<u32>,
) -> anyhow::Result<Embed> {
    let url = match &args.embedder_url {
        Some(url) if model != "hashing" => url,
        _ => return Ok(Embed::Hashing(HashingEmbedder::default())),
    };
    let mut config = HttpEmbedderConfig::new(url.clone(), model.to_owned());
    config.dimension = dimension.map(|d| d as usize);
    config.api_key = args.embedder_api_key.clone();
    config.timeout = Duration::from_millis(args.embedder_timeout_ms);
    config.roles = match args.embedder_roles {
        EmbedderRoles::Field => Roles::Field,
        EmbedderRoles::Prefix => Roles::Prefix,
        EmbedderRoles::None => Roles::None,
    };
    Ok(Embed::Http(Box::new(
        HttpEmbedder::connect(config)
            .await
            .context("asking the embedder for its dimension (or pass --embedder-dimension)")?,
    )))
}

/// The semantic index named `name`: a file under the data directory, or a
/// Qdrant collection with `--qdrant-url`.
async fn open_index(args: &ServeArgs, name: &str, dimension: usize) -> anyhow::Result<Index> {
    let dir = &args.data_dir;
    Ok(match &args.qdrant_url {
        None => Index::Embedded(
            EmbeddedIndex::open(dir, name, dimension, (args.store_cache_mb as usize) << 20)
                .with_context(|| format!("opening the vector index in {}", dir.display()))?,
        ),
        Some(url) => {
            let config = QdrantConfig {
                url: url.clone(),
                api_key: args.qdrant_api_key.clone(),
                collection_prefix: args.qdrant_collection_prefix.clone(),
            };
            Index::Qdrant(
                QdrantIndex::connect(&config, name, dimension)
                    .await
                    .context("connecting to Qdrant and preparing its collection")?,
            )
        }
    })
}

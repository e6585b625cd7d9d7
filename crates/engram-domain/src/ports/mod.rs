//! The port traits every backend implements.
//!
//! Each trait is one tier of SPEC §2: the cold store (source of truth), the
//! hot tier (a cache that may lose anything at any time), the semantic index
//! and the embedder. Every method is scoped by a tenant: an implementation
//! must never return or touch another tenant's data, whatever ids it gets.
//! The `engram-contract` crate holds the test suite each implementation must
//! pass.

mod cold;

pub use cold::{
    ColdStore, ComplianceStore, FactStore, HandoverStore, KeyStore, MessageStore, OutboxQueue,
    SummaryStore,
};

use std::future::Future;

use crate::error::Result;
use crate::ids::{ConversationId, TenantId, UserId};
use crate::model::{
    Appended, Conversation, Fact, Message, MessageFilter, RecentWindow, Role, Scope,
};
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

//! Domain types shared by the core logic and every backend.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, FactKey, MessageId, UserId};
use crate::time::Timestamp;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    System,
    Operator,
    Tool,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::User,
        Role::Assistant,
        Role::System,
        Role::Operator,
        Role::Tool,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Operator => "operator",
            Role::Tool => "tool",
        }
    }
}

/// A message ready to be stored: validated, with its id, time, importance
/// and token count settled. Only the sequence number is left to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMessage {
    pub message_id: MessageId,
    /// True when the client supplied the id: only then can it be a retry.
    pub client_id: bool,
    pub role: Role,
    pub content: String,
    pub created_at: Timestamp,
    pub metadata: BTreeMap<String, String>,
    pub importance: f32,
    pub tokens: u32,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub seq: u64,
    pub role: Role,
    pub content: String,
    pub created_at: Timestamp,
    pub metadata: BTreeMap<String, String>,
    pub importance: f32,
    /// Tokens of the message's rendered line (see `tokens::render_message`)
    /// with o200k_base.
    pub tokens: u32,
}

impl Message {
    pub fn from_new(
        new: NewMessage,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: u64,
    ) -> Self {
        Self {
            message_id: new.message_id,
            conversation_id,
            user_id,
            seq,
            role: new.role,
            content: new.content,
            created_at: new.created_at,
            metadata: new.metadata,
            importance: new.importance,
            tokens: new.tokens,
        }
    }

    /// True when `new` is a retry of this message: same role and content.
    pub fn is_same_as(&self, new: &NewMessage) -> bool {
        self.role == new.role && self.content == new.content
    }
}

/// The outcome of appending one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub message: Message,
    /// True when the message id was already stored: nothing was written.
    pub deduplicated: bool,
}

/// A conversation's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub message_count: u64,
    pub last_seq: u64,
    /// Sum of the messages' `tokens`: the size of the full history.
    pub total_tokens: u64,
}

/// Sums over a user's conversations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryTotals {
    pub conversations: u64,
    pub messages: u64,
    /// Sum of the conversations' `total_tokens`.
    pub tokens: u64,
}

impl HistoryTotals {
    pub fn add(&mut self, conversation: &Conversation) {
        self.conversations += 1;
        self.messages += conversation.message_count;
        self.tokens += conversation.total_tokens;
    }
}

/// Where `ListConversations` resumes: after this (updated_at, id) in
/// most-recent-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationCursor {
    pub updated_at: Timestamp,
    pub conversation_id: ConversationId,
}

impl ConversationCursor {
    /// Where a listing resumes after `conversation`.
    pub fn after(conversation: &Conversation) -> Self {
        Self {
            updated_at: conversation.updated_at,
            conversation_id: conversation.conversation_id.clone(),
        }
    }
}

/// What a search or scan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every conversation of a user.
    User(UserId),
    /// One conversation (of this user).
    Conversation(UserId, ConversationId),
}

impl Scope {
    pub fn user(&self) -> &UserId {
        match self {
            Scope::User(user) | Scope::Conversation(user, _) => user,
        }
    }
}

/// Filters applied to searched messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageFilter {
    /// Inclusive lower bound on `created_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `created_at`.
    pub until: Option<Timestamp>,
    /// Only these roles; empty means all.
    pub roles: Vec<Role>,
}

impl MessageFilter {
    pub fn matches(&self, role: Role, created_at: Timestamp) -> bool {
        self.from.is_none_or(|from| created_at >= from)
            && self.until.is_none_or(|until| created_at < until)
            && (self.roles.is_empty() || self.roles.contains(&role))
    }
}

/// A message found by a search, with its score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredMessage {
    pub message: Message,
    pub score: f64,
}

/// Where a fact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactSourceKind {
    Message,
    Operator,
    System,
    Extraction,
}

/// The provenance of a fact version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactSource {
    pub kind: FactSourceKind,
    pub reference: String,
}

/// One version of a fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub user_id: UserId,
    pub key: FactKey,
    /// Canonical JSON text.
    pub value: String,
    pub valid_at: Timestamp,
    /// None while current.
    pub invalid_at: Option<Timestamp>,
    pub source: FactSource,
    pub confidence: f32,
    pub recorded_at: Timestamp,
    /// 1, 2, 3… in recording order, per (user, key).
    pub version: u64,
}

impl Fact {
    /// True when this version was in effect at `at`.
    pub fn in_effect_at(&self, at: Timestamp) -> bool {
        self.valid_at <= at && self.invalid_at.is_none_or(|end| at < end)
    }

    pub fn is_current(&self) -> bool {
        self.invalid_at.is_none()
    }
}

/// A fact to put: validated, value canonicalised, `valid_at` settled.
#[derive(Debug, Clone, PartialEq)]
pub struct FactInput {
    pub key: FactKey,
    pub value: String,
    pub valid_at: Timestamp,
    pub source: FactSource,
    pub confidence: f32,
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Superseded,
    Unchanged,
    Historical,
}

/// The result of putting one fact.
#[derive(Debug, Clone, PartialEq)]
pub struct PutFactResult {
    pub fact: Fact,
    pub outcome: PutOutcome,
}

/// The last messages of a conversation and its metadata: what the hot tier
/// keeps per conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentWindow {
    pub conversation: Conversation,
    /// The last messages, oldest first; at most the hot window's size.
    pub messages: Vec<Message>,
}

impl RecentWindow {
    /// The last `limit` messages, if this window holds them all (it holds
    /// the whole conversation, or at least `limit` messages).
    pub fn last(&self, limit: usize) -> Option<&[Message]> {
        let whole = self.messages.len() as u64 >= self.conversation.message_count;
        if whole || self.messages.len() >= limit {
            let start = self.messages.len().saturating_sub(limit);
            Some(&self.messages[start..])
        } else {
            None
        }
    }
}

/// What a durable indexing job asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum OutboxOp {
    /// Embed and index the messages `from_seq..=to_seq` of the conversation.
    Index { from_seq: u64, to_seq: u64 },
    /// Remove every point of the conversation from the index.
    Delete,
}

/// A durable indexing job: written by the cold store in the same
/// transaction as the change it follows, removed once the index has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxJob {
    /// Increases with every job of a tenant: jobs are done in this order.
    pub id: u64,
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub op: OutboxOp,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub created_at: Timestamp,
}

/// The indexing backlog of a tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: u64,
    /// When the oldest pending job was written: now minus this is the
    /// indexing lag.
    pub oldest: Option<Timestamp>,
}

/// Importance bands reported by memory statistics, by lower bound.
pub const IMPORTANCE_BANDS: [(&str, f32); 4] = [
    ("critical", 0.9),
    ("high", 0.7),
    ("normal", 0.4),
    ("low", 0.0),
];

/// The band of an importance score (an index into `IMPORTANCE_BANDS`).
pub fn importance_band(importance: f32) -> usize {
    IMPORTANCE_BANDS
        .iter()
        .position(|(_, floor)| importance >= *floor)
        .unwrap_or(IMPORTANCE_BANDS.len() - 1)
}

/// Messages held for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserStats {
    pub user_id: UserId,
    pub conversations: u64,
    pub messages: u64,
    pub oldest: Option<Timestamp>,
    pub newest: Option<Timestamp>,
}

/// What a tenant's memory holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryStats {
    pub conversations: u64,
    pub messages: u64,
    /// Messages per band of `IMPORTANCE_BANDS`, in its order.
    pub by_importance: [u64; 4],
    pub oldest: Option<Timestamp>,
    pub newest: Option<Timestamp>,
    /// Per user, by user id; at most the requested number.
    pub users: Vec<UserStats>,
    /// True when there were more users than returned.
    pub users_truncated: bool,
    pub outbox: OutboxStats,
}

/// A data key as stored: wrapped by a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Id of the master key that wrapped it.
    pub master_id: String,
    /// nonce ‖ ciphertext ‖ tag.
    pub bytes: Vec<u8>,
}

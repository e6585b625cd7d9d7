//! AppendMessages, GetRecent, GetConversation, ListConversations,
//! DeleteConversation.

use std::collections::{BTreeMap, HashSet};

use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, MessageId, TenantId, UserId};
use engram_domain::model::{
    Conversation, ConversationCursor, Message, NewMessage, RecentWindow, Role,
};
use engram_domain::observe;
use engram_domain::observe::Read;
use engram_domain::ports::{AppendOutcome, ColdStore, Embedder, HotTier, SemanticIndex};
use engram_domain::time::Timestamp;
use engram_text::tokens::{Tokenizer, render_message_parts};

use super::Engine;

/// A validated message of an append request, before the engine settles its
/// id, time, importance and tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDraft {
    pub message_id: Option<MessageId>,
    pub role: Role,
    pub content: String,
    pub created_at: Option<Timestamp>,
    pub metadata: BTreeMap<String, String>,
}

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    /// Appends messages; returns once they are durable.
    pub async fn append(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        user: &UserId,
        drafts: Vec<MessageDraft>,
    ) -> Result<AppendOutcome> {
        let mut seen = HashSet::new();
        for (i, draft) in drafts.iter().enumerate() {
            if let Some(id) = &draft.message_id
                && !seen.insert(id)
            {
                return Err(Error::invalid(
                    format!("messages[{i}].message_id"),
                    "repeats the id of an earlier message of the same request",
                ));
            }
        }
        let now = Timestamp::now();
        let messages = drafts.into_iter().map(|d| self.prepare(d, now)).collect();
        let outcome = self
            .cold
            .append(tenant, conversation, user, messages, now)
            .await?;

        let fresh: Vec<Message> = outcome
            .messages
            .iter()
            .filter(|a| !a.deduplicated)
            .map(|a| a.message.clone())
            .collect();
        if !fresh.is_empty() {
            if let Err(error) = self
                .hot
                .extend_recent(tenant, &outcome.conversation, &fresh)
                .await
            {
                Self::note_hot_failure(tenant, "extend_recent", &error);
            }
            self.indexer.hint(tenant);
        }
        Ok(outcome)
    }

    fn prepare(&self, draft: MessageDraft, now: Timestamp) -> NewMessage {
        let created_at = draft.created_at.unwrap_or(now);
        let tokens = Tokenizer::STORED.count(&render_message_parts(
            created_at,
            draft.role,
            &draft.content,
        ));
        NewMessage {
            client_id: draft.message_id.is_some(),
            message_id: draft.message_id.unwrap_or_else(MessageId::generate),
            role: draft.role,
            importance: self.config.importance.score(&draft.content),
            content: draft.content,
            created_at,
            metadata: draft.metadata,
            tokens,
        }
    }

    /// The conversation's recent window: from the hot tier when it holds
    /// the revision the cold store holds now, else from the cold store
    /// (repairing the hot tier in the background).
    ///
    /// The hot tier may have lost or rolled back anything — a Redis
    /// failover to a lagging replica, a restart from an old snapshot, a
    /// writer that crashed or lost Redis between its commit and its fence —
    /// so a cached window is never trusted on its own: the conversation's
    /// row (read in parallel, one primary-key probe) must match it.
    pub(crate) async fn window(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<RecentWindow>> {
        let (hot, current) = tokio::join!(
            self.hot.recent(tenant, conversation),
            self.cold.conversation(tenant, conversation)
        );
        let Some(current) = current? else {
            return Ok(None);
        };
        let stale = match hot {
            Ok(Some(window)) if window.conversation == current => {
                observe::tier_read("hot", "recent", Read::Hit);
                return Ok(Some(window));
            }
            Ok(cached) => {
                observe::tier_read("hot", "recent", Read::outdated(cached.is_some()));
                cached.is_some()
            }
            Err(error) => {
                observe::tier_read("hot", "recent", Read::Error);
                Self::note_hot_failure(tenant, "recent", &error);
                false
            }
        };
        let window = self
            .cold
            .recent(tenant, conversation, self.config.recent_window)
            .await?;
        let read = if window.is_some() {
            Read::Hit
        } else {
            Read::Miss
        };
        observe::tier_read("cold", "recent", read);
        if let Some(window) = &window {
            let hot = self.hot.clone();
            let (tenant, window) = (tenant.clone(), window.clone());
            tokio::spawn(async move {
                // A stale copy (a write whose fence never landed, a Redis
                // rolled back) is fenced first, near-caches included, so
                // that the repair takes its place rather than every read
                // missing until its TTL.
                if stale {
                    let (id, rev) = (
                        &window.conversation.conversation_id,
                        window.conversation.last_seq,
                    );
                    if let Err(error) = hot.fence_conversation(&tenant, id, rev).await {
                        Self::note_hot_failure(&tenant, "fence_conversation", &error);
                    }
                }
                if let Err(error) = hot.put_recent(&tenant, window).await {
                    Self::note_hot_failure(&tenant, "put_recent", &error);
                }
            });
        }
        Ok(window)
    }

    /// The last `limit` messages, oldest first (empty for an unknown
    /// conversation).
    pub async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<Message>> {
        if limit <= self.config.recent_window {
            let Some(window) = self.window(tenant, conversation).await? else {
                return Ok(Vec::new());
            };
            if let Some(last) = window.last(limit) {
                return Ok(last.to_vec());
            }
        }
        Ok(self
            .cold
            .recent(tenant, conversation, limit)
            .await?
            .map(|w| w.messages)
            .unwrap_or_default())
    }

    /// One page of a conversation after `after_seq`.
    pub async fn conversation_page(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> Result<(Conversation, Vec<Message>)> {
        let meta = self
            .cold
            .conversation(tenant, conversation)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "conversation",
                id: conversation.to_string(),
            })?;
        let messages = self
            .cold
            .messages_after(tenant, conversation, after_seq, limit)
            .await?;
        Ok((meta, messages))
    }

    pub async fn list_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
        cursor: Option<&ConversationCursor>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        self.cold
            .list_conversations(tenant, user, cursor, limit)
            .await
    }

    /// Deletes a conversation from every tier; returns its message count.
    pub async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64> {
        let deleted = self
            .cold
            .delete_conversation(tenant, conversation)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "conversation",
                id: conversation.to_string(),
            })?;
        if let Err(error) = self
            .hot
            .fence_conversation(tenant, conversation, u64::MAX)
            .await
        {
            Self::note_hot_failure(tenant, "fence_conversation", &error);
        }
        self.indexer.hint(tenant);
        Ok(deleted.message_count)
    }
}

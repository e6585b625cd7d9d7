//! Conversations and messages in the embedded cold store.

use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{
    Appended, Conversation, ConversationCursor, Message, MessageFilter, NewMessage, OutboxOp,
    RecentWindow, Scope, ScoredMessage,
};
use engram_domain::ports::{AppendOutcome, MessageStore};
use engram_domain::time::Timestamp;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::conversations::{conversation_in, conversation_in_write, user_conversations_in};
use super::{
    ANONYMIZED, CONVERSATIONS, EmbeddedColdStore, MESSAGE_IDS, MESSAGES, SUMMARIES,
    USER_CONVERSATIONS, after, conversations, decode, encode, handovers, lexical, outbox,
};
use crate::writer::storage;

pub(super) fn recent(
    txn: &ReadTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
    limit: usize,
) -> Result<Option<RecentWindow>> {
    let Some(meta) = conversation_in(txn, tenant, conversation)? else {
        return Ok(None);
    };
    let from = meta.last_seq.saturating_sub(limit as u64) + 1;
    let messages = range_in(txn, tenant, conversation, from, usize::MAX)?;
    Ok(Some(RecentWindow {
        conversation: meta,
        messages,
    }))
}

pub(super) fn messages_after(
    txn: &ReadTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<Message>> {
    range_in(
        txn,
        tenant,
        conversation,
        after_seq.saturating_add(1),
        limit,
    )
}

pub(super) fn messages_at(
    txn: &ReadTransaction,
    tenant: &TenantId,
    positions: &[(ConversationId, u64)],
) -> Result<Vec<Message>> {
    let table = txn.open_table(MESSAGES).map_err(storage)?;
    let mut out = Vec::with_capacity(positions.len());
    for (conversation, seq) in positions {
        if let Some(bytes) = table
            .get((tenant.as_str(), conversation.as_str(), *seq))
            .map_err(storage)?
        {
            out.push(decode(bytes.value())?);
        }
    }
    Ok(out)
}

pub(super) fn list(
    txn: &ReadTransaction,
    tenant: &TenantId,
    user: &UserId,
    cursor: Option<&ConversationCursor>,
    limit: usize,
) -> Result<Vec<Conversation>> {
    let mut all = user_conversations_in(txn, tenant, user)?;
    all.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.conversation_id.cmp(&b.conversation_id))
    });
    let start = match cursor {
        None => 0,
        Some(c) => all.partition_point(|m| {
            (std::cmp::Reverse(m.updated_at), &m.conversation_id)
                <= (std::cmp::Reverse(c.updated_at), &c.conversation_id)
        }),
    };
    Ok(all.into_iter().skip(start).take(limit).collect())
}

pub(super) fn delete(
    txn: &WriteTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> Result<Option<Conversation>> {
    let Some(removed) = remove(txn, tenant, conversation.as_str())? else {
        return Ok(None);
    };
    outbox::enqueue(
        txn,
        tenant,
        conversation,
        &removed.conversation.user_id,
        OutboxOp::Delete,
        Timestamp::now(),
    )?;
    Ok(Some(removed.conversation))
}

/// What removing a conversation took with it.
pub(super) struct Removed {
    pub(super) conversation: Conversation,
    pub(super) messages: u64,
    pub(super) summaries: u64,
    pub(super) handovers: u64,
}

/// Removes a conversation with its messages, postings, running summary,
/// handovers and anonymization mark; writes no indexing job.
pub(super) fn remove(
    txn: &WriteTransaction,
    tenant: &TenantId,
    c: &str,
) -> Result<Option<Removed>> {
    let t = tenant.as_str();
    let Some(meta) = conversation_in_write(txn, t, c)? else {
        return Ok(None);
    };
    let stored = range_write(txn, t, c)?;
    for message in &stored {
        lexical::index(txn, tenant, message, false)?;
    }
    let mut messages = txn.open_table(MESSAGES).map_err(storage)?;
    messages
        .retain_in((t, c, 0)..=(t, c, u64::MAX), |_, _| false)
        .map_err(storage)?;
    let mut ids = txn.open_table(MESSAGE_IDS).map_err(storage)?;
    let end = after(c);
    ids.retain_in((t, c, "")..(t, end.as_str(), ""), |_, _| false)
        .map_err(storage)?;
    txn.open_table(USER_CONVERSATIONS)
        .map_err(storage)?
        .remove((t, meta.user_id.as_str(), c))
        .map_err(storage)?;
    txn.open_table(CONVERSATIONS)
        .map_err(storage)?
        .remove((t, c))
        .map_err(storage)?;
    let summaries = txn
        .open_table(SUMMARIES)
        .map_err(storage)?
        .remove((t, c))
        .map_err(storage)?
        .is_some();
    txn.open_table(ANONYMIZED)
        .map_err(storage)?
        .remove((t, c))
        .map_err(storage)?;
    let handovers = handovers::delete_conversation(txn, t, c)?;
    Ok(Some(Removed {
        conversation: meta,
        messages: stored.len() as u64,
        summaries: u64::from(summaries),
        handovers,
    }))
}

pub(super) fn append(
    txn: &WriteTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
    user: &UserId,
    messages: Vec<NewMessage>,
    now: Timestamp,
) -> Result<AppendOutcome> {
    let (t, c) = (tenant.as_str(), conversation.as_str());
    let mut meta = match conversation_in_write(txn, t, c)? {
        Some(meta) if meta.user_id != *user => {
            return Err(Error::belongs_to_another_user(conversation.as_str()));
        }
        Some(meta) => meta,
        None => Conversation {
            conversation_id: conversation.clone(),
            user_id: user.clone(),
            created_at: now,
            updated_at: now,
            message_count: 0,
            last_seq: 0,
            total_tokens: 0,
        },
    };

    // Settle every message (replay or new) before writing anything.
    let mut ids = txn.open_table(MESSAGE_IDS).map_err(storage)?;
    let mut table = txn.open_table(MESSAGES).map_err(storage)?;
    let mut settled: Vec<(NewMessage, Option<Message>)> = Vec::with_capacity(messages.len());
    for (i, new) in messages.into_iter().enumerate() {
        let stored = if new.client_id {
            ids.get((t, c, new.message_id.as_str()))
                .map_err(storage)?
                .map(|g| g.value())
        } else {
            None
        };
        let replay = match stored {
            None => None,
            Some(seq) => {
                let bytes = table
                    .get((t, c, seq))
                    .map_err(storage)?
                    .ok_or_else(|| Error::Internal("message id without message".into()))?;
                let old: Message = decode(bytes.value())?;
                if !old.is_same_as(&new) {
                    return Err(Error::AlreadyExists(format!(
                        "messages[{i}].message_id {:?} is already stored with another role or content",
                        new.message_id.as_str()
                    )));
                }
                Some(old)
            }
        };
        settled.push((new, replay));
    }

    let mut appended = Vec::with_capacity(settled.len());
    for (new, replay) in settled {
        if let Some(message) = replay {
            appended.push(Appended {
                message,
                deduplicated: true,
            });
            continue;
        }
        meta.last_seq += 1;
        meta.message_count += 1;
        meta.total_tokens += u64::from(new.tokens);
        let message = Message::from_new(new, conversation.clone(), user.clone(), meta.last_seq);
        table
            .insert((t, c, message.seq), encode(&message)?.as_slice())
            .map_err(storage)?;
        ids.insert((t, c, message.message_id.as_str()), message.seq)
            .map_err(storage)?;
        lexical::index(txn, tenant, &message, true)?;
        appended.push(Appended {
            message,
            deduplicated: false,
        });
    }
    let fresh = appended.iter().filter(|a| !a.deduplicated).count() as u64;
    if fresh > 0 {
        let op = OutboxOp::Index {
            from_seq: meta.last_seq + 1 - fresh,
            to_seq: meta.last_seq,
        };
        outbox::enqueue(txn, tenant, conversation, user, op, now)?;
        meta.updated_at = now.max(meta.updated_at);
        txn.open_table(CONVERSATIONS)
            .map_err(storage)?
            .insert((t, c), encode(&meta)?.as_slice())
            .map_err(storage)?;
        txn.open_table(USER_CONVERSATIONS)
            .map_err(storage)?
            .insert((t, user.as_str(), c), ())
            .map_err(storage)?;
    }
    Ok(AppendOutcome {
        conversation: meta,
        messages: appended,
    })
}

fn range_in(
    txn: &ReadTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<Message>> {
    let table = txn.open_table(MESSAGES).map_err(storage)?;
    let (t, c) = (tenant.as_str(), conversation.as_str());
    let mut out = Vec::new();
    for entry in table
        .range((t, c, from_seq)..=(t, c, u64::MAX))
        .map_err(storage)?
    {
        if out.len() == limit {
            break;
        }
        let (_, v) = entry.map_err(storage)?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

/// Every message of a conversation, in a write transaction.
pub(super) fn range_write(txn: &WriteTransaction, t: &str, c: &str) -> Result<Vec<Message>> {
    let table = txn.open_table(MESSAGES).map_err(storage)?;
    let mut out = Vec::new();
    for row in table.range((t, c, 0)..=(t, c, u64::MAX)).map_err(storage)? {
        let (_, value) = row.map_err(storage)?;
        out.push(decode(value.value())?);
    }
    Ok(out)
}

impl MessageStore for EmbeddedColdStore {
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
            .write(move |txn| append(txn, &tenant, &conversation, &user, messages, now))
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
        self.read(move |txn| recent(txn, &tenant, &conversation, limit))
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
        self.read(move |txn| messages_after(txn, &tenant, &conversation, after_seq, limit))
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
        self.read(move |txn| messages_at(txn, &tenant, &positions))
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
        self.read(move |txn| list(txn, &tenant, &user, cursor.as_ref(), limit))
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
            .write(move |txn| delete(txn, &tenant, &conversation))
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
}

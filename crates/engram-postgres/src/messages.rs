//! Conversations and messages in a tenant's schema.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use engram_core::error::{Error, Result};
use engram_core::ids::{ConversationId, MessageId, UserId};
use engram_core::model::{
    Appended, Conversation, ConversationCursor, Message, MessageFilter, NewMessage, RecentWindow,
    Role, Scope, ScoredMessage,
};
use engram_core::ports::AppendOutcome;
use engram_core::text::terms;
use engram_core::time::Timestamp;
use tokio_postgres::Row;

use crate::error::pg;

const MESSAGE_COLUMNS: &str = "conversation_id, seq, message_id, user_id, role, content, created_us, metadata, importance, tokens";
const CONVERSATION_COLUMNS: &str =
    "conversation_id, user_id, created_us, updated_us, message_count, last_seq, total_tokens";

fn role_of(s: &str) -> Result<Role> {
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| Error::Internal(format!("unknown role {s:?} in the cold store")))
}

fn id<T>(parse: fn(&str, &str) -> Result<T>, raw: &str) -> Result<T> {
    parse("stored id", raw)
        .map_err(|e| Error::Internal(format!("corrupt id in the cold store: {e}")))
}

pub(crate) fn to_message(row: &Row) -> Result<Message> {
    let metadata: serde_json::Value = row.get(7);
    let metadata = serde_json::from_value(metadata)
        .map_err(|e| Error::Internal(format!("corrupt metadata: {e}")))?;
    Ok(Message {
        conversation_id: id(ConversationId::parse, row.get(0))?,
        seq: row.get::<_, i64>(1) as u64,
        message_id: id(MessageId::parse, row.get(2))?,
        user_id: id(UserId::parse, row.get(3))?,
        role: role_of(row.get(4))?,
        content: row.get(5),
        created_at: Timestamp(row.get(6)),
        metadata,
        importance: row.get(8),
        tokens: row.get::<_, i32>(9) as u32,
    })
}

fn to_conversation(row: &Row) -> Result<Conversation> {
    Ok(Conversation {
        conversation_id: id(ConversationId::parse, row.get(0))?,
        user_id: id(UserId::parse, row.get(1))?,
        created_at: Timestamp(row.get(2)),
        updated_at: Timestamp(row.get(3)),
        message_count: row.get::<_, i64>(4) as u64,
        last_seq: row.get::<_, i64>(5) as u64,
        total_tokens: row.get::<_, i64>(6) as u64,
    })
}

pub(crate) async fn conversation(
    client: &impl GenericClient,
    s: &str,
    conversation: &ConversationId,
    for_update: bool,
) -> Result<Option<Conversation>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM {s}.conversations WHERE conversation_id = $1{lock}"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let row = client
        .query_opt(&stmt, &[&conversation.as_str()])
        .await
        .map_err(pg)?;
    row.as_ref().map(to_conversation).transpose()
}

/// Appends in one transaction. The conversation's row lock serialises
/// appends to it across sidecars, so sequence numbers stay gap-free and a
/// retried id is always seen.
pub(crate) async fn append(
    client: &mut deadpool_postgres::Object,
    s: &str,
    conversation_id: &ConversationId,
    user: &UserId,
    messages: Vec<NewMessage>,
    now: Timestamp,
) -> Result<AppendOutcome> {
    let tx = client.transaction().await.map_err(pg)?;
    let c = conversation_id.as_str();
    let create = format!(
        "INSERT INTO {s}.conversations ({CONVERSATION_COLUMNS}) VALUES ($1, $2, $3, $3, 0, 0, 0) ON CONFLICT DO NOTHING"
    );
    let create = tx.prepare_cached(&create).await.map_err(pg)?;
    tx.execute(&create, &[&c, &user.as_str(), &now.0])
        .await
        .map_err(pg)?;
    let mut meta = conversation(&tx, s, conversation_id, true)
        .await?
        .ok_or_else(|| Error::Internal("conversation row vanished".into()))?;
    if meta.user_id != *user {
        return Err(Error::FailedPrecondition(format!(
            "conversation {conversation_id:?} belongs to another user"
        )));
    }

    // Settle every message (replay or new) before writing anything.
    let client_ids: Vec<&str> = messages
        .iter()
        .filter(|m| m.client_id)
        .map(|m| m.message_id.as_str())
        .collect();
    let mut stored: HashMap<String, Message> = HashMap::new();
    if !client_ids.is_empty() {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM {s}.messages WHERE conversation_id = $1 AND message_id = ANY($2)"
        );
        let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
        for row in tx.query(&stmt, &[&c, &client_ids]).await.map_err(pg)? {
            let m = to_message(&row)?;
            stored.insert(m.message_id.as_str().to_owned(), m);
        }
    }
    let mut appended = Vec::with_capacity(messages.len());
    let mut fresh = Vec::new();
    for (i, new) in messages.into_iter().enumerate() {
        match stored
            .get(new.message_id.as_str())
            .filter(|_| new.client_id)
        {
            Some(old) if old.is_same_as(&new) => appended.push(Appended {
                message: old.clone(),
                deduplicated: true,
            }),
            Some(_) => {
                return Err(Error::AlreadyExists(format!(
                    "messages[{i}].message_id {:?} is already stored with another role or content",
                    new.message_id.as_str()
                )));
            }
            None => {
                meta.last_seq += 1;
                meta.message_count += 1;
                meta.total_tokens += u64::from(new.tokens);
                let message =
                    Message::from_new(new, conversation_id.clone(), user.clone(), meta.last_seq);
                fresh.push(message.clone());
                appended.push(Appended {
                    message,
                    deduplicated: false,
                });
            }
        }
    }

    if !fresh.is_empty() {
        insert(&tx, s, &fresh).await?;
        meta.updated_at = now.max(meta.updated_at);
        let sql = format!(
            "UPDATE {s}.conversations SET updated_us = $2, message_count = $3, last_seq = $4, total_tokens = $5 WHERE conversation_id = $1"
        );
        let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
        tx.execute(
            &stmt,
            &[
                &c,
                &meta.updated_at.0,
                &(meta.message_count as i64),
                &(meta.last_seq as i64),
                &(meta.total_tokens as i64),
            ],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)?;
    Ok(AppendOutcome {
        conversation: meta,
        messages: appended,
    })
}

/// One INSERT for the whole batch.
async fn insert(tx: &impl GenericClient, s: &str, messages: &[Message]) -> Result<()> {
    let sql = format!(
        "INSERT INTO {s}.messages ({MESSAGE_COLUMNS}, terms) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
                              $7::bigint[], $8::jsonb[], $9::real[], $10::int[], $11::text[])"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    let col = |f: fn(&Message) -> &str| messages.iter().map(f).collect::<Vec<&str>>();
    let seqs: Vec<i64> = messages.iter().map(|m| m.seq as i64).collect();
    let times: Vec<i64> = messages.iter().map(|m| m.created_at.0).collect();
    let metadata: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::to_value(&m.metadata).unwrap_or_default())
        .collect();
    let importance: Vec<f32> = messages.iter().map(|m| m.importance).collect();
    let tokens: Vec<i32> = messages.iter().map(|m| m.tokens as i32).collect();
    let analysed: Vec<String> = messages
        .iter()
        .map(|m| terms(&m.content).join(" "))
        .collect();
    tx.execute(
        &stmt,
        &[
            &col(|m| m.conversation_id.as_str()),
            &seqs,
            &col(|m| m.message_id.as_str()),
            &col(|m| m.user_id.as_str()),
            &col(|m| m.role.as_str()),
            &col(|m| m.content.as_str()),
            &times,
            &metadata,
            &importance,
            &tokens,
            &analysed,
        ],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

pub(crate) async fn recent(
    client: &impl GenericClient,
    s: &str,
    conversation_id: &ConversationId,
    limit: usize,
) -> Result<Option<RecentWindow>> {
    let Some(meta) = conversation(client, s, conversation_id, false).await? else {
        return Ok(None);
    };
    let from = meta.last_seq.saturating_sub(limit as u64);
    let messages = after(client, s, conversation_id, from, limit).await?;
    Ok(Some(RecentWindow {
        conversation: meta,
        messages,
    }))
}

pub(crate) async fn after(
    client: &impl GenericClient,
    s: &str,
    conversation_id: &ConversationId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM {s}.messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let after_seq = i64::try_from(after_seq).unwrap_or(i64::MAX);
    client
        .query(&stmt, &[&conversation_id.as_str(), &after_seq, &limit])
        .await
        .map_err(pg)?
        .iter()
        .map(to_message)
        .collect()
}

pub(crate) async fn at(
    client: &impl GenericClient,
    s: &str,
    positions: &[(ConversationId, u64)],
) -> Result<Vec<Message>> {
    if positions.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM {s}.messages m \
         JOIN UNNEST($1::text[], $2::bigint[]) WITH ORDINALITY AS p(c, q, n) \
           ON m.conversation_id = p.c AND m.seq = p.q ORDER BY p.n"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let conversations: Vec<&str> = positions.iter().map(|(c, _)| c.as_str()).collect();
    let seqs: Vec<i64> = positions.iter().map(|(_, q)| *q as i64).collect();
    client
        .query(&stmt, &[&conversations, &seqs])
        .await
        .map_err(pg)?
        .iter()
        .map(to_message)
        .collect()
}

pub(crate) async fn list(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
    cursor: Option<&ConversationCursor>,
    limit: usize,
) -> Result<Vec<Conversation>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match cursor {
        None => {
            let sql = format!(
                "SELECT {CONVERSATION_COLUMNS} FROM {s}.conversations WHERE user_id = $1 \
                 ORDER BY updated_us DESC, conversation_id LIMIT $2"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            client.query(&stmt, &[&user.as_str(), &limit]).await
        }
        Some(c) => {
            let sql = format!(
                "SELECT {CONVERSATION_COLUMNS} FROM {s}.conversations WHERE user_id = $1 \
                 AND (updated_us < $2 OR (updated_us = $2 AND conversation_id > $3)) \
                 ORDER BY updated_us DESC, conversation_id LIMIT $4"
            );
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            client
                .query(
                    &stmt,
                    &[
                        &user.as_str(),
                        &c.updated_at.0,
                        &c.conversation_id.as_str(),
                        &limit,
                    ],
                )
                .await
        }
    }
    .map_err(pg)?;
    rows.iter().map(to_conversation).collect()
}

pub(crate) async fn delete(
    client: &mut deadpool_postgres::Object,
    s: &str,
    conversation_id: &ConversationId,
) -> Result<Option<Conversation>> {
    let tx = client.transaction().await.map_err(pg)?;
    let Some(meta) = conversation(&tx, s, conversation_id, true).await? else {
        return Ok(None);
    };
    // Messages and summaries go with the conversation (ON DELETE CASCADE).
    let sql = format!("DELETE FROM {s}.conversations WHERE conversation_id = $1");
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    tx.execute(&stmt, &[&conversation_id.as_str()])
        .await
        .map_err(pg)?;
    let sql = format!("DELETE FROM {s}.index_outbox WHERE conversation_id = $1");
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    tx.execute(&stmt, &[&conversation_id.as_str()])
        .await
        .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(Some(meta))
}

/// Full-text search on engram's own term analysis, any term matching,
/// ranked by ts_rank.
pub(crate) async fn lexical(
    client: &impl GenericClient,
    s: &str,
    scope: &Scope,
    query: &str,
    filter: &MessageFilter,
    limit: usize,
) -> Result<Vec<ScoredMessage>> {
    let mut query_terms = terms(query);
    query_terms.sort();
    query_terms.dedup();
    if query_terms.is_empty() {
        return Ok(Vec::new());
    }
    // Terms are letters and digits only: safe as tsquery lexemes.
    let tsquery = query_terms.join(" | ");
    let conversation = match scope {
        Scope::Conversation(_, c) => Some(c.as_str()),
        Scope::User(_) => None,
    };
    let roles: Vec<&str> = filter.roles.iter().map(|r| r.as_str()).collect();
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, ts_rank(search, q)::float8 AS score \
         FROM {s}.messages, to_tsquery('simple', $1) AS q \
         WHERE search @@ q AND user_id = $2 \
           AND ($3::text IS NULL OR conversation_id = $3) \
           AND ($4::bigint IS NULL OR created_us >= $4) \
           AND ($5::bigint IS NULL OR created_us < $5) \
           AND (cardinality($6::text[]) = 0 OR role = ANY($6)) \
         ORDER BY score DESC, created_us, seq LIMIT $7"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &stmt,
            &[
                &tsquery,
                &scope.user().as_str(),
                &conversation,
                &filter.from.map(|t| t.0),
                &filter.until.map(|t| t.0),
                &roles,
                &limit,
            ],
        )
        .await
        .map_err(pg)?;
    rows.iter()
        .map(|row| {
            Ok(ScoredMessage {
                message: to_message(row)?,
                score: row.get(10),
            })
        })
        .collect()
}

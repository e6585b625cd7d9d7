//! Conversations and messages in a tenant's schema.
//!
//! Over 600 lines: the append's SQL (group commit's batch and its
//! one-by-one fallback), the reads, deletion and lexical search of the
//! message aggregate, and its MessageStore port.

use deadpool_postgres::GenericClient;
use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, MessageId, TenantId, UserId};
use engram_domain::model::{
    Appended, Conversation, ConversationCursor, HistoryTotals, Message, MessageFilter, NewMessage,
    RecentWindow, Role, Scope, ScoredMessage,
};
use engram_domain::ports::{AppendOutcome, MessageStore};
use engram_domain::time::Timestamp;
use engram_text::terms;
use tokio_postgres::Row;

use crate::error::{id, pg};
use crate::store::PostgresColdStore;

const MESSAGE_COLUMNS: &str = "conversation_id, seq, message_id, user_id, role, content, created_us, metadata, importance, tokens";
pub(crate) const CONVERSATION_COLUMNS: &str =
    "conversation_id, user_id, created_us, updated_us, message_count, last_seq, total_tokens";

fn role_of(s: &str) -> Result<Role> {
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| Error::Internal(format!("unknown role {s:?} in the cold store")))
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

pub(crate) fn to_conversation(row: &Row) -> Result<Conversation> {
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

/// One AppendMessages of a batch.
#[derive(Debug)]
pub(crate) struct PendingAppend {
    pub conversation: ConversationId,
    pub user: UserId,
    pub messages: Vec<NewMessage>,
    pub now: Timestamp,
}

/// Appends of many conversations in one round trip and one transaction:
/// the schema's `append_batch` function (migrations/V13) locks each
/// conversation's row, so sequence numbers stay gap-free and a retried id
/// is always seen, across sidecars. Each append's outcome, in order: a
/// refused one wrote nothing, the others are committed when this returns
/// (an `Err` means nothing was). Each append's rows, in order, for
/// [`outcome`].
pub(crate) async fn append_batch(
    client: &impl GenericClient,
    s: &str,
    appends: &[PendingAppend],
) -> Result<Vec<Vec<Row>>> {
    let sql = format!(
        "SELECT * FROM {s}.append_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let all = || appends.iter().flat_map(|a| &a.messages);
    let sizes: Vec<i32> = appends.iter().map(|a| a.messages.len() as i32).collect();
    let conversations: Vec<&str> = appends.iter().map(|a| a.conversation.as_str()).collect();
    let users: Vec<&str> = appends.iter().map(|a| a.user.as_str()).collect();
    let nows: Vec<i64> = appends.iter().map(|a| a.now.0).collect();
    let ids: Vec<&str> = all().map(|m| m.message_id.as_str()).collect();
    let client_ids: Vec<bool> = all().map(|m| m.client_id).collect();
    let roles: Vec<&str> = all().map(|m| m.role.as_str()).collect();
    let contents: Vec<&str> = all().map(|m| m.content.as_str()).collect();
    let created: Vec<i64> = all().map(|m| m.created_at.0).collect();
    let metadata: Vec<serde_json::Value> = all()
        .map(|m| serde_json::to_value(&m.metadata).unwrap_or_default())
        .collect();
    let importance: Vec<f32> = all().map(|m| m.importance).collect();
    let tokens: Vec<i32> = all().map(|m| m.tokens as i32).collect();
    let analysed: Vec<String> = all().map(|m| terms(&m.content).join(" ")).collect();
    let rows = client
        .query(
            &stmt,
            &[
                &sizes,
                &conversations,
                &users,
                &nows,
                &ids,
                &client_ids,
                &roles,
                &contents,
                &created,
                &metadata,
                &importance,
                &tokens,
                &analysed,
            ],
        )
        .await
        .map_err(pg)?;
    let mut by_group: Vec<Vec<Row>> = (0..appends.len()).map(|_| Vec::new()).collect();
    for row in rows {
        let group = row.get::<_, i32>(0) as usize;
        by_group
            .get_mut(group)
            .ok_or_else(|| Error::Internal("append_batch returned an unknown append".into()))?
            .push(row);
    }
    Ok(by_group)
}

/// One append's outcome from its rows of `append_batch`.
pub(crate) fn outcome(append: PendingAppend, rows: &[Row]) -> Result<AppendOutcome> {
    let PendingAppend {
        conversation: conversation_id,
        user,
        messages,
        ..
    } = append;
    if let Some(state) = rows.first().and_then(|r| r.get::<_, Option<&str>>(1)) {
        return Err(refusal(state, &conversation_id, &messages));
    }
    let mut news = messages.into_iter();
    let mut appended = Vec::with_capacity(rows.len());
    let mut conversation = None;
    for row in rows {
        let idx: i32 = row.get(2);
        if idx < 0 {
            conversation = Some(Conversation {
                conversation_id: conversation_id.clone(),
                user_id: id(UserId::parse, row.get(9))?,
                created_at: Timestamp(row.get(10)),
                updated_at: Timestamp(row.get(11)),
                message_count: row.get::<_, i64>(12) as u64,
                last_seq: row.get::<_, i64>(13) as u64,
                total_tokens: row.get::<_, i64>(14) as u64,
            });
            continue;
        }
        let new = news
            .next()
            .ok_or_else(|| Error::Internal("append_batch returned too many rows".into()))?;
        let deduplicated: bool = row.get(4);
        let mut message = Message::from_new(
            new,
            conversation_id.clone(),
            user.clone(),
            row.get::<_, i64>(3) as u64,
        );
        if deduplicated {
            // The stored copy, not the retry.
            message.created_at = Timestamp(row.get(5));
            message.metadata = serde_json::from_value(row.get(6))
                .map_err(|e| Error::Internal(format!("corrupt metadata: {e}")))?;
            message.importance = row.get(7);
            message.tokens = row.get::<_, i32>(8) as u32;
        }
        appended.push(Appended {
            message,
            deduplicated,
        });
    }
    Ok(AppendOutcome {
        conversation: conversation
            .ok_or_else(|| Error::Internal("append_batch returned no conversation".into()))?,
        messages: appended,
    })
}

/// The refusals `append_batch` reports, as engram errors.
fn refusal(state: &str, conversation_id: &ConversationId, messages: &[NewMessage]) -> Error {
    match state.split_once(':').unwrap_or((state, "")) {
        ("EN001", _) => Error::belongs_to_another_user(conversation_id.as_str()),
        ("EN002", index) => {
            let index = index.parse::<usize>().unwrap_or_default();
            Error::AlreadyExists(format!(
                "messages[{index}].message_id {:?} is already stored with another role or content",
                messages
                    .get(index)
                    .map(|m| m.message_id.as_str())
                    .unwrap_or_default()
            ))
        }
        ("EN003", _) => Error::Aborted(format!(
            "conversation {conversation_id:?} was deleted again and again while appending; retry"
        )),
        _ => Error::Internal(format!("append_batch reported {state:?}")),
    }
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

/// Sums over the user's conversations, in one pass of their index.
pub(crate) async fn user_history(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
) -> Result<HistoryTotals> {
    let sql = format!(
        "SELECT count(*), coalesce(sum(message_count), 0)::bigint, \
         coalesce(sum(total_tokens), 0)::bigint FROM {s}.conversations WHERE user_id = $1"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let row = client
        .query_one(&stmt, &[&user.as_str()])
        .await
        .map_err(pg)?;
    let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    Ok(HistoryTotals {
        conversations: count(0),
        messages: count(1),
        tokens: count(2),
    })
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
    // Pending jobs of the conversation are moot; the one that removes its
    // points replaces them.
    let sql = format!("DELETE FROM {s}.index_outbox WHERE conversation_id = $1");
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    tx.execute(&stmt, &[&conversation_id.as_str()])
        .await
        .map_err(pg)?;
    crate::outbox::enqueue_delete(&tx, s, conversation_id, &meta.user_id, Timestamp::now()).await?;
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
    // Terms and words are letters and digits only: safe as tsquery lexemes.
    let tsquery = query_terms.join(" | ");
    let mut words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    let language_query = words.join(" | ");
    let conversation = match scope {
        Scope::Conversation(_, c) => Some(c.as_str()),
        Scope::User(_) => None,
    };
    let roles: Vec<&str> = filter.roles.iter().map(|r| r.as_str()).collect();
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, (ts_rank(search, q) + ts_rank(search_lang, l.ql))::float8 AS score \
         FROM {s}.messages, to_tsquery('simple', $1) AS q, \
              (SELECT to_tsquery('portuguese', $8) || to_tsquery('english', $8) AS ql) AS l \
         WHERE (search @@ q OR search_lang @@ l.ql) AND user_id = $2 \
           AND ($3::text IS NULL OR conversation_id = $3) \
           AND ($4::bigint IS NULL OR created_us >= $4) \
           AND ($5::bigint IS NULL OR created_us < $5) \
           AND (cardinality($6::text[]) = 0 OR role = ANY($6)) \
         ORDER BY score DESC, created_us, seq LIMIT $7"
    );
    // Not a cached statement: after five runs of one, Postgres may plan it
    // once for any terms, and that plan ranks every message of the user
    // (76 ms against 8 ms on a 4k-message conversation where common terms
    // match half the rows). An unnamed statement is planned for its terms.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            sql.as_str(),
            &[
                &tsquery,
                &scope.user().as_str(),
                &conversation,
                &filter.from.map(|t| t.0),
                &filter.until.map(|t| t.0),
                &roles,
                &limit,
                &language_query,
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

impl MessageStore for PostgresColdStore {
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
        let append = PendingAppend {
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
        self::conversation(&client, &s, conversation, false).await
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
        recent(&client, &s, conversation, limit).await
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
        after(&client, &s, conversation, after_seq, limit).await
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
        at(&client, &s, positions).await
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
        list(&client, &s, user, cursor, limit).await
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
        user_history(&client, &s, user).await
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
        delete(&mut client, &s, conversation).await
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
        lexical(&client, &s, scope, query, filter, limit).await
    }
}

//! Running summaries in a tenant's schema.

use deadpool_postgres::GenericClient;
use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::summary::Summary;
use engram_domain::time::Timestamp;
use engram_text::tokens::Tokenizer;
use tokio_postgres::error::SqlState;

use engram_domain::ports::SummaryStore;

use crate::error::{id, pg};
use crate::store::PostgresColdStore;

fn body(value: serde_json::Value) -> Result<Summary> {
    serde_json::from_value(value).map_err(|e| Error::Internal(format!("corrupt summary: {e}")))
}

pub(crate) async fn put(
    client: &impl GenericClient,
    s: &str,
    conversation: &ConversationId,
    summary: &Summary,
) -> Result<()> {
    let text = summary.text();
    let tokens = Tokenizer::STORED.count(&text) as i32;
    let value = serde_json::to_value(summary)
        .map_err(|e| Error::Internal(format!("encoding a summary: {e}")))?;
    // The conversation may be gone (deleted while it was summarized): then
    // nothing is stored — whether the delete committed before this
    // statement's snapshot (no row selected) or after it (the foreign key
    // finds the row gone).
    let sql = format!(
        "INSERT INTO {s}.summaries (summary_id, conversation_id, from_seq, to_seq, text, tokens, created_us, body)
         SELECT $1, conversation_id, $2, $3, $4, $5, $6, $7 FROM {s}.conversations WHERE conversation_id = $1
         ON CONFLICT (conversation_id) DO UPDATE
            SET from_seq = EXCLUDED.from_seq, to_seq = EXCLUDED.to_seq, text = EXCLUDED.text,
                tokens = EXCLUDED.tokens, created_us = EXCLUDED.created_us, body = EXCLUDED.body
          WHERE {s}.summaries.to_seq <= EXCLUDED.to_seq"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    match client
        .execute(
            &stmt,
            &[
                &conversation.as_str(),
                &(summary.from_seq as i64),
                &(summary.to_seq as i64),
                &text,
                &tokens,
                &Timestamp::now().0,
                &value,
            ],
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => Ok(()),
        Err(e) => Err(pg(e)),
    }
}

pub(crate) async fn get(
    client: &impl GenericClient,
    s: &str,
    conversation: &ConversationId,
) -> Result<Option<Summary>> {
    let sql = format!("SELECT body FROM {s}.summaries WHERE conversation_id = $1");
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .query_opt(&stmt, &[&conversation.as_str()])
        .await
        .map_err(pg)?
        .map(|row| body(row.get(0)))
        .transpose()
}

pub(crate) async fn of_user(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
    limit: usize,
) -> Result<Vec<(ConversationId, Summary)>> {
    let sql = format!(
        "SELECT c.conversation_id, s.body FROM {s}.conversations c
           JOIN {s}.summaries s USING (conversation_id)
          WHERE c.user_id = $1
          ORDER BY c.updated_us DESC, c.conversation_id
          LIMIT $2"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .query(&stmt, &[&user.as_str(), &(limit as i64)])
        .await
        .map_err(pg)?
        .into_iter()
        .map(|row| Ok((id(ConversationId::parse, row.get(0))?, body(row.get(1))?)))
        .collect()
}

impl SummaryStore for PostgresColdStore {
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
        put(&client, &s, conversation, summary).await
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
        get(&client, &s, conversation).await
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
        of_user(&client, &s, user, limit).await
    }
}

//! Running summaries in the embedded store.

use engram_domain::error::Result;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::summary::Summary;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use engram_domain::ports::SummaryStore;

use super::conversations::user_conversations_in;
use super::{CONVERSATIONS, EmbeddedColdStore, SUMMARIES, decode, encode};
use crate::writer::storage;

pub(super) fn put(
    txn: &WriteTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
    summary: &Summary,
) -> Result<()> {
    let key = (tenant.as_str(), conversation.as_str());
    // A conversation deleted meanwhile keeps no summary.
    if txn
        .open_table(CONVERSATIONS)
        .map_err(storage)?
        .get(key)
        .map_err(storage)?
        .is_none()
    {
        return Ok(());
    }
    let mut table = txn.open_table(SUMMARIES).map_err(storage)?;
    let stored: Option<Summary> = table
        .get(key)
        .map_err(storage)?
        .map(|v| decode(v.value()))
        .transpose()?;
    if stored.is_none_or(|s| s.to_seq <= summary.to_seq) {
        table
            .insert(key, encode(summary)?.as_slice())
            .map_err(storage)?;
    }
    Ok(())
}

pub(super) fn get(
    txn: &ReadTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> Result<Option<Summary>> {
    txn.open_table(SUMMARIES)
        .map_err(storage)?
        .get((tenant.as_str(), conversation.as_str()))
        .map_err(storage)?
        .map(|v| decode(v.value()))
        .transpose()
}

pub(super) fn of_user(
    txn: &ReadTransaction,
    tenant: &TenantId,
    user: &UserId,
    limit: usize,
) -> Result<Vec<(ConversationId, Summary)>> {
    let mut conversations = user_conversations_in(txn, tenant, user)?;
    conversations.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.conversation_id.cmp(&b.conversation_id))
    });
    let mut out = Vec::new();
    for meta in conversations {
        if out.len() == limit {
            break;
        }
        if let Some(summary) = get(txn, tenant, &meta.conversation_id)? {
            out.push((meta.conversation_id, summary));
        }
    }
    Ok(out)
}

impl SummaryStore for EmbeddedColdStore {
    #[tracing::instrument(
        name = "cold.put_summary",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn put_summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        summary: &Summary,
    ) -> Result<()> {
        let summary = summary.clone();
        owned!(tenant, conversation);
        self.writer
            .write(move |txn| put(txn, &tenant, &conversation, &summary))
            .await
    }

    #[tracing::instrument(
        name = "cold.summary",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Summary>> {
        owned!(tenant, conversation);
        self.read(move |txn| get(txn, &tenant, &conversation)).await
    }

    #[tracing::instrument(
        name = "cold.user_summaries",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn user_summaries(
        &self,
        tenant: &TenantId,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<(ConversationId, Summary)>> {
        owned!(tenant, user);
        self.read(move |txn| of_user(txn, &tenant, &user, limit))
            .await
    }
}

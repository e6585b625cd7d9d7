//! Running summaries in the embedded store.

use engram_domain::error::Result;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::summary::Summary;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::conversations::user_conversations_in;
use super::{CONVERSATIONS, SUMMARIES, decode, encode};
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

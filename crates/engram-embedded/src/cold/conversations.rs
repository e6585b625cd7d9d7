//! A conversation's record (its user, revision, last sequence number) in
//! the embedded cold store: read by the messages, handovers, summaries and
//! compliance paths, which is why it is none of theirs.

use engram_domain::error::Result;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::Conversation;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::{CONVERSATIONS, USER_CONVERSATIONS, after, decode};
use crate::writer::storage;

pub(super) fn conversation_in(
    txn: &ReadTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
) -> Result<Option<Conversation>> {
    let table = txn.open_table(CONVERSATIONS).map_err(storage)?;
    let value = table
        .get((tenant.as_str(), conversation.as_str()))
        .map_err(storage)?;
    value.map(|v| decode(v.value())).transpose()
}

pub(super) fn conversation_in_write(
    txn: &WriteTransaction,
    t: &str,
    c: &str,
) -> Result<Option<Conversation>> {
    let table = txn.open_table(CONVERSATIONS).map_err(storage)?;
    let value = table.get((t, c)).map_err(storage)?;
    value.map(|v| decode(v.value())).transpose()
}

pub(super) fn user_conversations_in(
    txn: &ReadTransaction,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Vec<Conversation>> {
    let index = txn.open_table(USER_CONVERSATIONS).map_err(storage)?;
    let table = txn.open_table(CONVERSATIONS).map_err(storage)?;
    let (t, u) = (tenant.as_str(), user.as_str());
    let end = after(u);
    let mut out = Vec::new();
    for entry in index
        .range((t, u, "")..(t, end.as_str(), ""))
        .map_err(storage)?
    {
        let (key, _) = entry.map_err(storage)?;
        let (_, _, c) = key.value();
        if let Some(v) = table.get((t, c)).map_err(storage)? {
            out.push(decode(v.value())?);
        }
    }
    Ok(out)
}

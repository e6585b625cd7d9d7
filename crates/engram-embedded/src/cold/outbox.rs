//! The indexing outbox of the embedded store, and memory statistics.
//!
//! Jobs are written in the transaction of the change they follow. Leases
//! live in memory: the store file is locked by one process, so the only
//! claimant is this process's worker, and a restart releases every lease.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use engram_domain::error::Result;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{
    Conversation, IMPORTANCE_BANDS, MemoryStats, Message, OutboxJob, OutboxOp, OutboxStats,
    UserStats, importance_band,
};
use engram_domain::ports::{OutboxQueue, REINDEX_SLICE};
use engram_domain::time::Timestamp;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{
    CONVERSATIONS, EmbeddedColdStore, INDEX_BUILDS, MESSAGES, OUTBOX, OUTBOX_SEQ, after, decode,
    distinct_tenants, encode,
};
use crate::writer::storage;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    conversation_id: ConversationId,
    user_id: UserId,
    #[serde(flatten)]
    op: OutboxOp,
    attempts: u32,
    not_before: Timestamp,
    created_at: Timestamp,
}

/// Claimed jobs: (tenant, job id) → (lease end, claims not yet counted in
/// the stored attempts).
#[derive(Debug, Default)]
pub(crate) struct Leases(Mutex<HashMap<(TenantId, u64), (Timestamp, u32)>>);

pub(super) fn enqueue(
    txn: &WriteTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
    user: &UserId,
    op: OutboxOp,
    now: Timestamp,
) -> Result<()> {
    let t = tenant.as_str();
    let mut seq = txn.open_table(OUTBOX_SEQ).map_err(storage)?;
    let id = seq.get(t).map_err(storage)?.map_or(1, |v| v.value() + 1);
    seq.insert(t, id).map_err(storage)?;
    let entry = Entry {
        conversation_id: conversation.clone(),
        user_id: user.clone(),
        op,
        attempts: 0,
        not_before: Timestamp(0),
        created_at: now,
    };
    txn.open_table(OUTBOX)
        .map_err(storage)?
        .insert((t, id), encode(&entry)?.as_slice())
        .map_err(storage)?;
    Ok(())
}

/// Whether a job is of the user or of one of the conversations.
fn of_user(entry: &Entry, user: &str, conversations: &[&str]) -> bool {
    entry.user_id.as_str() == user || conversations.contains(&entry.conversation_id.as_str())
}

/// Removes the pending jobs of a user (or of its conversations); returns
/// how many.
pub(super) fn remove_user(
    txn: &WriteTransaction,
    t: &str,
    user: &str,
    conversations: &[&str],
) -> Result<u64> {
    let mut table = txn.open_table(OUTBOX).map_err(storage)?;
    let mut ids = Vec::new();
    for row in table.range((t, 0)..=(t, u64::MAX)).map_err(storage)? {
        let (key, value) = row.map_err(storage)?;
        if of_user(&decode(value.value())?, user, conversations) {
            ids.push(key.value().1);
        }
    }
    for id in &ids {
        table.remove((t, *id)).map_err(storage)?;
    }
    Ok(ids.len() as u64)
}

/// Pending jobs of a user (or of its conversations).
pub(super) fn count_user(
    txn: &ReadTransaction,
    t: &str,
    user: &str,
    conversations: &[&str],
) -> Result<u64> {
    let table = txn.open_table(OUTBOX).map_err(storage)?;
    let mut n = 0;
    for row in table.range((t, 0)..=(t, u64::MAX)).map_err(storage)? {
        let (_, value) = row.map_err(storage)?;
        n += u64::from(of_user(&decode(value.value())?, user, conversations));
    }
    Ok(n)
}

/// Tenants that hold conversations.
pub(super) fn conversation_tenants(txn: &ReadTransaction) -> Result<Vec<TenantId>> {
    let table = txn.open_table(CONVERSATIONS).map_err(storage)?;
    let tenant_of = |row: Option<(redb::AccessGuard<'_, (&str, &str)>, _)>| {
        row.map(|(key, _)| key.value().0.to_owned())
    };
    distinct_tenants(tenant_of(table.first().map_err(storage)?), |end| {
        let row = table.range((end, "")..).map_err(storage)?.next();
        Ok(tenant_of(row.transpose().map_err(storage)?))
    })
}

/// See `ColdStore::queue_reindex`.
pub(super) fn queue_reindex(
    txn: &WriteTransaction,
    tenant: &TenantId,
    index: &str,
    now: Timestamp,
) -> Result<u64> {
    let t = tenant.as_str();
    {
        let mut builds = txn.open_table(INDEX_BUILDS).map_err(storage)?;
        if builds.get((t, index)).map_err(storage)?.is_some() {
            return Ok(0);
        }
        builds.insert((t, index), now.0).map_err(storage)?;
    }
    let conversations: Vec<Conversation> = {
        let table = txn.open_table(CONVERSATIONS).map_err(storage)?;
        let end = after(t);
        let rows = table.range((t, "")..(end.as_str(), "")).map_err(storage)?;
        rows.map(|row| decode(row.map_err(storage)?.1.value()))
            .collect::<Result<_>>()?
    };
    // A conversation's pending index jobs are a suffix of it (its jobs are
    // done in order): they reach the new index anyway.
    let mut pending: HashMap<ConversationId, u64> = HashMap::new();
    {
        let table = txn.open_table(OUTBOX).map_err(storage)?;
        for row in table.range((t, 0)..=(t, u64::MAX)).map_err(storage)? {
            let entry: Entry = decode(row.map_err(storage)?.1.value())?;
            if let OutboxOp::Index { from_seq, .. } = entry.op {
                let first = pending.entry(entry.conversation_id).or_insert(from_seq);
                *first = (*first).min(from_seq);
            }
        }
    }
    let mut queued = 0;
    for c in conversations {
        let last = pending
            .get(&c.conversation_id)
            .map_or(c.last_seq, |first| first.saturating_sub(1).min(c.last_seq));
        for from_seq in (1..=last).step_by(REINDEX_SLICE as usize) {
            let to_seq = (from_seq + REINDEX_SLICE - 1).min(last);
            let op = OutboxOp::Index { from_seq, to_seq };
            enqueue(txn, tenant, &c.conversation_id, &c.user_id, op, now)?;
        }
        queued += last;
    }
    Ok(queued)
}

/// See `ColdStore::index_caught_up`.
pub(super) fn index_caught_up(
    txn: &ReadTransaction,
    tenant: &TenantId,
    index: &str,
) -> Result<bool> {
    let t = tenant.as_str();
    let queued = {
        let builds = txn.open_table(INDEX_BUILDS).map_err(storage)?;
        builds.get((t, index)).map_err(storage)?.map(|v| v.value())
    };
    let Some(queued) = queued else {
        // Never queued: caught up only when there is nothing to index.
        let table = txn.open_table(CONVERSATIONS).map_err(storage)?;
        let end = after(t);
        let mut rows = table.range((t, "")..(end.as_str(), "")).map_err(storage)?;
        return Ok(rows.next().is_none());
    };
    let table = txn.open_table(OUTBOX).map_err(storage)?;
    for row in table.range((t, 0)..=(t, u64::MAX)).map_err(storage)? {
        let entry: Entry = decode(row.map_err(storage)?.1.value())?;
        if matches!(entry.op, OutboxOp::Index { .. }) && entry.created_at.0 <= queued {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(super) fn tenants(txn: &ReadTransaction) -> Result<Vec<TenantId>> {
    let table = txn.open_table(OUTBOX).map_err(storage)?;
    let tenant_of = |row: Option<(redb::AccessGuard<'_, (&str, u64)>, _)>| {
        row.map(|(key, _)| key.value().0.to_owned())
    };
    distinct_tenants(tenant_of(table.first().map_err(storage)?), |end| {
        let row = table.range((end, 0)..).map_err(storage)?.next();
        Ok(tenant_of(row.transpose().map_err(storage)?))
    })
}

pub(super) fn claim(
    txn: &ReadTransaction,
    leases: &Leases,
    tenant: &TenantId,
    limit: usize,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Vec<OutboxJob>> {
    let t = tenant.as_str();
    let table = txn.open_table(OUTBOX).map_err(storage)?;
    let mut leases = leases.0.lock().unwrap_or_else(|e| e.into_inner());
    // Conversations with an earlier job still leased: their later jobs wait.
    let mut blocked: Vec<ConversationId> = Vec::new();
    let mut out = Vec::new();
    for row in table.range((t, 0)..=(t, u64::MAX)).map_err(storage)? {
        if out.len() == limit {
            break;
        }
        let (key, value) = row.map_err(storage)?;
        let id = key.value().1;
        let entry: Entry = decode(value.value())?;
        let lease = leases.get(&(tenant.clone(), id)).copied();
        let leased = lease.is_some_and(|(until, _)| until > now);
        if leased || entry.not_before > now || blocked.contains(&entry.conversation_id) {
            blocked.push(entry.conversation_id);
            continue;
        }
        let claims = lease.map_or(0, |(_, claims)| claims) + 1;
        leases.insert((tenant.clone(), id), (lease_until, claims));
        out.push(OutboxJob {
            id,
            conversation_id: entry.conversation_id,
            user_id: entry.user_id,
            op: entry.op,
            attempts: entry.attempts + claims,
            created_at: entry.created_at,
        });
    }
    Ok(out)
}

pub(super) fn finish(txn: &WriteTransaction, tenant: &TenantId, ids: &[u64]) -> Result<()> {
    let mut table = txn.open_table(OUTBOX).map_err(storage)?;
    for id in ids {
        table.remove((tenant.as_str(), *id)).map_err(storage)?;
    }
    Ok(())
}

/// Releases claimed jobs until `not_before`, counting their claims.
pub(super) fn defer(
    txn: &WriteTransaction,
    leases: &Leases,
    tenant: &TenantId,
    ids: &[u64],
    not_before: Timestamp,
) -> Result<()> {
    let mut table = txn.open_table(OUTBOX).map_err(storage)?;
    for id in ids {
        let key = (tenant.as_str(), *id);
        let entry = table.get(key).map_err(storage)?.map(|v| v.value().to_vec());
        if let Some(bytes) = entry {
            let mut entry: Entry = decode(&bytes)?;
            entry.attempts += leases.claims(tenant, *id);
            entry.not_before = not_before;
            table
                .insert(key, encode(&entry)?.as_slice())
                .map_err(storage)?;
        }
    }
    Ok(())
}

impl Leases {
    fn claims(&self, tenant: &TenantId, id: u64) -> u32 {
        let leases = self.0.lock().unwrap_or_else(|e| e.into_inner());
        leases
            .get(&(tenant.clone(), id))
            .map_or(0, |(_, claims)| *claims)
    }

    pub(super) fn release(&self, tenant: &TenantId, ids: &[u64]) {
        let mut leases = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            leases.remove(&(tenant.clone(), *id));
        }
    }
}

pub(super) fn stats(
    txn: &ReadTransaction,
    tenant: &TenantId,
    max_users: usize,
) -> Result<MemoryStats> {
    let t = tenant.as_str();
    let end = after(t);
    let mut stats = MemoryStats::default();
    let mut users: BTreeMap<UserId, UserStats> = BTreeMap::new();
    let conversations = txn.open_table(CONVERSATIONS).map_err(storage)?;
    for row in conversations
        .range((t, "")..(end.as_str(), ""))
        .map_err(storage)?
    {
        let (_, value) = row.map_err(storage)?;
        let meta: Conversation = decode(value.value())?;
        stats.conversations += 1;
        user_entry(&mut users, &meta.user_id).conversations += 1;
    }
    let messages = txn.open_table(MESSAGES).map_err(storage)?;
    for row in messages
        .range((t, "", 0)..(end.as_str(), "", 0))
        .map_err(storage)?
    {
        let (_, value) = row.map_err(storage)?;
        let m: Message = decode(value.value())?;
        stats.messages += 1;
        stats.by_importance[importance_band(m.importance)] += 1;
        widen(&mut stats.oldest, &mut stats.newest, m.created_at);
        let user = user_entry(&mut users, &m.user_id);
        user.messages += 1;
        widen(&mut user.oldest, &mut user.newest, m.created_at);
    }
    debug_assert_eq!(stats.by_importance.len(), IMPORTANCE_BANDS.len());
    stats.users_truncated = users.len() > max_users;
    stats.users = users.into_values().take(max_users).collect();
    stats.outbox = backlog(txn, tenant)?;
    Ok(stats)
}

/// The pending jobs: how many, the oldest's time.
pub(super) fn backlog(txn: &ReadTransaction, tenant: &TenantId) -> Result<OutboxStats> {
    let t = tenant.as_str();
    let outbox = txn.open_table(OUTBOX).map_err(storage)?;
    let mut backlog = OutboxStats::default();
    for row in outbox.range((t, 0)..=(t, u64::MAX)).map_err(storage)? {
        let (_, value) = row.map_err(storage)?;
        let entry: Entry = decode(value.value())?;
        backlog.pending += 1;
        backlog.oldest = Some(
            backlog
                .oldest
                .map_or(entry.created_at, |o| o.min(entry.created_at)),
        );
    }
    Ok(backlog)
}

fn user_entry<'a>(users: &'a mut BTreeMap<UserId, UserStats>, user: &UserId) -> &'a mut UserStats {
    users.entry(user.clone()).or_insert_with(|| UserStats {
        user_id: user.clone(),
        conversations: 0,
        messages: 0,
        oldest: None,
        newest: None,
    })
}

/// Widens an [oldest, newest] span to hold `at`.
pub(crate) fn widen(oldest: &mut Option<Timestamp>, newest: &mut Option<Timestamp>, at: Timestamp) {
    *oldest = Some(oldest.map_or(at, |o| o.min(at)));
    *newest = Some(newest.map_or(at, |n| n.max(at)));
}

impl OutboxQueue for EmbeddedColdStore {
    #[tracing::instrument(
        name = "cold.queue_reindex",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn queue_reindex(&self, tenant: &TenantId, index: &str, now: Timestamp) -> Result<u64> {
        owned!(tenant);
        let index = index.to_owned();
        self.writer
            .write(move |txn| queue_reindex(txn, &tenant, &index, now))
            .await
    }

    #[tracing::instrument(
        name = "cold.index_caught_up",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn index_caught_up(&self, tenant: &TenantId, index: &str) -> Result<bool> {
        owned!(tenant);
        let index = index.to_owned();
        self.read(move |txn| index_caught_up(txn, &tenant, &index))
            .await
    }

    #[tracing::instrument(
        name = "cold.outbox_tenants",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn outbox_tenants(&self) -> Result<Vec<TenantId>> {
        self.read(tenants).await
    }

    #[tracing::instrument(
        name = "cold.claim_outbox",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn claim_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<OutboxJob>> {
        let leases = self.leases.clone();
        owned!(tenant);
        self.read(move |txn| claim(txn, &leases, &tenant, limit, now, lease_until))
            .await
    }

    #[tracing::instrument(
        name = "cold.finish_outbox",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn finish_outbox(&self, tenant: &TenantId, ids: &[u64]) -> Result<()> {
        let ids = ids.to_vec();
        owned!(tenant);
        let (t, i) = (tenant.clone(), ids.clone());
        self.writer.write(move |txn| finish(txn, &t, &i)).await?;
        self.leases.release(&tenant, &ids);
        Ok(())
    }

    #[tracing::instrument(
        name = "cold.defer_outbox",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn defer_outbox(
        &self,
        tenant: &TenantId,
        ids: &[u64],
        not_before: Timestamp,
    ) -> Result<()> {
        let ids = ids.to_vec();
        owned!(tenant);
        let (t, i, leases) = (tenant.clone(), ids.clone(), self.leases.clone());
        self.writer
            .write(move |txn| defer(txn, &leases, &t, &i, not_before))
            .await?;
        self.leases.release(&tenant, &ids);
        Ok(())
    }

    #[tracing::instrument(
        name = "cold.outbox_stats",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn outbox_stats(&self, tenant: &TenantId) -> Result<OutboxStats> {
        owned!(tenant);
        self.read(move |txn| backlog(txn, &tenant)).await
    }
}

//! Data-subject rights, the audit chain, retention and legal holds in the
//! embedded store. One writer thread runs every write transaction, so the
//! audit chain's head needs no lock of its own.

use engram_domain::audit;
use engram_domain::audit::{AuditEntry, NewAuditEntry};
use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Conversation, Fact, Message, OutboxOp};
use engram_domain::ports::{ColdErasure, ComplianceStore};
use engram_domain::retention::RetentionPolicy;
use engram_domain::time::Timestamp;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::conversations::conversation_in_write;
use super::keys::DATA_KEYS;
use super::messages::{range_write, remove};
use super::{
    CONVERSATIONS, EmbeddedColdStore, FACT_REVS, FACTS, MESSAGE_IDS, MESSAGES, POSTINGS, SUMMARIES,
    TERM_STATS, USER_CONVERSATIONS, after, decode, distinct_tenants, encode, handovers, lexical,
    outbox,
};
use crate::writer::storage;

/// (tenant, seq) → AuditEntry
pub(super) const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("audit");
/// tenant → (seq, hash) of the chain's head
pub(super) const AUDIT_HEAD: TableDefinition<&str, (u64, &[u8])> =
    TableDefinition::new("audit_head");
/// (tenant, policy id) → RetentionPolicy
pub(super) const POLICIES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("retention_policies");
/// (tenant, user) → since (µs)
pub(super) const HOLDS: TableDefinition<(&str, &str), i64> = TableDefinition::new("legal_holds");
/// (tenant, conversation) → last seq anonymized
pub(super) const ANONYMIZED: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("anonymized_conversations");

pub(super) fn all_facts(txn: &ReadTransaction, t: &str, u: &str) -> Result<Vec<Fact>> {
    let table = txn.open_table(FACTS).map_err(storage)?;
    let end = after(u);
    let mut out: Vec<Fact> = Vec::new();
    for row in table
        .range((t, u, "", 0)..(t, end.as_str(), "", 0))
        .map_err(storage)?
    {
        let (_, v) = row.map_err(storage)?;
        out.push(decode(v.value())?);
    }
    // By key, then (valid_at, version), as the Postgres store orders them.
    out.sort_by(|a, b| {
        (a.key.as_str(), a.valid_at, a.version).cmp(&(b.key.as_str(), b.valid_at, b.version))
    });
    Ok(out)
}

fn user_conversation_ids(txn: &WriteTransaction, t: &str, u: &str) -> Result<Vec<ConversationId>> {
    let index = txn.open_table(USER_CONVERSATIONS).map_err(storage)?;
    let end = after(u);
    let mut out = Vec::new();
    for row in index
        .range((t, u, "")..(t, end.as_str(), ""))
        .map_err(storage)?
    {
        let (key, _) = row.map_err(storage)?;
        out.push(ConversationId::parse("stored id", key.value().2)?);
    }
    Ok(out)
}

pub(super) fn erase_user(
    txn: &WriteTransaction,
    tenant: &TenantId,
    user: &UserId,
) -> Result<ColdErasure> {
    let (t, u) = (tenant.as_str(), user.as_str());
    let conversations = user_conversation_ids(txn, t, u)?;
    let ids: Vec<&str> = conversations.iter().map(ConversationId::as_str).collect();
    let mut erasure = ColdErasure {
        outbox_jobs: outbox::remove_user(txn, t, u, &ids)?,
        ..ColdErasure::default()
    };
    for c in &ids {
        if let Some(removed) = remove(txn, tenant, c)? {
            erasure.messages += removed.messages;
            erasure.summaries += removed.summaries;
            erasure.handovers += removed.handovers;
        }
    }
    let end = after(u);
    let mut facts = txn.open_table(FACTS).map_err(storage)?;
    facts
        .retain_in((t, u, "", 0)..(t, end.as_str(), "", 0), |_, _| {
            erasure.facts += 1;
            false
        })
        .map_err(storage)?;
    txn.open_table(FACT_REVS)
        .map_err(storage)?
        .remove((t, u))
        .map_err(storage)?;
    // What the lexical index keeps per user once its postings are gone.
    txn.open_table(TERM_STATS)
        .map_err(storage)?
        .remove((t, u))
        .map_err(storage)?;
    txn.open_table(POSTINGS)
        .map_err(storage)?
        .retain_in((t, u, "", "", 0)..(t, end.as_str(), "", "", 0), |_, _| {
            false
        })
        .map_err(storage)?;
    txn.open_table(HOLDS)
        .map_err(storage)?
        .remove((t, u))
        .map_err(storage)?;
    // Crypto-shredding: without the data key, what a copy of the file
    // holds of the user's encrypted values cannot be read.
    erasure.data_keys = u64::from(
        txn.open_table(DATA_KEYS)
            .map_err(storage)?
            .remove((t, u))
            .map_err(storage)?
            .is_some(),
    );
    erasure.conversations = conversations;
    Ok(erasure)
}

pub(super) fn user_residue(
    txn: &ReadTransaction,
    tenant: &TenantId,
    user: &UserId,
    conversations: &[ConversationId],
) -> Result<u64> {
    let (t, u) = (tenant.as_str(), user.as_str());
    let end = after(u);
    let ids: Vec<&str> = conversations.iter().map(ConversationId::as_str).collect();
    let mut n = 0;
    n += txn
        .open_table(USER_CONVERSATIONS)
        .map_err(storage)?
        .range((t, u, "")..(t, end.as_str(), ""))
        .map_err(storage)?
        .count() as u64;
    let conv = txn.open_table(CONVERSATIONS).map_err(storage)?;
    let messages = txn.open_table(MESSAGES).map_err(storage)?;
    let message_ids = txn.open_table(MESSAGE_IDS).map_err(storage)?;
    let summaries = txn.open_table(SUMMARIES).map_err(storage)?;
    let anonymized = txn.open_table(ANONYMIZED).map_err(storage)?;
    for c in &ids {
        let c_end = after(c);
        n += u64::from(conv.get((t, *c)).map_err(storage)?.is_some());
        n += messages
            .range((t, *c, 0)..=(t, *c, u64::MAX))
            .map_err(storage)?
            .count() as u64;
        n += message_ids
            .range((t, *c, "")..(t, c_end.as_str(), ""))
            .map_err(storage)?
            .count() as u64;
        n += u64::from(summaries.get((t, *c)).map_err(storage)?.is_some());
        n += u64::from(anonymized.get((t, *c)).map_err(storage)?.is_some());
    }
    n += handovers::count_of(txn, t, &ids)?;
    n += outbox::count_user(txn, t, u, &ids)?;
    n += u64::from(
        txn.open_table(DATA_KEYS)
            .map_err(storage)?
            .get((t, u))
            .map_err(storage)?
            .is_some(),
    );
    n += txn
        .open_table(FACTS)
        .map_err(storage)?
        .range((t, u, "", 0)..(t, end.as_str(), "", 0))
        .map_err(storage)?
        .count() as u64;
    n += u64::from(
        txn.open_table(FACT_REVS)
            .map_err(storage)?
            .get((t, u))
            .map_err(storage)?
            .is_some(),
    );
    n += txn
        .open_table(POSTINGS)
        .map_err(storage)?
        .range((t, u, "", "", 0)..(t, end.as_str(), "", "", 0))
        .map_err(storage)?
        .count() as u64;
    n += u64::from(
        txn.open_table(TERM_STATS)
            .map_err(storage)?
            .get((t, u))
            .map_err(storage)?
            .is_some(),
    );
    Ok(n)
}

pub(super) fn append_audit(
    txn: &WriteTransaction,
    t: &str,
    entry: NewAuditEntry,
    at: Timestamp,
) -> Result<AuditEntry> {
    let mut head = txn.open_table(AUDIT_HEAD).map_err(storage)?;
    let prev = head.get(t).map_err(storage)?.map(|v| {
        let (seq, hash) = v.value();
        (seq, hash.to_vec())
    });
    let e = audit::next(prev.as_ref().map(|(s, h)| (*s, h.as_slice())), at, entry);
    txn.open_table(AUDIT)
        .map_err(storage)?
        .insert((t, e.seq), encode(&e)?.as_slice())
        .map_err(storage)?;
    head.insert(t, (e.seq, e.hash.as_slice()))
        .map_err(storage)?;
    Ok(e)
}

pub(super) fn audit_entries(
    txn: &ReadTransaction,
    t: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let table = txn.open_table(AUDIT).map_err(storage)?;
    let mut out = Vec::new();
    for row in table
        .range((t, after_seq.saturating_add(1))..=(t, u64::MAX))
        .map_err(storage)?
        .take(limit)
    {
        let (_, v) = row.map_err(storage)?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

pub(super) fn audit_head(txn: &ReadTransaction, t: &str) -> Result<Option<(u64, Vec<u8>)>> {
    let head = txn.open_table(AUDIT_HEAD).map_err(storage)?;
    let value = head.get(t).map_err(storage)?;
    Ok(value.map(|v| {
        let (seq, hash) = v.value();
        (seq, hash.to_vec())
    }))
}

pub(super) fn put_policy(txn: &WriteTransaction, t: &str, policy: &RetentionPolicy) -> Result<()> {
    txn.open_table(POLICIES)
        .map_err(storage)?
        .insert((t, policy.policy_id.as_str()), encode(policy)?.as_slice())
        .map_err(storage)?;
    Ok(())
}

pub(super) fn policies(txn: &ReadTransaction, t: &str) -> Result<Vec<RetentionPolicy>> {
    let table = txn.open_table(POLICIES).map_err(storage)?;
    let end = after(t);
    let mut out = Vec::new();
    for row in table.range((t, "")..(end.as_str(), "")).map_err(storage)? {
        let (_, v) = row.map_err(storage)?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

pub(super) fn policy_tenants(txn: &ReadTransaction) -> Result<Vec<TenantId>> {
    let table = txn.open_table(POLICIES).map_err(storage)?;
    let tenant_of = |row: Option<(redb::AccessGuard<'_, (&str, &str)>, _)>| {
        row.map(|(key, _)| key.value().0.to_owned())
    };
    distinct_tenants(tenant_of(table.first().map_err(storage)?), |end| {
        let row = table.range((end, "")..).map_err(storage)?.next();
        Ok(tenant_of(row.transpose().map_err(storage)?))
    })
}

pub(super) fn set_hold(txn: &WriteTransaction, t: &str, u: &str, hold: bool) -> Result<()> {
    let mut table = txn.open_table(HOLDS).map_err(storage)?;
    if hold {
        if table.get((t, u)).map_err(storage)?.is_none() {
            table.insert((t, u), Timestamp::now().0).map_err(storage)?;
        }
    } else {
        table.remove((t, u)).map_err(storage)?;
    }
    Ok(())
}

pub(super) fn holds(txn: &ReadTransaction, t: &str) -> Result<Vec<UserId>> {
    let table = txn.open_table(HOLDS).map_err(storage)?;
    let end = after(t);
    let mut out = Vec::new();
    for row in table.range((t, "")..(end.as_str(), "")).map_err(storage)? {
        let (key, _) = row.map_err(storage)?;
        out.push(UserId::parse("stored id", key.value().1)?);
    }
    Ok(out)
}

pub(super) fn expired(
    txn: &ReadTransaction,
    t: &str,
    before: Timestamp,
    after_id: Option<&ConversationId>,
    limit: usize,
) -> Result<Vec<Conversation>> {
    let table = txn.open_table(CONVERSATIONS).map_err(storage)?;
    let anonymized = txn.open_table(ANONYMIZED).map_err(storage)?;
    let end = after(t);
    let start = after_id.map_or(String::new(), |c| after(c.as_str()));
    let mut out = Vec::new();
    for row in table
        .range((t, start.as_str())..(end.as_str(), ""))
        .map_err(storage)?
    {
        if out.len() == limit {
            break;
        }
        let (key, v) = row.map_err(storage)?;
        let c: Conversation = decode(v.value())?;
        let done = anonymized
            .get((t, key.value().1))
            .map_err(storage)?
            .is_some_and(|seq| seq.value() >= c.last_seq);
        if c.updated_at < before && !done {
            out.push(c);
        }
    }
    Ok(out)
}

pub(super) fn anonymize(
    txn: &WriteTransaction,
    tenant: &TenantId,
    conversation: &ConversationId,
    last_seq: u64,
    contents: Vec<(u64, String)>,
) -> Result<bool> {
    let (t, c) = (tenant.as_str(), conversation.as_str());
    let Some(mut meta) = conversation_in_write(txn, t, c)? else {
        return Ok(false);
    };
    if meta.last_seq != last_seq {
        return Ok(false);
    }
    // The row changes with the contents (see the port).
    meta.updated_at = Timestamp(meta.updated_at.0 + 1);
    txn.open_table(CONVERSATIONS)
        .map_err(storage)?
        .insert((t, c), encode(&meta)?.as_slice())
        .map_err(storage)?;
    let stored: Vec<Message> = range_write(txn, t, c)?;
    let mut messages = txn.open_table(MESSAGES).map_err(storage)?;
    for (seq, content) in contents {
        let Some(old) = stored.iter().find(|m| m.seq == seq) else {
            return Err(Error::Internal(format!("no message {seq} to anonymize")));
        };
        lexical::index(txn, tenant, old, false)?;
        let new = Message {
            content,
            ..old.clone()
        };
        lexical::index(txn, tenant, &new, true)?;
        messages
            .insert((t, c, seq), encode(&new)?.as_slice())
            .map_err(storage)?;
    }
    txn.open_table(SUMMARIES)
        .map_err(storage)?
        .remove((t, c))
        .map_err(storage)?;
    handovers::scrub_conversation(txn, t, c)?;
    txn.open_table(ANONYMIZED)
        .map_err(storage)?
        .insert((t, c), last_seq)
        .map_err(storage)?;
    if last_seq > 0 {
        outbox::enqueue(
            txn,
            tenant,
            conversation,
            &meta.user_id,
            OutboxOp::Index {
                from_seq: 1,
                to_seq: last_seq,
            },
            Timestamp::now(),
        )?;
    }
    Ok(true)
}

impl ComplianceStore for EmbeddedColdStore {
    #[tracing::instrument(
        name = "cold.erase_user",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn erase_user(&self, tenant: &TenantId, user: &UserId) -> Result<ColdErasure> {
        owned!(tenant, user);
        self.writer
            .write(move |txn| erase_user(txn, &tenant, &user))
            .await
    }

    #[tracing::instrument(
        name = "cold.user_residue",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn user_residue(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversations: &[ConversationId],
    ) -> Result<u64> {
        let conversations = conversations.to_vec();
        owned!(tenant, user);
        self.read(move |txn| user_residue(txn, &tenant, &user, &conversations))
            .await
    }

    #[tracing::instrument(
        name = "cold.append_audit",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn append_audit(
        &self,
        tenant: &TenantId,
        entry: NewAuditEntry,
        at: Timestamp,
    ) -> Result<AuditEntry> {
        owned!(tenant);
        self.writer
            .write(move |txn| append_audit(txn, tenant.as_str(), entry, at))
            .await
    }

    #[tracing::instrument(
        name = "cold.audit_entries",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn audit_entries(
        &self,
        tenant: &TenantId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        owned!(tenant);
        self.read(move |txn| audit_entries(txn, tenant.as_str(), after_seq, limit))
            .await
    }

    #[tracing::instrument(
        name = "cold.audit_head",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn audit_head(&self, tenant: &TenantId) -> Result<Option<(u64, Vec<u8>)>> {
        owned!(tenant);
        self.read(move |txn| audit_head(txn, tenant.as_str())).await
    }

    #[tracing::instrument(
        name = "cold.put_retention_policy",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn put_retention_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<()> {
        let policy = policy.clone();
        owned!(tenant);
        self.writer
            .write(move |txn| put_policy(txn, tenant.as_str(), &policy))
            .await
    }

    #[tracing::instrument(
        name = "cold.retention_policies",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn retention_policies(&self, tenant: &TenantId) -> Result<Vec<RetentionPolicy>> {
        owned!(tenant);
        self.read(move |txn| policies(txn, tenant.as_str())).await
    }

    #[tracing::instrument(
        name = "cold.set_legal_hold",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn set_legal_hold(&self, tenant: &TenantId, user: &UserId, hold: bool) -> Result<()> {
        owned!(tenant, user);
        self.writer
            .write(move |txn| set_hold(txn, tenant.as_str(), user.as_str(), hold))
            .await
    }

    #[tracing::instrument(
        name = "cold.retention_tenants",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn retention_tenants(&self) -> Result<Vec<TenantId>> {
        self.read(policy_tenants).await
    }

    #[tracing::instrument(
        name = "cold.legal_holds",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<UserId>> {
        owned!(tenant);
        self.read(move |txn| holds(txn, tenant.as_str())).await
    }

    #[tracing::instrument(
        name = "cold.expired_conversations",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn expired_conversations(
        &self,
        tenant: &TenantId,
        before: Timestamp,
        after: Option<&ConversationId>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        let after = after.cloned();
        owned!(tenant);
        self.read(move |txn| expired(txn, tenant.as_str(), before, after.as_ref(), limit))
            .await
    }

    #[tracing::instrument(
        name = "cold.anonymize_conversation",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn anonymize_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        last_seq: u64,
        contents: Vec<(u64, String)>,
    ) -> Result<bool> {
        owned!(tenant, conversation);
        self.writer
            .write(move |txn| anonymize(txn, &tenant, &conversation, last_seq, contents))
            .await
    }
}

//! Handovers and their summary jobs in the embedded store.
//!
//! A conversation's handovers are keyed by their ids, which are UUIDv7 and
//! so in time order: the last one is the active one, if any (a handover
//! starts only when none is active). An ended handover without a summary
//! also has a row in the job table. Leases live in memory, as the
//! outbox's: one process holds the store file.

use std::collections::HashMap;
use std::sync::Mutex;

use engram_domain::error::{Error, Result};
use engram_domain::handover::{Handover, HandoverEnd, HandoverSummary, JobStatus, NewHandover};
use engram_domain::ids::{ConversationId, HandoverId, TenantId};
use engram_domain::time::Timestamp;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use engram_domain::ports::HandoverStore;

use super::conversations::conversation_in_write;
use super::{EmbeddedColdStore, after, decode, distinct_tenants, encode};
use crate::writer::storage;

/// (tenant, conversation, handover) → Record
pub(super) const HANDOVERS: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("handovers");
/// (tenant, handover) → conversation: ended handovers awaiting a summary
pub(super) const HANDOVER_JOBS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("handover_jobs");

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    handover: Handover,
    not_before: Timestamp,
}

/// Leased jobs: (tenant, handover) → lease end.
#[derive(Debug, Default)]
pub(crate) struct JobLeases(Mutex<HashMap<(TenantId, HandoverId), Timestamp>>);

impl JobLeases {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, HandoverId), Timestamp>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn release(&self, tenant: &TenantId, handover: &HandoverId) {
        self.lock().remove(&(tenant.clone(), handover.clone()));
    }

    /// The stored handover as a reader sees it: a queued job under a live
    /// lease is running.
    fn view(&self, tenant: &TenantId, mut handover: Handover, now: Timestamp) -> Handover {
        if handover.job == Some(JobStatus::Queued)
            && self
                .lock()
                .get(&(tenant.clone(), handover.handover_id.clone()))
                .is_some_and(|until| *until > now)
        {
            handover.job = Some(JobStatus::Running);
        }
        handover
    }
}

fn last_of(
    table: &impl ReadableTable<(&'static str, &'static str, &'static str), &'static [u8]>,
    t: &str,
    c: &str,
) -> Result<Option<Record>> {
    let end = after(c);
    let last = table
        .range((t, c, "")..(t, end.as_str(), ""))
        .map_err(storage)?
        .next_back()
        .transpose()
        .map_err(storage)?;
    last.map(|(_, v)| decode(v.value())).transpose()
}

pub(super) fn start(
    txn: &WriteTransaction,
    tenant: &TenantId,
    new: NewHandover,
) -> Result<Handover> {
    let (t, c) = (tenant.as_str(), new.conversation_id.as_str());
    let Some(conversation) = conversation_in_write(txn, t, c)? else {
        return Err(Error::NotFound {
            what: "conversation",
            id: new.conversation_id.to_string(),
        });
    };
    let mut table = txn.open_table(HANDOVERS).map_err(storage)?;
    if let Some(last) = last_of(&table, t, c)?
        && last.handover.is_active()
    {
        return Err(Error::FailedPrecondition(format!(
            "conversation {} already has an active handover ({})",
            new.conversation_id, last.handover.handover_id
        )));
    }
    let handover = Handover {
        handover_id: new.handover_id,
        conversation_id: new.conversation_id.clone(),
        user_id: conversation.user_id,
        operator_id: new.operator_id,
        reason: new.reason,
        started_at: new.started_at,
        start_seq: conversation.last_seq,
        ended_at: None,
        resolution: None,
        notes: String::new(),
        summary: None,
        job: None,
    };
    let record = Record {
        handover: handover.clone(),
        not_before: Timestamp(0),
    };
    table
        .insert(
            (t, c, handover.handover_id.as_str()),
            encode(&record)?.as_slice(),
        )
        .map_err(storage)?;
    Ok(handover)
}

pub(super) fn end(txn: &WriteTransaction, tenant: &TenantId, end: HandoverEnd) -> Result<Handover> {
    let (t, c, h) = (
        tenant.as_str(),
        end.conversation_id.as_str(),
        end.handover_id.as_str(),
    );
    let mut table = txn.open_table(HANDOVERS).map_err(storage)?;
    let stored = table.get((t, c, h)).map_err(storage)?;
    let Some(mut record) = stored.map(|v| decode::<Record>(v.value())).transpose()? else {
        return Err(Error::NotFound {
            what: "handover",
            id: end.handover_id.to_string(),
        });
    };
    if !record.handover.is_active() {
        return Err(Error::FailedPrecondition(format!(
            "handover {} has already ended",
            end.handover_id
        )));
    }
    record.handover.ended_at = Some(end.ended_at);
    record.handover.resolution = Some(end.resolution);
    record.handover.notes = end.notes;
    record.handover.job = Some(JobStatus::Queued);
    table
        .insert((t, c, h), encode(&record)?.as_slice())
        .map_err(storage)?;
    txn.open_table(HANDOVER_JOBS)
        .map_err(storage)?
        .insert((t, h), c)
        .map_err(storage)?;
    Ok(record.handover)
}

pub(super) fn get(
    txn: &ReadTransaction,
    leases: &JobLeases,
    tenant: &TenantId,
    conversation: &ConversationId,
    now: Timestamp,
) -> Result<Option<Handover>> {
    let table = txn.open_table(HANDOVERS).map_err(storage)?;
    Ok(last_of(&table, tenant.as_str(), conversation.as_str())?
        .map(|r| leases.view(tenant, r.handover, now)))
}

/// The tenant's queued summary jobs.
pub(super) fn queued(txn: &ReadTransaction, tenant: &TenantId) -> Result<u64> {
    let t = tenant.as_str();
    let end = after(t);
    let jobs = txn.open_table(HANDOVER_JOBS).map_err(storage)?;
    let mut n = 0;
    for row in jobs.range((t, "")..(end.as_str(), "")).map_err(storage)? {
        row.map_err(storage)?;
        n += 1;
    }
    Ok(n)
}

pub(super) fn tenants(txn: &ReadTransaction) -> Result<Vec<TenantId>> {
    let table = txn.open_table(HANDOVER_JOBS).map_err(storage)?;
    let tenant_of = |row: Option<(redb::AccessGuard<'_, (&str, &str)>, _)>| {
        row.map(|(key, _)| key.value().0.to_owned())
    };
    distinct_tenants(tenant_of(table.first().map_err(storage)?), |end| {
        let row = table.range((end, "")..).map_err(storage)?.next();
        Ok(tenant_of(row.transpose().map_err(storage)?))
    })
}

pub(super) fn claim(
    txn: &ReadTransaction,
    leases: &JobLeases,
    tenant: &TenantId,
    limit: usize,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Vec<Handover>> {
    let t = tenant.as_str();
    let jobs = txn.open_table(HANDOVER_JOBS).map_err(storage)?;
    let handovers = txn.open_table(HANDOVERS).map_err(storage)?;
    let end = after(t);
    let mut due = Vec::new();
    for row in jobs.range((t, "")..(end.as_str(), "")).map_err(storage)? {
        let (key, conversation) = row.map_err(storage)?;
        let h = key.value().1;
        let Some(value) = handovers
            .get((t, conversation.value(), h))
            .map_err(storage)?
        else {
            continue;
        };
        let record: Record = decode(value.value())?;
        if record.not_before <= now && record.handover.job == Some(JobStatus::Queued) {
            due.push(record.handover);
        }
    }
    due.sort_by_key(|h| (h.ended_at, h.handover_id.clone()));
    let mut leased = leases.lock();
    let mut out = Vec::new();
    for handover in due {
        if out.len() == limit {
            break;
        }
        let key = (tenant.clone(), handover.handover_id.clone());
        if leased.get(&key).is_some_and(|until| *until > now) {
            continue;
        }
        leased.insert(key, lease_until);
        out.push(Handover {
            job: Some(JobStatus::Running),
            ..handover
        });
    }
    Ok(out)
}

/// Looks a job's record up through the job table.
fn job_record(
    txn: &WriteTransaction,
    tenant: &TenantId,
    handover: &HandoverId,
) -> Result<Option<(String, Record)>> {
    let (t, h) = (tenant.as_str(), handover.as_str());
    let Some(conversation) = txn
        .open_table(HANDOVER_JOBS)
        .map_err(storage)?
        .get((t, h))
        .map_err(storage)?
        .map(|c| c.value().to_owned())
    else {
        return Ok(None);
    };
    let table = txn.open_table(HANDOVERS).map_err(storage)?;
    let record = table
        .get((t, conversation.as_str(), h))
        .map_err(storage)?
        .map(|v| decode::<Record>(v.value()))
        .transpose()?;
    Ok(record.map(|r| (conversation, r)))
}

pub(super) fn finish(
    txn: &WriteTransaction,
    tenant: &TenantId,
    handover: &HandoverId,
    summary: &HandoverSummary,
) -> Result<bool> {
    let Some((conversation, mut record)) = job_record(txn, tenant, handover)? else {
        return Ok(false);
    };
    let (t, h) = (tenant.as_str(), handover.as_str());
    record.handover.summary = Some(summary.clone());
    record.handover.job = Some(JobStatus::Done);
    txn.open_table(HANDOVERS)
        .map_err(storage)?
        .insert((t, conversation.as_str(), h), encode(&record)?.as_slice())
        .map_err(storage)?;
    txn.open_table(HANDOVER_JOBS)
        .map_err(storage)?
        .remove((t, h))
        .map_err(storage)?;
    Ok(true)
}

pub(super) fn defer(
    txn: &WriteTransaction,
    tenant: &TenantId,
    handover: &HandoverId,
    not_before: Timestamp,
) -> Result<()> {
    let Some((conversation, mut record)) = job_record(txn, tenant, handover)? else {
        return Ok(());
    };
    record.not_before = not_before;
    txn.open_table(HANDOVERS)
        .map_err(storage)?
        .insert(
            (tenant.as_str(), conversation.as_str(), handover.as_str()),
            encode(&record)?.as_slice(),
        )
        .map_err(storage)?;
    Ok(())
}

/// Removes a deleted conversation's handovers and their jobs.
/// Removes a conversation's handovers and their jobs; returns how many.
pub(super) fn delete_conversation(txn: &WriteTransaction, t: &str, c: &str) -> Result<u64> {
    let mut table = txn.open_table(HANDOVERS).map_err(storage)?;
    let end = after(c);
    let mut ids = Vec::new();
    for row in table
        .range((t, c, "")..(t, end.as_str(), ""))
        .map_err(storage)?
    {
        let (key, _) = row.map_err(storage)?;
        ids.push(key.value().2.to_owned());
    }
    table
        .retain_in((t, c, "")..(t, end.as_str(), ""), |_, _| false)
        .map_err(storage)?;
    let mut jobs = txn.open_table(HANDOVER_JOBS).map_err(storage)?;
    for h in &ids {
        jobs.remove((t, h.as_str())).map_err(storage)?;
    }
    Ok(ids.len() as u64)
}

/// Clears the free text of a conversation's handovers (reason, notes,
/// summary): what retention's anonymization leaves of them.
pub(super) fn scrub_conversation(txn: &WriteTransaction, t: &str, c: &str) -> Result<()> {
    let mut table = txn.open_table(HANDOVERS).map_err(storage)?;
    let end = after(c);
    let mut records = Vec::new();
    for row in table
        .range((t, c, "")..(t, end.as_str(), ""))
        .map_err(storage)?
    {
        let (key, value) = row.map_err(storage)?;
        records.push((key.value().2.to_owned(), decode::<Record>(value.value())?));
    }
    for (h, mut record) in records {
        record.handover.reason.clear();
        record.handover.notes.clear();
        record.handover.summary = None;
        table
            .insert((t, c, h.as_str()), encode(&record)?.as_slice())
            .map_err(storage)?;
    }
    Ok(())
}

/// Handovers and queued jobs left of these conversations.
pub(super) fn count_of(txn: &ReadTransaction, t: &str, conversations: &[&str]) -> Result<u64> {
    let table = txn.open_table(HANDOVERS).map_err(storage)?;
    let mut n = 0;
    for c in conversations {
        let end = after(c);
        n += table
            .range((t, *c, "")..(t, end.as_str(), ""))
            .map_err(storage)?
            .count() as u64;
    }
    let jobs = txn.open_table(HANDOVER_JOBS).map_err(storage)?;
    let end = after(t);
    for row in jobs.range((t, "")..(end.as_str(), "")).map_err(storage)? {
        let (_, conversation) = row.map_err(storage)?;
        n += u64::from(conversations.contains(&conversation.value()));
    }
    Ok(n)
}

impl HandoverStore for EmbeddedColdStore {
    #[tracing::instrument(
        name = "cold.start_handover",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn start_handover(&self, tenant: &TenantId, handover: NewHandover) -> Result<Handover> {
        owned!(tenant);
        self.writer
            .write(move |txn| start(txn, &tenant, handover))
            .await
    }

    #[tracing::instrument(
        name = "cold.end_handover",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn end_handover(&self, tenant: &TenantId, end: HandoverEnd) -> Result<Handover> {
        owned!(tenant);
        self.writer
            .write(move |txn| self::end(txn, &tenant, end))
            .await
    }

    #[tracing::instrument(
        name = "cold.handover",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Handover>> {
        let leases = self.job_leases.clone();
        owned!(tenant, conversation);
        self.read(move |txn| get(txn, &leases, &tenant, &conversation, Timestamp::now()))
            .await
    }

    #[tracing::instrument(
        name = "cold.handover_jobs_queued",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn handover_jobs_queued(&self, tenant: &TenantId) -> Result<u64> {
        owned!(tenant);
        self.read(move |txn| queued(txn, &tenant)).await
    }

    #[tracing::instrument(
        name = "cold.handover_job_tenants",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn handover_job_tenants(&self) -> Result<Vec<TenantId>> {
        self.read(tenants).await
    }

    #[tracing::instrument(
        name = "cold.claim_handover_jobs",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn claim_handover_jobs(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<Handover>> {
        let leases = self.job_leases.clone();
        owned!(tenant);
        self.read(move |txn| claim(txn, &leases, &tenant, limit, now, lease_until))
            .await
    }

    #[tracing::instrument(
        name = "cold.finish_handover_job",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn finish_handover_job(
        &self,
        tenant: &TenantId,
        handover: &Handover,
        summary: &HandoverSummary,
    ) -> Result<bool> {
        let handover = &handover.handover_id;
        let summary = summary.clone();
        owned!(tenant, handover);
        let (t, h) = (tenant.clone(), handover.clone());
        let stored = self
            .writer
            .write(move |txn| finish(txn, &t, &h, &summary))
            .await?;
        self.job_leases.release(&tenant, &handover);
        Ok(stored)
    }

    #[tracing::instrument(
        name = "cold.defer_handover_job",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn defer_handover_job(
        &self,
        tenant: &TenantId,
        handover: &HandoverId,
        not_before: Timestamp,
    ) -> Result<()> {
        owned!(tenant, handover);
        let (t, h) = (tenant.clone(), handover.clone());
        self.writer
            .write(move |txn| defer(txn, &t, &h, not_before))
            .await?;
        self.job_leases.release(&tenant, &handover);
        Ok(())
    }
}

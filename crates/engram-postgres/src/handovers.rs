//! Handovers and their summary jobs in a tenant's schema (migration V6).

use deadpool_postgres::GenericClient;
use engram_domain::error::{Error, Result};
use engram_domain::handover::{
    Handover, HandoverEnd, HandoverSummary, JobStatus, NewHandover, Resolution,
};
use engram_domain::ids::{ConversationId, HandoverId, OperatorId, TenantId, UserId};
use engram_domain::time::Timestamp;
use tokio_postgres::Row;

use engram_domain::ports::HandoverStore;

use crate::error::{id, pg, pool};
use crate::outbox;
use crate::store::PostgresColdStore;

const COLUMNS: &str = "handover_id, conversation_id, user_id, operator_id, reason, started_us, \
                       start_seq, ended_us, resolution, notes, summary, job_status, leased_until_us";

fn to_handover(row: &Row, now: Timestamp) -> Result<Handover> {
    let resolution = row
        .get::<_, Option<&str>>(8)
        .map(|r| {
            Resolution::parse(r).ok_or_else(|| Error::Internal(format!("unknown resolution {r:?}")))
        })
        .transpose()?;
    let summary = row
        .get::<_, Option<serde_json::Value>>(10)
        .map(|v| {
            serde_json::from_value::<HandoverSummary>(v)
                .map_err(|e| Error::Internal(format!("corrupt handover summary: {e}")))
        })
        .transpose()?;
    let job = match row.get::<_, Option<&str>>(11) {
        None => None,
        Some("done") => Some(JobStatus::Done),
        Some(_) if row.get::<_, i64>(12) > now.0 => Some(JobStatus::Running),
        Some(_) => Some(JobStatus::Queued),
    };
    Ok(Handover {
        handover_id: id(HandoverId::parse, row.get(0))?,
        conversation_id: id(ConversationId::parse, row.get(1))?,
        user_id: id(UserId::parse, row.get(2))?,
        operator_id: id(OperatorId::parse, row.get(3))?,
        reason: row.get(4),
        started_at: Timestamp(row.get(5)),
        start_seq: row.get::<_, i64>(6) as u64,
        ended_at: row.get::<_, Option<i64>>(7).map(Timestamp),
        resolution,
        notes: row.get(9),
        summary,
        job,
    })
}

pub(crate) async fn start(
    client: &impl GenericClient,
    s: &str,
    new: &NewHandover,
) -> Result<Handover> {
    // The partial unique index on active handovers turns a second start
    // into no row, whichever sidecar races.
    let sql = format!(
        "INSERT INTO {s}.handovers (handover_id, conversation_id, user_id, operator_id, reason, status, started_us, start_seq)
         SELECT $1, c.conversation_id, c.user_id, $3, $4, 'active', $5, c.last_seq
           FROM {s}.conversations c WHERE c.conversation_id = $2
         ON CONFLICT DO NOTHING
         RETURNING {COLUMNS}"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let rows = client
        .query(
            &stmt,
            &[
                &new.handover_id.as_str(),
                &new.conversation_id.as_str(),
                &new.operator_id.as_str(),
                &new.reason,
                &new.started_at.0,
            ],
        )
        .await
        .map_err(pg)?;
    if let Some(row) = rows.first() {
        return to_handover(row, new.started_at);
    }
    match get(client, s, &new.conversation_id, new.started_at).await? {
        Some(active) if active.is_active() => Err(Error::FailedPrecondition(format!(
            "conversation {} already has an active handover ({})",
            new.conversation_id, active.handover_id
        ))),
        // The active one ended between the insert and this read.
        _ if conversation_exists(client, s, &new.conversation_id).await? => {
            Err(Error::FailedPrecondition(format!(
                "conversation {} had an active handover; try again",
                new.conversation_id
            )))
        }
        _ => Err(Error::NotFound {
            what: "conversation",
            id: new.conversation_id.to_string(),
        }),
    }
}

async fn conversation_exists(
    client: &impl GenericClient,
    s: &str,
    conversation: &ConversationId,
) -> Result<bool> {
    let sql = format!("SELECT 1 FROM {s}.conversations WHERE conversation_id = $1");
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    Ok(client
        .query_opt(&stmt, &[&conversation.as_str()])
        .await
        .map_err(pg)?
        .is_some())
}

pub(crate) async fn end(
    client: &impl GenericClient,
    s: &str,
    end: &HandoverEnd,
) -> Result<Handover> {
    let sql = format!(
        "UPDATE {s}.handovers
            SET status = 'ended', ended_us = $3, resolution = $4, notes = $5,
                job_status = 'queued', not_before_us = 0, leased_until_us = 0
          WHERE handover_id = $1 AND conversation_id = $2 AND status = 'active'
         RETURNING {COLUMNS}"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &end.handover_id.as_str(),
                &end.conversation_id.as_str(),
                &end.ended_at.0,
                &end.resolution.as_str(),
                &end.notes,
            ],
        )
        .await
        .map_err(pg)?;
    if let Some(row) = row {
        return to_handover(&row, end.ended_at);
    }
    let sql =
        format!("SELECT 1 FROM {s}.handovers WHERE handover_id = $1 AND conversation_id = $2");
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let exists = client
        .query_opt(
            &stmt,
            &[&end.handover_id.as_str(), &end.conversation_id.as_str()],
        )
        .await
        .map_err(pg)?
        .is_some();
    Err(if exists {
        Error::FailedPrecondition(format!("handover {} has already ended", end.handover_id))
    } else {
        Error::NotFound {
            what: "handover",
            id: end.handover_id.to_string(),
        }
    })
}

pub(crate) async fn get(
    client: &impl GenericClient,
    s: &str,
    conversation: &ConversationId,
    now: Timestamp,
) -> Result<Option<Handover>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {s}.handovers WHERE conversation_id = $1
          ORDER BY (status = 'active') DESC, started_us DESC, handover_id DESC LIMIT 1"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .query_opt(&stmt, &[&conversation.as_str()])
        .await
        .map_err(pg)?
        .map(|row| to_handover(&row, now))
        .transpose()
}

pub(crate) async fn claim(
    client: &impl GenericClient,
    s: &str,
    limit: usize,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Vec<Handover>> {
    let sql = format!(
        "WITH due AS (
            SELECT handover_id FROM {s}.handovers
             WHERE job_status = 'queued' AND not_before_us <= $1 AND leased_until_us <= $1
             ORDER BY ended_us, handover_id LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE {s}.handovers h SET leased_until_us = $3, attempts = h.attempts + 1
           FROM due WHERE h.handover_id = due.handover_id
         RETURNING {}",
        COLUMNS
            .split(", ")
            .map(|c| format!("h.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let rows = client
        .query(&stmt, &[&now.0, &(limit as i64), &lease_until.0])
        .await
        .map_err(pg)?;
    let mut jobs = rows
        .iter()
        .map(|row| to_handover(row, now))
        .collect::<Result<Vec<_>>>()?;
    jobs.sort_by_key(|h| (h.ended_at, h.handover_id.clone()));
    Ok(jobs)
}

pub(crate) async fn finish(
    client: &impl GenericClient,
    s: &str,
    handover: &HandoverId,
    summary: &HandoverSummary,
) -> Result<bool> {
    let value = serde_json::to_value(summary)
        .map_err(|e| Error::Internal(format!("encoding a handover summary: {e}")))?;
    let sql = format!(
        "UPDATE {s}.handovers SET summary = $2, job_status = 'done', leased_until_us = 0
          WHERE handover_id = $1 AND job_status = 'queued'"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let updated = client
        .execute(&stmt, &[&handover.as_str(), &value])
        .await
        .map_err(pg)?;
    Ok(updated == 1)
}

pub(crate) async fn defer(
    client: &impl GenericClient,
    s: &str,
    handover: &HandoverId,
    not_before: Timestamp,
) -> Result<()> {
    let sql = format!(
        "UPDATE {s}.handovers SET leased_until_us = 0, not_before_us = $2
          WHERE handover_id = $1 AND job_status = 'queued'"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .execute(&stmt, &[&handover.as_str(), &not_before.0])
        .await
        .map_err(pg)?;
    Ok(())
}

impl HandoverStore for PostgresColdStore {
    #[tracing::instrument(
        name = "cold.start_handover",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn start_handover(&self, tenant: &TenantId, handover: NewHandover) -> Result<Handover> {
        let (client, s) = self.tenant(tenant).await?;
        start(&client, &s, &handover).await
    }

    #[tracing::instrument(
        name = "cold.end_handover",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn end_handover(&self, tenant: &TenantId, end: HandoverEnd) -> Result<Handover> {
        let (client, s) = self.tenant(tenant).await?;
        self::end(&client, &s, &end).await
    }

    #[tracing::instrument(
        name = "cold.handover",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Handover>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        get(&client, &s, conversation, Timestamp::now()).await
    }

    #[tracing::instrument(
        name = "cold.handover_jobs_queued",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn handover_jobs_queued(&self, tenant: &TenantId) -> Result<u64> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(0);
        };
        let row = client
            .query_one(
                &format!("SELECT count(*) FROM {s}.handovers WHERE job_status = 'queued'"),
                &[],
            )
            .await
            .map_err(crate::error::pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    #[tracing::instrument(
        name = "cold.handover_job_tenants",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn handover_job_tenants(&self) -> Result<Vec<TenantId>> {
        let client = self.pool.get().await.map_err(pool)?;
        outbox::tenants_with(&client, "handovers", "job_status = 'queued'").await
    }

    #[tracing::instrument(
        name = "cold.claim_handover_jobs",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn claim_handover_jobs(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<Handover>> {
        let (client, s) = self.tenant(tenant).await?;
        claim(&client, &s, limit, now, lease_until).await
    }

    #[tracing::instrument(
        name = "cold.finish_handover_job",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn finish_handover_job(
        &self,
        tenant: &TenantId,
        handover: &Handover,
        summary: &HandoverSummary,
    ) -> Result<bool> {
        let handover = &handover.handover_id;
        let (client, s) = self.tenant(tenant).await?;
        finish(&client, &s, handover, summary).await
    }

    #[tracing::instrument(
        name = "cold.defer_handover_job",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn defer_handover_job(
        &self,
        tenant: &TenantId,
        handover: &HandoverId,
        not_before: Timestamp,
    ) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        defer(&client, &s, handover, not_before).await
    }
}

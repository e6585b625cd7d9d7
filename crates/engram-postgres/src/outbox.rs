//! The indexing outbox of a tenant's schema: jobs written with the messages,
//! claimed under a lease by the indexer (the `OutboxQueue` port).

use deadpool_postgres::GenericClient;
use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{OutboxJob, OutboxOp, OutboxStats};
use engram_domain::ports::{OutboxQueue, REINDEX_SLICE};
use engram_domain::time::Timestamp;

use crate::error::{id, pg, pool};
use crate::store::PostgresColdStore;

/// Tenant schemas are `t_<tenant>`.
const SCHEMA_PREFIX: &str = "t_";
/// Schemas checked per query when looking for pending jobs.
const TENANTS_PER_QUERY: usize = 200;

/// Tenants whose outbox holds jobs.
pub(crate) async fn tenants(client: &impl GenericClient) -> Result<Vec<TenantId>> {
    tenants_with(client, "index_outbox", "TRUE").await
}

/// Tenants that hold conversations.
pub(crate) async fn conversation_tenants(client: &impl GenericClient) -> Result<Vec<TenantId>> {
    tenants_with(client, "conversations", "TRUE").await
}

/// See `ColdStore::queue_reindex`.
pub(crate) async fn queue_reindex(
    client: &mut deadpool_postgres::Object,
    s: &str,
    index: &str,
    now: Timestamp,
) -> Result<u64> {
    let tx = client.transaction().await.map_err(pg)?;
    let new = tx
        .execute(
            &format!(
                "INSERT INTO {s}.index_builds (index_name, queued_us) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING"
            ),
            &[&index, &now.0],
        )
        .await
        .map_err(pg)?;
    if new == 0 {
        return Ok(0);
    }
    let slice = REINDEX_SLICE as i64;
    // Up to where each conversation is queued: a conversation's pending
    // index jobs are a suffix of it (its jobs are done in order), and reach
    // the new index anyway.
    let upto = format!(
        "SELECT c.conversation_id, c.user_id, LEAST(c.last_seq, COALESCE( \
           (SELECT min(o.seq) - 1 FROM {s}.index_outbox o \
            WHERE o.conversation_id = c.conversation_id AND o.op = 'index'), \
           c.last_seq)) AS last \
         FROM {s}.conversations c"
    );
    // Counted before the jobs below are written: they would count as
    // pending.
    let queued: i64 = tx
        .query_one(
            &format!("SELECT COALESCE(sum(last), 0)::bigint FROM ({upto}) u"),
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    tx.execute(
        &format!(
            "INSERT INTO {s}.index_outbox \
               (conversation_id, seq, to_seq, op, user_id, not_before_us, created_us) \
             SELECT u.conversation_id, g, LEAST(g + $1 - 1, u.last), 'index', u.user_id, 0, $2 \
             FROM ({upto}) u, generate_series(1::bigint, u.last, $1) AS g \
             ORDER BY u.conversation_id, g"
        ),
        &[&slice, &now.0],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(queued as u64)
}

/// See `ColdStore::index_caught_up`.
pub(crate) async fn index_caught_up(
    client: &impl GenericClient,
    s: &str,
    index: &str,
) -> Result<bool> {
    let row = client
        .query_one(
            &format!(
                "SELECT CASE WHEN b.queued_us IS NULL                    THEN NOT EXISTS (SELECT 1 FROM {s}.conversations)                    ELSE NOT EXISTS (SELECT 1 FROM {s}.index_outbox o                      WHERE o.op = 'index' AND o.created_us <= b.queued_us) END                  FROM (SELECT (SELECT queued_us FROM {s}.index_builds WHERE index_name = $1)                    AS queued_us) b"
            ),
            &[&index],
        )
        .await
        .map_err(pg)?;
    Ok(row.get(0))
}

/// Tenants whose `table` has a row matching `condition` (both constants of
/// this crate).
pub(crate) async fn tenants_with(
    client: &impl GenericClient,
    table: &str,
    condition: &str,
) -> Result<Vec<TenantId>> {
    let rows = client
        .query(
            "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid \
             WHERE n.nspname LIKE 't\\_%' AND c.relname = $1 AND c.relkind = 'r'",
            &[&table],
        )
        .await
        .map_err(pg)?;
    let tenants: Vec<TenantId> = rows
        .iter()
        .filter_map(|row| {
            let schema: &str = row.get(0);
            TenantId::parse("tenant_id", schema.strip_prefix(SCHEMA_PREFIX)?).ok()
        })
        .collect();
    let mut pending = Vec::new();
    for chunk in tenants.chunks(TENANTS_PER_QUERY) {
        // Tenant ids are validated `[a-z0-9][a-z0-9_-]*`: safe in quotes.
        let sql = chunk
            .iter()
            .map(|t| {
                format!(
                    "(SELECT '{t}'::text FROM \"{SCHEMA_PREFIX}{t}\".{table} WHERE {condition} LIMIT 1)",
                    t = t.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        for row in client.query(&sql, &[]).await.map_err(pg)? {
            let tenant: &str = row.get(0);
            pending.extend(TenantId::parse("tenant_id", tenant).ok());
        }
    }
    Ok(pending)
}

pub(crate) async fn claim(
    client: &mut deadpool_postgres::Object,
    s: &str,
    limit: usize,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Vec<OutboxJob>> {
    let tx = client.transaction().await.map_err(pg)?;
    // Claims of one tenant take turns, so that "no earlier job of the
    // conversation is leased" cannot be raced by a concurrent claim; SKIP
    // LOCKED keeps a claim from waiting on rows a finishing worker holds.
    let lock = format!("engram:outbox:{s}");
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock])
        .await
        .map_err(pg)?;
    let sql = format!(
        "WITH due AS (
            SELECT o.id FROM {s}.index_outbox o
             WHERE o.not_before_us <= $1 AND o.leased_until_us <= $1
               AND NOT EXISTS (
                   SELECT 1 FROM {s}.index_outbox e
                    WHERE e.conversation_id = o.conversation_id AND e.id < o.id
                      AND (e.leased_until_us > $1 OR e.not_before_us > $1))
             ORDER BY o.id LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE {s}.index_outbox o
            SET leased_until_us = $3, attempts = o.attempts + 1
           FROM due WHERE o.id = due.id
         RETURNING o.id, o.conversation_id, o.user_id, o.op, o.seq, o.to_seq, o.attempts, o.created_us"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    let rows = tx
        .query(&stmt, &[&now.0, &(limit as i64), &lease_until.0])
        .await
        .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    let mut jobs = rows
        .iter()
        .map(|row| {
            let op = match row.get::<_, &str>(3) {
                "index" => OutboxOp::Index {
                    from_seq: row.get::<_, i64>(4) as u64,
                    to_seq: row.get::<_, i64>(5) as u64,
                },
                "delete" => OutboxOp::Delete,
                other => {
                    return Err(Error::Internal(format!("unknown outbox op {other:?}")));
                }
            };
            Ok(OutboxJob {
                id: row.get::<_, i64>(0) as u64,
                conversation_id: id(ConversationId::parse, row.get(1))?,
                user_id: id(UserId::parse, row.get(2))?,
                op,
                attempts: row.get::<_, i32>(6) as u32,
                created_at: Timestamp(row.get(7)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

fn ids_param(ids: &[u64]) -> Vec<i64> {
    ids.iter().map(|&id| id as i64).collect()
}

pub(crate) async fn finish(client: &impl GenericClient, s: &str, ids: &[u64]) -> Result<()> {
    let sql = format!("DELETE FROM {s}.index_outbox WHERE id = ANY($1)");
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .execute(&stmt, &[&ids_param(ids)])
        .await
        .map_err(pg)?;
    Ok(())
}

pub(crate) async fn defer(
    client: &impl GenericClient,
    s: &str,
    ids: &[u64],
    not_before: Timestamp,
) -> Result<()> {
    let sql = format!(
        "UPDATE {s}.index_outbox SET leased_until_us = 0, not_before_us = $2 WHERE id = ANY($1)"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .execute(&stmt, &[&ids_param(ids), &not_before.0])
        .await
        .map_err(pg)?;
    Ok(())
}

/// Writes the job that removes a deleted conversation's points.
pub(crate) async fn enqueue_delete(
    client: &impl GenericClient,
    s: &str,
    conversation: &ConversationId,
    user: &UserId,
    now: Timestamp,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO {s}.index_outbox (conversation_id, seq, to_seq, op, user_id, not_before_us, created_us) \
         VALUES ($1, 0, 0, 'delete', $2, 0, $3)"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .execute(&stmt, &[&conversation.as_str(), &user.as_str(), &now.0])
        .await
        .map_err(pg)?;
    Ok(())
}

pub(crate) fn span(row: &tokio_postgres::Row, at: usize) -> Option<Timestamp> {
    row.get::<_, Option<i64>>(at).map(Timestamp)
}

/// The pending jobs: how many, the oldest's time.
pub(crate) async fn backlog(client: &impl GenericClient, s: &str) -> Result<OutboxStats> {
    let row = client
        .query_one(
            &format!("SELECT count(*), min(created_us) FROM {s}.index_outbox"),
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(OutboxStats {
        pending: row.get::<_, i64>(0) as u64,
        oldest: span(&row, 1),
    })
}

impl OutboxQueue for PostgresColdStore {
    #[tracing::instrument(
        name = "cold.queue_reindex",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn queue_reindex(&self, tenant: &TenantId, index: &str, now: Timestamp) -> Result<u64> {
        let Some((mut client, s)) = self.existing(tenant).await? else {
            return Ok(0);
        };
        queue_reindex(&mut client, &s, index, now).await
    }

    #[tracing::instrument(
        name = "cold.index_caught_up",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn index_caught_up(&self, tenant: &TenantId, index: &str) -> Result<bool> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(true);
        };
        index_caught_up(&client, &s, index).await
    }

    #[tracing::instrument(
        name = "cold.outbox_tenants",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn outbox_tenants(&self) -> Result<Vec<TenantId>> {
        let client = self.pool.get().await.map_err(pool)?;
        tenants(&client).await
    }

    #[tracing::instrument(
        name = "cold.claim_outbox",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn claim_outbox(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<OutboxJob>> {
        let (mut client, s) = self.tenant(tenant).await?;
        claim(&mut client, &s, limit, now, lease_until).await
    }

    #[tracing::instrument(
        name = "cold.finish_outbox",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn finish_outbox(&self, tenant: &TenantId, ids: &[u64]) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        finish(&client, &s, ids).await
    }

    #[tracing::instrument(
        name = "cold.defer_outbox",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn defer_outbox(
        &self,
        tenant: &TenantId,
        ids: &[u64],
        not_before: Timestamp,
    ) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        defer(&client, &s, ids, not_before).await
    }

    #[tracing::instrument(
        name = "cold.outbox_stats",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn outbox_stats(&self, tenant: &TenantId) -> Result<OutboxStats> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(OutboxStats::default());
        };
        backlog(&client, &s).await
    }
}

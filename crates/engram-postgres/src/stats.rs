//! The store as a whole: which tenants it holds, what a tenant's memory
//! holds (across conversations, facts and the indexing outbox), whether
//! it answers. Every aggregate's port is implemented in its own file.

use deadpool_postgres::GenericClient;
use engram_domain::error::Result;
use engram_domain::ids::{TenantId, UserId};
use engram_domain::model::{IMPORTANCE_BANDS, MemoryStats, OutboxStats, UserStats};
use engram_domain::ports::ColdStore;

use crate::error::{id, pg, pool};
use crate::outbox::{conversation_tenants, span};
use crate::store::PostgresColdStore;

/// What a tenant's memory holds: messages by importance band, its
/// largest users (at most `max_users`), the indexing backlog.
pub(crate) async fn stats(
    client: &impl GenericClient,
    s: &str,
    max_users: usize,
) -> Result<MemoryStats> {
    let floors: Vec<f32> = IMPORTANCE_BANDS.iter().map(|(_, floor)| *floor).collect();
    let totals = client
        .query_one(
            &format!(
                "SELECT count(*),
                        count(*) FILTER (WHERE importance >= $1),
                        count(*) FILTER (WHERE importance >= $2 AND importance < $1),
                        count(*) FILTER (WHERE importance >= $3 AND importance < $2),
                        count(*) FILTER (WHERE importance < $3),
                        min(created_us), max(created_us),
                        (SELECT count(*) FROM {s}.conversations),
                        (SELECT count(*) FROM {s}.index_outbox),
                        (SELECT min(created_us) FROM {s}.index_outbox)
                   FROM {s}.messages"
            ),
            &[&floors[0], &floors[1], &floors[2]],
        )
        .await
        .map_err(pg)?;
    let count = |i: usize| totals.get::<_, i64>(i) as u64;
    let users = client
        .query(
            &format!(
                "SELECT c.user_id, count(DISTINCT c.conversation_id), count(m.seq),
                        min(m.created_us), max(m.created_us)
                   FROM {s}.conversations c LEFT JOIN {s}.messages m USING (conversation_id)
                  GROUP BY c.user_id ORDER BY c.user_id LIMIT $1"
            ),
            &[&(max_users as i64 + 1)],
        )
        .await
        .map_err(pg)?;
    let mut per_user = users
        .iter()
        .map(|row| {
            Ok(UserStats {
                user_id: id(UserId::parse, row.get(0))?,
                conversations: row.get::<_, i64>(1) as u64,
                messages: row.get::<_, i64>(2) as u64,
                oldest: span(row, 3),
                newest: span(row, 4),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let users_truncated = per_user.len() > max_users;
    per_user.truncate(max_users);
    Ok(MemoryStats {
        conversations: count(7),
        messages: count(0),
        by_importance: [count(1), count(2), count(3), count(4)],
        oldest: span(&totals, 5),
        newest: span(&totals, 6),
        users: per_user,
        users_truncated,
        outbox: OutboxStats {
            pending: count(8),
            oldest: span(&totals, 9),
        },
    })
}

impl ColdStore for PostgresColdStore {
    #[tracing::instrument(
        name = "cold.tenants",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn tenants(&self) -> Result<Vec<TenantId>> {
        let client = self.pool.get().await.map_err(pool)?;
        conversation_tenants(&client).await
    }

    #[tracing::instrument(
        name = "cold.memory_stats",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn memory_stats(&self, tenant: &TenantId, max_users: usize) -> Result<MemoryStats> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(MemoryStats::default());
        };
        stats(&client, &s, max_users).await
    }

    #[tracing::instrument(
        name = "cold.ping",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn ping(&self) -> Result<()> {
        let client = self.pool.get().await.map_err(pool)?;
        client.simple_query("SELECT 1").await.map_err(pg)?;
        Ok(())
    }
}

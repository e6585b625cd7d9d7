//! Temporal facts in a tenant's schema. The rules are the core's
//! (`engram_domain::facts`); this module loads a key's history under the
//! user's lock and applies the plan.

use deadpool_postgres::GenericClient;
use engram_domain::error::{Error, Result};
use engram_domain::facts::{next_rev, plan_invalidate, plan_put};
use engram_domain::ids::{FactKey, TenantId, UserId};
use engram_domain::model::{Fact, FactInput, FactSource, FactSourceKind, PutFactResult};
use engram_domain::ports::{FactSnapshot, FactStore, FactWrite};
use engram_domain::time::Timestamp;
use tokio_postgres::Row;

use crate::error::pg;
use crate::store::PostgresColdStore;

pub(crate) const FACT_COLUMNS: &str = "user_id, key, version, value, valid_us, invalid_us, source_kind, source_ref, confidence, recorded_us";

fn kind_name(kind: FactSourceKind) -> &'static str {
    match kind {
        FactSourceKind::Message => "message",
        FactSourceKind::Operator => "operator",
        FactSourceKind::System => "system",
        FactSourceKind::Extraction => "extraction",
    }
}

fn kind_of(name: &str) -> Result<FactSourceKind> {
    [
        FactSourceKind::Message,
        FactSourceKind::Operator,
        FactSourceKind::System,
        FactSourceKind::Extraction,
    ]
    .into_iter()
    .find(|k| kind_name(*k) == name)
    .ok_or_else(|| Error::Internal(format!("unknown fact source {name:?} in the cold store")))
}

pub(crate) fn to_fact(row: &Row) -> Result<Fact> {
    let corrupt = |e: Error| Error::Internal(format!("corrupt fact: {e}"));
    Ok(Fact {
        user_id: UserId::parse("user_id", row.get(0)).map_err(corrupt)?,
        key: FactKey::parse("key", row.get(1)).map_err(corrupt)?,
        version: row.get::<_, i64>(2) as u64,
        value: row.get(3),
        valid_at: Timestamp(row.get(4)),
        invalid_at: row.get::<_, Option<i64>>(5).map(Timestamp),
        source: FactSource {
            kind: kind_of(row.get(6))?,
            reference: row.get(7),
        },
        confidence: row.get(8),
        recorded_at: Timestamp(row.get(9)),
    })
}

/// Takes the user's fact lock (creating its row) and returns its revision.
async fn lock_user(tx: &impl GenericClient, s: &str, user: &UserId) -> Result<u64> {
    let sql =
        format!("INSERT INTO {s}.fact_revs (user_id, rev) VALUES ($1, 0) ON CONFLICT DO NOTHING");
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    tx.execute(&stmt, &[&user.as_str()]).await.map_err(pg)?;
    let sql = format!("SELECT rev FROM {s}.fact_revs WHERE user_id = $1 FOR UPDATE");
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    let row = tx.query_one(&stmt, &[&user.as_str()]).await.map_err(pg)?;
    Ok(row.get::<_, i64>(0) as u64)
}

async fn set_rev(tx: &impl GenericClient, s: &str, user: &UserId, rev: u64) -> Result<()> {
    let sql = format!("UPDATE {s}.fact_revs SET rev = $2 WHERE user_id = $1");
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    tx.execute(&stmt, &[&user.as_str(), &(rev as i64)])
        .await
        .map_err(pg)?;
    Ok(())
}

async fn end_version(
    tx: &impl GenericClient,
    s: &str,
    user: &UserId,
    key: &FactKey,
    version: u64,
    at: Timestamp,
) -> Result<()> {
    let sql = format!(
        "UPDATE {s}.facts SET invalid_us = $4 WHERE user_id = $1 AND key = $2 AND version = $3"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    tx.execute(
        &stmt,
        &[&user.as_str(), &key.as_str(), &(version as i64), &at.0],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

async fn insert(tx: &impl GenericClient, s: &str, fact: &Fact) -> Result<()> {
    let sql = format!(
        "INSERT INTO {s}.facts ({FACT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(pg)?;
    tx.execute(
        &stmt,
        &[
            &fact.user_id.as_str(),
            &fact.key.as_str(),
            &(fact.version as i64),
            &fact.value,
            &fact.valid_at.0,
            &fact.invalid_at.map(|t| t.0),
            &kind_name(fact.source.kind),
            &fact.source.reference,
            &fact.confidence,
            &fact.recorded_at.0,
        ],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

pub(crate) async fn history(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
    key: &FactKey,
) -> Result<Vec<Fact>> {
    let sql = format!(
        "SELECT {FACT_COLUMNS} FROM {s}.facts WHERE user_id = $1 AND key = $2 ORDER BY valid_us, version"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .query(&stmt, &[&user.as_str(), &key.as_str()])
        .await
        .map_err(pg)?
        .iter()
        .map(to_fact)
        .collect()
}

pub(crate) async fn put(
    client: &mut deadpool_postgres::Object,
    s: &str,
    user: &UserId,
    inputs: Vec<FactInput>,
    now: Timestamp,
) -> Result<FactWrite<Vec<PutFactResult>>> {
    let tx = client.transaction().await.map_err(pg)?;
    let mut rev = lock_user(&tx, s, user).await?;
    let mut changed = false;
    let mut results = Vec::with_capacity(inputs.len());
    for input in inputs {
        let versions = history(&tx, s, user, &input.key).await?;
        let plan = plan_put(&versions, user, &input, now);
        if plan.writes() {
            changed = true;
            // End the previous version first: the partial unique index
            // allows one current version per key at every statement.
            if let Some((version, end)) = plan.end_previous {
                end_version(&tx, s, user, &input.key, version, end).await?;
            }
            insert(&tx, s, &plan.fact).await?;
        }
        results.push(PutFactResult {
            fact: plan.fact,
            outcome: plan.outcome,
        });
    }
    if changed {
        rev = next_rev(rev);
        set_rev(&tx, s, user, rev).await?;
    }
    tx.commit().await.map_err(pg)?;
    Ok(FactWrite {
        rev,
        value: results,
    })
}

pub(crate) async fn invalidate(
    client: &mut deadpool_postgres::Object,
    s: &str,
    user: &UserId,
    key: &FactKey,
    at: Timestamp,
) -> Result<FactWrite<Fact>> {
    let tx = client.transaction().await.map_err(pg)?;
    let rev = next_rev(lock_user(&tx, s, user).await?);
    let versions = history(&tx, s, user, key).await?;
    let ended = plan_invalidate(&versions, key.as_str(), at)?;
    end_version(&tx, s, user, key, ended.version, at).await?;
    set_rev(&tx, s, user, rev).await?;
    tx.commit().await.map_err(pg)?;
    Ok(FactWrite { rev, value: ended })
}

/// The user's fact revision (0 without a facts row).
pub(crate) async fn rev(client: &impl GenericClient, s: &str, user: &UserId) -> Result<u64> {
    let sql = format!("SELECT rev FROM {s}.fact_revs WHERE user_id = $1");
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let row = client
        .query_opt(&stmt, &[&user.as_str()])
        .await
        .map_err(pg)?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
}

pub(crate) async fn current(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
) -> Result<FactSnapshot> {
    // One snapshot for both reads: the revision must match the facts.
    let sql = format!(
        "SELECT {FACT_COLUMNS}, (SELECT rev FROM {s}.fact_revs WHERE user_id = $1) \
         FROM {s}.facts WHERE user_id = $1 AND invalid_us IS NULL ORDER BY key"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let rows = client.query(&stmt, &[&user.as_str()]).await.map_err(pg)?;
    let rev = match rows.first() {
        Some(row) => row.get::<_, Option<i64>>(10).unwrap_or(0) as u64,
        None => rev(client, s, user).await?,
    };
    Ok(FactSnapshot {
        rev,
        facts: rows.iter().map(to_fact).collect::<Result<_>>()?,
    })
}

pub(crate) async fn as_of(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
    at: Timestamp,
) -> Result<Vec<Fact>> {
    let sql = format!(
        "SELECT DISTINCT ON (key) {FACT_COLUMNS} FROM {s}.facts \
         WHERE user_id = $1 AND valid_us <= $2 AND (invalid_us IS NULL OR invalid_us > $2) \
         ORDER BY key, valid_us DESC, version DESC"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .query(&stmt, &[&user.as_str(), &at.0])
        .await
        .map_err(pg)?
        .iter()
        .map(to_fact)
        .collect()
}

pub(crate) async fn all_facts(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
) -> Result<Vec<Fact>> {
    let sql = format!(
        "SELECT {FACT_COLUMNS} FROM {s}.facts WHERE user_id = $1 ORDER BY key, valid_us, version"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .query(&stmt, &[&user.as_str()])
        .await
        .map_err(pg)?
        .iter()
        .map(to_fact)
        .collect()
}

impl FactStore for PostgresColdStore {
    #[tracing::instrument(
        name = "cold.put_facts",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        inputs: Vec<FactInput>,
        now: Timestamp,
    ) -> Result<FactWrite<Vec<PutFactResult>>> {
        let (mut client, s) = self.tenant(tenant).await?;
        put(&mut client, &s, user, inputs, now).await
    }

    #[tracing::instrument(
        name = "cold.fact_rev",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn fact_rev(&self, tenant: &TenantId, user: &UserId) -> Result<u64> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(0);
        };
        rev(&client, &s, user).await
    }

    #[tracing::instrument(
        name = "cold.current_facts",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn current_facts(&self, tenant: &TenantId, user: &UserId) -> Result<FactSnapshot> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(FactSnapshot {
                rev: 0,
                facts: Vec::new(),
            });
        };
        current(&client, &s, user).await
    }

    #[tracing::instrument(
        name = "cold.facts_as_of",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<Vec<Fact>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        as_of(&client, &s, user, at).await
    }

    #[tracing::instrument(
        name = "cold.fact_history",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn fact_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
    ) -> Result<Vec<Fact>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        history(&client, &s, user, key).await
    }

    #[tracing::instrument(
        name = "cold.invalidate_fact",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn invalidate_fact(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
        at: Timestamp,
    ) -> Result<FactWrite<Fact>> {
        let Some((mut client, s)) = self.existing(tenant).await? else {
            // What the store answers for a key without a current version.
            return engram_domain::facts::plan_invalidate(&[], key.as_str(), at)
                .map(|value| FactWrite { rev: 0, value });
        };
        invalidate(&mut client, &s, user, key, at).await
    }

    #[tracing::instrument(
        name = "cold.all_facts",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn all_facts(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Fact>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        all_facts(&client, &s, user).await
    }
}

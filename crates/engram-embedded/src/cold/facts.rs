//! Temporal facts in the embedded cold store.

use engram_domain::error::Result;
use engram_domain::facts::{in_effect_at, next_rev, plan_invalidate, plan_put, sort_history};
use engram_domain::ids::{FactKey, TenantId, UserId};
use engram_domain::model::{Fact, FactInput, PutFactResult};
use engram_domain::ports::{FactSnapshot, FactStore, FactWrite};
use engram_domain::time::Timestamp;
use redb::{ReadTransaction, ReadableTable, Table, WriteTransaction};

use super::{EmbeddedColdStore, FACT_REVS, FACTS, after, compliance, decode, encode};
use crate::writer::storage;

type FactTable<'txn> = Table<'txn, (&'static str, &'static str, &'static str, u64), &'static [u8]>;

/// Every version of one key, in timeline order.
fn history<T>(table: &T, t: &str, u: &str, k: &str) -> Result<Vec<Fact>>
where
    T: ReadableTable<(&'static str, &'static str, &'static str, u64), &'static [u8]>,
{
    let mut out = Vec::new();
    for entry in table
        .range((t, u, k, 0)..=(t, u, k, u64::MAX))
        .map_err(storage)?
    {
        let (_, v) = entry.map_err(storage)?;
        out.push(decode::<Fact>(v.value())?);
    }
    sort_history(&mut out);
    Ok(out)
}

/// Every version of every key of a user, grouped by key (keys in order),
/// each group in timeline order.
fn all_histories<T>(table: &T, t: &str, u: &str) -> Result<Vec<Vec<Fact>>>
where
    T: ReadableTable<(&'static str, &'static str, &'static str, u64), &'static [u8]>,
{
    let end = after(u);
    let mut groups: Vec<Vec<Fact>> = Vec::new();
    for entry in table
        .range((t, u, "", 0)..(t, end.as_str(), "", 0))
        .map_err(storage)?
    {
        let (_, v) = entry.map_err(storage)?;
        let fact: Fact = decode(v.value())?;
        match groups.last_mut() {
            Some(group) if group[0].key == fact.key => group.push(fact),
            _ => groups.push(vec![fact]),
        }
    }
    groups.iter_mut().for_each(|g| sort_history(g));
    Ok(groups)
}

fn store(table: &mut FactTable<'_>, t: &str, u: &str, fact: &Fact) -> Result<()> {
    table
        .insert(
            (t, u, fact.key.as_str(), fact.version),
            encode(fact)?.as_slice(),
        )
        .map_err(storage)?;
    Ok(())
}

pub(super) fn put(
    txn: &WriteTransaction,
    tenant: &TenantId,
    user: &UserId,
    inputs: Vec<FactInput>,
    now: Timestamp,
) -> Result<FactWrite<Vec<PutFactResult>>> {
    let (t, u) = (tenant.as_str(), user.as_str());
    let mut table = txn.open_table(FACTS).map_err(storage)?;
    let mut results = Vec::with_capacity(inputs.len());
    let mut changed = false;
    for input in inputs {
        let versions = history(&table, t, u, input.key.as_str())?;
        let plan = plan_put(&versions, user, &input, now);
        if plan.writes() {
            changed = true;
            if let Some((version, end)) = plan.end_previous
                && let Some(mut prev) = versions.into_iter().find(|f| f.version == version)
            {
                prev.invalid_at = Some(end);
                store(&mut table, t, u, &prev)?;
            }
            store(&mut table, t, u, &plan.fact)?;
        }
        results.push(PutFactResult {
            fact: plan.fact,
            outcome: plan.outcome,
        });
    }
    let rev = if changed {
        bump_rev(txn, t, u)?
    } else {
        rev(txn, t, u)?
    };
    Ok(FactWrite {
        rev,
        value: results,
    })
}

pub(super) fn invalidate(
    txn: &WriteTransaction,
    tenant: &TenantId,
    user: &UserId,
    key: &FactKey,
    at: Timestamp,
) -> Result<FactWrite<Fact>> {
    let (t, u) = (tenant.as_str(), user.as_str());
    let mut table = txn.open_table(FACTS).map_err(storage)?;
    let versions = history(&table, t, u, key.as_str())?;
    let ended = plan_invalidate(&versions, key.as_str(), at)?;
    store(&mut table, t, u, &ended)?;
    Ok(FactWrite {
        rev: bump_rev(txn, t, u)?,
        value: ended,
    })
}

fn rev(txn: &WriteTransaction, t: &str, u: &str) -> Result<u64> {
    let revs = txn.open_table(FACT_REVS).map_err(storage)?;
    let rev = revs.get((t, u)).map_err(storage)?.map_or(0, |g| g.value());
    Ok(rev)
}

fn bump_rev(txn: &WriteTransaction, t: &str, u: &str) -> Result<u64> {
    let rev = next_rev(rev(txn, t, u)?);
    txn.open_table(FACT_REVS)
        .map_err(storage)?
        .insert((t, u), rev)
        .map_err(storage)?;
    Ok(rev)
}

pub(super) fn current(
    txn: &ReadTransaction,
    tenant: &TenantId,
    user: &UserId,
) -> Result<FactSnapshot> {
    let (t, u) = (tenant.as_str(), user.as_str());
    let table = txn.open_table(FACTS).map_err(storage)?;
    let facts = all_histories(&table, t, u)?
        .into_iter()
        .filter_map(|g| g.into_iter().find(Fact::is_current))
        .collect();
    Ok(FactSnapshot {
        rev: current_rev(txn, tenant, user)?,
        facts,
    })
}

/// The user's fact revision (0 without one).
pub(super) fn current_rev(txn: &ReadTransaction, tenant: &TenantId, user: &UserId) -> Result<u64> {
    let revs = txn.open_table(FACT_REVS).map_err(storage)?;
    let rev = revs
        .get((tenant.as_str(), user.as_str()))
        .map_err(storage)?
        .map_or(0, |g| g.value());
    Ok(rev)
}

pub(super) fn as_of(
    txn: &ReadTransaction,
    tenant: &TenantId,
    user: &UserId,
    at: Timestamp,
) -> Result<Vec<Fact>> {
    let table = txn.open_table(FACTS).map_err(storage)?;
    Ok(all_histories(&table, tenant.as_str(), user.as_str())?
        .into_iter()
        .filter_map(|g| in_effect_at(&g, at).cloned())
        .collect())
}

pub(super) fn key_history(
    txn: &ReadTransaction,
    tenant: &TenantId,
    user: &UserId,
    key: &FactKey,
) -> Result<Vec<Fact>> {
    let table = txn.open_table(FACTS).map_err(storage)?;
    history(&table, tenant.as_str(), user.as_str(), key.as_str())
}

impl FactStore for EmbeddedColdStore {
    #[tracing::instrument(
        name = "cold.put_facts",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        inputs: Vec<FactInput>,
        now: Timestamp,
    ) -> Result<FactWrite<Vec<PutFactResult>>> {
        owned!(tenant, user);
        self.writer
            .write(move |txn| put(txn, &tenant, &user, inputs, now))
            .await
    }

    #[tracing::instrument(
        name = "cold.fact_rev",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn fact_rev(&self, tenant: &TenantId, user: &UserId) -> Result<u64> {
        owned!(tenant, user);
        self.read(move |txn| current_rev(txn, &tenant, &user)).await
    }

    #[tracing::instrument(
        name = "cold.current_facts",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn current_facts(&self, tenant: &TenantId, user: &UserId) -> Result<FactSnapshot> {
        owned!(tenant, user);
        self.read(move |txn| current(txn, &tenant, &user)).await
    }

    #[tracing::instrument(
        name = "cold.facts_as_of",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<Vec<Fact>> {
        owned!(tenant, user);
        self.read(move |txn| as_of(txn, &tenant, &user, at)).await
    }

    #[tracing::instrument(
        name = "cold.fact_history",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn fact_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
    ) -> Result<Vec<Fact>> {
        owned!(tenant, user, key);
        self.read(move |txn| key_history(txn, &tenant, &user, &key))
            .await
    }

    #[tracing::instrument(
        name = "cold.invalidate_fact",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn invalidate_fact(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
        at: Timestamp,
    ) -> Result<FactWrite<Fact>> {
        owned!(tenant, user, key);
        self.writer
            .write(move |txn| invalidate(txn, &tenant, &user, &key, at))
            .await
    }

    #[tracing::instrument(
        name = "cold.all_facts",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn all_facts(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Fact>> {
        owned!(tenant, user);
        self.read(move |txn| compliance::all_facts(txn, tenant.as_str(), user.as_str()))
            .await
    }
}

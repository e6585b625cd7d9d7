//! Temporal facts in the embedded cold store.

use engram_core::error::Result;
use engram_core::facts::{in_effect_at, plan_invalidate, plan_put, sort_history};
use engram_core::ids::{FactKey, TenantId, UserId};
use engram_core::model::{Fact, FactInput, PutFactResult};
use engram_core::ports::{FactSnapshot, FactWrite};
use engram_core::time::Timestamp;
use redb::{ReadableTable, Table};

use super::{EmbeddedColdStore, FACT_REVS, FACTS, after, decode, encode};
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

impl EmbeddedColdStore {
    pub(super) async fn put(
        &self,
        tenant: &TenantId,
        user: &UserId,
        inputs: Vec<FactInput>,
        now: Timestamp,
    ) -> Result<FactWrite<Vec<PutFactResult>>> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.writer
            .write(move |txn| {
                let (t, u) = (tenant.as_str(), user.as_str());
                let mut table = txn.open_table(FACTS).map_err(storage)?;
                let mut results = Vec::with_capacity(inputs.len());
                let mut changed = false;
                for input in inputs {
                    let versions = history(&table, t, u, input.key.as_str())?;
                    let plan = plan_put(&versions, &user, &input, now);
                    if plan.writes() {
                        changed = true;
                        if let Some((version, end)) = plan.end_previous
                            && let Some(mut prev) =
                                versions.into_iter().find(|f| f.version == version)
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
                let mut revs = txn.open_table(FACT_REVS).map_err(storage)?;
                let mut rev = revs.get((t, u)).map_err(storage)?.map_or(0, |g| g.value());
                if changed {
                    rev += 1;
                    revs.insert((t, u), rev).map_err(storage)?;
                }
                Ok(FactWrite {
                    rev,
                    value: results,
                })
            })
            .await
    }

    pub(super) async fn invalidate(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
        at: Timestamp,
    ) -> Result<FactWrite<Fact>> {
        let (tenant, user, key) = (tenant.clone(), user.clone(), key.clone());
        self.writer
            .write(move |txn| {
                let (t, u) = (tenant.as_str(), user.as_str());
                let mut table = txn.open_table(FACTS).map_err(storage)?;
                let versions = history(&table, t, u, key.as_str())?;
                let ended = plan_invalidate(&versions, key.as_str(), at)?;
                store(&mut table, t, u, &ended)?;
                let mut revs = txn.open_table(FACT_REVS).map_err(storage)?;
                let rev = revs.get((t, u)).map_err(storage)?.map_or(0, |g| g.value()) + 1;
                revs.insert((t, u), rev).map_err(storage)?;
                Ok(FactWrite { rev, value: ended })
            })
            .await
    }

    pub(super) async fn current(&self, tenant: &TenantId, user: &UserId) -> Result<FactSnapshot> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.read(move |txn| {
            let (t, u) = (tenant.as_str(), user.as_str());
            let table = txn.open_table(FACTS).map_err(storage)?;
            let facts = all_histories(&table, t, u)?
                .into_iter()
                .filter_map(|g| g.into_iter().find(Fact::is_current))
                .collect();
            let revs = txn.open_table(FACT_REVS).map_err(storage)?;
            let rev = revs.get((t, u)).map_err(storage)?.map_or(0, |g| g.value());
            Ok(FactSnapshot { rev, facts })
        })
        .await
    }

    pub(super) async fn as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<Vec<Fact>> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.read(move |txn| {
            let table = txn.open_table(FACTS).map_err(storage)?;
            Ok(all_histories(&table, tenant.as_str(), user.as_str())?
                .into_iter()
                .filter_map(|g| in_effect_at(&g, at).cloned())
                .collect())
        })
        .await
    }

    pub(super) async fn key_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
    ) -> Result<Vec<Fact>> {
        let (tenant, user, key) = (tenant.clone(), user.clone(), key.clone());
        self.read(move |txn| {
            let table = txn.open_table(FACTS).map_err(storage)?;
            history(&table, tenant.as_str(), user.as_str(), key.as_str())
        })
        .await
    }
}

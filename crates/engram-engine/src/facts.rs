//! PutFacts, GetFacts, GetFactHistory, InvalidateFact.

use engram_domain::error::Result;
use engram_domain::ids::{FactKey, TenantId, UserId};
use engram_domain::model::{Fact, FactInput, PutFactResult};
use engram_domain::observe;
use engram_domain::observe::Read;
use engram_domain::ports::{ColdStore, Embedder, FactSnapshot, HotTier, SemanticIndex};
use engram_domain::time::Timestamp;

use super::Engine;

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    pub async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        facts: Vec<FactInput>,
    ) -> Result<Vec<PutFactResult>> {
        let write = self
            .cold
            .put_facts(tenant, user, facts, Timestamp::now())
            .await?;
        self.fence_facts(tenant, user, write.rev).await;
        Ok(write.value)
    }

    pub async fn invalidate_fact(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
        at: Timestamp,
    ) -> Result<Fact> {
        let write = self.cold.invalidate_fact(tenant, user, key, at).await?;
        self.fence_facts(tenant, user, write.rev).await;
        Ok(write.value)
    }

    async fn fence_facts(&self, tenant: &TenantId, user: &UserId, rev: u64) {
        if let Err(error) = self.hot.fence_facts(tenant, user, rev).await {
            Self::note_hot_failure(tenant, "fence_facts", &error);
        }
    }

    /// Current facts (all keys, or only `keys`), ordered by key, or the
    /// versions in effect at `as_of`.
    pub async fn facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        keys: &[FactKey],
        as_of: Option<Timestamp>,
    ) -> Result<Vec<Fact>> {
        let mut facts = match as_of {
            Some(at) => self.cold.facts_as_of(tenant, user, at).await?,
            None => self.current_facts(tenant, user).await?.facts,
        };
        if !keys.is_empty() {
            facts.retain(|f| keys.contains(&f.key));
        }
        Ok(facts)
    }

    /// Current facts: from the hot tier when it holds the revision the
    /// cold store holds now (read in parallel, as `window` explains), else
    /// from the cold store (repairing the hot tier in the background).
    pub(crate) async fn current_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<FactSnapshot> {
        let (hot, rev) = tokio::join!(
            self.hot.facts(tenant, user),
            self.cold.fact_rev(tenant, user)
        );
        let rev = rev?;
        if rev == 0 {
            // No fact was ever written (or the user was erased): nothing to
            // read, and nothing to cache.
            return Ok(FactSnapshot {
                rev,
                facts: Vec::new(),
            });
        }
        let stale = match hot {
            Ok(Some(snapshot)) if snapshot.rev == rev => {
                observe::tier_read("hot", "facts", Read::Hit);
                return Ok(snapshot);
            }
            Ok(cached) => {
                observe::tier_read("hot", "facts", Read::outdated(cached.is_some()));
                cached.is_some()
            }
            Err(error) => {
                observe::tier_read("hot", "facts", Read::Error);
                Self::note_hot_failure(tenant, "facts", &error);
                false
            }
        };
        let snapshot = self.cold.current_facts(tenant, user).await?;
        observe::tier_read("cold", "facts", Read::Hit);
        let hot = self.hot.clone();
        let (tenant, user, copy) = (tenant.clone(), user.clone(), snapshot.clone());
        tokio::spawn(async move {
            // As `window`: a stale copy is fenced before the repair.
            if stale && let Err(error) = hot.fence_facts(&tenant, &user, copy.rev).await {
                Self::note_hot_failure(&tenant, "fence_facts", &error);
            }
            if let Err(error) = hot.put_facts(&tenant, &user, copy).await {
                Self::note_hot_failure(&tenant, "put_facts", &error);
            }
        });
        Ok(snapshot)
    }

    pub async fn fact_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
    ) -> Result<Vec<Fact>> {
        self.cold.fact_history(tenant, user, key).await
    }
}

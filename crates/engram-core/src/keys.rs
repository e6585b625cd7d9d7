//! The data keys a sidecar uses: read from the cold store, unwrapped with
//! the configured master keys, kept in memory, created on first write.
//!
//! Rotation without downtime: configure the new master key first and the
//! old one after it. A key wrapped by the old one still unwraps, and is
//! re-wrapped by the new one the first time this sidecar loads it (a
//! conditional update: of several sidecars, one re-wraps, the others read
//! it). Once every key is re-wrapped, the old master key can go.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::warn;

use crate::crypto::{DataKey, Keyring};
use crate::error::Result;
use crate::ids::TenantId;
use crate::ports::ColdStore;

/// Unwrapped keys kept in memory; past this, the cache starts over.
const CACHED_KEYS: usize = 100_000;

/// The tenant's own key (search-term hashes): the subject "".
pub const TENANT_SUBJECT: &str = "";

type Cache = HashMap<(String, String), Arc<DataKey>>;

/// Data keys of subjects, loaded from (and created in) a cold store.
#[derive(Debug)]
pub struct SubjectKeys {
    ring: Keyring,
    cache: Mutex<Cache>,
}

impl SubjectKeys {
    pub fn new(ring: Keyring) -> Self {
        Self {
            ring,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, tenant: &TenantId, subject: &str) -> Option<Arc<DataKey>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&(tenant.as_str().to_owned(), subject.to_owned()))
            .cloned()
    }

    fn remember(&self, tenant: &TenantId, subject: &str, key: DataKey) -> Arc<DataKey> {
        let key = Arc::new(key);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED_KEYS {
            cache.clear();
        }
        cache.insert(
            (tenant.as_str().to_owned(), subject.to_owned()),
            key.clone(),
        );
        key
    }

    /// The subject's key if one is stored (reads never create one: a
    /// subject without a key has nothing encrypted).
    pub async fn existing(
        &self,
        cold: &impl ColdStore,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Option<Arc<DataKey>>> {
        if let Some(key) = self.cached(tenant, subject) {
            return Ok(Some(key));
        }
        let Some(wrapped) = cold.data_key(tenant, subject).await? else {
            return Ok(None);
        };
        let key = self.ring.unwrap(tenant.as_str(), subject, &wrapped)?;
        match self.ring.rewrap(tenant.as_str(), subject, &wrapped) {
            Ok(Some(rewrapped)) => {
                if let Err(error) = cold
                    .rewrap_data_key(tenant, subject, &wrapped.master_id, rewrapped)
                    .await
                {
                    // The old master key still unwraps it: retried on the
                    // next load.
                    warn!(%tenant, error = %error.redacted(), "a data key could not be re-wrapped");
                }
            }
            Ok(None) => {}
            Err(error) => {
                warn!(%tenant, error = %error.redacted(), "a data key could not be re-wrapped")
            }
        }
        Ok(Some(self.remember(tenant, subject, key)))
    }

    /// The subject's key, created (and stored wrapped) on first use.
    pub async fn key(
        &self,
        cold: &impl ColdStore,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Arc<DataKey>> {
        if let Some(key) = self.existing(cold, tenant, subject).await? {
            return Ok(key);
        }
        let (_, wrapped) = self.ring.generate(tenant.as_str(), subject)?;
        // Another sidecar may have been first: use the stored key.
        let stored = cold.insert_data_key(tenant, subject, wrapped).await?;
        let key = self.ring.unwrap(tenant.as_str(), subject, &stored)?;
        Ok(self.remember(tenant, subject, key))
    }

    /// Drops the subject's key from memory (after an erasure).
    pub fn forget(&self, tenant: &TenantId, subject: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.remove(&(tenant.as_str().to_owned(), subject.to_owned()));
    }
}

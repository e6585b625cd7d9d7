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

use engram_domain::error::Result;
use engram_domain::ids::TenantId;
use engram_domain::model::WrappedKey;
use engram_domain::ports::KeyStore;

use crate::{DataKey, Keyring};

/// Unwrapped keys kept in memory; past this, the cache starts over.
const CACHED_KEYS: usize = 100_000;

/// The tenant's own key (search-term hashes): the subject "".
pub const TENANT_SUBJECT: &str = "";

type Cache = HashMap<(String, String), Cached>;

/// An unwrapped key and the wrapped form it was loaded from (what the
/// store held then).
#[derive(Debug, Clone)]
struct Cached {
    key: Arc<DataKey>,
    wrapped: WrappedKey,
}

/// Data keys of subjects, loaded from (and created in) a key store (the
/// cold store's `KeyStore` port).
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

    /// Id of the master key that wraps new data keys.
    pub fn active_master(&self) -> &str {
        self.ring.active()
    }

    fn cached(&self, tenant: &TenantId, subject: &str) -> Option<Cached> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&(tenant.as_str().to_owned(), subject.to_owned()))
            .cloned()
    }

    fn remember(
        &self,
        tenant: &TenantId,
        subject: &str,
        key: DataKey,
        wrapped: WrappedKey,
    ) -> Arc<DataKey> {
        let key = Arc::new(key);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED_KEYS {
            cache.clear();
        }
        cache.insert(
            (tenant.as_str().to_owned(), subject.to_owned()),
            Cached {
                key: key.clone(),
                wrapped,
            },
        );
        key
    }

    /// Unwraps a stored key, re-wraps it by the active master key when
    /// another one wrapped it, and caches it.
    async fn load(
        &self,
        store: &impl KeyStore,
        tenant: &TenantId,
        subject: &str,
        wrapped: WrappedKey,
    ) -> Result<Arc<DataKey>> {
        let key = self.ring.unwrap(tenant.as_str(), subject, &wrapped)?;
        let mut stored = wrapped.clone();
        match self.ring.rewrap(tenant.as_str(), subject, &wrapped) {
            Ok(Some(rewrapped)) => match store
                .rewrap_data_key(tenant, subject, &wrapped.master_id, rewrapped.clone())
                .await
            {
                Ok(true) => stored = rewrapped,
                // Another sidecar re-wrapped it first (or it was erased):
                // the next check against the store reloads it.
                Ok(false) => {}
                // The old master key still unwraps it: retried on the
                // next load.
                Err(error) => {
                    warn!(%tenant, error = %error.redacted(), "a data key could not be re-wrapped")
                }
            },
            Ok(None) => {}
            Err(error) => {
                warn!(%tenant, error = %error.redacted(), "a data key could not be re-wrapped")
            }
        }
        Ok(self.remember(tenant, subject, key, stored))
    }

    /// The subject's key if one is stored (reads never create one: a
    /// subject without a key has nothing encrypted). A cached key is
    /// trusted: reads that fail to open with it [`forget`](Self::forget)
    /// it and ask again.
    pub async fn existing(
        &self,
        store: &impl KeyStore,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Option<Arc<DataKey>>> {
        if let Some(cached) = self.cached(tenant, subject) {
            return Ok(Some(cached.key));
        }
        match store.data_key(tenant, subject).await? {
            Some(wrapped) => self.load(store, tenant, subject, wrapped).await.map(Some),
            None => Ok(None),
        }
    }

    /// The subject's key, created (and stored wrapped) on first use.
    pub async fn key(
        &self,
        store: &impl KeyStore,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Arc<DataKey>> {
        if let Some(key) = self.existing(store, tenant, subject).await? {
            return Ok(key);
        }
        self.create(store, tenant, subject).await
    }

    /// The subject's key as the store holds it now, created on first use:
    /// what durable writes seal with. Unlike [`key`](Self::key) it never
    /// trusts the cache alone, so that a key another sidecar erased (and
    /// perhaps created anew) is not used to seal new data.
    pub async fn current(
        &self,
        store: &impl KeyStore,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Arc<DataKey>> {
        match store.data_key(tenant, subject).await? {
            Some(wrapped) => match self.cached(tenant, subject) {
                Some(cached) if cached.wrapped == wrapped => Ok(cached.key),
                _ => self.load(store, tenant, subject, wrapped).await,
            },
            None => {
                self.forget(tenant, subject);
                self.create(store, tenant, subject).await
            }
        }
    }

    async fn create(
        &self,
        store: &impl KeyStore,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Arc<DataKey>> {
        let (_, wrapped) = self.ring.generate(tenant.as_str(), subject)?;
        // Another sidecar may have been first: use the stored key.
        let stored = store.insert_data_key(tenant, subject, wrapped).await?;
        let key = self.ring.unwrap(tenant.as_str(), subject, &stored)?;
        Ok(self.remember(tenant, subject, key, stored))
    }

    /// Drops the subject's key from memory (after an erasure).
    pub fn forget(&self, tenant: &TenantId, subject: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.remove(&(tenant.as_str().to_owned(), subject.to_owned()));
    }
}

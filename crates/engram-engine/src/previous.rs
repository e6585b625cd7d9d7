//! The semantic index of the embedding model used before the current one.
//!
//! A new model (or a new way of building passages) means a new index,
//! filled from the cold store through the outbox (`ColdStore::
//! queue_reindex`). While a tenant's new index is catching up, the
//! previous model's index — given to the sidecar with its embedder —
//! keeps answering that tenant's semantic queries, so that recall does
//! not drop during the change; deletions reach both. Once the cold store
//! says the new index caught up (`ColdStore::index_caught_up`), it answers
//! for good.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::debug;

use engram_domain::ids::TenantId;
use engram_domain::ports::{ColdStore, Embedder, SemanticIndex, index_name};

/// How long a tenant found behind is taken to be behind before the cold
/// store is asked again.
const RECHECK: Duration = Duration::from_millis(500);

/// The previous generation: its index, its embedder, and which tenants
/// the current index caught up with.
#[derive(Debug)]
pub(crate) struct Previous<I, E> {
    pub(crate) index: Arc<I>,
    pub(crate) embedder: Arc<E>,
    /// The current index's name.
    current: String,
    /// Per tenant: `None` once caught up (it stays so), else when it was
    /// last found behind.
    behind: Mutex<HashMap<TenantId, Option<Instant>>>,
}

impl<I: SemanticIndex, E: Embedder> Previous<I, E> {
    pub(crate) fn new(index: I, embedder: E, current: &impl Embedder) -> Self {
        Self {
            index: Arc::new(index),
            embedder: Arc::new(embedder),
            current: index_name(current),
            behind: Mutex::default(),
        }
    }

    /// Whether the previous index answers the tenant's semantic queries:
    /// the current one has not caught up with it yet (or the cold store
    /// cannot say).
    pub(crate) async fn answers(&self, cold: &impl ColdStore, tenant: &TenantId) -> bool {
        let known = self
            .behind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .copied();
        match known {
            Some(None) => return false,
            Some(Some(at)) if at.elapsed() < RECHECK => return true,
            _ => {}
        }
        let caught_up = match cold.index_caught_up(tenant, &self.current).await {
            Ok(caught_up) => caught_up,
            Err(error) => {
                debug!(%tenant, error = %error.redacted(), "asking whether the index caught up failed");
                false
            }
        };
        self.behind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.clone(), (!caught_up).then(Instant::now));
        !caught_up
    }
}

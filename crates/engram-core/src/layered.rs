//! A per-sidecar near-cache in front of the shared hot tier (SPEC §2).
//!
//! Reads try the near-cache, then the shared tier (installing what they
//! found near); writes go to the shared tier, then near, then are announced
//! on the invalidation bus so that every other sidecar fences its copy.
//!
//! The near-cache is trusted only while the gate is open: the gate closes
//! (and the near-cache is cleared) whenever this sidecar may have missed
//! invalidations — its subscription is down — and opens again once it has
//! resubscribed. A read that started before a gate change does not install
//! what it read (the epoch tells), so nothing read across a gap survives it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Result;
use crate::ids::{ConversationId, TenantId, UserId};
use crate::model::{Conversation, Message, RecentWindow};
use crate::ports::{FactSnapshot, HotTier, Invalidation, InvalidationBus, NearCache};

/// Whether the near-cache may be used, and an epoch that changes whenever
/// that changes.
#[derive(Debug, Clone, Default)]
pub struct NearGate {
    inner: Arc<GateInner>,
}

#[derive(Debug, Default)]
struct GateInner {
    open: AtomicBool,
    epoch: AtomicU64,
}

impl NearGate {
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Acquire)
    }

    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// Stops trusting the near-cache (and clears it).
    pub fn close(&self, near: &impl NearCache) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.open.store(false, Ordering::Release);
        near.clear();
    }

    /// Trusts the near-cache again, starting empty.
    pub fn open(&self, near: &impl NearCache) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        near.clear();
        self.inner.open.store(true, Ordering::Release);
    }
}

/// A near-cache `N` in front of a shared hot tier `F`, kept coherent across
/// sidecars by the bus `B`.
#[derive(Debug)]
pub struct Layered<N, F, B> {
    near: N,
    far: F,
    bus: B,
    gate: NearGate,
}

impl<N: NearCache, F: HotTier, B: InvalidationBus> Layered<N, F, B> {
    pub fn new(near: N, far: F, bus: B, gate: NearGate) -> Self {
        Self {
            near,
            far,
            bus,
            gate,
        }
    }

    /// Announces a write; a lost announcement only shortens the life of the
    /// others' copies to their TTL, so it is logged, not failed.
    async fn announce(&self, invalidation: Invalidation) {
        if let Err(error) = self.bus.publish(invalidation).await {
            tracing::debug!(error = %error.redacted(), "invalidation not published");
        }
    }
}

impl<N: NearCache, F: HotTier, B: InvalidationBus> HotTier for Layered<N, F, B> {
    async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<RecentWindow>> {
        let epoch = self.gate.epoch();
        if self.gate.is_open()
            && let Some(window) = self.near.recent(tenant, conversation).await?
        {
            return Ok(Some(window));
        }
        let window = self.far.recent(tenant, conversation).await?;
        if let Some(w) = &window
            && self.gate.is_open()
            && self.gate.epoch() == epoch
        {
            self.near.put_recent(tenant, w.clone()).await?;
        }
        Ok(window)
    }

    /// A read-repair from the cold store goes to the shared tier only: it
    /// cannot tell whether it started before a gap in the invalidations, so
    /// the next read installs the value near under the epoch check.
    async fn put_recent(&self, tenant: &TenantId, window: RecentWindow) -> Result<()> {
        self.far.put_recent(tenant, window).await
    }

    async fn extend_recent(
        &self,
        tenant: &TenantId,
        conversation: &Conversation,
        messages: &[Message],
    ) -> Result<()> {
        // The cold store has committed: near is updated even when the
        // shared tier fails, so this sidecar reads its own write.
        let far = self.far.extend_recent(tenant, conversation, messages).await;
        self.near
            .extend_recent(tenant, conversation, messages)
            .await?;
        self.announce(Invalidation::Conversation {
            tenant: tenant.clone(),
            conversation: conversation.conversation_id.clone(),
            rev: conversation.last_seq,
        })
        .await;
        far
    }

    async fn fence_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        rev: u64,
    ) -> Result<()> {
        let far = self.far.fence_conversation(tenant, conversation, rev).await;
        self.near
            .fence_conversation(tenant, conversation, rev)
            .await?;
        self.announce(Invalidation::Conversation {
            tenant: tenant.clone(),
            conversation: conversation.clone(),
            rev,
        })
        .await;
        far
    }

    async fn facts(&self, tenant: &TenantId, user: &UserId) -> Result<Option<FactSnapshot>> {
        let epoch = self.gate.epoch();
        if self.gate.is_open()
            && let Some(snapshot) = self.near.facts(tenant, user).await?
        {
            return Ok(Some(snapshot));
        }
        let snapshot = self.far.facts(tenant, user).await?;
        if let Some(s) = &snapshot
            && self.gate.is_open()
            && self.gate.epoch() == epoch
        {
            self.near.put_facts(tenant, user, s.clone()).await?;
        }
        Ok(snapshot)
    }

    /// As `put_recent`: shared tier only.
    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        snapshot: FactSnapshot,
    ) -> Result<()> {
        self.far.put_facts(tenant, user, snapshot).await
    }

    async fn fence_facts(&self, tenant: &TenantId, user: &UserId, rev: u64) -> Result<()> {
        let far = self.far.fence_facts(tenant, user, rev).await;
        self.near.fence_facts(tenant, user, rev).await?;
        self.announce(Invalidation::Facts {
            tenant: tenant.clone(),
            user: user.clone(),
            rev,
        })
        .await;
        far
    }

    async fn ping(&self) -> Result<()> {
        self.far.ping().await
    }
}

//! A per-sidecar near-cache in front of the shared hot tier (SPEC §2).
//!
//! Reads try the near-cache, then the shared tier (installing what they
//! found near); writes go to the shared tier, then near, then are announced
//! on the invalidation bus so that every other sidecar fences its copy.
//!
//! A write whose fence or announcement fails (this sidecar cannot reach
//! Redis, others may) is not forgotten: it waits in a bounded queue that a
//! background task replays — fence the shared tier, announce — until Redis
//! answers, so the others' copies are dropped as soon as that is possible.
//!
//! The near-cache is trusted only while the gate is open: the gate closes
//! (and the near-cache is cleared) whenever this sidecar may have missed
//! invalidations — its subscription is down — and opens again once it has
//! resubscribed. A read that started before a gate change does not install
//! what it read (the epoch tells), so nothing read across a gap survives it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engram_domain::error::Result;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Conversation, Message, RecentWindow};
use engram_domain::observe;
use engram_domain::observe::Read;
use engram_domain::ports::{FactSnapshot, HotTier, Invalidation, InvalidationBus, NearCache};

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

/// Most invalidations waiting to be replayed; past this the oldest are
/// dropped (and logged): their copies elsewhere then live out their TTL.
const MAX_PENDING: usize = 100_000;
/// How often pending invalidations are replayed.
const REPLAY_PERIOD: Duration = Duration::from_millis(100);

/// A near-cache `N` in front of a shared hot tier `F`, kept coherent across
/// sidecars by the bus `B`.
#[derive(Debug)]
pub struct Layered<N, F, B> {
    near: N,
    far: Arc<F>,
    bus: Arc<B>,
    gate: NearGate,
    pending: Arc<Mutex<VecDeque<Invalidation>>>,
}

impl<N, F, B> Layered<N, F, B> {
    /// Whether the near-cache is trusted (the invalidation subscription
    /// is up).
    pub fn near_in_use(&self) -> bool {
        self.gate.is_open()
    }

    /// Invalidations waiting for Redis to answer.
    pub fn queued_invalidations(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl<N: NearCache, F: HotTier, B: InvalidationBus> Layered<N, F, B> {
    /// Builds the tier and starts its replay task (needs a Tokio runtime).
    pub fn new(near: N, far: F, bus: B, gate: NearGate) -> Self {
        let (far, bus) = (Arc::new(far), Arc::new(bus));
        let pending = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(replay(far.clone(), bus.clone(), Arc::downgrade(&pending)));
        Self {
            near,
            far,
            bus,
            gate,
            pending,
        }
    }

    /// Announces a write whose shared-tier update succeeded; a failure is
    /// queued for replay.
    async fn announce(&self, invalidation: Invalidation, far: &Result<()>) {
        if far.is_err() || self.bus.publish(invalidation.clone()).await.is_err() {
            observe::invalidation("queued");
            queue(&self.pending, invalidation);
        } else {
            observe::invalidation("published");
        }
    }
}

fn queue(pending: &Mutex<VecDeque<Invalidation>>, invalidation: Invalidation) {
    let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
    if pending.len() == MAX_PENDING {
        pending.pop_front();
        tracing::warn!("invalidation queue full: oldest dropped; its copies expire with their TTL");
    }
    pending.push_back(invalidation);
}

/// Replays queued invalidations — fence the shared tier, then announce —
/// oldest first, until one fails; stops when the tier is dropped.
async fn replay<F: HotTier, B: InvalidationBus>(
    far: Arc<F>,
    bus: Arc<B>,
    pending: std::sync::Weak<Mutex<VecDeque<Invalidation>>>,
) {
    loop {
        tokio::time::sleep(REPLAY_PERIOD).await;
        let Some(pending) = pending.upgrade() else {
            return;
        };
        loop {
            let next = pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .front()
                .cloned();
            let Some(invalidation) = next else { break };
            let fenced = match &invalidation {
                Invalidation::Conversation {
                    tenant,
                    conversation,
                    rev,
                } => far.fence_conversation(tenant, conversation, *rev).await,
                Invalidation::Facts { tenant, user, rev } => {
                    far.fence_facts(tenant, user, *rev).await
                }
            };
            if fenced.is_err() || bus.publish(invalidation).await.is_err() {
                break;
            }
            observe::invalidation("replayed");
            pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
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
        if self.gate.is_open() {
            if let Some(window) = self.near.recent(tenant, conversation).await? {
                observe::tier_read("near", "recent", Read::Hit);
                return Ok(Some(window));
            }
            observe::tier_read("near", "recent", Read::Miss);
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
        let invalidation = Invalidation::Conversation {
            tenant: tenant.clone(),
            conversation: conversation.conversation_id.clone(),
            rev: conversation.last_seq,
        };
        self.announce(invalidation, &far).await;
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
        let invalidation = Invalidation::Conversation {
            tenant: tenant.clone(),
            conversation: conversation.clone(),
            rev,
        };
        self.announce(invalidation, &far).await;
        far
    }

    async fn facts(&self, tenant: &TenantId, user: &UserId) -> Result<Option<FactSnapshot>> {
        let epoch = self.gate.epoch();
        if self.gate.is_open() {
            if let Some(snapshot) = self.near.facts(tenant, user).await? {
                observe::tier_read("near", "facts", Read::Hit);
                return Ok(Some(snapshot));
            }
            observe::tier_read("near", "facts", Read::Miss);
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
        let invalidation = Invalidation::Facts {
            tenant: tenant.clone(),
            user: user.clone(),
            rev,
        };
        self.announce(invalidation, &far).await;
        far
    }

    async fn ping(&self) -> Result<()> {
        self.far.ping().await
    }

    fn reaches_near_caches(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use engram_domain::ports::NoHotTier;
    use engram_domain::time::Timestamp;

    use super::*;

    /// A shared tier that can be switched off, recording the fences it took.
    #[derive(Clone, Default)]
    struct Switchable(Arc<State>);

    #[derive(Default)]
    struct State {
        down: AtomicBool,
        fences: Mutex<Vec<u64>>,
    }

    impl std::ops::Deref for Switchable {
        type Target = State;
        fn deref(&self) -> &State {
            &self.0
        }
    }

    impl State {
        fn check(&self) -> Result<()> {
            if self.down.load(Ordering::SeqCst) {
                Err(engram_domain::Error::unavailable("redis", "down"))
            } else {
                Ok(())
            }
        }
    }

    impl HotTier for Switchable {
        async fn recent(&self, _: &TenantId, _: &ConversationId) -> Result<Option<RecentWindow>> {
            self.check().map(|()| None)
        }
        async fn put_recent(&self, _: &TenantId, _: RecentWindow) -> Result<()> {
            self.check()
        }
        async fn extend_recent(&self, _: &TenantId, c: &Conversation, _: &[Message]) -> Result<()> {
            self.check()?;
            self.fences.lock().unwrap().push(c.last_seq);
            Ok(())
        }
        async fn fence_conversation(
            &self,
            _: &TenantId,
            _: &ConversationId,
            rev: u64,
        ) -> Result<()> {
            self.check()?;
            self.fences.lock().unwrap().push(rev);
            Ok(())
        }
        async fn facts(&self, _: &TenantId, _: &UserId) -> Result<Option<FactSnapshot>> {
            self.check().map(|()| None)
        }
        async fn put_facts(&self, _: &TenantId, _: &UserId, _: FactSnapshot) -> Result<()> {
            self.check()
        }
        async fn fence_facts(&self, _: &TenantId, _: &UserId, rev: u64) -> Result<()> {
            self.check()?;
            self.fences.lock().unwrap().push(rev);
            Ok(())
        }
        async fn ping(&self) -> Result<()> {
            self.check()
        }
    }

    /// A bus that is down together with the shared tier.
    struct Bus(Switchable, Mutex<Vec<Invalidation>>);

    impl InvalidationBus for Bus {
        async fn publish(&self, invalidation: Invalidation) -> Result<()> {
            self.0.check()?;
            self.1.lock().unwrap().push(invalidation);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_write_the_shared_tier_missed_is_fenced_and_announced_once_it_is_back() {
        let far = Switchable::default();
        let bus = Bus(far.clone(), Mutex::new(Vec::new()));
        let layered = Layered::new(NoHotTier, far.clone(), bus, NearGate::default());
        let tenant = TenantId::parse("t", "acme").unwrap();
        let user = UserId::parse("u", "u1").unwrap();
        let conversation = Conversation {
            conversation_id: ConversationId::parse("c", "c1").unwrap(),
            user_id: user.clone(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            message_count: 7,
            last_seq: 7,
            total_tokens: 70,
        };

        far.down.store(true, Ordering::SeqCst);
        assert!(
            layered
                .extend_recent(&tenant, &conversation, &[])
                .await
                .is_err()
        );
        assert!(layered.fence_facts(&tenant, &user, 3).await.is_err());
        tokio::time::sleep(REPLAY_PERIOD * 3).await;
        assert!(
            far.fences.lock().unwrap().is_empty(),
            "nothing reaches a tier that is down"
        );

        far.down.store(false, Ordering::SeqCst);
        for _ in 0..50 {
            if layered.bus.1.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(REPLAY_PERIOD).await;
        }
        assert_eq!(
            *far.fences.lock().unwrap(),
            [7, 3],
            "fenced in order once back"
        );
        let announced = layered.bus.1.lock().unwrap().clone();
        assert!(matches!(
            announced[0],
            Invalidation::Conversation { rev: 7, .. }
        ));
        assert!(matches!(announced[1], Invalidation::Facts { rev: 3, .. }));
        assert!(layered.pending.lock().unwrap().is_empty());
    }
}

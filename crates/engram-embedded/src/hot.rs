//! The embedded hot/warm tier: in-process caches (moka) with TTLs, a byte
//! budget, and revision fences (see `engram_domain::ports::HotTier`).

use std::sync::Arc;
use std::time::Duration;

use engram_domain::Result;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Conversation, Message, RecentWindow};
use engram_domain::ports::{FactSnapshot, HotTier};
use moka::ops::compute::Op;
use moka::sync::Cache;

/// Settings of the in-process hot tier.
#[derive(Debug, Clone)]
pub struct HotConfig {
    /// Messages kept per conversation.
    pub window: usize,
    /// Time to live of conversation windows (the hot tier).
    pub hot_ttl: Duration,
    /// Time to live of facts (the warm tier).
    pub warm_ttl: Duration,
    /// Approximate memory budget of each cache, in bytes.
    pub max_bytes: u64,
}

impl Default for HotConfig {
    fn default() -> Self {
        Self {
            window: 50,
            hot_ttl: Duration::from_secs(60),
            warm_ttl: Duration::from_secs(3600),
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A cached value with its revision, or a fence below which nothing may be
/// cached.
#[derive(Debug, Clone)]
enum Slot<T> {
    Value(u64, Arc<T>),
    Fence(u64),
}

impl<T> Slot<T> {
    fn rev(&self) -> u64 {
        match self {
            Slot::Value(rev, _) | Slot::Fence(rev) => *rev,
        }
    }

    fn value(&self) -> Option<&Arc<T>> {
        match self {
            Slot::Value(_, v) => Some(v),
            Slot::Fence(_) => None,
        }
    }
}

/// Puts `value` at `rev` unless the slot holds something at least as new
/// (a value) or a higher fence.
fn put_op<T>(current: Option<&Slot<T>>, rev: u64, value: T) -> Op<Slot<T>> {
    match current {
        Some(Slot::Value(r, _)) if *r >= rev => Op::Nop,
        Some(Slot::Fence(f)) if *f > rev => Op::Nop,
        _ => Op::Put(Slot::Value(rev, Arc::new(value))),
    }
}

/// Raises the fence to `rev`, dropping a value older than `rev`.
fn fence_op<T>(current: Option<&Slot<T>>, rev: u64) -> Op<Slot<T>> {
    match current {
        Some(slot) if slot.rev() >= rev && slot.value().is_some() => Op::Nop,
        Some(Slot::Fence(f)) if *f >= rev => Op::Nop,
        _ => Op::Put(Slot::Fence(rev)),
    }
}

type WindowKey = (TenantId, ConversationId);
type FactsKey = (TenantId, UserId);

/// The in-process hot tier.
#[derive(Debug, Clone)]
pub struct EmbeddedHotTier {
    windows: Cache<WindowKey, Slot<RecentWindow>>,
    facts: Cache<FactsKey, Slot<FactSnapshot>>,
    window: usize,
}

fn weight(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl EmbeddedHotTier {
    pub fn new(config: &HotConfig) -> Self {
        let windows = Cache::builder()
            .max_capacity(config.max_bytes)
            .time_to_live(config.hot_ttl)
            .weigher(|_: &WindowKey, slot: &Slot<RecentWindow>| {
                weight(slot.value().map_or(64, |w| {
                    256 + w
                        .messages
                        .iter()
                        .map(|m| 256 + m.content.len())
                        .sum::<usize>()
                }))
            })
            .build();
        let facts = Cache::builder()
            .max_capacity(config.max_bytes)
            .time_to_live(config.warm_ttl)
            .weigher(|_: &FactsKey, slot: &Slot<FactSnapshot>| {
                weight(slot.value().map_or(64, |s| {
                    128 + s.facts.iter().map(|f| 192 + f.value.len()).sum::<usize>()
                }))
            })
            .build();
        Self {
            windows,
            facts,
            window: config.window.max(1),
        }
    }

    fn trim(&self, mut messages: Vec<Message>) -> Vec<Message> {
        let excess = messages.len().saturating_sub(self.window);
        messages.drain(..excess);
        messages
    }
}

impl HotTier for EmbeddedHotTier {
    async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<RecentWindow>> {
        let key = (tenant.clone(), conversation.clone());
        Ok(self
            .windows
            .get(&key)
            .and_then(|slot| slot.value().map(|w| RecentWindow::clone(w))))
    }

    async fn put_recent(&self, tenant: &TenantId, mut window: RecentWindow) -> Result<()> {
        let key = (tenant.clone(), window.conversation.conversation_id.clone());
        window.messages = self.trim(window.messages);
        let rev = window.conversation.last_seq;
        self.windows
            .entry(key)
            .and_compute_with(|entry| put_op(entry.as_ref().map(|e| e.value()), rev, window));
        Ok(())
    }

    async fn extend_recent(
        &self,
        tenant: &TenantId,
        conversation: &Conversation,
        messages: &[Message],
    ) -> Result<()> {
        let key = (tenant.clone(), conversation.conversation_id.clone());
        let first_seq = messages.first().map_or(conversation.last_seq, |m| m.seq);
        self.windows.entry(key).and_compute_with(|entry| {
            let current = entry.as_ref().map(|e| e.value());
            match current.and_then(Slot::value) {
                Some(w) if w.conversation.last_seq + 1 == first_seq => {
                    let mut all = w.messages.clone();
                    all.extend_from_slice(messages);
                    let window = RecentWindow {
                        conversation: conversation.clone(),
                        messages: self.trim(all),
                    };
                    Op::Put(Slot::Value(conversation.last_seq, Arc::new(window)))
                }
                _ => fence_op(current, conversation.last_seq),
            }
        });
        Ok(())
    }

    async fn fence_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        rev: u64,
    ) -> Result<()> {
        let key = (tenant.clone(), conversation.clone());
        self.windows
            .entry(key)
            .and_compute_with(|entry| fence_op(entry.as_ref().map(|e| e.value()), rev));
        Ok(())
    }

    async fn facts(&self, tenant: &TenantId, user: &UserId) -> Result<Option<FactSnapshot>> {
        let key = (tenant.clone(), user.clone());
        Ok(self
            .facts
            .get(&key)
            .and_then(|slot| slot.value().map(|s| FactSnapshot::clone(s))))
    }

    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        snapshot: FactSnapshot,
    ) -> Result<()> {
        let key = (tenant.clone(), user.clone());
        let rev = snapshot.rev;
        self.facts
            .entry(key)
            .and_compute_with(|entry| put_op(entry.as_ref().map(|e| e.value()), rev, snapshot));
        Ok(())
    }

    async fn fence_facts(&self, tenant: &TenantId, user: &UserId, rev: u64) -> Result<()> {
        let key = (tenant.clone(), user.clone());
        self.facts
            .entry(key)
            .and_compute_with(|entry| fence_op(entry.as_ref().map(|e| e.value()), rev));
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

impl engram_domain::ports::NearCache for EmbeddedHotTier {
    fn clear(&self) {
        self.windows.invalidate_all();
        self.facts.invalidate_all();
    }
}

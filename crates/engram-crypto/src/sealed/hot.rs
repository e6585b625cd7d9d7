//! The sealing hot tier: the shared cache's copies sealed with the same
//! keys as the cold store's.

use engram_domain::error::Result;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Conversation, Message, RecentWindow};
use engram_domain::ports::{FactSnapshot, HotTier, KeyStore};
use std::collections::BTreeMap;

use super::Sealer;
use crate::Field;

/// A shared hot tier whose copies of messages and facts are sealed with
/// the cold store's keys (built by [`SealedCold::seal_hot`]).
#[derive(Debug)]
pub struct SealedHot<H, K> {
    pub(super) inner: H,
    /// Reaches only the key store (`K`), never the cold store's data.
    pub(super) sealer: Sealer<K>,
}

impl<H: HotTier, K: KeyStore> SealedHot<H, K> {
    async fn seal_messages(&self, tenant: &TenantId, messages: &mut [Message]) -> Result<()> {
        let mut by_user: BTreeMap<UserId, Vec<&mut String>> = BTreeMap::new();
        for m in messages {
            by_user
                .entry(m.user_id.clone())
                .or_default()
                .push(&mut m.content);
        }
        for (user, texts) in by_user {
            self.sealer
                .seal(tenant, &user, Field::MessageContent, texts, false)
                .await?;
        }
        Ok(())
    }
}

impl<H: HotTier, K: KeyStore> HotTier for SealedHot<H, K> {
    delegate::delegate! {
        to self.inner {
            async fn fence_conversation(
                &self,
                tenant: &TenantId,
                conversation: &ConversationId,
                rev: u64,
            ) -> Result<()>;
            async fn fence_facts(&self, tenant: &TenantId, user: &UserId, rev: u64) -> Result<()>;
            async fn ping(&self) -> Result<()>;
            fn reaches_near_caches(&self) -> bool;
        }
    }

    async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<RecentWindow>> {
        let mut window = self.inner.recent(tenant, conversation).await?;
        if let Some(w) = &mut window {
            self.sealer.open_messages(tenant, &mut w.messages).await?;
        }
        Ok(window)
    }
    async fn put_recent(&self, tenant: &TenantId, mut window: RecentWindow) -> Result<()> {
        self.seal_messages(tenant, &mut window.messages).await?;
        self.inner.put_recent(tenant, window).await
    }
    async fn extend_recent(
        &self,
        tenant: &TenantId,
        conversation: &Conversation,
        messages: &[Message],
    ) -> Result<()> {
        let mut sealed = messages.to_vec();
        self.seal_messages(tenant, &mut sealed).await?;
        self.inner
            .extend_recent(tenant, conversation, &sealed)
            .await
    }
    async fn facts(&self, tenant: &TenantId, user: &UserId) -> Result<Option<FactSnapshot>> {
        let mut snapshot = self.inner.facts(tenant, user).await?;
        if let Some(s) = &mut snapshot {
            self.sealer.open_facts(tenant, &mut s.facts).await?;
        }
        Ok(snapshot)
    }
    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        mut snapshot: FactSnapshot,
    ) -> Result<()> {
        let texts = snapshot.facts.iter_mut().map(|f| &mut f.value).collect();
        self.sealer
            .seal(tenant, user, Field::FactValue, texts, false)
            .await?;
        self.inner.put_facts(tenant, user, snapshot).await
    }
}

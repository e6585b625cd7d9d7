//! The sealing cold store: each port seals on the way in and opens on
//! the way out; what holds no sealed field goes straight to the store.
//!
//! About 600 lines: one impl per cold-store port, each sealing what that
//! aggregate holds.

use engram_domain::audit::{AuditEntry, NewAuditEntry};
use engram_domain::error::{Error, Result};
use engram_domain::handover::{Handover, HandoverEnd, HandoverSummary, NewHandover};
use engram_domain::ids::{ConversationId, FactKey, TenantId, UserId};
use engram_domain::model::{
    Conversation, ConversationCursor, Fact, FactInput, HistoryTotals, MemoryStats, Message,
    MessageFilter, NewMessage, OutboxJob, OutboxStats, PutFactResult, RecentWindow, Scope,
    ScoredMessage, WrappedKey,
};
use engram_domain::ports::{
    AppendOutcome, ColdErasure, ColdStore, ComplianceStore, FactSnapshot, FactStore, FactWrite,
    HandoverStore, HotTier, KeyStore, MessageStore, OutboxQueue, SummaryStore,
};
use engram_domain::retention::RetentionPolicy;
use engram_domain::sealed_text;
use engram_domain::summary::Summary;
use engram_domain::time::Timestamp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::hot::SealedHot;
use super::{Sealer, handover_summary_texts};
use crate::Field;
use crate::keys::SubjectKeys;

/// Conversation owners kept in memory; past this, the map starts over.
const CACHED_OWNERS: usize = 100_000;

/// A cold store whose sensitive texts are sealed (see the module).
#[derive(Debug)]
pub struct SealedCold<C> {
    sealer: Sealer<C>,
    /// conversation → its user (a conversation never changes user).
    owners: Mutex<HashMap<(TenantId, ConversationId), UserId>>,
}

impl<C: ColdStore> SealedCold<C> {
    /// `keys`: None leaves everything in the clear.
    pub fn new(inner: C, keys: Option<SubjectKeys>) -> Self {
        Self {
            sealer: Sealer {
                cold: Arc::new(inner),
                keys: keys.map(Arc::new),
            },
            owners: Mutex::new(HashMap::new()),
        }
    }

    /// The store underneath (what it holds is sealed).
    pub fn inner(&self) -> &C {
        &self.sealer.cold
    }

    /// Whether new data is encrypted.
    pub fn encrypts(&self) -> bool {
        self.sealer.keys.is_some()
    }

    /// Seals what `hot` caches with the same keys.
    pub fn seal_hot<H: HotTier>(&self, hot: H) -> SealedHot<H, C> {
        SealedHot {
            inner: hot,
            sealer: self.sealer.clone(),
        }
    }

    fn inner_store(&self) -> &C {
        &self.sealer.cold
    }

    fn remember_owner(&self, tenant: &TenantId, conversation: &Conversation) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        if owners.len() >= CACHED_OWNERS {
            owners.clear();
        }
        owners.insert(
            (tenant.clone(), conversation.conversation_id.clone()),
            conversation.user_id.clone(),
        );
    }

    fn forget_owners(&self, tenant: &TenantId, conversations: &[ConversationId]) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        for c in conversations {
            owners.remove(&(tenant.clone(), c.clone()));
        }
    }

    /// The user a conversation belongs to; `NotFound` when it does not
    /// exist. Cached only for reads: writes ask the store.
    async fn owner(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        cached: bool,
    ) -> Result<UserId> {
        if cached {
            let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(user) = owners.get(&(tenant.clone(), conversation.clone())) {
                return Ok(user.clone());
            }
        }
        match self
            .inner_store()
            .conversation(tenant, conversation)
            .await?
        {
            Some(c) => {
                self.remember_owner(tenant, &c);
                Ok(c.user_id)
            }
            None => Err(Error::NotFound {
                what: "conversation",
                id: conversation.to_string(),
            }),
        }
    }

    async fn open_summary_of(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        summary: &mut Summary,
    ) -> Result<()> {
        if !summary
            .items
            .iter()
            .any(|i| sealed_text::looks_sealed(&i.sentence))
        {
            return Ok(());
        }
        let user = self.owner(tenant, conversation, true).await?;
        if self
            .sealer
            .open_summary(tenant, &user, summary)
            .await
            .is_ok()
        {
            return Ok(());
        }
        // The cached owner may be stale (the conversation was erased and
        // created again by another user).
        let user = self.owner(tenant, conversation, false).await?;
        self.sealer.open_summary(tenant, &user, summary).await
    }
}

// What holds no sealed field goes straight to the store: the `delegate`
// crate writes those methods; the others seal on the way in and open on
// the way out.
impl<C: ColdStore> MessageStore for SealedCold<C> {
    delegate::delegate! {
        to self.inner_store() {
            async fn conversation(
                &self,
                tenant: &TenantId,
                conversation: &ConversationId,
            ) -> Result<Option<Conversation>>;
            async fn list_conversations(
                &self,
                tenant: &TenantId,
                user: &UserId,
                cursor: Option<&ConversationCursor>,
                limit: usize,
            ) -> Result<Vec<Conversation>>;
            async fn user_history(&self, tenant: &TenantId, user: &UserId) -> Result<HistoryTotals>;
        }
    }

    async fn append(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        user: &UserId,
        mut messages: Vec<NewMessage>,
        now: Timestamp,
    ) -> Result<AppendOutcome> {
        let plain: Vec<String> = messages.iter().map(|m| m.content.clone()).collect();
        let texts = messages.iter_mut().map(|m| &mut m.content).collect();
        self.sealer
            .seal(tenant, user, Field::MessageContent, texts, true)
            .await?;
        let mut outcome = self
            .inner_store()
            .append(tenant, conversation, user, messages, now)
            .await?;
        self.remember_owner(tenant, &outcome.conversation);
        // One entry per message, in request order; a deduplicated one holds
        // the same content (or the append would have failed): no need to
        // open what was just sealed.
        for (appended, content) in outcome.messages.iter_mut().zip(plain) {
            appended.message.content = content;
        }
        Ok(outcome)
    }

    async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<RecentWindow>> {
        let mut window = self
            .inner_store()
            .recent(tenant, conversation, limit)
            .await?;
        if let Some(w) = &mut window {
            self.sealer.open_messages(tenant, &mut w.messages).await?;
        }
        Ok(window)
    }

    async fn messages_after(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let mut messages = self
            .inner_store()
            .messages_after(tenant, conversation, after_seq, limit)
            .await?;
        self.sealer.open_messages(tenant, &mut messages).await?;
        Ok(messages)
    }

    async fn messages_at(
        &self,
        tenant: &TenantId,
        positions: &[(ConversationId, u64)],
    ) -> Result<Vec<Message>> {
        let mut messages = self.inner_store().messages_at(tenant, positions).await?;
        self.sealer.open_messages(tenant, &mut messages).await?;
        Ok(messages)
    }

    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Conversation>> {
        let deleted = self
            .inner_store()
            .delete_conversation(tenant, conversation)
            .await?;
        self.forget_owners(tenant, std::slice::from_ref(conversation));
        Ok(deleted)
    }

    async fn search_lexical(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        query: &str,
        filter: &MessageFilter,
        limit: usize,
    ) -> Result<Vec<ScoredMessage>> {
        let query = self.sealer.query(tenant, query).await?;
        let mut hits = self
            .inner_store()
            .search_lexical(tenant, scope, &query, filter, limit)
            .await?;
        self.sealer
            .open_messages(tenant, hits.iter_mut().map(|h| &mut h.message))
            .await?;
        Ok(hits)
    }
}

impl<C: ColdStore> FactStore for SealedCold<C> {
    delegate::delegate! {
        to self.inner_store() {
            async fn fact_rev(&self, tenant: &TenantId, user: &UserId) -> Result<u64>;
        }
    }

    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        mut facts: Vec<FactInput>,
        now: Timestamp,
    ) -> Result<FactWrite<Vec<PutFactResult>>> {
        let texts = facts.iter_mut().map(|f| &mut f.value).collect();
        self.sealer
            .seal(tenant, user, Field::FactValue, texts, true)
            .await?;
        let mut write = self
            .inner_store()
            .put_facts(tenant, user, facts, now)
            .await?;
        self.sealer
            .open_facts(tenant, write.value.iter_mut().map(|r| &mut r.fact))
            .await?;
        Ok(write)
    }

    async fn current_facts(&self, tenant: &TenantId, user: &UserId) -> Result<FactSnapshot> {
        let mut snapshot = self.inner_store().current_facts(tenant, user).await?;
        self.sealer.open_facts(tenant, &mut snapshot.facts).await?;
        Ok(snapshot)
    }

    async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<Vec<Fact>> {
        let mut facts = self.inner_store().facts_as_of(tenant, user, at).await?;
        self.sealer.open_facts(tenant, &mut facts).await?;
        Ok(facts)
    }

    async fn fact_history(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
    ) -> Result<Vec<Fact>> {
        let mut facts = self.inner_store().fact_history(tenant, user, key).await?;
        self.sealer.open_facts(tenant, &mut facts).await?;
        Ok(facts)
    }

    async fn invalidate_fact(
        &self,
        tenant: &TenantId,
        user: &UserId,
        key: &FactKey,
        at: Timestamp,
    ) -> Result<FactWrite<Fact>> {
        let mut write = self
            .inner_store()
            .invalidate_fact(tenant, user, key, at)
            .await?;
        self.sealer
            .open_facts(tenant, std::iter::once(&mut write.value))
            .await?;
        Ok(write)
    }

    async fn all_facts(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Fact>> {
        let mut facts = self.inner_store().all_facts(tenant, user).await?;
        self.sealer.open_facts(tenant, &mut facts).await?;
        Ok(facts)
    }
}

impl<C: ColdStore> SummaryStore for SealedCold<C> {
    async fn put_summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        summary: &Summary,
    ) -> Result<()> {
        if !self.encrypts() {
            return self
                .inner_store()
                .put_summary(tenant, conversation, summary)
                .await;
        }
        let user = match self.owner(tenant, conversation, false).await {
            Ok(user) => user,
            // No conversation: the store would store nothing.
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error),
        };
        let mut sealed = summary.clone();
        let texts = sealed.items.iter_mut().map(|i| &mut i.sentence).collect();
        self.sealer
            .seal(tenant, &user, Field::Summary, texts, true)
            .await?;
        self.inner_store()
            .put_summary(tenant, conversation, &sealed)
            .await
    }

    async fn summary(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Summary>> {
        let mut summary = self.inner_store().summary(tenant, conversation).await?;
        if let Some(s) = &mut summary {
            self.open_summary_of(tenant, conversation, s).await?;
        }
        Ok(summary)
    }

    async fn user_summaries(
        &self,
        tenant: &TenantId,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<(ConversationId, Summary)>> {
        let mut summaries = self
            .inner_store()
            .user_summaries(tenant, user, limit)
            .await?;
        for (_, summary) in &mut summaries {
            self.sealer.open_summary(tenant, user, summary).await?;
        }
        Ok(summaries)
    }
}

impl<C: ColdStore> OutboxQueue for SealedCold<C> {
    delegate::delegate! {
        to self.inner_store() {
            async fn queue_reindex(&self, tenant: &TenantId, index: &str, now: Timestamp) -> Result<u64>;
            async fn index_caught_up(&self, tenant: &TenantId, index: &str) -> Result<bool>;
            async fn outbox_tenants(&self) -> Result<Vec<TenantId>>;
            async fn claim_outbox(
                &self,
                tenant: &TenantId,
                limit: usize,
                now: Timestamp,
                lease_until: Timestamp,
            ) -> Result<Vec<OutboxJob>>;
            async fn finish_outbox(&self, tenant: &TenantId, ids: &[u64]) -> Result<()>;
            async fn defer_outbox(
                &self,
                tenant: &TenantId,
                ids: &[u64],
                not_before: Timestamp,
            ) -> Result<()>;
            async fn outbox_stats(&self, tenant: &TenantId) -> Result<OutboxStats>;
        }
    }
}

impl<C: ColdStore> HandoverStore for SealedCold<C> {
    delegate::delegate! {
        to self.inner_store() {
            async fn handover_jobs_queued(&self, tenant: &TenantId) -> Result<u64>;
            async fn handover_job_tenants(&self) -> Result<Vec<TenantId>>;
            async fn defer_handover_job(
                &self,
                tenant: &TenantId,
                handover: &engram_domain::ids::HandoverId,
                not_before: Timestamp,
            ) -> Result<()>;
        }
    }

    async fn start_handover(
        &self,
        tenant: &TenantId,
        mut handover: NewHandover,
    ) -> Result<Handover> {
        if self.encrypts() {
            let user = self.owner(tenant, &handover.conversation_id, false).await?;
            self.sealer
                .seal(
                    tenant,
                    &user,
                    Field::Handover,
                    vec![&mut handover.reason],
                    true,
                )
                .await?;
        }
        let mut started = self.inner_store().start_handover(tenant, handover).await?;
        self.sealer.open_handover(tenant, &mut started).await?;
        Ok(started)
    }

    async fn end_handover(&self, tenant: &TenantId, mut end: HandoverEnd) -> Result<Handover> {
        if self.encrypts() {
            let user = self.owner(tenant, &end.conversation_id, false).await?;
            self.sealer
                .seal(tenant, &user, Field::Handover, vec![&mut end.notes], true)
                .await?;
        }
        let mut ended = self.inner_store().end_handover(tenant, end).await?;
        self.sealer.open_handover(tenant, &mut ended).await?;
        Ok(ended)
    }

    async fn handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Handover>> {
        let mut handover = self.inner_store().handover(tenant, conversation).await?;
        if let Some(h) = &mut handover {
            self.sealer.open_handover(tenant, h).await?;
        }
        Ok(handover)
    }

    async fn claim_handover_jobs(
        &self,
        tenant: &TenantId,
        limit: usize,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<Handover>> {
        let mut jobs = self
            .inner_store()
            .claim_handover_jobs(tenant, limit, now, lease_until)
            .await?;
        for job in &mut jobs {
            self.sealer.open_handover(tenant, job).await?;
        }
        Ok(jobs)
    }

    async fn finish_handover_job(
        &self,
        tenant: &TenantId,
        handover: &Handover,
        summary: &HandoverSummary,
    ) -> Result<bool> {
        let mut sealed = summary.clone();
        self.sealer
            .seal(
                tenant,
                &handover.user_id,
                Field::Handover,
                handover_summary_texts(&mut sealed),
                true,
            )
            .await?;
        self.inner_store()
            .finish_handover_job(tenant, handover, &sealed)
            .await
    }
}

impl<C: ColdStore> ComplianceStore for SealedCold<C> {
    delegate::delegate! {
        to self.inner_store() {
            async fn user_residue(
                &self,
                tenant: &TenantId,
                user: &UserId,
                conversations: &[ConversationId],
            ) -> Result<u64>;
            async fn append_audit(
                &self,
                tenant: &TenantId,
                entry: NewAuditEntry,
                at: Timestamp,
            ) -> Result<AuditEntry>;
            async fn audit_entries(
                &self,
                tenant: &TenantId,
                after_seq: u64,
                limit: usize,
            ) -> Result<Vec<AuditEntry>>;
            async fn audit_head(&self, tenant: &TenantId) -> Result<Option<(u64, Vec<u8>)>>;
            async fn put_retention_policy(
                &self,
                tenant: &TenantId,
                policy: &RetentionPolicy,
            ) -> Result<()>;
            async fn retention_policies(&self, tenant: &TenantId) -> Result<Vec<RetentionPolicy>>;
            async fn set_legal_hold(&self, tenant: &TenantId, user: &UserId, hold: bool) -> Result<()>;
            async fn retention_tenants(&self) -> Result<Vec<TenantId>>;
            async fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<UserId>>;
            async fn expired_conversations(
                &self,
                tenant: &TenantId,
                before: Timestamp,
                after: Option<&ConversationId>,
                limit: usize,
            ) -> Result<Vec<Conversation>>;
        }
    }

    async fn erase_user(&self, tenant: &TenantId, user: &UserId) -> Result<ColdErasure> {
        let erasure = self.inner_store().erase_user(tenant, user).await?;
        self.forget_owners(tenant, &erasure.conversations);
        if let Some(keys) = &self.sealer.keys {
            keys.forget(tenant, user.as_str());
        }
        Ok(erasure)
    }

    async fn anonymize_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        last_seq: u64,
        mut contents: Vec<(u64, String)>,
    ) -> Result<bool> {
        if self.encrypts() {
            let user = match self.owner(tenant, conversation, false).await {
                Ok(user) => user,
                // Gone since it was read: changed, nothing written.
                Err(Error::NotFound { .. }) => return Ok(false),
                Err(error) => return Err(error),
            };
            let texts = contents.iter_mut().map(|(_, c)| c).collect();
            self.sealer
                .seal(tenant, &user, Field::MessageContent, texts, true)
                .await?;
        }
        self.inner_store()
            .anonymize_conversation(tenant, conversation, last_seq, contents)
            .await
    }
}

impl<C: ColdStore> KeyStore for SealedCold<C> {
    delegate::delegate! {
        to self.inner_store() {
            async fn data_key(&self, tenant: &TenantId, subject: &str) -> Result<Option<WrappedKey>>;
            async fn insert_data_key(
                &self,
                tenant: &TenantId,
                subject: &str,
                key: WrappedKey,
            ) -> Result<WrappedKey>;
            async fn rewrap_data_key(
                &self,
                tenant: &TenantId,
                subject: &str,
                previous_master: &str,
                key: WrappedKey,
            ) -> Result<bool>;
        }
    }
}

impl<C: ColdStore> ColdStore for SealedCold<C> {
    delegate::delegate! {
        to self.inner_store() {
            async fn tenants(&self) -> Result<Vec<TenantId>>;
            async fn memory_stats(&self, tenant: &TenantId, max_users: usize) -> Result<MemoryStats>;
            async fn ping(&self) -> Result<()>;
        }
    }
}

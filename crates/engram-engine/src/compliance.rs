//! Data-subject rights, retention and the audit log over the ports.
//!
//! Erasure order matters: the user's cache entries are fenced first (a
//! fence at the highest revision refuses every later read-repair, here and,
//! through the invalidation bus, in every sidecar's near-cache), then the
//! cold store erases in one transaction, then the index drops the user's
//! points — the indexer re-checks the conversation after each upsert, so a
//! job that was embedding during the erasure removes what it wrote — and
//! each tier is read back to verify that nothing is left.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use engram_domain::audit::{AuditEntry, NewAuditEntry, Verification, Verifier};
use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Conversation, ConversationCursor};
use engram_domain::ports::{ColdStore, Embedder, HotTier, SemanticIndex};
use engram_domain::retention::RetentionAction;
use engram_domain::retention::{RetentionPolicy, RetentionReport, effective};
use engram_domain::time::Timestamp;
use engram_rules::compliance::{Masking, anonymize};
use engram_rules::pii::detect;

use super::{Engine, messages_since};

/// Audit entries read per page.
const AUDIT_PAGE: usize = 1_000;
/// Conversations read per page.
const PAGE: usize = 200;
/// Read-backs of the index after an erasure before reporting residue.
const INDEX_CHECKS: u32 = 5;

/// One record of a subject export: its kind and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectRecord {
    pub kind: &'static str,
    pub json: String,
}

/// What an erasure removed from one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierErasure {
    pub tier: &'static str,
    pub removed: u64,
    /// A read-back after the erasure found nothing left.
    pub verified: bool,
}

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    /// Appends an entry to the tenant's audit log, stamped now.
    pub async fn audit(&self, tenant: &TenantId, entry: NewAuditEntry) -> Result<AuditEntry> {
        self.cold
            .append_audit(tenant, entry, Timestamp::now())
            .await
    }

    /// Reads the whole audit chain and checks every link and the head.
    pub async fn verify_audit(&self, tenant: &TenantId) -> Result<Verification> {
        let head = self.cold.audit_head(tenant).await?;
        let mut verifier = Verifier::default();
        let mut after = 0;
        loop {
            let page = self.cold.audit_entries(tenant, after, AUDIT_PAGE).await?;
            for entry in &page {
                if !verifier.check(entry) {
                    return Ok(verifier.finish(None));
                }
            }
            match page.last() {
                Some(last) if page.len() == AUDIT_PAGE => after = last.seq,
                _ => break,
            }
        }
        Ok(verifier.finish(head.as_ref().map(|(s, h)| (*s, h.as_slice()))))
    }

    async fn user_conversations(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<Conversation>> {
        let mut out: Vec<Conversation> = Vec::new();
        loop {
            let cursor = out.last().map(|c| ConversationCursor {
                updated_at: c.updated_at,
                conversation_id: c.conversation_id.clone(),
            });
            let page = self
                .cold
                .list_conversations(tenant, user, cursor.as_ref(), PAGE)
                .await?;
            let full = page.len() == PAGE;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// Sends everything held on a user, record by record: conversations,
    /// their messages, running summaries and last handover; every version
    /// of every fact; the audit entries that name the user's pseudonym
    /// (`subject`). Stops early when the receiver goes away.
    pub async fn export_subject(
        &self,
        tenant: &TenantId,
        user: &UserId,
        subject: &str,
        out: mpsc::Sender<Result<SubjectRecord>>,
    ) {
        if let Err(error) = self.export_into(tenant, user, subject, &out).await {
            let _ = out.send(Err(error)).await;
        }
    }

    async fn export_into(
        &self,
        tenant: &TenantId,
        user: &UserId,
        subject: &str,
        out: &mpsc::Sender<Result<SubjectRecord>>,
    ) -> Result<()> {
        async fn send<T: Serialize>(
            out: &mpsc::Sender<Result<SubjectRecord>>,
            kind: &'static str,
            value: &T,
        ) -> Result<()> {
            let json = serde_json::to_string(value)
                .map_err(|e| Error::Internal(format!("encoding an export record: {e}")))?;
            out.send(Ok(SubjectRecord { kind, json }))
                .await
                .map_err(|_| Error::Internal("export receiver gone".into()))
        }
        for conversation in self.user_conversations(tenant, user).await? {
            let id = &conversation.conversation_id;
            send(out, "conversation", &conversation).await?;
            for message in messages_since(self.cold.as_ref(), tenant, id, 0, 0).await? {
                send(out, "message", &message).await?;
            }
            if let Some(summary) = self.cold.summary(tenant, id).await? {
                send(out, "summary", &summary).await?;
            }
            if let Some(handover) = self.cold.handover(tenant, id).await? {
                send(out, "handover", &handover).await?;
            }
        }
        for fact in self.cold.all_facts(tenant, user).await? {
            send(out, "fact", &fact).await?;
        }
        let mut after = 0;
        loop {
            let page = self.cold.audit_entries(tenant, after, AUDIT_PAGE).await?;
            for entry in page.iter().filter(|e| e.entry.subject == subject) {
                send(out, "audit", entry).await?;
            }
            match page.last() {
                Some(last) if page.len() == AUDIT_PAGE => after = last.seq,
                _ => return Ok(()),
            }
        }
    }

    /// Erases a user from every tier and reports, per tier, what was
    /// removed and whether a read-back found nothing left.
    pub async fn erase_subject(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<TierErasure>> {
        let known = self.user_conversations(tenant, user).await?;
        let mut cached = 0;
        let mut fenced = true;
        for c in &known {
            cached += u64::from(matches!(
                self.hot.recent(tenant, &c.conversation_id).await,
                Ok(Some(_))
            ));
            fenced &= self
                .hot
                .fence_conversation(tenant, &c.conversation_id, u64::MAX)
                .await
                .is_ok();
        }
        cached += u64::from(matches!(self.hot.facts(tenant, user).await, Ok(Some(_))));
        fenced &= self.hot.fence_facts(tenant, user, u64::MAX).await.is_ok();

        let cold = self.cold.erase_user(tenant, user).await?;
        // Conversations created between the listing and the erasure.
        let known_ids: HashSet<&ConversationId> =
            known.iter().map(|c| &c.conversation_id).collect();
        for c in cold.conversations.iter().filter(|c| !known_ids.contains(c)) {
            fenced &= self
                .hot
                .fence_conversation(tenant, c, u64::MAX)
                .await
                .is_ok();
        }

        // The previous model's index too, while it answers.
        let indexes: Vec<&I> = std::iter::once(self.index.as_ref())
            .chain(self.previous.as_ref().map(|p| p.index.as_ref()))
            .collect();
        let mut points = 0;
        for index in &indexes {
            points += index.delete_user(tenant, user).await?;
        }
        let mut index_clean = false;
        for attempt in 0..INDEX_CHECKS {
            let mut left = 0;
            for index in &indexes {
                left += index.count_user(tenant, user).await?;
            }
            if left == 0 {
                index_clean = true;
                break;
            }
            // An indexing job that was embedding during the erasure wrote
            // after the delete: remove again.
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            points += self.index.delete_user(tenant, user).await?;
        }

        let residue = self
            .cold
            .user_residue(tenant, user, &cold.conversations)
            .await?;
        let mut hot_clean = fenced;
        for c in &cold.conversations {
            hot_clean &= matches!(self.hot.recent(tenant, c).await, Ok(None));
        }
        hot_clean &= matches!(self.hot.facts(tenant, user).await, Ok(None));

        let mut tiers = vec![
            TierErasure {
                tier: "cold",
                removed: cold.records(),
                verified: residue == 0,
            },
            TierErasure {
                tier: "outbox",
                removed: cold.outbox_jobs,
                verified: residue == 0,
            },
            TierErasure {
                tier: "hot",
                removed: cached,
                verified: hot_clean,
            },
            TierErasure {
                tier: "semantic",
                removed: points,
                verified: index_clean,
            },
        ];
        if self.hot.reaches_near_caches() {
            // Every sidecar fenced its near-cache on the announcements; one
            // that could not be announced is queued and replayed, and a
            // sidecar that missed it distrusts its near-cache until it has
            // resubscribed.
            tiers.push(TierErasure {
                tier: "near_cache",
                removed: cold.conversations.len().max(known.len()) as u64 + 1,
                verified: fenced,
            });
        }
        Ok(tiers)
    }

    /// Creates or replaces a retention policy.
    pub async fn put_retention_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<()> {
        if policy.action == RetentionAction::Archive {
            return Err(Error::FailedPrecondition(
                "retention action archive needs an archive tier, which engram does not have yet; \
                 use delete or anonymize"
                    .into(),
            ));
        }
        self.cold.put_retention_policy(tenant, policy).await
    }

    /// Tenants that have a retention policy (the scheduled sweeps' list).
    pub async fn retention_tenants(&self) -> Result<Vec<TenantId>> {
        self.cold.retention_tenants().await
    }

    /// Places or releases a legal hold.
    pub async fn set_legal_hold(&self, tenant: &TenantId, user: &UserId, hold: bool) -> Result<()> {
        self.cold.set_legal_hold(tenant, user, hold).await
    }

    /// Applies the tenant's retention policy to conversations idle since
    /// before its cutoff (or, `dry_run`, counts what it would do). Nothing
    /// happens without a policy; users under a legal hold are skipped.
    pub async fn run_retention(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        masking: &Masking,
        dry_run: bool,
    ) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let policies = self.cold.retention_policies(tenant).await?;
        let Some(policy) = effective(&policies).cloned() else {
            return Ok(report);
        };
        let held: HashSet<UserId> = self.cold.legal_holds(tenant).await?.into_iter().collect();
        let cutoff = Timestamp(
            now.0
                .saturating_sub(i64::from(policy.retention_days) * 86_400_000_000),
        );
        let mut after: Option<ConversationId> = None;
        loop {
            let page = self
                .cold
                .expired_conversations(tenant, cutoff, after.as_ref(), PAGE)
                .await?;
            for c in &page {
                if held.contains(&c.user_id) {
                    report.held += c.message_count;
                    continue;
                }
                let done = match (policy.action, dry_run) {
                    (_, true) => true,
                    (RetentionAction::Delete, false) => {
                        self.delete_conversation(tenant, &c.conversation_id)
                            .await
                            .map(drop)
                            .or_else(|e| match e {
                                Error::NotFound { .. } => Ok(()),
                                e => Err(e),
                            })?;
                        true
                    }
                    (RetentionAction::Anonymize, false) => {
                        self.anonymize_conversation(tenant, c, masking).await?
                    }
                    (RetentionAction::Archive, false) => false,
                };
                if done {
                    match policy.action {
                        RetentionAction::Delete => report.deleted += c.message_count,
                        RetentionAction::Anonymize => report.anonymized += c.message_count,
                        RetentionAction::Archive => report.archived += c.message_count,
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.conversation_id.clone()),
                _ => return Ok(report),
            }
        }
    }

    /// Masks the PII of every message of a conversation; false when it
    /// changed meanwhile (the next run takes it again).
    async fn anonymize_conversation(
        &self,
        tenant: &TenantId,
        conversation: &Conversation,
        masking: &Masking,
    ) -> Result<bool> {
        let id = &conversation.conversation_id;
        let messages = messages_since(self.cold.as_ref(), tenant, id, 0, 0).await?;
        let contents = messages
            .into_iter()
            .filter_map(|m| {
                let findings = detect(&m.content);
                (!findings.is_empty()).then(|| (m.seq, anonymize(&m.content, &findings, masking)))
            })
            .collect();
        let done = self
            .cold
            .anonymize_conversation(tenant, id, conversation.last_seq, contents)
            .await?;
        if done {
            // The cached window holds the content as it was: one revision
            // up refuses it until it is read again from the cold store.
            if let Err(error) = self
                .hot
                .fence_conversation(tenant, id, conversation.last_seq + 1)
                .await
            {
                Self::note_hot_failure(tenant, "fence_conversation", &error);
            }
            self.indexer.hint(tenant);
        }
        Ok(done)
    }
}

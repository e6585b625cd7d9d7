//! HandoverService's paths: start, operator events, end, state; and the
//! worker that writes the summaries of ended handovers.
//!
//! Ending a handover queues its summary job in the same cold-store
//! transaction, so a crash between the end and the summary loses nothing:
//! the worker (of this sidecar, of another, or of this one restarted)
//! claims the job under a lease, writes the summary (the language model's,
//! or the extractive one when there is none or it fails), and stores it
//! with a conditional write, so a handover gets one summary even when a
//! lease expired under a slow worker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use engram_backoff::Backoff;
use engram_context::handover as h;
use engram_context::summary::{LLM_INPUT_TOKENS, transcript};
use engram_domain::error::{Error, Result};
use engram_domain::handover::{
    HANDOVER_KEY, Handover, HandoverEnd, HandoverSummary, HumanAction, MAX_KIND_LEN, NewHandover,
    RESERVED_PREFIX, Resolution,
};
use engram_domain::ids::{ConversationId, HandoverId, MessageId, OperatorId, TenantId};
use engram_domain::limits::{MAX_CONTENT_BYTES, MAX_REASON_BYTES, check_text};
use engram_domain::model::Role;
use engram_domain::ports::{ColdStore, Embedder, HotTier, LanguageModel, SemanticIndex};
use engram_domain::summary::Vertical;
use engram_domain::time::Timestamp;

use super::summarize::{EXTRACTIVE, Written, write};
use super::{Engine, MessageDraft};

/// Jobs claimed at once.
const CLAIM: usize = 8;
/// When a failed job is tried again: from its first retry, doubling, jittered.
const RETRY: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

/// Summary job settings.
#[derive(Debug, Clone)]
pub struct HandoverJobConfig {
    /// How often every tenant is checked for jobs this sidecar was not
    /// told about (another sidecar's, a crashed run's, retries).
    pub sweep: Duration,
    /// How long a claimed job is reserved for this worker: longer than a
    /// summary takes (the language model's timeout included).
    pub lease: Duration,
}

impl Default for HandoverJobConfig {
    fn default() -> Self {
        Self {
            sweep: Duration::from_secs(2),
            lease: Duration::from_secs(60),
        }
    }
}

/// An operator's message or action, as RecordOperatorEvent receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorEvent {
    /// Makes a retry idempotent: the event's message id.
    pub event_id: Option<MessageId>,
    pub kind: String,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    /// When it happened; now when unset.
    pub occurred_at: Option<Timestamp>,
}

/// Talks to the summary worker, and tells watchers about changes.
#[derive(Debug, Clone)]
pub(crate) struct Handovers {
    wake: Arc<Notify>,
    changes: broadcast::Sender<(TenantId, ConversationId)>,
}

impl Handovers {
    fn changed(&self, tenant: &TenantId, conversation: &ConversationId) {
        let _ = self.changes.send((tenant.clone(), conversation.clone()));
    }
}

pub(crate) fn spawn<C: ColdStore>(
    cold: Arc<C>,
    model: Option<Arc<dyn LanguageModel>>,
    llm_timeout: Duration,
    vertical: Vertical,
    config: HandoverJobConfig,
) -> (Handovers, JoinHandle<()>) {
    let handovers = Handovers {
        wake: Arc::new(Notify::new()),
        changes: broadcast::channel(1024).0,
    };
    let worker = Worker {
        cold,
        model,
        llm_timeout,
        vertical,
        config,
        handovers: handovers.clone(),
        failures: HashMap::new(),
    };
    let task = tokio::spawn(worker.run());
    (handovers, task)
}

fn check_kind(kind: &str) -> Result<()> {
    let ok = !kind.is_empty()
        && kind.len() <= MAX_KIND_LEN
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "action.kind",
            format!("must match [a-z0-9_.-]{{1,{}}}", MAX_KIND_LEN),
        ))
    }
}

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    /// Records that `operator` took the conversation over: the AI is paused
    /// on it until the handover ends.
    pub async fn start_handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        operator: OperatorId,
        reason: String,
    ) -> Result<Handover> {
        check_text("reason", &reason, MAX_REASON_BYTES, false)?;
        let handover = self
            .cold
            .start_handover(
                tenant,
                NewHandover {
                    handover_id: HandoverId::generate(),
                    conversation_id: conversation.clone(),
                    operator_id: operator,
                    reason,
                    started_at: Timestamp::now(),
                },
            )
            .await?;
        self.handovers.changed(tenant, conversation);
        Ok(handover)
    }

    /// Records an operator's message or action: a message of the
    /// conversation with role `operator`, durable before this returns (and
    /// in the hot tier, like any append). A retry with the same event id
    /// returns the stored event.
    pub async fn record_operator_event(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        handover: &HandoverId,
        event: OperatorEvent,
    ) -> Result<HumanAction> {
        check_kind(&event.kind)?;
        check_text(
            "action.description",
            &event.description,
            MAX_CONTENT_BYTES,
            true,
        )?;
        if let Some(key) = event
            .metadata
            .keys()
            .find(|k| k.starts_with(RESERVED_PREFIX))
        {
            return Err(Error::invalid(
                "action.metadata",
                format!("key {key:?}: keys starting with \"engram.\" are reserved"),
            ));
        }
        let current = self.active_handover(tenant, conversation, handover).await?;
        let outcome = self
            .append(
                tenant,
                conversation,
                &current.user_id,
                vec![MessageDraft {
                    message_id: event.event_id,
                    role: Role::Operator,
                    content: event.description,
                    created_at: event.occurred_at,
                    metadata: h::event_metadata(handover, &event.kind, event.metadata),
                }],
            )
            .await?;
        let stored = outcome
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("an append returned no message".into()))?
            .message;
        self.handovers.changed(tenant, conversation);
        h::action_of(&stored, handover).ok_or_else(|| {
            // A retried event id that names a message of another kind.
            Error::AlreadyExists(format!(
                "event_id {} names a message that is not an event of handover {handover}",
                stored.message_id
            ))
        })
    }

    /// The handover, when it is the conversation's active one.
    async fn active_handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        handover: &HandoverId,
    ) -> Result<Handover> {
        match self.cold.handover(tenant, conversation).await? {
            Some(current) if current.handover_id == *handover && current.is_active() => Ok(current),
            Some(current) if current.handover_id == *handover => Err(Error::FailedPrecondition(
                format!("handover {handover} has ended"),
            )),
            Some(current) if current.is_active() => Err(Error::FailedPrecondition(format!(
                "handover {handover} is not the active one of conversation {conversation} ({})",
                current.handover_id
            ))),
            _ => {
                self.require_conversation(tenant, conversation).await?;
                Err(Error::FailedPrecondition(format!(
                    "conversation {conversation} has no active handover {handover}"
                )))
            }
        }
    }

    async fn require_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<()> {
        match self.cold.conversation(tenant, conversation).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound {
                what: "conversation",
                id: conversation.to_string(),
            }),
        }
    }

    /// Hands the conversation back to the AI and queues the summary job.
    pub async fn end_handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        handover: &HandoverId,
        resolution: Resolution,
        notes: String,
    ) -> Result<Handover> {
        check_text("notes", &notes, MAX_REASON_BYTES, false)?;
        let ended = self
            .cold
            .end_handover(
                tenant,
                HandoverEnd {
                    handover_id: handover.clone(),
                    conversation_id: conversation.clone(),
                    resolution,
                    notes,
                    ended_at: Timestamp::now(),
                },
            )
            .await?;
        self.handovers.wake.notify_one();
        self.handovers.changed(tenant, conversation);
        Ok(ended)
    }

    /// The active handover of a conversation, or else its last one;
    /// `NotFound` for an unknown conversation.
    pub async fn handover(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<Handover>> {
        let found = self.cold.handover(tenant, conversation).await?;
        if found.is_none() {
            self.require_conversation(tenant, conversation).await?;
        }
        Ok(found)
    }

    /// Changes of handovers made through this sidecar (a hint: watchers
    /// re-read the state, and poll for other sidecars' changes).
    pub fn handover_changes(&self) -> broadcast::Receiver<(TenantId, ConversationId)> {
        self.handovers.changes.subscribe()
    }
}

struct Worker<C> {
    cold: Arc<C>,
    model: Option<Arc<dyn LanguageModel>>,
    llm_timeout: Duration,
    vertical: Vertical,
    config: HandoverJobConfig,
    handovers: Handovers,
    /// Failed attempts per job, for the backoff.
    failures: HashMap<HandoverId, u32>,
}

impl<C: ColdStore> Worker<C> {
    async fn run(mut self) {
        let mut sweep = tokio::time::interval(self.config.sweep);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.handovers.wake.notified() => {}
                _ = sweep.tick() => {}
            }
            // The engine is gone when the worker holds the last handle:
            // its jobs wait in the cold store for the next sidecar.
            if Arc::strong_count(&self.handovers.wake) == 1 {
                debug!("handover worker stopped: the engine is gone");
                return;
            }
            let tenants: BTreeSet<TenantId> = match self.cold.handover_job_tenants().await {
                Ok(found) => found.into_iter().collect(),
                Err(error) => {
                    debug!(error = %error.redacted(), "handover job sweep failed");
                    continue;
                }
            };
            for tenant in tenants {
                self.drain(&tenant).await;
            }
        }
    }

    async fn drain(&mut self, tenant: &TenantId) {
        loop {
            let now = Timestamp::now();
            let jobs = match self
                .cold
                .claim_handover_jobs(tenant, CLAIM, now, now.plus(self.config.lease))
                .await
            {
                Ok(jobs) if jobs.is_empty() => return,
                Ok(jobs) => jobs,
                Err(error) => {
                    debug!(%tenant, error = %error.redacted(), "handover job claim failed");
                    return;
                }
            };
            for job in jobs {
                let id = job.handover_id.clone();
                let conversation = job.conversation_id.clone();
                match self.summarize(tenant, &job).await {
                    Ok(summary) => {
                        match self.cold.finish_handover_job(tenant, &job, &summary).await {
                            Ok(stored) => {
                                self.failures.remove(&id);
                                if !stored {
                                    debug!(%tenant, "a handover summary was already stored");
                                }
                                self.handovers.changed(tenant, &conversation);
                            }
                            Err(error) => self.defer(tenant, &id, &error).await,
                        }
                    }
                    Err(error) => self.defer(tenant, &id, &error).await,
                }
            }
        }
    }

    async fn defer(&mut self, tenant: &TenantId, id: &HandoverId, error: &Error) {
        let failures = self.failures.entry(id.clone()).or_insert(0);
        *failures += 1;
        let delay = RETRY.delay(*failures);
        warn!(%tenant, error = %error.redacted(), retry_in_ms = delay.as_millis() as u64, "handover summary failed");
        if let Err(error) = self
            .cold
            .defer_handover_job(tenant, id, Timestamp::now().plus(delay))
            .await
        {
            debug!(%tenant, error = %error.redacted(), "deferring a handover job failed");
        }
    }

    /// The summary of an ended handover, from its events and the
    /// messages exchanged while it lasted.
    async fn summarize(&self, tenant: &TenantId, job: &Handover) -> Result<HandoverSummary> {
        let ended = job.ended_at.unwrap_or(job.started_at);
        // What came after the end is not the handover's, but for its own
        // events (recorded while it was being ended).
        let mut messages = super::messages_since(
            self.cold.as_ref(),
            tenant,
            &job.conversation_id,
            job.start_seq,
            0,
        )
        .await?;
        messages.retain(|m| {
            m.created_at <= ended
                || m.metadata.get(HANDOVER_KEY).map(String::as_str)
                    == Some(job.handover_id.as_str())
        });
        let actions: Vec<HumanAction> = messages
            .iter()
            .filter_map(|m| h::action_of(m, &job.handover_id))
            .collect();
        let resolution = job.resolution.unwrap_or(Resolution::Pending);
        let extractive = h::resumption_context(
            job,
            &actions,
            &messages,
            self.vertical,
            h::RESUMPTION_TOKENS,
        );
        let written = if self.model.is_some() {
            // The model reads the latest messages that fit its input.
            let mut tokens = 0u64;
            let start = messages
                .iter()
                .rposition(|m| {
                    tokens += u64::from(m.tokens);
                    tokens > u64::from(LLM_INPUT_TOKENS)
                })
                .map_or(0, |i| i + 1);
            let prompt = h::llm_prompt(self.vertical, &extractive, &transcript(&messages[start..]));
            write(self.model.as_ref(), self.llm_timeout, &prompt, extractive).await
        } else {
            Written {
                text: extractive,
                summarizer: EXTRACTIVE.to_owned(),
                fell_back: false,
            }
        };
        Ok(HandoverSummary {
            ai_resumption_context: written.text,
            resolution,
            requires_followup: resolution.requires_followup(),
            human_actions: actions,
            summarizer: written.summarizer,
        })
    }
}

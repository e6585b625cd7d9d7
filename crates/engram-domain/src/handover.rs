//! Handovers: a human operator takes a conversation over from the AI and
//! hands it back. The records a store keeps; the summary the AI resumes
//! from is built in `engram-context`.
//!
//! What the operator does is stored as messages of the conversation with
//! role `operator` (so it is part of the history, durable and idempotent
//! like any message), tagged with the handover's id and the action's kind
//! in reserved metadata keys; the summary's human actions are read back
//! from them in order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, HandoverId, OperatorId, UserId};
use crate::time::Timestamp;

/// Metadata key of an operator message: the handover it belongs to.
pub const HANDOVER_KEY: &str = "engram.handover_id";
/// Metadata key of an operator message: the action's kind.
pub const ACTION_KEY: &str = "engram.action";
/// Reserved metadata prefix: clients may not set these keys.
pub const RESERVED_PREFIX: &str = "engram.";
/// The kind of an operator's message to the customer.
pub const MESSAGE_KIND: &str = "message";
/// Longest action kind, in bytes.
pub const MAX_KIND_LEN: usize = 64;

/// How the human left the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Resolved,
    Escalated,
    Pending,
    Transferred,
}

impl Resolution {
    /// Escalated and pending cases need someone to come back to them.
    pub fn requires_followup(self) -> bool {
        matches!(self, Resolution::Escalated | Resolution::Pending)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Resolved => "resolved",
            Resolution::Escalated => "escalated",
            Resolution::Pending => "pending",
            Resolution::Transferred => "transferred",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Resolution::Resolved,
            Resolution::Escalated,
            Resolution::Pending,
            Resolution::Transferred,
        ]
        .into_iter()
        .find(|r| r.as_str() == raw)
    }
}

/// Where the summary job of an ended handover is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting to be claimed (or to be retried).
    Queued,
    /// Leased by a worker.
    Running,
    /// The summary is stored.
    Done,
}

/// Something the operator did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanAction {
    /// An open set: message, note, tag, appointment_booked, refund_issued…
    pub kind: String,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    pub occurred_at: Timestamp,
}

/// The structured summary of an ended handover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverSummary {
    /// What the AI must know to continue.
    pub ai_resumption_context: String,
    pub resolution: Resolution,
    pub requires_followup: bool,
    /// In order.
    pub human_actions: Vec<HumanAction>,
    /// `"extractive"`, or the language model that wrote the context.
    pub summarizer: String,
}

/// A handover's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub handover_id: HandoverId,
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub operator_id: OperatorId,
    pub reason: String,
    pub started_at: Timestamp,
    /// The conversation's last sequence number when the human took over.
    pub start_seq: u64,
    pub ended_at: Option<Timestamp>,
    pub resolution: Option<Resolution>,
    pub notes: String,
    pub summary: Option<HandoverSummary>,
    /// Unset while the handover is active.
    pub job: Option<JobStatus>,
}

impl Handover {
    /// True while the human has the conversation: the AI must not answer.
    pub fn is_active(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// What StartHandover records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHandover {
    pub handover_id: HandoverId,
    pub conversation_id: ConversationId,
    pub operator_id: OperatorId,
    pub reason: String,
    pub started_at: Timestamp,
}

/// What EndHandover records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverEnd {
    pub handover_id: HandoverId,
    pub conversation_id: ConversationId,
    pub resolution: Resolution,
    pub notes: String,
    pub ended_at: Timestamp,
}

//! Proto ↔ domain conversions. Converting a request validates it: every
//! field is checked (ids, sizes, enums, limits) before the core sees it.

use std::collections::BTreeMap;

use engram_context::compose::Reason;
use engram_domain::error::{Error, Result};
use engram_domain::facts::canonical_json;
use engram_domain::handover::{Handover, HumanAction, JobStatus, Resolution};
use engram_domain::ids::{ConversationId, FactKey, MessageId, TenantId, UserId};
use engram_domain::limits::*;
use engram_domain::model::{
    Conversation, Fact, FactInput, FactSource, FactSourceKind, Message, PutFactResult, PutOutcome,
    Role,
};
use engram_domain::summary::Vertical;
use engram_domain::time::Timestamp;

use crate::pb;

pub fn tenant(raw: &str) -> Result<TenantId> {
    let tenant = TenantId::parse("tenant_id", raw)?;
    // The RPC's span and log line name their tenant.
    crate::traces::note_tenant(tenant.as_str());
    Ok(tenant)
}

pub fn conversation(raw: &str) -> Result<ConversationId> {
    ConversationId::parse("conversation_id", raw)
}

pub fn user(raw: &str) -> Result<UserId> {
    UserId::parse("user_id", raw)
}

pub fn optional<T>(raw: &str, parse: impl FnOnce(&str) -> Result<T>) -> Result<Option<T>> {
    if raw.is_empty() {
        Ok(None)
    } else {
        parse(raw).map(Some)
    }
}

pub fn timestamp(field: &str, ts: Option<&prost_types::Timestamp>) -> Result<Option<Timestamp>> {
    ts.map(|ts| {
        if !(0..1_000_000_000).contains(&ts.nanos) {
            return Err(Error::invalid(field, "nanos must be in [0, 1e9)"));
        }
        Timestamp::from_secs_nanos(ts.seconds, ts.nanos)
            .ok_or_else(|| Error::invalid(field, "is out of range"))
    })
    .transpose()
}

pub fn to_timestamp(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.secs(),
        nanos: t.subsec_nanos(),
    }
}

pub fn role(field: &str, raw: i32) -> Result<Role> {
    match pb::Role::try_from(raw) {
        Ok(pb::Role::User) => Ok(Role::User),
        Ok(pb::Role::Assistant) => Ok(Role::Assistant),
        Ok(pb::Role::System) => Ok(Role::System),
        Ok(pb::Role::Operator) => Ok(Role::Operator),
        Ok(pb::Role::Tool) => Ok(Role::Tool),
        Ok(pb::Role::Unspecified) | Err(_) => {
            let name = if raw == 0 {
                "ROLE_UNSPECIFIED (0)".into()
            } else {
                raw.to_string()
            };
            Err(Error::invalid(
                field,
                format!(
                    "{name} is not a role: use ROLE_USER, ROLE_ASSISTANT, ROLE_SYSTEM, \
                     ROLE_OPERATOR or ROLE_TOOL (a client that sends an unknown name, such as \
                     'USER' for ROLE_USER, sends 0)"
                ),
            ))
        }
    }
}

pub fn to_role(role: Role) -> pb::Role {
    match role {
        Role::User => pb::Role::User,
        Role::Assistant => pb::Role::Assistant,
        Role::System => pb::Role::System,
        Role::Operator => pb::Role::Operator,
        Role::Tool => pb::Role::Tool,
    }
}

/// A page size: 0 means the default; over the limit is refused.
pub fn page_size(field: &str, raw: u32, default: u32, max: u32) -> Result<usize> {
    match raw {
        0 => Ok(default as usize),
        n if n > max => Err(Error::invalid(
            field,
            format!("{n} is over the limit of {max}"),
        )),
        n => Ok(n as usize),
    }
}

pub use engram_domain::limits::check_text as text;

pub fn metadata(
    field: &str,
    raw: &std::collections::HashMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    if raw.len() > MAX_METADATA_ENTRIES {
        return Err(Error::too_many(field, raw.len(), MAX_METADATA_ENTRIES));
    }
    for (k, v) in raw {
        if k.is_empty() {
            return Err(Error::invalid(field, "keys may not be empty"));
        }
        check_no_nul(&format!("{field} key"), k)?;
        if k.len() > MAX_METADATA_KEY_BYTES {
            return Err(Error::too_large(
                format!("{field} key"),
                k.len(),
                MAX_METADATA_KEY_BYTES,
            ));
        }
        if v.len() > MAX_METADATA_VALUE_BYTES {
            return Err(Error::too_large(
                format!("{field}[{k:?}]"),
                v.len(),
                MAX_METADATA_VALUE_BYTES,
            ));
        }
        check_no_nul(&format!("{field}[{k:?}]"), v)?;
    }
    Ok(raw.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub fn message_id(field: &str, raw: &str) -> Result<Option<MessageId>> {
    optional(raw, |r| MessageId::parse(field, r))
}

pub fn vector(field: &str, raw: &[f32]) -> Result<Option<Vec<f32>>> {
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > MAX_VECTOR_DIM {
        return Err(Error::too_many(field, raw.len(), MAX_VECTOR_DIM));
    }
    if raw.iter().any(|x| !x.is_finite()) {
        return Err(Error::invalid(field, "must hold finite numbers"));
    }
    Ok(Some(raw.to_vec()))
}

pub fn to_message(m: Message) -> pb::Message {
    pb::Message {
        message_id: m.message_id.into_string(),
        conversation_id: m.conversation_id.into_string(),
        user_id: m.user_id.into_string(),
        seq: m.seq,
        role: to_role(m.role) as i32,
        content: m.content,
        created_at: Some(to_timestamp(m.created_at)),
        metadata: m.metadata.into_iter().collect(),
        importance: m.importance,
        tokens: m.tokens,
    }
}

pub fn to_conversation(c: Conversation) -> pb::Conversation {
    pb::Conversation {
        conversation_id: c.conversation_id.into_string(),
        user_id: c.user_id.into_string(),
        created_at: Some(to_timestamp(c.created_at)),
        updated_at: Some(to_timestamp(c.updated_at)),
        message_count: c.message_count,
        last_seq: c.last_seq,
    }
}

pub fn fact_key(field: &str, raw: &str) -> Result<FactKey> {
    FactKey::parse(field, raw)
}

pub fn fact_input(i: usize, raw: &pb::FactInput, now: Timestamp) -> Result<FactInput> {
    let field = |name: &str| format!("facts[{i}].{name}");
    let key = fact_key(&field("key"), &raw.key)?;
    if raw.value_json.len() > MAX_FACT_VALUE_BYTES {
        return Err(Error::too_large(
            field("value_json"),
            raw.value_json.len(),
            MAX_FACT_VALUE_BYTES,
        ));
    }
    let value = canonical_json(&field("value_json"), &raw.value_json)?;
    let valid_at = timestamp(&field("valid_at"), raw.valid_at.as_ref())?.unwrap_or(now);
    let source = match &raw.source {
        None => FactSource {
            kind: FactSourceKind::System,
            reference: String::new(),
        },
        Some(s) => {
            text(
                &field("source.reference"),
                &s.reference,
                MAX_REFERENCE_BYTES,
                false,
            )?;
            let kind = match pb::FactSourceKind::try_from(s.kind) {
                Ok(pb::FactSourceKind::Unspecified | pb::FactSourceKind::System) => {
                    FactSourceKind::System
                }
                Ok(pb::FactSourceKind::Message) => FactSourceKind::Message,
                Ok(pb::FactSourceKind::Operator) => FactSourceKind::Operator,
                Ok(pb::FactSourceKind::Extraction) => FactSourceKind::Extraction,
                Err(_) => {
                    return Err(Error::invalid(
                        field("source.kind"),
                        format!("{} is not a FactSourceKind", s.kind),
                    ));
                }
            };
            FactSource {
                kind,
                reference: s.reference.clone(),
            }
        }
    };
    // Unset (0) means certain.
    let confidence = if raw.confidence == 0.0 {
        1.0
    } else if (0.0..=1.0).contains(&raw.confidence) {
        raw.confidence
    } else {
        return Err(Error::invalid(field("confidence"), "must be in [0, 1]"));
    };
    Ok(FactInput {
        key,
        value,
        valid_at,
        source,
        confidence,
    })
}

fn to_source(source: FactSource) -> pb::FactSource {
    let kind = match source.kind {
        FactSourceKind::Message => pb::FactSourceKind::Message,
        FactSourceKind::Operator => pb::FactSourceKind::Operator,
        FactSourceKind::System => pb::FactSourceKind::System,
        FactSourceKind::Extraction => pb::FactSourceKind::Extraction,
    };
    pb::FactSource {
        kind: kind as i32,
        reference: source.reference,
    }
}

pub fn to_fact_input(f: FactInput) -> pb::FactInput {
    pb::FactInput {
        key: f.key.into_string(),
        value_json: f.value,
        valid_at: Some(to_timestamp(f.valid_at)),
        source: Some(to_source(f.source)),
        confidence: f.confidence,
    }
}

pub fn to_put_result(r: PutFactResult) -> pb::PutFactResult {
    pb::PutFactResult {
        outcome: to_outcome(r.outcome) as i32,
        fact: Some(to_fact(r.fact)),
    }
}

pub fn to_fact(f: Fact) -> pb::Fact {
    pb::Fact {
        user_id: f.user_id.into_string(),
        key: f.key.into_string(),
        value_json: f.value,
        valid_at: Some(to_timestamp(f.valid_at)),
        invalid_at: f.invalid_at.map(to_timestamp),
        source: Some(to_source(f.source)),
        confidence: f.confidence,
        recorded_at: Some(to_timestamp(f.recorded_at)),
        version: f.version,
    }
}

pub fn to_outcome(o: PutOutcome) -> pb::PutOutcome {
    match o {
        PutOutcome::Created => pb::PutOutcome::Created,
        PutOutcome::Superseded => pb::PutOutcome::Superseded,
        PutOutcome::Unchanged => pb::PutOutcome::Unchanged,
        PutOutcome::Historical => pb::PutOutcome::Historical,
    }
}

pub fn to_reason(r: Reason) -> pb::SelectionReason {
    match r {
        Reason::CurrentFact => pb::SelectionReason::CurrentFact,
        Reason::Recent => pb::SelectionReason::Recent,
        Reason::Relevant => pb::SelectionReason::Relevant,
        Reason::Neighbour => pb::SelectionReason::Neighbour,
    }
}

/// Page tokens are opaque to clients: a tag and the position, so that a
/// token of one RPC is not taken by another.
pub fn encode_token(tag: &str, parts: &[&str]) -> String {
    let mut s = String::from(tag);
    for p in parts {
        s.push('|');
        s.push_str(p);
    }
    s
}

pub fn decode_token<'a>(
    field: &str,
    tag: &str,
    raw: &'a str,
    parts: usize,
) -> Result<Vec<&'a str>> {
    let mut split = raw.split('|');
    let bad = || Error::invalid(field, "is not a page token of this request");
    if split.next() != Some(tag) {
        return Err(bad());
    }
    let rest: Vec<&str> = split.collect();
    if rest.len() != parts {
        return Err(bad());
    }
    Ok(rest)
}

/// A summary template; unspecified means general.
pub fn vertical(v: i32) -> Result<Vertical> {
    match pb::Vertical::try_from(v) {
        Ok(pb::Vertical::Unspecified | pb::Vertical::General) => Ok(Vertical::General),
        Ok(pb::Vertical::Medical) => Ok(Vertical::Medical),
        Ok(pb::Vertical::Dental) => Ok(Vertical::Dental),
        Ok(pb::Vertical::Legal) => Ok(Vertical::Legal),
        Err(_) => Err(Error::invalid("vertical", format!("{v} is not a Vertical"))),
    }
}

pub fn to_pb_vertical(v: Vertical) -> pb::Vertical {
    match v {
        Vertical::General => pb::Vertical::General,
        Vertical::Medical => pb::Vertical::Medical,
        Vertical::Dental => pb::Vertical::Dental,
        Vertical::Legal => pb::Vertical::Legal,
    }
}

pub fn resolution(raw: i32) -> Result<Resolution> {
    match pb::ResolutionStatus::try_from(raw) {
        Ok(pb::ResolutionStatus::Resolved) => Ok(Resolution::Resolved),
        Ok(pb::ResolutionStatus::Escalated) => Ok(Resolution::Escalated),
        Ok(pb::ResolutionStatus::Pending) => Ok(Resolution::Pending),
        Ok(pb::ResolutionStatus::Transferred) => Ok(Resolution::Transferred),
        Ok(pb::ResolutionStatus::Unspecified) | Err(_) => Err(Error::invalid(
            "resolution_status",
            format!(
                "{} is not a resolution status: use RESOLUTION_STATUS_RESOLVED, \
                 RESOLUTION_STATUS_ESCALATED, RESOLUTION_STATUS_PENDING or \
                 RESOLUTION_STATUS_TRANSFERRED",
                if raw == 0 {
                    "RESOLUTION_STATUS_UNSPECIFIED (0)".into()
                } else {
                    raw.to_string()
                }
            ),
        )),
    }
}

fn to_resolution(r: Resolution) -> pb::ResolutionStatus {
    match r {
        Resolution::Resolved => pb::ResolutionStatus::Resolved,
        Resolution::Escalated => pb::ResolutionStatus::Escalated,
        Resolution::Pending => pb::ResolutionStatus::Pending,
        Resolution::Transferred => pb::ResolutionStatus::Transferred,
    }
}

pub fn to_action(a: HumanAction) -> pb::HumanAction {
    pb::HumanAction {
        kind: a.kind,
        description: a.description,
        metadata: a.metadata.into_iter().collect(),
        occurred_at: Some(to_timestamp(a.occurred_at)),
    }
}

pub fn to_handover(h: Handover) -> pb::HandoverState {
    let active = h.is_active();
    let (operator, started, ended) = (h.operator_id.to_string(), h.started_at, h.ended_at);
    pb::HandoverState {
        handover_id: h.handover_id.into_string(),
        conversation_id: h.conversation_id.into_string(),
        operator_id: h.operator_id.into_string(),
        reason: h.reason,
        status: if active {
            pb::HandoverStatus::Active
        } else {
            pb::HandoverStatus::Ended
        } as i32,
        ai_paused: active,
        started_at: Some(to_timestamp(h.started_at)),
        ended_at: h.ended_at.map(to_timestamp),
        summary: h.summary.map(|s| pb::HandoverSummary {
            handover_occurred: true,
            ai_resumption_context: s.ai_resumption_context,
            resolution_status: to_resolution(s.resolution) as i32,
            requires_followup: s.requires_followup,
            human_actions: s.human_actions.into_iter().map(to_action).collect(),
            operator_id: operator,
            started_at: Some(to_timestamp(started)),
            ended_at: ended.map(to_timestamp),
            duration_seconds: ended.map_or(0, |e| {
                u64::try_from((e.0 - started.0) / 1_000_000).unwrap_or(0)
            }),
            summarizer: s.summarizer,
        }),
        summary_job_status: match h.job {
            None => pb::SummaryJobStatus::Unspecified,
            Some(JobStatus::Queued) => pb::SummaryJobStatus::Queued,
            Some(JobStatus::Running) => pb::SummaryJobStatus::Running,
            Some(JobStatus::Done) => pb::SummaryJobStatus::Done,
        } as i32,
    }
}

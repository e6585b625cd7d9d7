//! Handover resumption: the pure construction of the summary the AI
//! resumes from when a human operator hands a conversation back (the
//! records themselves are `engram_domain::handover`).

use std::collections::BTreeMap;

use engram_domain::handover::{
    ACTION_KEY, HANDOVER_KEY, Handover, HumanAction, MESSAGE_KIND, RESERVED_PREFIX, Resolution,
};
use engram_domain::ids::HandoverId;
use engram_domain::model::{Message, Role};
use engram_domain::ports::Prompt;
use engram_domain::summary::Vertical;
use engram_domain::time::Timestamp;
use engram_text::tokens::Tokenizer;

use crate::summary::summarize;

/// Tokens of the extractive resumption context at most.
pub const RESUMPTION_TOKENS: u32 = 600;

/// The metadata of an operator event's message: the client's keys and the
/// reserved ones.
pub fn event_metadata(
    handover: &HandoverId,
    kind: &str,
    mut metadata: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    metadata.insert(HANDOVER_KEY.to_owned(), handover.to_string());
    metadata.insert(ACTION_KEY.to_owned(), kind.to_owned());
    metadata
}

/// The action a message records, when it is an operator event of
/// `handover`.
pub fn action_of(message: &Message, handover: &HandoverId) -> Option<HumanAction> {
    if message.role != Role::Operator
        || message.metadata.get(HANDOVER_KEY).map(String::as_str) != Some(handover.as_str())
    {
        return None;
    }
    Some(HumanAction {
        kind: message
            .metadata
            .get(ACTION_KEY)
            .cloned()
            .unwrap_or_else(|| MESSAGE_KIND.to_owned()),
        description: message.content.clone(),
        metadata: message
            .metadata
            .iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        occurred_at: message.created_at,
    })
}

fn duration_text(from: Timestamp, to: Timestamp) -> String {
    let minutes = (to.0 - from.0).max(0) / 60_000_000;
    if minutes < 60 {
        format!("{minutes} min")
    } else {
        format!("{}h {:02}min", minutes / 60, minutes % 60)
    }
}

fn action_line(action: &HumanAction) -> String {
    let mut line = format!(
        "- {} {}: {}",
        &action.occurred_at.to_minute_string()[11..],
        action.kind,
        action.description
    );
    if !action.metadata.is_empty() {
        let details: Vec<String> = action
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        line.push_str(&format!(" ({})", details.join(", ")));
    }
    line
}

/// The deterministic resumption context of an ended handover: who took
/// over, why, for how long, the outcome and whether it needs follow-up,
/// the operator's notes, what the operator did (the latest actions when
/// they do not all fit) and what the customer said meanwhile (extractive),
/// within `max_tokens`.
pub fn resumption_context(
    handover: &Handover,
    actions: &[HumanAction],
    messages: &[Message],
    vertical: Vertical,
    max_tokens: u32,
) -> String {
    let tk = Tokenizer::STORED;
    let ended = handover.ended_at.unwrap_or(handover.started_at);
    let resolution = handover.resolution.unwrap_or(Resolution::Pending);
    let mut head = format!(
        "A human operator ({}) handled this conversation from {} to {} ({}). Reason: {}.\n\
         Outcome: {}. {}\n",
        handover.operator_id,
        handover.started_at.to_minute_string(),
        ended.to_minute_string(),
        duration_text(handover.started_at, ended),
        if handover.reason.is_empty() {
            "not given"
        } else {
            &handover.reason
        },
        resolution.as_str(),
        if resolution.requires_followup() {
            "Follow-up required: the case is not closed."
        } else {
            "No follow-up required."
        }
    );
    if !handover.notes.is_empty() {
        head.push_str(&format!("Operator's notes: {}\n", handover.notes));
    }
    let tail = "Continue from here: do not repeat what the operator already did or asked.";
    let mut used = tk.count(&head) + tk.count(tail);

    // The latest actions win when they do not all fit.
    let mut kept: Vec<String> = Vec::new();
    for action in actions.iter().rev() {
        let line = action_line(action);
        let cost = tk.count(&line) + 1;
        if used + cost > max_tokens * 3 / 4 {
            break;
        }
        used += cost;
        kept.push(line);
    }
    kept.reverse();
    let mut text = head;
    if !kept.is_empty() {
        text.push_str("What the operator did:\n");
        if kept.len() < actions.len() {
            text.push_str(&format!(
                "- ({} earlier actions left out)\n",
                actions.len() - kept.len()
            ));
        }
        for line in kept {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let customer: Vec<Message> = messages
        .iter()
        .filter(|m| m.role == Role::User)
        .cloned()
        .collect();
    let room = max_tokens.saturating_sub(used + 12);
    if !customer.is_empty() && room > 40 {
        let said = summarize(None, &customer, vertical, room);
        if !said.items.is_empty() {
            text.push_str("What the customer said meanwhile:\n");
            for item in &said.items {
                text.push_str("- ");
                text.push_str(&item.sentence);
                text.push('\n');
            }
        }
    }
    text.push_str(tail);
    text
}

/// The prompt asking a language model for the resumption context, given
/// the extractive one and the transcript of the handover.
pub fn llm_prompt(vertical: Vertical, extractive: &str, transcript: &str) -> Prompt {
    let business = match vertical {
        Vertical::General => "a business",
        Vertical::Medical => "a medical clinic",
        Vertical::Dental => "a dental office",
        Vertical::Legal => "a law firm",
    };
    let system = format!(
        "A human operator of {business} took over a conversation with a customer from an \
         AI agent and has handed it back. Write what the agent must know to continue: what \
         the customer wanted, what the operator did, decided and promised, the outcome, \
         and what is still open. Keep exactly as written: names, phone numbers, document \
         numbers, dates, times and amounts. Write in the language of the conversation, in \
         short bullet points. Never add anything the material does not say. At most \
         {RESUMPTION_TOKENS} tokens."
    );
    Prompt {
        system,
        user: format!(
            "Handover record:\n{extractive}\n\nTranscript of the handover:\n{transcript}"
        ),
        max_tokens: RESUMPTION_TOKENS,
    }
}

#[cfg(test)]
mod tests {
    use engram_domain::handover::JobStatus;
    use engram_domain::ids::{ConversationId, MessageId, OperatorId, UserId};

    use super::*;

    fn message(seq: u64, role: Role, content: &str, metadata: BTreeMap<String, String>) -> Message {
        Message {
            message_id: MessageId::parse("m", &format!("m{seq}")).unwrap(),
            conversation_id: ConversationId::parse("c", "c1").unwrap(),
            user_id: UserId::parse("u", "u1").unwrap(),
            seq,
            role,
            content: content.to_owned(),
            created_at: Timestamp(1_772_359_500_000_000 + seq as i64 * 60_000_000),
            metadata,
            importance: 0.5,
            tokens: 10,
        }
    }

    fn handover() -> Handover {
        Handover {
            handover_id: HandoverId::parse("h", "h1").unwrap(),
            conversation_id: ConversationId::parse("c", "c1").unwrap(),
            user_id: UserId::parse("u", "u1").unwrap(),
            operator_id: OperatorId::parse("o", "ana").unwrap(),
            reason: "refund request".to_owned(),
            started_at: Timestamp(1_772_359_500_000_000),
            start_seq: 0,
            ended_at: Some(Timestamp(1_772_359_500_000_000 + 75 * 60_000_000)),
            resolution: Some(Resolution::Escalated),
            notes: "Manager approval needed".to_owned(),
            summary: None,
            job: Some(JobStatus::Queued),
        }
    }

    #[test]
    fn actions_are_the_handovers_operator_messages() {
        let h = handover();
        let tagged = event_metadata(
            &h.handover_id,
            "refund_issued",
            BTreeMap::from([("amount".to_owned(), "R$ 150,00".to_owned())]),
        );
        let other = event_metadata(
            &HandoverId::parse("h", "h0").unwrap(),
            "note",
            BTreeMap::new(),
        );
        let messages = [
            message(
                1,
                Role::Operator,
                "Refund of R$ 150,00 issued",
                tagged.clone(),
            ),
            message(2, Role::Operator, "old handover", other),
            message(3, Role::User, "thanks", tagged),
        ];
        let actions: Vec<HumanAction> = messages
            .iter()
            .filter_map(|m| action_of(m, &h.handover_id))
            .collect();
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].kind, "refund_issued");
        assert_eq!(
            actions[0].metadata,
            BTreeMap::from([("amount".to_owned(), "R$ 150,00".to_owned())])
        );
    }

    #[test]
    fn the_resumption_context_says_who_why_what_and_what_is_open() {
        let h = handover();
        let actions = vec![HumanAction {
            kind: "appointment_booked".to_owned(),
            description: "Consulta marcada para 25/11 às 14h".to_owned(),
            metadata: BTreeMap::from([("doctor".to_owned(), "Dra. Ana".to_owned())]),
            occurred_at: Timestamp(1_772_359_500_000_000 + 10 * 60_000_000),
        }];
        let messages = [message(
            2,
            Role::User,
            "Sou alérgica a dipirona e prefiro horários à tarde.",
            BTreeMap::new(),
        )];
        let text = resumption_context(&h, &actions, &messages, Vertical::Medical, 600);
        for expected in [
            "(ana)",
            "1h 15min",
            "refund request",
            "Outcome: escalated",
            "Follow-up required",
            "Manager approval needed",
            "appointment_booked: Consulta marcada para 25/11 às 14h (doctor=Dra. Ana)",
            "alérgica a dipirona",
        ] {
            assert!(text.contains(expected), "{expected} missing from {text}");
        }
        assert!(Tokenizer::STORED.count(&text) <= 600);
    }

    #[test]
    fn many_actions_keep_the_latest_within_the_cap() {
        let h = handover();
        let actions: Vec<HumanAction> = (0..200)
            .map(|i| HumanAction {
                kind: "note".to_owned(),
                description: format!("step number {i} of the procedure was done"),
                metadata: BTreeMap::new(),
                occurred_at: Timestamp(1_772_359_500_000_000 + i * 1_000_000),
            })
            .collect();
        let text = resumption_context(&h, &actions, &[], Vertical::General, 300);
        assert!(Tokenizer::STORED.count(&text) <= 300, "{text}");
        assert!(text.contains("step number 199"));
        assert!(!text.contains("step number 0 "));
        assert!(text.contains("earlier actions left out"));
    }
}

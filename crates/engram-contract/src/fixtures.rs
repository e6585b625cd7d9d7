//! Fresh ids and ready-made domain values for the cases.

use std::sync::atomic::{AtomicU64, Ordering};

use engram_domain::ids::{ConversationId, FactKey, MessageId, TenantId, UserId};
use engram_domain::model::{FactInput, FactSource, FactSourceKind, NewMessage, Role};
use engram_domain::time::Timestamp;
use engram_text::tokens::{Tokenizer, render_message_parts};

/// A tenant id no other case (of this or a concurrent run) uses.
pub fn tenant() -> TenantId {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    TenantId::parse(
        "tenant_id",
        &format!("ct{}{:x}x{n}", std::process::id(), nanos % (1 << 40)),
    )
    .expect("valid tenant")
}

pub fn conversation(id: &str) -> ConversationId {
    ConversationId::parse("conversation_id", id).expect("valid conversation id")
}

pub fn user(id: &str) -> UserId {
    UserId::parse("user_id", id).expect("valid user id")
}

pub fn key(k: &str) -> FactKey {
    FactKey::parse("key", k).expect("valid key")
}

/// 2026-01-01T00:00:00Z plus `minutes`.
pub fn at(minutes: i64) -> Timestamp {
    Timestamp(1_767_225_600_000_000 + minutes * 60_000_000)
}

/// A message with a server-style (non-client) id.
pub fn message(role: Role, content: &str, minute: i64) -> NewMessage {
    let created_at = at(minute);
    NewMessage {
        message_id: MessageId::generate(),
        client_id: false,
        role,
        content: content.to_owned(),
        created_at,
        metadata: Default::default(),
        importance: 0.5,
        tokens: Tokenizer::STORED.count(&render_message_parts(created_at, role, content)),
    }
}

/// A message with a client-supplied id.
pub fn message_with_id(id: &str, role: Role, content: &str, minute: i64) -> NewMessage {
    NewMessage {
        message_id: MessageId::parse("message_id", id).expect("valid id"),
        client_id: true,
        ..message(role, content, minute)
    }
}

pub fn fact(k: &str, json: &str, valid_minute: i64) -> FactInput {
    FactInput {
        key: key(k),
        value: engram_domain::facts::canonical_json("value_json", json).expect("valid JSON"),
        valid_at: at(valid_minute),
        source: FactSource {
            kind: FactSourceKind::System,
            reference: "contract".into(),
        },
        confidence: 1.0,
    }
}

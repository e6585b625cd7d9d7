//! The serde forms of what the stores keep: the same structs are the
//! embedded store's records (redb), the Redis hot tier's values and the
//! export's rows. Renaming or adding a field changes all three at once,
//! and data already stored keeps the old form: this test fails first.
//! When it does, make the old form still read (`#[serde(alias)]`,
//! `#[serde(default)]`, or a migration), then update the form here.

use std::collections::BTreeMap;

use engram_domain::Timestamp;
use engram_domain::ids::{ConversationId, FactKey, MessageId, UserId};
use engram_domain::model::{Conversation, Fact, FactSource, FactSourceKind, Message, Role};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `value` serialises to `stored`, and `stored` reads back as `value`.
fn same_form<T>(value: &T, stored: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let now = serde_json::to_value(value).unwrap();
    let before: serde_json::Value = serde_json::from_str(stored).unwrap();
    assert_eq!(now, before, "the stored form changed: {now}");
    assert_eq!(&serde_json::from_str::<T>(stored).unwrap(), value);
}

#[test]
fn messages_conversations_and_facts_keep_their_stored_form() {
    let conversation = ConversationId::parse("c", "wa:5511/1").unwrap();
    let user = UserId::parse("u", "u1").unwrap();
    let message = Message {
        message_id: MessageId::parse("m", "wamid.1").unwrap(),
        conversation_id: conversation.clone(),
        user_id: user.clone(),
        seq: 3,
        role: Role::User,
        content: "oi".into(),
        created_at: Timestamp(1_700_000_000_000_000),
        metadata: BTreeMap::from([("channel".into(), "whatsapp".into())]),
        importance: 0.5,
        tokens: 9,
    };
    same_form(&message, MESSAGE);
    let meta = Conversation {
        conversation_id: conversation,
        user_id: user.clone(),
        created_at: Timestamp(1_700_000_000_000_000),
        updated_at: Timestamp(1_700_000_060_000_000),
        message_count: 3,
        last_seq: 3,
        total_tokens: 27,
    };
    same_form(&meta, CONVERSATION);
    let fact = Fact {
        user_id: user,
        key: FactKey::parse("k", "preferred_time").unwrap(),
        value: "\"mornings\"".into(),
        valid_at: Timestamp(1_700_000_000_000_000),
        invalid_at: None,
        source: FactSource {
            kind: FactSourceKind::Extraction,
            reference: "wamid.1".into(),
        },
        confidence: 0.75,
        recorded_at: Timestamp(1_700_000_000_000_000),
        version: 2,
    };
    same_form(&fact, FACT);
}

const MESSAGE: &str = r#"{"content":"oi","conversation_id":"wa:5511/1","created_at":1700000000000000,"importance":0.5,"message_id":"wamid.1","metadata":{"channel":"whatsapp"},"role":"user","seq":3,"tokens":9,"user_id":"u1"}"#;
const CONVERSATION: &str = r#"{"conversation_id":"wa:5511/1","created_at":1700000000000000,"last_seq":3,"message_count":3,"total_tokens":27,"updated_at":1700000060000000,"user_id":"u1"}"#;
const FACT: &str = r#"{"confidence":0.75,"invalid_at":null,"key":"preferred_time","recorded_at":1700000000000000,"source":{"kind":"extraction","reference":"wamid.1"},"user_id":"u1","valid_at":1700000000000000,"value":"\"mornings\"","version":2}"#;

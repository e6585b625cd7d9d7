//! What an earlier release left in Redis reads the same with this one:
//! during a rolling upgrade the new sidecars read the old ones' windows
//! and fact snapshots (and the old ones read theirs).
//!
//! `tests/fixtures/redis-2026-12.txt` holds the keys and values that
//! `write_fixture` wrote with the code of December 2026 (a conversation's
//! window, extended once, and a user's facts), one key per line:
//! `key TAB type TAB values as a JSON array`, the key prefix written as
//! `{PREFIX}`. The test loads them under a fresh prefix, writes the same
//! data with today's code under another, and reads both: every read must
//! agree. When it fails, make the old form still read rather than
//! rewriting the fixture; a release that changes a stored form on purpose
//! adds a fixture (`ENGRAM_WRITE_FIXTURE=NAME cargo test -p engram-redis
//! --test stored_data -- --ignored`) and keeps the old ones.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use engram_domain::ids::{ConversationId, FactKey, MessageId, TenantId, UserId};
use engram_domain::model::RecentWindow;
use engram_domain::model::{Conversation, Fact, FactSource, FactSourceKind, Message, Role};
use engram_domain::ports::{FactSnapshot, HotTier};
use engram_domain::time::Timestamp;
use engram_redis::{RedisConfig, RedisHotTier};
use engram_testrig::RedisServer;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// Every fixture a release wrote; each must still read.
const RELEASES: &[&str] = &["redis-2026-12.txt"];

fn tenant() -> TenantId {
    TenantId::parse("tenant_id", "fixture").unwrap()
}
fn user() -> UserId {
    UserId::parse("user_id", "u1").unwrap()
}
fn conversation() -> ConversationId {
    ConversationId::parse("conversation_id", "c1").unwrap()
}
/// 2026-12-01T00:00:00Z plus `minutes`.
fn at(minutes: i64) -> Timestamp {
    Timestamp(1_796_083_200_000_000 + minutes * 60_000_000)
}

fn message(seq: u64, role: Role, content: &str) -> Message {
    Message {
        message_id: MessageId::parse("message_id", &format!("m{seq}")).unwrap(),
        conversation_id: conversation(),
        user_id: user(),
        seq,
        role,
        content: content.to_owned(),
        created_at: at(seq as i64),
        metadata: BTreeMap::from([("channel".to_owned(), "whatsapp".to_owned())]),
        importance: 0.5,
        tokens: 10 + seq as u32,
    }
}

fn meta(last_seq: u64) -> Conversation {
    Conversation {
        conversation_id: conversation(),
        user_id: user(),
        created_at: at(1),
        updated_at: at(last_seq as i64),
        message_count: last_seq,
        last_seq,
        total_tokens: 40,
    }
}

async fn tier(server: &RedisServer, prefix: &str) -> RedisHotTier {
    let tier = RedisHotTier::connect(RedisConfig {
        url: server.url(),
        cluster: false,
        prefix: prefix.to_owned(),
        window: 50,
        hot_ttl: Duration::from_secs(600),
        warm_ttl: Duration::from_secs(600),
        command_timeout: Duration::from_secs(2),
        tls_ca: None,
    })
    .unwrap();
    tier.wait_connected(Duration::from_secs(10)).await.unwrap();
    tier
}

/// The data every fixture holds, written through the port.
async fn write(tier: &RedisHotTier) {
    let t = tenant();
    let window = RecentWindow {
        conversation: meta(2),
        messages: vec![
            message(1, Role::User, "Olá, quero remarcar a consulta"),
            message(2, Role::Assistant, "Claro! Qual horário prefere?"),
        ],
    };
    tier.put_recent(&t, window).await.unwrap();
    let third = message(3, Role::User, "De manhã, depois das 9h");
    tier.extend_recent(&t, &meta(3), &[third]).await.unwrap();
    let fact = Fact {
        user_id: user(),
        key: FactKey::parse("key", "preferred_time").unwrap(),
        value: "\"mornings\"".into(),
        valid_at: at(3),
        invalid_at: None,
        source: FactSource {
            kind: FactSourceKind::Message,
            reference: "c1#3".into(),
        },
        confidence: 0.9,
        recorded_at: at(4),
        version: 1,
    };
    let snapshot = FactSnapshot {
        rev: 2,
        facts: vec![fact],
    };
    tier.put_facts(&t, &user(), snapshot).await.unwrap();
}

async fn read(tier: &RedisHotTier) -> Vec<String> {
    vec![
        format!(
            "{:?}",
            tier.recent(&tenant(), &conversation()).await.unwrap()
        ),
        format!("{:?}", tier.facts(&tenant(), &user()).await.unwrap()),
    ]
}

/// Loads a fixture's keys under `prefix`.
fn load(server: &RedisServer, fixture: &str, prefix: &str) {
    for line in fixture.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.splitn(3, '\t');
        let (key, kind, values) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next(),
        );
        let key = key.replace("{PREFIX}", prefix);
        let values: Vec<String> = serde_json::from_str(values.unwrap()).unwrap();
        let command = match kind {
            "string" => "SET",
            "list" => "RPUSH",
            "hash" => "HSET",
            other => panic!("a fixture key of type {other}"),
        };
        let mut args = vec![command, key.as_str()];
        args.extend(values.iter().map(String::as_str));
        server.cli(&args).expect("the fixture loads");
        server
            .cli(&["EXPIRE", &key, "600"])
            .expect("EXPIRE answers");
    }
}

/// What the server holds under `prefix`, in the fixture's form.
fn dump(server: &RedisServer, prefix: &str) -> String {
    let pattern = format!("{prefix}:*");
    let keys = server.cli(&["--scan", "--pattern", &pattern]).unwrap();
    let mut keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
    keys.sort();
    let mut out = String::new();
    for key in keys {
        let kind = server.cli(&["TYPE", key]).unwrap().trim().to_owned();
        let raw = match kind.as_str() {
            "string" => server.cli(&["GET", key]),
            "list" => server.cli(&["LRANGE", key, "0", "-1"]),
            "hash" => server.cli(&["HGETALL", key]),
            other => panic!("a key of type {other}"),
        }
        .unwrap();
        let values: Vec<&str> = raw.lines().collect();
        let name = key.replacen(prefix, "{PREFIX}", 1);
        let values = serde_json::to_string(&values).unwrap();
        out.push_str(&format!("{name}\t{kind}\t{values}\n"));
    }
    out
}

#[tokio::test]
async fn values_written_by_earlier_releases_read_as_today_s_writes_do() {
    let server = engram_testrig::shared_server();
    let fresh = engram_testrig::unique_prefix();
    write(&tier(server, &fresh).await).await;
    let today = read(&tier(server, &fresh).await).await;
    for release in RELEASES {
        let fixture = std::fs::read_to_string(PathBuf::from(FIXTURES).join(release)).unwrap();
        let prefix = engram_testrig::unique_prefix();
        load(server, &fixture, &prefix);
        let then = read(&tier(server, &prefix).await).await;
        assert_eq!(then, today, "the {release} values read otherwise");
    }
}

#[tokio::test]
#[ignore = "writes a new fixture: once per release that changes a stored form"]
async fn write_fixture() {
    let name = std::env::var("ENGRAM_WRITE_FIXTURE").expect("ENGRAM_WRITE_FIXTURE=NAME");
    let path = PathBuf::from(FIXTURES).join(name);
    assert!(
        !path.exists(),
        "{} exists: fixtures are never rewritten",
        path.display()
    );
    let server = engram_testrig::shared_server();
    let prefix = engram_testrig::unique_prefix();
    write(&tier(server, &prefix).await).await;
    std::fs::create_dir_all(FIXTURES).unwrap();
    std::fs::write(&path, dump(server, &prefix)).unwrap();
}

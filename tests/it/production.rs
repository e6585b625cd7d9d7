//! The production tiers as users run them: several engram processes sharing
//! one Postgres and one Redis (standalone or cluster), all real servers
//! started by the test rig, including while those servers fail.
//! Long: one test per failure the production tiers must survive.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use crate::common::{Sidecar, eventually};
use engram::pb;
use engram_testrig::{
    PgDatabase, PrivatePostgres, RedisCluster, RedisServer, shared_cluster, unique_prefix,
};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

const TENANT: &str = "clinic";

fn flags(postgres: &str, redis: Option<&str>, prefix: &str) -> Vec<String> {
    let mut f = vec![
        "--postgres-url".into(),
        postgres.into(),
        "--redis-prefix".into(),
        prefix.into(),
    ];
    if let Some(redis) = redis {
        f.extend(["--redis-url".into(), redis.into()]);
    }
    f
}

fn cluster_url() -> String {
    format!(
        "redis-cluster://{}",
        shared_cluster().urls().replace("redis://", "")
    )
}

fn msg(id: &str, content: &str) -> pb::NewMessage {
    pb::NewMessage {
        message_id: id.into(),
        role: pb::Role::User as i32,
        content: content.into(),
        ..Default::default()
    }
}

fn append(conversation: &str, messages: Vec<pb::NewMessage>) -> pb::AppendMessagesRequest {
    pb::AppendMessagesRequest {
        tenant_id: TENANT.into(),
        conversation_id: conversation.into(),
        user_id: "u1".into(),
        messages,
    }
}

fn recent(conversation: &str) -> pb::GetRecentRequest {
    pb::GetRecentRequest {
        tenant_id: TENANT.into(),
        conversation_id: conversation.into(),
        limit: 50,
    }
}

fn compose(conversation: &str) -> pb::ComposeContextRequest {
    pb::ComposeContextRequest {
        tenant_id: TENANT.into(),
        conversation_id: conversation.into(),
        user_id: "u1".into(),
        input: "e agora?".into(),
        token_budget: 2000,
        ..Default::default()
    }
}

fn put_fact(key: &str, json: &str) -> pb::PutFactsRequest {
    pb::PutFactsRequest {
        tenant_id: TENANT.into(),
        user_id: "u1".into(),
        facts: vec![pb::FactInput {
            key: key.into(),
            value_json: json.into(),
            ..Default::default()
        }],
    }
}

async fn contents(sidecar: &Sidecar, conversation: &str) -> Vec<String> {
    let r = sidecar
        .memory()
        .get_recent(recent(conversation))
        .await
        .unwrap()
        .into_inner();
    r.messages.into_iter().map(|m| m.content).collect()
}

fn redis_keys(port: u16, prefix: &str) -> usize {
    let out = Command::new("redis-cli")
        .args([
            "-p",
            &port.to_string(),
            "--scan",
            "--pattern",
            &format!("{prefix}:*"),
        ])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_sidecar_is_read_fresh_on_another() {
    let db = PgDatabase::create();
    let prefix = unique_prefix();
    let f = flags(&db.url, Some(&cluster_url()), &prefix);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Sidecar::start_with(dir_a.path(), &f).await;
    let b = Sidecar::start_with(dir_b.path(), &f).await;

    a.memory()
        .append_messages(append("c1", vec![msg("m1", "quero marcar uma limpeza")]))
        .await
        .unwrap();
    a.facts()
        .put_facts(put_fact("preferred_time", r#""mornings""#))
        .await
        .unwrap();
    // B reads until its near-cache holds the conversation and the facts: a
    // first read repairs Redis from Postgres (in the background), the next
    // ones install what Redis holds near.
    for _ in 0..3 {
        assert_eq!(contents(&b, "c1").await, ["quero marcar uma limpeza"]);
        let warm = b
            .memory()
            .compose_context(compose("c1"))
            .await
            .unwrap()
            .into_inner();
        assert!(warm.text.contains("mornings"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Writes on A; B's next reads see them.
    a.memory()
        .append_messages(append("c1", vec![msg("m2", "pode ser terça?")]))
        .await
        .unwrap();
    a.facts()
        .put_facts(put_fact("preferred_time", r#""afternoons""#))
        .await
        .unwrap();
    // Not eventually: B's very next reads (the revision check).
    assert_eq!(contents(&b, "c1").await.len(), 2, "B sees A's append");
    let text = b
        .memory()
        .compose_context(compose("c1"))
        .await
        .unwrap()
        .into_inner()
        .text;
    assert!(
        text.contains("afternoons")
            && text.contains("pode ser terça?")
            && !text.contains("mornings"),
        "{text}"
    );

    // A deletion on A is seen by B.
    a.memory()
        .delete_conversation(pb::DeleteConversationRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
        })
        .await
        .unwrap();
    assert!(contents(&b, "c1").await.is_empty(), "B sees the deletion");
    let gone = b
        .memory()
        .get_conversation(pb::GetConversationRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_two_sidecars_keep_sequences_unique_and_gap_free() {
    let db = PgDatabase::create();
    let prefix = unique_prefix();
    let f = flags(&db.url, Some(&cluster_url()), &prefix);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Sidecar::start_with(dir_a.path(), &f).await;
    let b = Sidecar::start_with(dir_b.path(), &f).await;

    const WRITERS: usize = 8;
    const EACH: usize = 15;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let mut memory = if w % 2 == 0 { a.memory() } else { b.memory() };
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let request = append(
                    "shared",
                    vec![msg(
                        &format!("w{w}-{i}"),
                        &format!("writer {w} message {i}"),
                    )],
                );
                memory.append_messages(request.clone()).await.unwrap();
                // Every third append is retried, as a client would after a
                // lost reply: it must not be stored twice.
                if i % 3 == 0 {
                    let retry = memory.append_messages(request).await.unwrap().into_inner();
                    assert!(retry.messages[0].deduplicated);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let mut seqs = Vec::new();
    let mut ids = BTreeSet::new();
    let mut token = String::new();
    loop {
        let page = a
            .memory()
            .get_conversation(pb::GetConversationRequest {
                tenant_id: TENANT.into(),
                conversation_id: "shared".into(),
                page_size: 50,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        for m in &page.messages {
            seqs.push(m.seq);
            assert!(
                ids.insert(m.message_id.clone()),
                "{} stored twice",
                m.message_id
            );
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let total = (WRITERS * EACH) as u64;
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "unique, ordered, no gaps"
    );
    let expected: BTreeSet<String> = (0..WRITERS)
        .flat_map(|w| (0..EACH).map(move |i| format!("w{w}-{i}")))
        .collect();
    assert_eq!(ids, expected);
    // Both sidecars agree on the tail.
    assert_eq!(contents(&a, "shared").await, contents(&b, "shared").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stay_correct_while_redis_is_down_and_redis_is_used_again_when_back() {
    let db = PgDatabase::create();
    let mut redis = RedisServer::start();
    let prefix = unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    let sidecar =
        Sidecar::start_with(dir.path(), &flags(&db.url, Some(&redis.url()), &prefix)).await;

    sidecar
        .memory()
        .append_messages(append("c1", vec![msg("m1", "um"), msg("m2", "dois")]))
        .await
        .unwrap();
    sidecar
        .memory()
        .compose_context(compose("c1"))
        .await
        .unwrap();
    eventually(
        "the hot tier holds the conversation",
        Duration::from_secs(5),
        || async { (redis_keys(redis.port, &prefix) > 0).then_some(()) },
    )
    .await;

    redis.kill();
    // Writes and reads go on, correct, from Postgres.
    sidecar
        .memory()
        .append_messages(append("c1", vec![msg("m3", "três")]))
        .await
        .unwrap();
    assert_eq!(contents(&sidecar, "c1").await, ["um", "dois", "três"]);
    sidecar
        .facts()
        .put_facts(put_fact("name", r#""Ana""#))
        .await
        .unwrap();
    let composed = sidecar
        .memory()
        .compose_context(compose("c1"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        composed.text.contains("três") && composed.text.contains("Ana"),
        "{}",
        composed.text
    );
    sidecar
        .wait_status(ServingStatus::Serving, Duration::from_secs(1))
        .await;

    // Redis returns (empty): engram uses it again without a restart.
    redis.restart();
    eventually(
        "the hot tier is repaired",
        Duration::from_secs(15),
        || async {
            sidecar
                .memory()
                .compose_context(compose("c1"))
                .await
                .unwrap();
            (redis_keys(redis.port, &prefix) > 0).then_some(())
        },
    )
    .await;
    sidecar
        .memory()
        .append_messages(append("c1", vec![msg("m4", "quatro")]))
        .await
        .unwrap();
    assert_eq!(
        contents(&sidecar, "c1").await,
        ["um", "dois", "três", "quatro"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_refuses_writes_and_loses_nothing_acknowledged() {
    let mut pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with(dir.path(), &flags(&pg.url(), None, &unique_prefix())).await;

    let acked = sidecar
        .memory()
        .append_messages(append("c1", vec![msg("m1", "um"), msg("m2", "dois")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.messages.len(), 2);

    pg.stop();
    let refused = sidecar
        .memory()
        .append_messages(append("c1", vec![msg("m3", "nunca")]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let refused = sidecar
        .facts()
        .put_facts(put_fact("name", r#""Ana""#))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    sidecar
        .wait_status(ServingStatus::NotServing, Duration::from_secs(10))
        .await;
    // Alive all the same: a liveness probe must not restart it.
    let live = sidecar
        .health()
        .check(tonic_health::pb::HealthCheckRequest {
            service: engram::config::LIVENESS.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(live.status(), ServingStatus::Serving);

    pg.restart();
    sidecar
        .wait_status(ServingStatus::Serving, Duration::from_secs(15))
        .await;
    let all = sidecar
        .memory()
        .get_conversation(pb::GetConversationRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let got: Vec<_> = all
        .messages
        .iter()
        .map(|m| (m.seq, m.content.as_str()))
        .collect();
    assert_eq!(
        got,
        [(1, "um"), (2, "dois")],
        "acknowledged kept, refused absent"
    );
    let next = sidecar
        .memory()
        .append_messages(append("c1", vec![msg("m3", "três")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.messages[0].message.as_ref().unwrap().seq, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_that_lost_its_subscription_bypasses_its_near_cache() {
    let db = PgDatabase::create();
    let mut redis = RedisServer::start();
    let prefix = unique_prefix();
    let f = flags(&db.url, Some(&redis.url()), &prefix);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Sidecar::start_with(dir_a.path(), &f).await;
    let b = Sidecar::start_with(dir_b.path(), &f).await;

    a.memory()
        .append_messages(append("c1", vec![msg("m1", "um")]))
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(contents(&b, "c1").await, ["um"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Redis dies: no invalidation can reach B any more, so B must stop
    // trusting what it holds near and read Postgres.
    redis.kill();
    a.memory()
        .append_messages(append("c1", vec![msg("m2", "dois")]))
        .await
        .unwrap();
    // Not eventually: from the first read (the revision check).
    assert_eq!(
        contents(&b, "c1").await,
        ["um", "dois"],
        "B reads A's append"
    );

    // Redis returns: B resubscribes and stays coherent.
    redis.restart();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        assert_eq!(contents(&b, "c1").await, ["um", "dois"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.memory()
        .append_messages(append("c1", vec![msg("m3", "três")]))
        .await
        .unwrap();
    assert_eq!(
        contents(&b, "c1").await,
        ["um", "dois", "três"],
        "B sees A's append after Redis returned"
    );
}

// ---- Correct after every Redis fault (issue 14) ---------------------------
//
// Each test caches a 3-message window and a fact `v1` on two sidecars, has
// A acknowledge message 4 and `v2`, makes Redis lose or roll back those
// writes, and then checks every read on both sidecars, from the first one
// on: none may return the window without message 4 or the fact `v1`.

const BEFORE: [&str; 3] = ["um", "dois", "três"];
const AFTER: [&str; 4] = ["um", "dois", "três", "quatro"];

/// The fact's current value as GetFacts answers it, and ComposeContext's
/// text.
async fn fact_and_context(sidecar: &Sidecar, conversation: &str) -> (String, String) {
    let facts = crate::common::current_facts(sidecar, TENANT, "u1").await;
    let got = facts
        .iter()
        .find(|f| f.key == "preferred_time")
        .map(|f| f.value_json.clone())
        .unwrap_or_default();
    let text = sidecar
        .memory()
        .compose_context(compose(conversation))
        .await
        .unwrap()
        .into_inner()
        .text;
    (got, text)
}

/// Every read of both sidecars answers the state after A's acknowledged
/// writes.
async fn assert_fresh((a, b): (&Sidecar, &Sidecar), conversation: &str, when: &str) {
    for (name, sidecar) in [("A", a), ("B", b)] {
        assert_eq!(
            contents(sidecar, conversation).await,
            AFTER,
            "GetRecent on {name} {when}"
        );
        let (fact, text) = fact_and_context(sidecar, conversation).await;
        assert_eq!(fact, r#""afternoons""#, "GetFacts on {name} {when}");
        assert!(
            text.contains(r#"preferred_time: "afternoons""#) && text.contains("quatro"),
            "ComposeContext on {name} {when}:\n{text}"
        );
    }
}

/// Reads on both sidecars again and again for `period`: every one fresh.
async fn assert_fresh_for(
    sidecars: (&Sidecar, &Sidecar),
    conversation: &str,
    period: Duration,
    when: &str,
) {
    let start = std::time::Instant::now();
    while start.elapsed() < period {
        assert_fresh(sidecars, conversation, when).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Caches the first state on both sidecars, through every read path.
async fn warm((a, b): (&Sidecar, &Sidecar), conversation: &str) {
    a.memory()
        .append_messages(append(
            conversation,
            vec![msg("m1", "um"), msg("m2", "dois"), msg("m3", "três")],
        ))
        .await
        .unwrap();
    a.facts()
        .put_facts(put_fact("preferred_time", r#""mornings""#))
        .await
        .unwrap();
    for _ in 0..3 {
        for sidecar in [a, b] {
            assert_eq!(contents(sidecar, conversation).await, BEFORE);
            let (fact, _) = fact_and_context(sidecar, conversation).await;
            assert_eq!(fact, r#""mornings""#);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A acknowledges message 4 and `v2`.
async fn write_after(a: &Sidecar, conversation: &str) {
    a.memory()
        .append_messages(append(conversation, vec![msg("m4", "quatro")]))
        .await
        .unwrap();
    a.facts()
        .put_facts(put_fact("preferred_time", r#""afternoons""#))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_is_older_than_an_acknowledged_write_after_redis_restarts_from_an_old_snapshot() {
    let db = PgDatabase::create();
    let mut redis = RedisServer::start();
    let f = flags(&db.url, Some(&redis.url()), &unique_prefix());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Sidecar::start_with(dir_a.path(), &f).await;
    let b = Sidecar::start_with(dir_b.path(), &f).await;
    let (both, c) = ((&a, &b), "c1");
    warm(both, c).await;

    let snapshot = redis.save_snapshot();
    write_after(&a, c).await;
    assert_fresh(both, c, "before the rollback").await;

    redis.restart_from(&snapshot);
    assert_fresh_for(both, c, Duration::from_secs(3), "after the rollback").await;
    // Redis serves the old entries (their absolute TTLs have not run out)
    // to sidecars that have surely reconnected by now.
    a.wait_status(ServingStatus::Serving, Duration::from_secs(10))
        .await;
    assert_fresh_for(both, c, Duration::from_secs(1), "with Redis back").await;

    // FLUSHALL loses everything, fences included: still nothing older.
    redis.cli(&["flushall"]).expect("FLUSHALL");
    assert_fresh_for(both, c, Duration::from_secs(1), "after FLUSHALL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_is_older_than_an_acknowledged_write_after_a_failover_to_a_lagging_replica() {
    let db = PgDatabase::create();
    let mut cluster = RedisCluster::start_with_replicas();
    let prefix = unique_prefix();
    let url = format!("redis-cluster://{}", cluster.urls().replace("redis://", ""));
    let f = flags(&db.url, Some(&url), &prefix);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Sidecar::start_with(dir_a.path(), &f).await;
    let b = Sidecar::start_with(dir_b.path(), &f).await;

    // The window's and the facts' slots may sit on different masters: the
    // conversation is picked so that both live on the one that fails over.
    let master = cluster.master_of(&format!("{prefix}:{{{TENANT}:u:u1}}:f"));
    let c = (0..)
        .map(|i| format!("c{i}"))
        .find(|c| cluster.master_of(&format!("{prefix}:{{{TENANT}:c:{c}}}:w")) == master)
        .unwrap();
    let (both, c) = ((&a, &b), c.as_str());
    warm(both, c).await;
    let replica = cluster.replica_of(master);
    cluster.wait_synced(replica, master);

    // The master stops feeding its replica, takes A's writes and dies; the
    // replica, which never got them, wins the failover.
    cluster.nodes[master].cut_replicas();
    write_after(&a, c).await;
    cluster.nodes[master].kill();
    assert_fresh(both, c, "during the failover").await;
    cluster.wait_promoted(replica);
    // The new master really holds the older window.
    let list = format!("{prefix}:{{{TENANT}:c:{c}}}:m");
    let held = cluster.nodes[replica]
        .cli(&["llen", &list])
        .unwrap_or_default();
    assert_eq!(held.trim(), "3", "the new master's copy of the window");
    assert_fresh_for(both, c, Duration::from_secs(3), "after the failover").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_sidecar_lost_redis_before_fencing_is_read_fresh_on_another() {
    let db = PgDatabase::create();
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    // A reaches Redis as its own ACL user, which the test then locks out:
    // A commits to Postgres but can neither fence Redis nor announce, while
    // B keeps reading Redis (the window a crash between commit and fence
    // leaves open, made deterministic).
    let (user, password) = ("sidecar-a", "pw-not-a-secret");
    redis.add_user(user, password);
    let url_a = format!("redis://{user}:{password}@127.0.0.1:{}", redis.port);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Sidecar::start_with(dir_a.path(), &flags(&db.url, Some(&url_a), &prefix)).await;
    let b = Sidecar::start_with(dir_b.path(), &flags(&db.url, Some(&redis.url()), &prefix)).await;
    let (both, c) = ((&a, &b), "c1");
    warm(both, c).await;
    let clients = redis.cli(&["client", "list"]).unwrap_or_default();
    assert!(
        clients.contains(&format!("user={user}")),
        "A is connected as {user}"
    );

    redis.lock_out(user);
    write_after(&a, c).await;
    assert_fresh_for(
        both,
        c,
        Duration::from_secs(2),
        "while A cannot reach Redis",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_racing_a_delete_succeeds_or_is_refused_precisely_never_internal() {
    let db = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with(dir.path(), &flags(&db.url, None, &unique_prefix())).await;
    let period = Duration::from_secs(3);
    let appender = {
        let mut memory = sidecar.memory();
        tokio::spawn(async move {
            let (start, mut codes) = (std::time::Instant::now(), Vec::new());
            while start.elapsed() < period {
                let result = memory
                    .append_messages(append("raced", vec![msg("", "oi"), msg("", "tudo bem?")]))
                    .await;
                codes.push(result.map_or_else(|s| s.code(), |_| Code::Ok));
            }
            codes
        })
    };
    let mut memory = sidecar.memory();
    let (start, mut deleted) = (std::time::Instant::now(), 0);
    while start.elapsed() < period {
        let result = memory
            .delete_conversation(pb::DeleteConversationRequest {
                tenant_id: TENANT.into(),
                conversation_id: "raced".into(),
            })
            .await;
        match result {
            Ok(_) => deleted += 1,
            Err(s) => assert_eq!(s.code(), Code::NotFound, "{s:?}"),
        }
    }
    let codes = appender.await.unwrap();
    let ok = codes.iter().filter(|c| **c == Code::Ok).count();
    let other: Vec<_> = codes
        .iter()
        .filter(|c| !matches!(c, Code::Ok | Code::Aborted))
        .collect();
    assert!(other.is_empty(), "appends answered {other:?}");
    assert!(
        ok > 0 && deleted > 0,
        "the race ran: {ok} appends, {deleted} deletes"
    );
    // What is stored is whole: every message has its sequence number.
    let rows = db.query(&format!(
        "SELECT count(*) FROM \"t_{TENANT}\".messages WHERE seq IS NULL"
    ));
    assert_eq!(rows[0][0].as_deref(), Some("0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_a_tenant_that_never_wrote_create_nothing() {
    let db = PgDatabase::create();
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    let sidecar =
        Sidecar::start_with(dir.path(), &flags(&db.url, Some(&redis.url()), &prefix)).await;
    let (mut memory, mut facts, mut handover) =
        (sidecar.memory(), sidecar.facts(), sidecar.handover());
    for i in 0..5 {
        let tenant = format!("ghost{i}");
        let got = memory
            .get_recent(pb::GetRecentRequest {
                tenant_id: tenant.clone(),
                conversation_id: "c1".into(),
                limit: 10,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(got.messages.is_empty());
        let got = facts
            .get_facts(pb::GetFactsRequest {
                tenant_id: tenant.clone(),
                user_id: "u1".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(got.facts.is_empty());
        let composed = memory
            .compose_context(pb::ComposeContextRequest {
                tenant_id: tenant.clone(),
                ..compose("c1")
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!composed.text.is_empty());
        let listed = memory
            .list_conversations(pb::ListConversationsRequest {
                tenant_id: tenant.clone(),
                user_id: "u1".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(listed.conversations.is_empty());
        let found = memory
            .search(pb::SearchRequest {
                tenant_id: tenant.clone(),
                user_id: "u1".into(),
                query: "limpeza".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(found.hits.is_empty());
        let missing = memory
            .get_conversation(pb::GetConversationRequest {
                tenant_id: tenant.clone(),
                conversation_id: "c1".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
        let missing = handover
            .get_handover(pb::GetHandoverRequest {
                tenant_id: tenant.clone(),
                conversation_id: "c1".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
        let missing = facts
            .invalidate_fact(pb::InvalidateFactRequest {
                tenant_id: tenant.clone(),
                user_id: "u1".into(),
                key: "name".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
        let deleted = memory
            .delete_conversation(pb::DeleteConversationRequest {
                tenant_id: tenant,
                conversation_id: "c1".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(deleted.code(), Code::NotFound, "{deleted:?}");
    }
    let schemas = db.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_ghost%'");
    assert!(schemas.is_empty(), "reads created schemas: {schemas:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        redis_keys(redis.port, &prefix),
        0,
        "reads created Redis keys"
    );

    // A write creates the tenant.
    memory
        .append_messages(pb::AppendMessagesRequest {
            tenant_id: "ghost0".into(),
            ..append("c1", vec![msg("m1", "oi")])
        })
        .await
        .unwrap();
    let schemas = db.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_ghost%'");
    assert_eq!(schemas.len(), 1, "{schemas:?}");
}

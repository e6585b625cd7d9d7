//! Cases of the cold-store contract about the indexing outbox and memory
//! statistics.

use engram_domain::model::{OutboxJob, OutboxOp, Role};
use engram_domain::ports::{ColdStore, REINDEX_SLICE};
use engram_domain::time::Timestamp;

use crate::fixtures::{at, conversation, message, message_with_id, tenant, user};

/// Claims with a lease of one minute from `at(minute)`.
async fn claim(
    store: &impl ColdStore,
    t: &engram_domain::ids::TenantId,
    limit: usize,
    minute: i64,
) -> Vec<OutboxJob> {
    store
        .claim_outbox(t, limit, at(minute), at(minute + 1))
        .await
        .unwrap()
}

fn ops(jobs: &[OutboxJob]) -> Vec<(String, OutboxOp)> {
    jobs.iter()
        .map(|j| (j.conversation_id.to_string(), j.op.clone()))
        .collect()
}

pub async fn an_append_writes_one_job_for_its_new_messages(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    let batch = vec![
        message_with_id("m1", Role::User, "oi", 0),
        message(Role::Assistant, "olá", 1),
    ];
    store.append(&t, &c, &u, batch, at(1)).await.unwrap();
    // A retry writes nothing new, so no job.
    let retry = vec![message_with_id("m1", Role::User, "oi", 0)];
    store.append(&t, &c, &u, retry, at(2)).await.unwrap();
    let retry_and_new = vec![
        message_with_id("m1", Role::User, "oi", 0),
        message(Role::User, "quero marcar", 3),
    ];
    store
        .append(&t, &c, &u, retry_and_new, at(3))
        .await
        .unwrap();

    assert!(store.outbox_tenants().await.unwrap().contains(&t));
    let stats = store.memory_stats(&t, 10).await.unwrap();
    assert_eq!(stats.outbox.pending, 2);
    assert_eq!(stats.outbox.oldest, Some(at(1)));
    assert_eq!(store.outbox_stats(&t).await.unwrap(), stats.outbox);

    let jobs = claim(store, &t, 10, 10).await;
    assert_eq!(
        ops(&jobs),
        [
            (
                "c1".into(),
                OutboxOp::Index {
                    from_seq: 1,
                    to_seq: 2
                }
            ),
            (
                "c1".into(),
                OutboxOp::Index {
                    from_seq: 3,
                    to_seq: 3
                }
            ),
        ]
    );
    assert!(jobs.iter().all(|j| j.user_id == u && j.attempts == 1));
    assert!(jobs[0].id < jobs[1].id);

    let ids: Vec<u64> = jobs.iter().map(|j| j.id).collect();
    store.finish_outbox(&t, &ids).await.unwrap();
    assert_eq!(store.memory_stats(&t, 10).await.unwrap().outbox.pending, 0);
    assert_eq!(store.outbox_stats(&t).await.unwrap().pending, 0);
    assert!(claim(store, &t, 10, 100).await.is_empty());
    assert!(!store.outbox_tenants().await.unwrap().contains(&t));
}

pub async fn a_claimed_job_is_leased_until_it_expires(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    store
        .append(&t, &c, &u, vec![message(Role::User, "oi", 0)], at(0))
        .await
        .unwrap();
    let first = claim(store, &t, 10, 10).await;
    assert_eq!(first.len(), 1);
    // Leased until minute 11: nobody else gets it before.
    assert!(claim(store, &t, 10, 10).await.is_empty());
    // The claimant died: after the lease the job is taken again.
    let again = claim(store, &t, 10, 12).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].attempts, 2);
}

pub async fn jobs_of_a_conversation_are_claimed_in_order(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    let (a, b) = (conversation("a"), conversation("b"));
    for minute in 0..2 {
        let m = vec![message(Role::User, "oi", minute)];
        store.append(&t, &a, &u, m, at(minute)).await.unwrap();
    }
    let m = vec![message(Role::User, "oi", 2)];
    store.append(&t, &b, &u, m, at(2)).await.unwrap();

    let first = claim(store, &t, 1, 10).await;
    assert_eq!(ops(&first)[0].0, "a");
    // a's second job waits while its first is leased; b's does not.
    let second = claim(store, &t, 10, 10).await;
    assert_eq!(
        ops(&second),
        [(
            "b".into(),
            OutboxOp::Index {
                from_seq: 1,
                to_seq: 1
            }
        )]
    );
    store.finish_outbox(&t, &[first[0].id]).await.unwrap();
    let third = claim(store, &t, 10, 10).await;
    assert_eq!(
        ops(&third),
        [(
            "a".into(),
            OutboxOp::Index {
                from_seq: 2,
                to_seq: 2
            }
        )]
    );
}

pub async fn a_deferred_job_waits_and_holds_back_its_conversation(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    for minute in 0..2 {
        let m = vec![message(Role::User, "oi", minute)];
        store.append(&t, &c, &u, m, at(minute)).await.unwrap();
    }
    let first = claim(store, &t, 1, 10).await;
    store
        .defer_outbox(&t, &[first[0].id], at(20))
        .await
        .unwrap();
    // Neither the deferred job nor the later one of its conversation.
    assert!(claim(store, &t, 10, 15).await.is_empty());
    let due = claim(store, &t, 10, 20).await;
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].id, first[0].id);
    assert_eq!(due[0].attempts, 2);
}

pub async fn a_deletion_writes_a_job_that_removes_the_points(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    store
        .append(&t, &c, &u, vec![message(Role::User, "oi", 0)], at(0))
        .await
        .unwrap();
    store.delete_conversation(&t, &c).await.unwrap();
    let jobs = claim(store, &t, 10, 10_000_000).await;
    let last = jobs.last().expect("a deletion job");
    assert_eq!(last.op, OutboxOp::Delete);
    assert_eq!((&last.conversation_id, &last.user_id), (&c, &u));
    assert!(last.created_at > Timestamp(0));
}

pub async fn outbox_jobs_are_isolated_by_tenant(store: &impl ColdStore) {
    let (a, b) = (tenant(), tenant());
    let (c, u) = (conversation("c1"), user("u1"));
    store
        .append(&a, &c, &u, vec![message(Role::User, "oi", 0)], at(0))
        .await
        .unwrap();
    // Make b's schema exist in backends that create it on first use.
    store.conversation(&b, &c).await.unwrap();
    assert!(claim(store, &b, 10, 10).await.is_empty());
    assert_eq!(store.memory_stats(&b, 10).await.unwrap().outbox.pending, 0);
    let jobs = claim(store, &a, 10, 10).await;
    assert_eq!(jobs.len(), 1);
    // An id of a's job means nothing in b.
    store.finish_outbox(&b, &[jobs[0].id]).await.unwrap();
    assert_eq!(store.memory_stats(&a, 10).await.unwrap().outbox.pending, 1);
}

pub async fn a_new_index_gets_every_stored_message_once(store: &impl ColdStore) {
    let (t, other) = (tenant(), tenant());
    let (c1, c2, u1, u2) = (
        conversation("c1"),
        conversation("c2"),
        user("u1"),
        user("u2"),
    );
    let long = REINDEX_SLICE + 44;
    for first in (0..long).step_by(100) {
        let batch = (first..(first + 100).min(long))
            .map(|i| message(Role::User, &format!("mensagem {i}"), i as i64))
            .collect();
        store.append(&t, &c1, &u1, batch, at(1)).await.unwrap();
    }
    let short = vec![
        message(Role::User, "oi", 0),
        message(Role::Assistant, "olá", 1),
    ];
    store.append(&t, &c2, &u2, short, at(1)).await.unwrap();
    store
        .append(&other, &c1, &u1, vec![message(Role::User, "oi", 0)], at(1))
        .await
        .unwrap();
    let tenants = store.tenants().await.unwrap();
    assert!(tenants.contains(&t) && tenants.contains(&other));
    // While the appends' own jobs are pending they cover everything: a new
    // tenant has nothing to queue.
    let appends = claim(store, &t, 100, 2).await;
    assert_eq!(store.queue_reindex(&t, "model-0", at(2)).await.unwrap(), 0);
    assert_eq!(claim(store, &t, 100, 10).await.len(), appends.len());
    // Once they are done, a new index gets everything.
    let done: Vec<u64> = appends.iter().map(|j| j.id).collect();
    store.finish_outbox(&t, &done).await.unwrap();

    assert_eq!(
        store.queue_reindex(&t, "model-a", at(3)).await.unwrap(),
        long + 2
    );
    let jobs = claim(store, &t, 100, 4).await;
    let index = |from_seq, to_seq| OutboxOp::Index { from_seq, to_seq };
    assert_eq!(
        ops(&jobs),
        [
            ("c1".into(), index(1, REINDEX_SLICE)),
            ("c1".into(), index(REINDEX_SLICE + 1, long)),
            ("c2".into(), index(1, 2)),
        ]
    );
    assert_eq!(jobs[1].user_id, u1);
    assert_eq!(jobs[2].user_id, u2);
    let ids: Vec<u64> = jobs.iter().map(|j| j.id).collect();
    store.finish_outbox(&t, &ids).await.unwrap();

    // Once per index: asked again (another sidecar, a restart), nothing.
    assert_eq!(store.queue_reindex(&t, "model-a", at(5)).await.unwrap(), 0);
    assert!(claim(store, &t, 100, 6).await.is_empty());
    // Another index gets them all again, but for what a pending job
    // covers (an append just made); the other tenant is untouched.
    store
        .append(
            &t,
            &c2,
            &u2,
            vec![message(Role::User, "e amanhã?", 2)],
            at(7),
        )
        .await
        .unwrap();
    assert_eq!(
        store.queue_reindex(&t, "model-b", at(7)).await.unwrap(),
        long + 2
    );
    assert_eq!(
        store.memory_stats(&other, 10).await.unwrap().outbox.pending,
        1
    );
    // A tenant without data has nothing to queue.
    let empty = tenant();
    assert_eq!(
        store.queue_reindex(&empty, "model-a", at(7)).await.unwrap(),
        0
    );
}

pub async fn an_index_catches_up_when_the_jobs_queued_for_it_are_done(store: &impl ColdStore) {
    let t = tenant();
    let (c1, c2, u) = (conversation("c1"), conversation("c2"), user("u1"));
    // Nothing stored: nothing to catch up with.
    assert!(store.index_caught_up(&t, "model-a").await.unwrap());
    let batch = vec![
        message(Role::User, "oi", 0),
        message(Role::Assistant, "olá", 1),
    ];
    store.append(&t, &c1, &u, batch, at(1)).await.unwrap();
    // Stored, never queued for the index: behind.
    assert!(!store.index_caught_up(&t, "model-a").await.unwrap());
    let appends: Vec<u64> = claim(store, &t, 100, 2)
        .await
        .iter()
        .map(|j| j.id)
        .collect();
    store.finish_outbox(&t, &appends).await.unwrap();
    assert_eq!(store.queue_reindex(&t, "model-a", at(3)).await.unwrap(), 2);
    assert!(!store.index_caught_up(&t, "model-a").await.unwrap());
    let queued = claim(store, &t, 100, 4).await;
    // What is appended after the filling was queued does not hold it up.
    store
        .append(
            &t,
            &c2,
            &u,
            vec![message(Role::User, "e amanhã?", 0)],
            at(5),
        )
        .await
        .unwrap();
    assert!(!store.index_caught_up(&t, "model-a").await.unwrap());
    let ids: Vec<u64> = queued.iter().map(|j| j.id).collect();
    store.finish_outbox(&t, &ids).await.unwrap();
    assert!(store.index_caught_up(&t, "model-a").await.unwrap());
    assert_eq!(store.memory_stats(&t, 10).await.unwrap().outbox.pending, 1);
    // Another index is behind until its own filling is done.
    assert!(!store.index_caught_up(&t, "model-b").await.unwrap());
}

pub async fn memory_stats_count_by_band_and_user(store: &impl ColdStore) {
    let t = tenant();
    let mut urgent = message(Role::User, "sangramento", 5);
    urgent.importance = 1.0;
    let mut pain = message(Role::User, "dor", 6);
    pain.importance = 0.8;
    let mut hello = message(Role::User, "oi", 1);
    hello.importance = 0.3;
    let ordinary = message(Role::User, "quero marcar", 2);
    store
        .append(
            &t,
            &conversation("a1"),
            &user("ana"),
            vec![hello, ordinary],
            at(2),
        )
        .await
        .unwrap();
    store
        .append(&t, &conversation("a2"), &user("ana"), vec![urgent], at(5))
        .await
        .unwrap();
    store
        .append(&t, &conversation("b1"), &user("bia"), vec![pain], at(6))
        .await
        .unwrap();

    let stats = store.memory_stats(&t, 10).await.unwrap();
    assert_eq!((stats.conversations, stats.messages), (3, 4));
    assert_eq!(stats.by_importance, [1, 1, 1, 1]);
    assert_eq!((stats.oldest, stats.newest), (Some(at(1)), Some(at(6))));
    assert!(!stats.users_truncated);
    let users: Vec<(String, u64, u64)> = stats
        .users
        .iter()
        .map(|u| (u.user_id.to_string(), u.conversations, u.messages))
        .collect();
    assert_eq!(users, [("ana".into(), 2, 3), ("bia".into(), 1, 1)]);
    assert_eq!(
        (stats.users[0].oldest, stats.users[0].newest),
        (Some(at(1)), Some(at(5)))
    );

    let one = store.memory_stats(&t, 1).await.unwrap();
    assert!(one.users_truncated);
    assert_eq!(one.users.len(), 1);
}

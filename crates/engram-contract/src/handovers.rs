//! Cases of the cold-store contract about handovers and their summary
//! jobs.

use std::time::Duration;

use engram_domain::Error;
use engram_domain::handover::{HandoverEnd, HandoverSummary, JobStatus, NewHandover, Resolution};
use engram_domain::ids::{ConversationId, HandoverId, OperatorId, TenantId};
use engram_domain::model::Role;
use engram_domain::ports::ColdStore;
use engram_domain::time::Timestamp;

use crate::fixtures::{at, conversation, message, tenant, user};

fn new_handover(c: &ConversationId, minute: i64) -> NewHandover {
    NewHandover {
        handover_id: HandoverId::generate(),
        conversation_id: c.clone(),
        operator_id: OperatorId::parse("operator_id", "ana").unwrap(),
        reason: "refund request".to_owned(),
        started_at: at(minute),
    }
}

fn end_of(id: &HandoverId, c: &ConversationId, minute: i64) -> HandoverEnd {
    HandoverEnd {
        handover_id: id.clone(),
        conversation_id: c.clone(),
        resolution: Resolution::Escalated,
        notes: "manager approval needed".to_owned(),
        ended_at: at(minute),
    }
}

fn summary(text: &str) -> HandoverSummary {
    HandoverSummary {
        ai_resumption_context: text.to_owned(),
        resolution: Resolution::Escalated,
        requires_followup: true,
        human_actions: Vec::new(),
        summarizer: "extractive".to_owned(),
    }
}

/// Claims the tenant's due jobs at `now`, leased until `lease_until`.
async fn claim(
    store: &impl ColdStore,
    t: &TenantId,
    now: Timestamp,
    lease_until: Timestamp,
) -> Vec<engram_domain::handover::Handover> {
    store
        .claim_handover_jobs(t, 10, now, lease_until)
        .await
        .unwrap()
}

async fn conversation_with_messages(
    store: &impl ColdStore,
    t: &TenantId,
    name: &str,
) -> ConversationId {
    let c = conversation(name);
    store
        .append(
            t,
            &c,
            &user("u1"),
            vec![
                message(Role::User, "oi", 0),
                message(Role::Assistant, "olá", 0),
            ],
            at(0),
        )
        .await
        .unwrap();
    c
}

pub async fn one_active_handover_per_conversation(store: &impl ColdStore) {
    let t = tenant();
    let c = conversation_with_messages(store, &t, "c1").await;
    assert_eq!(store.handover(&t, &c).await.unwrap(), None);

    let first = store.start_handover(&t, new_handover(&c, 1)).await.unwrap();
    assert!(first.is_active());
    assert_eq!(first.start_seq, 2);
    assert_eq!(first.user_id, user("u1"));
    assert_eq!(first.job, None);
    assert_eq!(store.handover(&t, &c).await.unwrap(), Some(first.clone()));

    let second = store.start_handover(&t, new_handover(&c, 2)).await;
    assert!(
        matches!(second, Err(Error::FailedPrecondition(_))),
        "{second:?}"
    );

    // An unknown conversation.
    let unknown = store
        .start_handover(&t, new_handover(&conversation("nope"), 2))
        .await;
    assert!(
        matches!(unknown, Err(Error::NotFound { .. })),
        "{unknown:?}"
    );
    // Another tenant sees nothing, and cannot start one on this id.
    let other = tenant();
    assert_eq!(store.handover(&other, &c).await.unwrap(), None);
    assert!(matches!(
        store.start_handover(&other, new_handover(&c, 2)).await,
        Err(Error::NotFound { .. })
    ));

    // Once ended, a new one may start, and is the one reported.
    store
        .end_handover(&t, end_of(&first.handover_id, &c, 3))
        .await
        .unwrap();
    let next = store.start_handover(&t, new_handover(&c, 4)).await.unwrap();
    assert_eq!(store.handover(&t, &c).await.unwrap(), Some(next));
}

pub async fn ending_queues_one_summary_job(store: &impl ColdStore) {
    let t = tenant();
    let c = conversation_with_messages(store, &t, "c1").await;
    let started = store.start_handover(&t, new_handover(&c, 1)).await.unwrap();
    let id = started.handover_id.clone();

    let ended = store.end_handover(&t, end_of(&id, &c, 5)).await.unwrap();
    assert!(!ended.is_active());
    assert_eq!(ended.ended_at, Some(at(5)));
    assert_eq!(ended.resolution, Some(Resolution::Escalated));
    assert_eq!(ended.notes, "manager approval needed");
    assert_eq!(ended.job, Some(JobStatus::Queued));

    // Ending it again, or ending an unknown one, or through another
    // conversation, is refused.
    assert!(matches!(
        store.end_handover(&t, end_of(&id, &c, 6)).await,
        Err(Error::FailedPrecondition(_))
    ));
    assert!(matches!(
        store
            .end_handover(&t, end_of(&HandoverId::generate(), &c, 6))
            .await,
        Err(Error::NotFound { .. })
    ));
    let c2 = conversation_with_messages(store, &t, "c2").await;
    assert!(matches!(
        store.end_handover(&t, end_of(&id, &c2, 6)).await,
        Err(Error::NotFound { .. })
    ));

    assert!(store.handover_job_tenants().await.unwrap().contains(&t));
    assert_eq!(store.handover_jobs_queued(&t).await.unwrap(), 1);
    let now = Timestamp::now();
    let claimed = claim(store, &t, now, now.plus(Duration::from_secs(60))).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].handover_id, id);
    // Leased: a second claim gets nothing, and readers see it running.
    assert!(
        claim(store, &t, now, now.plus(Duration::from_secs(60)))
            .await
            .is_empty()
    );
    assert_eq!(
        store.handover(&t, &c).await.unwrap().unwrap().job,
        Some(JobStatus::Running)
    );

    assert!(
        store
            .finish_handover_job(&t, &claimed[0], &summary("first"))
            .await
            .unwrap()
    );
    let done = store.handover(&t, &c).await.unwrap().unwrap();
    assert_eq!(done.job, Some(JobStatus::Done));
    assert_eq!(done.summary, Some(summary("first")));
    assert!(!store.handover_job_tenants().await.unwrap().contains(&t));
    assert_eq!(store.handover_jobs_queued(&t).await.unwrap(), 0);
}

pub async fn a_handover_gets_one_summary_when_a_lease_expires(store: &impl ColdStore) {
    let t = tenant();
    let c = conversation_with_messages(store, &t, "c1").await;
    let id = store
        .start_handover(&t, new_handover(&c, 1))
        .await
        .unwrap()
        .handover_id;
    store.end_handover(&t, end_of(&id, &c, 2)).await.unwrap();

    // A slow worker's lease expires; another takes the job.
    let now = Timestamp::now();
    let slow = claim(store, &t, now, now.plus(Duration::from_millis(1))).await;
    assert_eq!(slow.len(), 1);
    let later = now.plus(Duration::from_secs(1));
    let fast = claim(store, &t, later, later.plus(Duration::from_secs(60))).await;
    assert_eq!(fast.len(), 1);

    assert!(
        store
            .finish_handover_job(&t, &fast[0], &summary("fast"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_handover_job(&t, &slow[0], &summary("slow"))
            .await
            .unwrap()
    );
    let stored = store.handover(&t, &c).await.unwrap().unwrap();
    assert_eq!(stored.summary, Some(summary("fast")));
}

pub async fn a_deferred_handover_job_waits(store: &impl ColdStore) {
    let t = tenant();
    let c = conversation_with_messages(store, &t, "c1").await;
    let id = store
        .start_handover(&t, new_handover(&c, 1))
        .await
        .unwrap()
        .handover_id;
    store.end_handover(&t, end_of(&id, &c, 2)).await.unwrap();
    let now = Timestamp::now();
    let lease = now.plus(Duration::from_secs(60));
    assert_eq!(claim(store, &t, now, lease).await.len(), 1);
    let retry_at = now.plus(Duration::from_secs(30));
    store.defer_handover_job(&t, &id, retry_at).await.unwrap();
    assert_eq!(
        store.handover(&t, &c).await.unwrap().unwrap().job,
        Some(JobStatus::Queued)
    );
    assert!(claim(store, &t, now, lease).await.is_empty());
    let after = retry_at.plus(Duration::from_secs(1));
    assert_eq!(
        claim(store, &t, after, after.plus(Duration::from_secs(60)))
            .await
            .len(),
        1
    );
}

pub async fn a_deleted_conversation_loses_its_handovers(store: &impl ColdStore) {
    let t = tenant();
    let c = conversation_with_messages(store, &t, "c1").await;
    let id = store
        .start_handover(&t, new_handover(&c, 1))
        .await
        .unwrap()
        .handover_id;
    store.end_handover(&t, end_of(&id, &c, 2)).await.unwrap();
    store.delete_conversation(&t, &c).await.unwrap();
    assert_eq!(store.handover(&t, &c).await.unwrap(), None);
    let now = Timestamp::now();
    assert!(
        claim(store, &t, now, now.plus(Duration::from_secs(60)))
            .await
            .is_empty()
    );
}

//! Cases of the hot-tier contract.

use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Conversation, Message, RecentWindow, Role};
use engram_domain::ports::{FactSnapshot, HotTier};

use crate::fixtures::{at, conversation, message, tenant, user};

/// Messages per conversation the tier under test keeps.
pub const WINDOW: usize = 5;

fn meta(c: &ConversationId, u: &UserId, last_seq: u64) -> Conversation {
    Conversation {
        conversation_id: c.clone(),
        user_id: u.clone(),
        created_at: at(0),
        updated_at: at(last_seq as i64),
        message_count: last_seq,
        last_seq,
        total_tokens: 10 * last_seq,
    }
}

fn messages(c: &ConversationId, u: &UserId, seqs: std::ops::RangeInclusive<u64>) -> Vec<Message> {
    seqs.map(|seq| {
        Message::from_new(
            message(Role::User, &format!("m{seq}"), seq as i64),
            c.clone(),
            u.clone(),
            seq,
        )
    })
    .collect()
}

fn window(c: &ConversationId, u: &UserId, last_seq: u64) -> RecentWindow {
    let first = last_seq.saturating_sub(WINDOW as u64 - 1).max(1);
    RecentWindow {
        conversation: meta(c, u, last_seq),
        messages: messages(c, u, first..=last_seq),
    }
}

async fn seqs(tier: &impl HotTier, t: &TenantId, c: &ConversationId) -> Option<Vec<u64>> {
    tier.recent(t, c)
        .await
        .unwrap()
        .map(|w| w.messages.iter().map(|m| m.seq).collect())
}

pub async fn a_window_is_cached_and_read_back(tier: &impl HotTier) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    assert!(tier.recent(&t, &c).await.unwrap().is_none());
    let w = window(&c, &u, 3);
    tier.put_recent(&t, w.clone()).await.unwrap();
    assert_eq!(tier.recent(&t, &c).await.unwrap(), Some(w));
}

pub async fn extend_appends_contiguous_messages_and_trims(tier: &impl HotTier) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    tier.put_recent(&t, window(&c, &u, 3)).await.unwrap();
    tier.extend_recent(&t, &meta(&c, &u, 4), &messages(&c, &u, 4..=4))
        .await
        .unwrap();
    assert_eq!(seqs(tier, &t, &c).await, Some(vec![1, 2, 3, 4]));
    tier.extend_recent(&t, &meta(&c, &u, 7), &messages(&c, &u, 5..=7))
        .await
        .unwrap();
    assert_eq!(
        seqs(tier, &t, &c).await,
        Some(vec![3, 4, 5, 6, 7]),
        "trimmed to the window"
    );
    let cached = tier.recent(&t, &c).await.unwrap().unwrap();
    assert_eq!(cached.conversation, meta(&c, &u, 7));
}

pub async fn extend_after_a_gap_fences_the_conversation(tier: &impl HotTier) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    tier.put_recent(&t, window(&c, &u, 3)).await.unwrap();
    // Seq 4 was appended elsewhere: 5 does not follow the cached window.
    tier.extend_recent(&t, &meta(&c, &u, 5), &messages(&c, &u, 5..=5))
        .await
        .unwrap();
    assert_eq!(seqs(tier, &t, &c).await, None);
    // A repair with the old window is refused; one with the new is taken.
    tier.put_recent(&t, window(&c, &u, 3)).await.unwrap();
    assert_eq!(seqs(tier, &t, &c).await, None);
    tier.put_recent(&t, window(&c, &u, 5)).await.unwrap();
    assert_eq!(seqs(tier, &t, &c).await, Some(vec![1, 2, 3, 4, 5]));

    // Extending an absent conversation fences it too.
    let c2 = conversation("c2");
    tier.extend_recent(&t, &meta(&c2, &u, 2), &messages(&c2, &u, 2..=2))
        .await
        .unwrap();
    tier.put_recent(&t, window(&c2, &u, 1)).await.unwrap();
    assert_eq!(seqs(tier, &t, &c2).await, None);
}

pub async fn a_stale_window_never_replaces_a_newer_one(tier: &impl HotTier) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    tier.put_recent(&t, window(&c, &u, 6)).await.unwrap();
    tier.put_recent(&t, window(&c, &u, 4)).await.unwrap();
    assert_eq!(seqs(tier, &t, &c).await, Some(vec![2, 3, 4, 5, 6]));
}

pub async fn a_fence_refuses_older_windows(tier: &impl HotTier) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    tier.put_recent(&t, window(&c, &u, 3)).await.unwrap();
    tier.fence_conversation(&t, &c, u64::MAX).await.unwrap();
    assert_eq!(seqs(tier, &t, &c).await, None);
    tier.put_recent(&t, window(&c, &u, 3)).await.unwrap();
    assert_eq!(seqs(tier, &t, &c).await, None);
    // A lower fence never lowers a higher one.
    tier.fence_conversation(&t, &c, 2).await.unwrap();
    tier.put_recent(&t, window(&c, &u, 3)).await.unwrap();
    assert_eq!(seqs(tier, &t, &c).await, None);
}

pub async fn fact_snapshots_are_fenced_by_revision(tier: &impl HotTier) {
    let (t, u) = (tenant(), user("u1"));
    assert!(tier.facts(&t, &u).await.unwrap().is_none());
    let snapshot = |rev| FactSnapshot {
        rev,
        facts: Vec::new(),
    };
    tier.put_facts(&t, &u, snapshot(1)).await.unwrap();
    assert_eq!(tier.facts(&t, &u).await.unwrap().map(|s| s.rev), Some(1));
    tier.fence_facts(&t, &u, 2).await.unwrap();
    assert!(tier.facts(&t, &u).await.unwrap().is_none());
    tier.put_facts(&t, &u, snapshot(1)).await.unwrap();
    assert!(
        tier.facts(&t, &u).await.unwrap().is_none(),
        "stale snapshot refused"
    );
    tier.put_facts(&t, &u, snapshot(2)).await.unwrap();
    assert_eq!(tier.facts(&t, &u).await.unwrap().map(|s| s.rev), Some(2));
    tier.put_facts(&t, &u, snapshot(1)).await.unwrap();
    assert_eq!(tier.facts(&t, &u).await.unwrap().map(|s| s.rev), Some(2));
}

pub async fn hot_entries_are_isolated_by_tenant(tier: &impl HotTier) {
    let (a, b) = (tenant(), tenant());
    let (c, u) = (conversation("c1"), user("u1"));
    tier.put_recent(&a, window(&c, &u, 2)).await.unwrap();
    tier.put_facts(
        &a,
        &u,
        FactSnapshot {
            rev: 1,
            facts: Vec::new(),
        },
    )
    .await
    .unwrap();
    assert!(tier.recent(&b, &c).await.unwrap().is_none());
    assert!(tier.facts(&b, &u).await.unwrap().is_none());
    tier.fence_conversation(&b, &c, u64::MAX).await.unwrap();
    assert!(tier.recent(&a, &c).await.unwrap().is_some());
}

//! Cases of the cold-store contract about running summaries.

use engram_domain::model::Role;
use engram_domain::ports::ColdStore;
use engram_domain::summary::{Summary, Vertical};

use crate::fixtures::{at, conversation, message, tenant, user};

/// A summary of messages 1..=to_seq (its items do not matter here).
pub(crate) fn summary_to(to_seq: u64, vertical: Vertical) -> Summary {
    Summary {
        vertical,
        from_seq: 1,
        to_seq,
        items: Vec::new(),
        source_tokens: to_seq * 10,
    }
}

pub async fn a_running_summary_only_moves_forward(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    store
        .append(&t, &c, &u, vec![message(Role::User, "oi", 0)], at(0))
        .await
        .unwrap();
    assert_eq!(store.summary(&t, &c).await.unwrap(), None);
    let newer = summary_to(20, Vertical::Dental);
    store.put_summary(&t, &c, &newer).await.unwrap();
    store
        .put_summary(&t, &c, &summary_to(10, Vertical::General))
        .await
        .unwrap();
    assert_eq!(store.summary(&t, &c).await.unwrap(), Some(newer));
    // Another tenant sees nothing.
    assert_eq!(store.summary(&tenant(), &c).await.unwrap(), None);
}

pub async fn summaries_of_a_user_come_most_recent_first(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    for (i, name) in ["old", "mid", "new"].into_iter().enumerate() {
        let c = conversation(name);
        let minute = i as i64;
        store
            .append(
                &t,
                &c,
                &u,
                vec![message(Role::User, "oi", minute)],
                at(minute),
            )
            .await
            .unwrap();
        store
            .put_summary(&t, &c, &summary_to(i as u64 + 1, Vertical::General))
            .await
            .unwrap();
    }
    let other = conversation("other-user");
    store
        .append(
            &t,
            &other,
            &user("u2"),
            vec![message(Role::User, "oi", 9)],
            at(9),
        )
        .await
        .unwrap();
    store
        .put_summary(&t, &other, &summary_to(1, Vertical::General))
        .await
        .unwrap();

    let got: Vec<String> = store
        .user_summaries(&t, &u, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|(c, _)| c.to_string())
        .collect();
    assert_eq!(got, ["new", "mid"]);
}

pub async fn a_deleted_conversation_loses_its_summary(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    store
        .append(&t, &c, &u, vec![message(Role::User, "oi", 0)], at(0))
        .await
        .unwrap();
    store
        .put_summary(&t, &c, &summary_to(1, Vertical::General))
        .await
        .unwrap();
    store.delete_conversation(&t, &c).await.unwrap();
    assert_eq!(store.summary(&t, &c).await.unwrap(), None);
    // Storing for a conversation that no longer exists stores nothing.
    store
        .put_summary(&t, &c, &summary_to(2, Vertical::General))
        .await
        .unwrap();
    assert_eq!(store.summary(&t, &c).await.unwrap(), None);
    assert!(store.user_summaries(&t, &u, 10).await.unwrap().is_empty());
}

//! Cases of the semantic-index contract.

use engram_domain::ids::{ConversationId, UserId};
use engram_domain::model::{MessageFilter, Role, Scope};
use engram_domain::ports::{IndexPoint, SemanticIndex};

use crate::fixtures::{at, conversation, tenant, user};

/// Vector dimension of the index under test.
pub const DIMENSION: usize = 8;

/// A unit vector pointing mostly along axis `axis`.
fn unit(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![tilt; DIMENSION];
    v[axis % DIMENSION] = 1.0;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn point(
    u: &UserId,
    c: &ConversationId,
    seq: u64,
    role: Role,
    minute: i64,
    vector: Vec<f32>,
) -> IndexPoint {
    IndexPoint {
        user_id: u.clone(),
        conversation_id: c.clone(),
        seq,
        role,
        created_at: at(minute),
        vector,
    }
}

fn positions(hits: &[engram_domain::ports::IndexHit]) -> Vec<(String, u64)> {
    hits.iter()
        .map(|h| (h.conversation_id.to_string(), h.seq))
        .collect()
}

pub async fn nearest_points_come_first(index: &impl SemanticIndex) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    index
        .upsert(
            &t,
            vec![
                point(&u, &c, 1, Role::User, 0, unit(0, 0.1)),
                point(&u, &c, 2, Role::User, 1, unit(1, 0.1)),
                point(&u, &c, 3, Role::User, 2, unit(0, 0.3)),
            ],
        )
        .await
        .unwrap();
    let hits = index
        .search(
            &t,
            &Scope::User(u.clone()),
            &unit(0, 0.0),
            &MessageFilter::default(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        positions(&hits),
        [("c1".into(), 1), ("c1".into(), 3), ("c1".into(), 2)]
    );
    assert!(hits[0].score > hits[1].score && hits[1].score > hits[2].score);
    assert!(hits[0].score <= 1.0 + 1e-4);
    let top = index
        .search(
            &t,
            &Scope::User(u),
            &unit(0, 0.0),
            &MessageFilter::default(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(top.len(), 1);
}

pub async fn search_is_scoped_to_user_and_conversation(index: &impl SemanticIndex) {
    let t = tenant();
    let (u1, u2) = (user("u1"), user("u2"));
    let (c1, c2, c3) = (conversation("c1"), conversation("c2"), conversation("c3"));
    index
        .upsert(
            &t,
            vec![
                point(&u1, &c1, 1, Role::User, 0, unit(0, 0.1)),
                point(&u1, &c2, 1, Role::User, 0, unit(0, 0.2)),
                point(&u2, &c3, 1, Role::User, 0, unit(0, 0.0)),
            ],
        )
        .await
        .unwrap();
    let q = unit(0, 0.0);
    let all = MessageFilter::default();
    let by_user = index
        .search(&t, &Scope::User(u1.clone()), &q, &all, 10)
        .await
        .unwrap();
    assert_eq!(positions(&by_user), [("c1".into(), 1), ("c2".into(), 1)]);
    let by_conversation = index
        .search(&t, &Scope::Conversation(u1, c2), &q, &all, 10)
        .await
        .unwrap();
    assert_eq!(positions(&by_conversation), [("c2".into(), 1)]);
}

pub async fn search_is_isolated_by_tenant(index: &impl SemanticIndex) {
    let (a, b) = (tenant(), tenant());
    let (c, u) = (conversation("c1"), user("u1"));
    index
        .upsert(&a, vec![point(&u, &c, 1, Role::User, 0, unit(0, 0.0))])
        .await
        .unwrap();
    let all = MessageFilter::default();
    assert!(
        index
            .search(&b, &Scope::User(u.clone()), &unit(0, 0.0), &all, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(index.delete_conversation(&b, &u, &c).await.unwrap(), 0);
    assert_eq!(
        index
            .search(&a, &Scope::User(u), &unit(0, 0.0), &all, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn search_applies_role_and_time_filters(index: &impl SemanticIndex) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    index
        .upsert(
            &t,
            vec![
                point(&u, &c, 1, Role::User, 0, unit(0, 0.1)),
                point(&u, &c, 2, Role::Assistant, 10, unit(0, 0.1)),
                point(&u, &c, 3, Role::User, 20, unit(0, 0.1)),
            ],
        )
        .await
        .unwrap();
    let q = unit(0, 0.0);
    let scope = Scope::User(u);
    let users = MessageFilter {
        roles: vec![Role::User],
        ..Default::default()
    };
    let mut seqs: Vec<u64> = index
        .search(&t, &scope, &q, &users, 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.seq)
        .collect();
    seqs.sort();
    assert_eq!(seqs, [1, 3]);
    let window = MessageFilter {
        from: Some(at(5)),
        until: Some(at(20)),
        roles: vec![],
    };
    let seqs: Vec<u64> = index
        .search(&t, &scope, &q, &window, 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.seq)
        .collect();
    assert_eq!(seqs, [2], "from inclusive, until exclusive");
}

pub async fn upsert_replaces_and_delete_removes(index: &impl SemanticIndex) {
    let (t, u) = (tenant(), user("u1"));
    let (c1, c2) = (conversation("c1"), conversation("c2"));
    index
        .upsert(
            &t,
            vec![
                point(&u, &c1, 1, Role::User, 0, unit(1, 0.0)),
                point(&u, &c2, 1, Role::User, 0, unit(2, 0.0)),
            ],
        )
        .await
        .unwrap();
    index
        .upsert(&t, vec![point(&u, &c1, 1, Role::User, 0, unit(0, 0.0))])
        .await
        .unwrap();
    let all = MessageFilter::default();
    let hits = index
        .search(&t, &Scope::User(u.clone()), &unit(0, 0.0), &all, 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 2, "replaced, not added");
    assert_eq!(positions(&hits)[0], ("c1".into(), 1));
    assert!((hits[0].score - 1.0).abs() < 1e-4);
    assert_eq!(index.delete_conversation(&t, &u, &c1).await.unwrap(), 1);
    let hits = index
        .search(&t, &Scope::User(u), &unit(0, 0.0), &all, 10)
        .await
        .unwrap();
    assert_eq!(positions(&hits), [("c2".into(), 1)]);
}

pub async fn delete_user_removes_every_point_of_the_user_only(index: &impl SemanticIndex) {
    let t = tenant();
    let (alice, bob) = (user("alice"), user("bob"));
    let (c1, c2, c3) = (conversation("a1"), conversation("a2"), conversation("b1"));
    index
        .upsert(
            &t,
            vec![
                point(&alice, &c1, 1, Role::User, 0, unit(0, 0.0)),
                point(&alice, &c1, 2, Role::User, 0, unit(1, 0.0)),
                point(&alice, &c2, 1, Role::User, 0, unit(2, 0.0)),
                point(&bob, &c3, 1, Role::User, 0, unit(0, 0.0)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(index.count_user(&t, &alice).await.unwrap(), 3);
    assert_eq!(index.count_user(&tenant(), &alice).await.unwrap(), 0);
    assert_eq!(index.delete_user(&t, &alice).await.unwrap(), 3);
    assert_eq!(index.count_user(&t, &alice).await.unwrap(), 0);
    assert_eq!(index.count_user(&t, &bob).await.unwrap(), 1);
    let hits = index
        .search(
            &t,
            &Scope::User(alice),
            &unit(0, 0.0),
            &MessageFilter::default(),
            10,
        )
        .await
        .unwrap();
    assert!(hits.is_empty());
}

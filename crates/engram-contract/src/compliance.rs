//! Cases of the cold-store contract about data-subject erasure, the audit
//! chain, retention and legal holds.

use engram_crypto::keys::SubjectKeys;
use engram_crypto::{Field, Keyring, MasterKey};
use engram_domain::audit::{NewAuditEntry, Verifier};
use engram_domain::handover::NewHandover;
use engram_domain::ids::{HandoverId, OperatorId};
use engram_domain::model::Role;
use engram_domain::model::WrappedKey;
use engram_domain::ports::ColdStore;
use engram_domain::retention::RetentionAction;
use engram_domain::retention::RetentionPolicy;
use engram_domain::summary::Vertical;
use engram_domain::time::Timestamp;

use crate::fixtures::{at, conversation, fact, message, tenant, user};

fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor: "dpo".into(),
        action: format!("test.{i}"),
        subject: "s".into(),
        reason: "contract".into(),
        result: "ok".into(),
    }
}

pub async fn erasing_a_user_leaves_nothing_of_them(store: &impl ColdStore) {
    let t = tenant();
    let (alice, bob) = (user("alice"), user("bob"));
    let (c1, c2, c3) = (conversation("a1"), conversation("a2"), conversation("b1"));
    for (c, u) in [(&c1, &alice), (&c2, &alice), (&c3, &bob)] {
        let messages = vec![
            message(Role::User, "meu CPF é 529.982.247-25", 0),
            message(Role::Assistant, "anotado", 1),
        ];
        store.append(&t, c, u, messages, at(1)).await.unwrap();
    }
    for u in [&alice, &bob] {
        store
            .put_facts(&t, u, vec![fact("phone", "\"11999998888\"", 0)], at(0))
            .await
            .unwrap();
        store
            .put_facts(&t, u, vec![fact("phone", "\"11999997777\"", 5)], at(5))
            .await
            .unwrap();
    }
    let summary = crate::summaries::summary_to(2, Vertical::General);
    store.put_summary(&t, &c1, &summary).await.unwrap();
    store
        .start_handover(
            &t,
            NewHandover {
                handover_id: HandoverId::generate(),
                conversation_id: c2.clone(),
                operator_id: OperatorId::parse("operator_id", "ana").unwrap(),
                reason: "refund".into(),
                started_at: at(3),
            },
        )
        .await
        .unwrap();
    store.set_legal_hold(&t, &alice, true).await.unwrap();

    let erased = store.erase_user(&t, &alice).await.unwrap();
    let mut ids = erased.conversations.clone();
    ids.sort();
    assert_eq!(ids, [c1.clone(), c2.clone()]);
    assert_eq!(erased.messages, 4);
    assert_eq!(erased.facts, 2, "every version of the fact");
    assert_eq!(erased.summaries, 1);
    assert_eq!(erased.handovers, 1);
    assert_eq!(erased.outbox_jobs, 2, "the pending indexing jobs");
    assert_eq!(
        store
            .user_residue(&t, &alice, &erased.conversations)
            .await
            .unwrap(),
        0
    );
    assert!(store.conversation(&t, &c1).await.unwrap().is_none());
    assert!(store.all_facts(&t, &alice).await.unwrap().is_empty());
    assert!(store.legal_holds(&t).await.unwrap().is_empty());
    let scope = engram_domain::model::Scope::User(alice.clone());
    let hits = store
        .search_lexical(&t, &scope, "cpf", &Default::default(), 10)
        .await
        .unwrap();
    assert!(hits.is_empty());

    // Bob is untouched; a second erasure finds nothing.
    assert!(store.conversation(&t, &c3).await.unwrap().is_some());
    assert_eq!(store.all_facts(&t, &bob).await.unwrap().len(), 2);
    assert_ne!(store.user_residue(&t, &bob, &[c3]).await.unwrap(), 0);
    let again = store.erase_user(&t, &alice).await.unwrap();
    assert_eq!(again.records() + again.outbox_jobs, 0);
}

pub async fn the_audit_log_is_one_chain_across_writers(store: &impl ColdStore) {
    let t = tenant();
    assert_eq!(store.audit_head(&t).await.unwrap(), None);
    // Concurrent appenders still get gap-free seqs, each chained to the
    // one before.
    let appends = (0..16).map(|i| store.append_audit(&t, entry(i), Timestamp(1_000 + i as i64)));
    let written: Vec<_> = futures::future::try_join_all(appends).await.unwrap();
    let mut seqs: Vec<u64> = written.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=16).collect::<Vec<_>>());

    let entries = store.audit_entries(&t, 0, 100).await.unwrap();
    assert_eq!(entries.len(), 16);
    let mut verifier = Verifier::default();
    assert!(entries.iter().all(|e| verifier.check(e)));
    let head = store.audit_head(&t).await.unwrap().unwrap();
    assert_eq!(head.0, 16);
    assert_eq!(head.1, entries[15].hash);
    let v = verifier.finish(Some((head.0, head.1.as_slice())));
    assert_eq!((v.entries, v.first_broken), (16, None));

    // Paging, and another tenant's log is its own.
    let page = store.audit_entries(&t, 10, 3).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [11, 12, 13]);
    let other = tenant();
    assert!(store.audit_entries(&other, 0, 10).await.unwrap().is_empty());
    let first = store.append_audit(&other, entry(0), at(0)).await.unwrap();
    assert_eq!(first.seq, 1);
}

pub async fn retention_finds_expired_conversations_and_anonymizes_once(store: &impl ColdStore) {
    let t = tenant();
    let u = user("u1");
    let (old, fresh) = (conversation("old"), conversation("fresh"));
    store
        .append(
            &t,
            &old,
            &u,
            vec![message(Role::User, "meu CPF é 529.982.247-25", 0)],
            at(10),
        )
        .await
        .unwrap();
    store
        .append(&t, &fresh, &u, vec![message(Role::User, "oi", 0)], at(100))
        .await
        .unwrap();
    let expired = store
        .expired_conversations(&t, at(50), None, 10)
        .await
        .unwrap();
    assert_eq!(
        expired
            .iter()
            .map(|c| c.conversation_id.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&old)
    );

    // A conversation that changed since it was read is left alone.
    assert!(
        !store
            .anonymize_conversation(&t, &old, 7, vec![(1, "x".into())])
            .await
            .unwrap()
    );
    let before = store.conversation(&t, &old).await.unwrap().unwrap();
    assert!(
        store
            .anonymize_conversation(&t, &old, 1, vec![(1, "meu CPF é ***.***.***-25".into())])
            .await
            .unwrap()
    );
    let recent = store.recent(&t, &old, 10).await.unwrap().unwrap();
    assert_eq!(recent.messages[0].content, "meu CPF é ***.***.***-25");
    // The row moves on, so that a cached window of the old contents (say,
    // in a Redis rolled back to before this) no longer matches it.
    assert_ne!(
        recent.conversation, before,
        "the row changed with its contents"
    );
    assert_eq!(recent.conversation.last_seq, before.last_seq);
    let hits = store
        .search_lexical(
            &t,
            &engram_domain::model::Scope::User(u.clone()),
            "529",
            &Default::default(),
            10,
        )
        .await
        .unwrap();
    assert!(hits.is_empty(), "the lexical index forgot the masked value");
    assert!(
        store
            .expired_conversations(&t, at(50), None, 10)
            .await
            .unwrap()
            .is_empty(),
        "anonymized once"
    );
    // Growing again makes it eligible again (once it is idle long enough).
    store
        .append(
            &t,
            &old,
            &u,
            vec![message(Role::User, "de novo", 11)],
            at(11),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .expired_conversations(&t, at(50), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Paging by id.
    let after = store
        .expired_conversations(&t, at(1_000), Some(&fresh), 10)
        .await
        .unwrap();
    assert_eq!(
        after
            .iter()
            .map(|c| c.conversation_id.clone())
            .collect::<Vec<_>>(),
        [old]
    );
}

pub async fn retention_policies_and_legal_holds_are_per_tenant(store: &impl ColdStore) {
    let (t, other) = (tenant(), tenant());
    let policy = RetentionPolicy {
        policy_id: "records".into(),
        vertical: Vertical::Medical,
        retention_days: 7_300,
        action: RetentionAction::Anonymize,
    };
    store.put_retention_policy(&t, &policy).await.unwrap();
    let replaced = RetentionPolicy {
        retention_days: 30,
        action: RetentionAction::Delete,
        ..policy.clone()
    };
    store.put_retention_policy(&t, &replaced).await.unwrap();
    assert_eq!(store.retention_policies(&t).await.unwrap(), [replaced]);
    assert!(store.retention_policies(&other).await.unwrap().is_empty());
    assert!(store.retention_tenants().await.unwrap().contains(&t));
    assert!(!store.retention_tenants().await.unwrap().contains(&other));

    store.set_legal_hold(&t, &user("u1"), true).await.unwrap();
    store.set_legal_hold(&t, &user("u1"), true).await.unwrap();
    store.set_legal_hold(&t, &user("u2"), true).await.unwrap();
    store.set_legal_hold(&t, &user("u2"), false).await.unwrap();
    assert_eq!(store.legal_holds(&t).await.unwrap(), [user("u1")]);
    assert!(store.legal_holds(&other).await.unwrap().is_empty());
}

pub async fn data_keys_are_created_once_rewrapped_conditionally_and_shredded(
    store: &impl ColdStore,
) {
    let (t, other) = (
        tenant(),
        engram_domain::ids::TenantId::parse("tenant_id", "other").unwrap(),
    );
    let (alice, bob) = (user("alice"), user("bob"));
    let key = |master: &str, byte: u8| WrappedKey {
        master_id: master.into(),
        bytes: vec![byte; 60],
    };
    assert_eq!(store.data_key(&t, "alice").await.unwrap(), None);

    // The first writer wins; a second insert returns the stored key.
    let first = store
        .insert_data_key(&t, "alice", key("k1", 1))
        .await
        .unwrap();
    assert_eq!(first, key("k1", 1));
    let second = store
        .insert_data_key(&t, "alice", key("k1", 2))
        .await
        .unwrap();
    assert_eq!(second, key("k1", 1));
    store
        .insert_data_key(&t, "bob", key("k1", 3))
        .await
        .unwrap();
    store.insert_data_key(&t, "", key("k1", 4)).await.unwrap();
    assert_eq!(
        store.data_key(&other, "alice").await.unwrap(),
        None,
        "per tenant"
    );

    // Re-wrapping replaces only a key still wrapped by the master named.
    assert!(
        store
            .rewrap_data_key(&t, "alice", "k1", key("k2", 5))
            .await
            .unwrap()
    );
    assert!(
        !store
            .rewrap_data_key(&t, "alice", "k1", key("k2", 6))
            .await
            .unwrap()
    );
    assert!(
        !store
            .rewrap_data_key(&t, "carol", "k1", key("k2", 7))
            .await
            .unwrap()
    );
    assert_eq!(
        store.data_key(&t, "alice").await.unwrap(),
        Some(key("k2", 5))
    );
    assert_eq!(store.data_key(&t, "carol").await.unwrap(), None);

    // Erasing alice deletes her key (crypto-shredding) and nobody else's.
    let erased = store.erase_user(&t, &alice).await.unwrap();
    assert_eq!(erased.data_keys, 1);
    assert_eq!(store.data_key(&t, "alice").await.unwrap(), None);
    assert_eq!(store.user_residue(&t, &alice, &[]).await.unwrap(), 0);
    assert_eq!(store.data_key(&t, "bob").await.unwrap(), Some(key("k1", 3)));
    assert_eq!(store.data_key(&t, "").await.unwrap(), Some(key("k1", 4)));
    assert_ne!(store.user_residue(&t, &bob, &[]).await.unwrap(), 0);
}

fn keyring(masters: &[(&str, u8)]) -> Keyring {
    Keyring::new(
        masters
            .iter()
            .map(|(id, byte)| MasterKey::new(id, &[*byte; 32]))
            .collect(),
    )
    .unwrap()
}

pub async fn subject_keys_are_shared_rotated_without_downtime_and_shredded(store: &impl ColdStore) {
    let t = tenant();
    let alice = user("alice");
    // Two sidecars on one store, each with the master key k1.
    let a = SubjectKeys::new(keyring(&[("k1", 1)]));
    let b = SubjectKeys::new(keyring(&[("k1", 1)]));
    assert!(
        a.existing(store, &t, "alice").await.unwrap().is_none(),
        "reads create no key"
    );
    let sealed = a
        .key(store, &t, "alice")
        .await
        .unwrap()
        .seal(Field::MessageContent, "meu CPF é 529.982.247-25");
    let on_b = b.key(store, &t, "alice").await.unwrap();
    assert_eq!(
        on_b.open(Field::MessageContent, &sealed).unwrap(),
        "meu CPF é 529.982.247-25",
        "the second sidecar uses the stored key, not one of its own"
    );

    // Rotation: a sidecar restarted with k2 first and k1 after reads the
    // key and re-wraps it; then k1 can go.
    let rotated = SubjectKeys::new(keyring(&[("k2", 2), ("k1", 1)]));
    let key = rotated.existing(store, &t, "alice").await.unwrap().unwrap();
    assert!(key.open(Field::MessageContent, &sealed).is_ok());
    assert_eq!(
        store
            .data_key(&t, "alice")
            .await
            .unwrap()
            .unwrap()
            .master_id,
        "k2"
    );
    let only_new = SubjectKeys::new(keyring(&[("k2", 2)]));
    let key = only_new
        .existing(store, &t, "alice")
        .await
        .unwrap()
        .unwrap();
    assert!(key.open(Field::MessageContent, &sealed).is_ok());
    // A sidecar left with only the retired key is refused, not fooled.
    let only_old = SubjectKeys::new(keyring(&[("k1", 1)]));
    assert!(only_old.existing(store, &t, "alice").await.is_err());

    // Erasure deletes the key: a copy of the sealed text is unreadable to a
    // sidecar that did not have the key in memory.
    store.erase_user(&t, &alice).await.unwrap();
    only_new.forget(&t, "alice");
    assert!(
        only_new
            .existing(store, &t, "alice")
            .await
            .unwrap()
            .is_none()
    );
    let fresh = only_new.key(store, &t, "alice").await.unwrap();
    assert!(fresh.open(Field::MessageContent, &sealed).is_err());
}

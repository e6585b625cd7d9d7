//! Cases of the cold-store contract.
//! Long: one case per guarantee of the port, run on every backend and
//! decorator.

use engram_domain::Error;
use engram_domain::model::{
    ConversationCursor, HistoryTotals, MessageFilter, PutOutcome, Role, Scope,
};
use engram_domain::ports::ColdStore;

use crate::fixtures::{at, conversation, fact, key, message, message_with_id, tenant, user};

pub async fn append_assigns_gap_free_sequence_numbers(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    let first = store
        .append(
            &t,
            &c,
            &u,
            vec![
                message(Role::User, "oi", 0),
                message(Role::Assistant, "olá!", 1),
                message(Role::User, "quero marcar", 2),
            ],
            at(2),
        )
        .await
        .unwrap();
    let second = store
        .append(
            &t,
            &c,
            &u,
            vec![
                message(Role::Assistant, "claro", 3),
                message(Role::User, "terça", 4),
            ],
            at(4),
        )
        .await
        .unwrap();
    let seqs: Vec<u64> = first
        .messages
        .iter()
        .chain(&second.messages)
        .map(|a| a.message.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert!(first.messages.iter().all(|a| !a.deduplicated));

    let meta = store
        .conversation(&t, &c)
        .await
        .unwrap()
        .expect("conversation exists");
    assert_eq!((meta.message_count, meta.last_seq), (5, 5));
    assert_eq!(meta.user_id, u);
    let tokens: u64 = first
        .messages
        .iter()
        .chain(&second.messages)
        .map(|a| u64::from(a.message.tokens))
        .sum();
    assert_eq!(meta.total_tokens, tokens);
    assert_eq!(second.conversation, meta);

    let window = store.recent(&t, &c, 2).await.unwrap().unwrap();
    assert_eq!(
        window.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [4, 5]
    );
    assert_eq!(window.messages[1].content, "terça");
    assert_eq!(window.conversation, meta);

    let page = store.messages_after(&t, &c, 2, 2).await.unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4]);
    assert!(
        store
            .messages_after(&t, &c, 5, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .recent(&t, &conversation("nope"), 5)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn a_retry_with_the_same_id_is_deduplicated(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    let batch = vec![
        message_with_id("m-1", Role::User, "oi", 0),
        message_with_id("m-2", Role::User, "tudo bem?", 1),
    ];
    store
        .append(&t, &c, &u, batch.clone(), at(1))
        .await
        .unwrap();
    let retry = store.append(&t, &c, &u, batch, at(2)).await.unwrap();
    assert!(retry.messages.iter().all(|a| a.deduplicated));
    assert_eq!(
        retry
            .messages
            .iter()
            .map(|a| a.message.seq)
            .collect::<Vec<_>>(),
        [1, 2]
    );

    // A retry mixed with a new message stores only the new one.
    let mixed = store
        .append(
            &t,
            &c,
            &u,
            vec![
                message_with_id("m-2", Role::User, "tudo bem?", 1),
                message_with_id("m-3", Role::User, "?", 3),
            ],
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(mixed.messages[0].message.seq, 2);
    assert!(mixed.messages[0].deduplicated);
    assert_eq!(mixed.messages[1].message.seq, 3);
    assert!(!mixed.messages[1].deduplicated);
    assert_eq!(
        store
            .conversation(&t, &c)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        3
    );
}

pub async fn the_same_id_with_other_content_is_refused_and_nothing_is_written(
    store: &impl ColdStore,
) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    store
        .append(
            &t,
            &c,
            &u,
            vec![message_with_id("m-1", Role::User, "oi", 0)],
            at(0),
        )
        .await
        .unwrap();
    let err = store
        .append(
            &t,
            &c,
            &u,
            vec![
                message(Role::User, "new", 1),
                message_with_id("m-1", Role::User, "changed", 2),
            ],
            at(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    let meta = store.conversation(&t, &c).await.unwrap().unwrap();
    assert_eq!(
        meta.message_count, 1,
        "the batch's first message must not be written"
    );
}

pub async fn another_user_cannot_append_to_a_conversation(store: &impl ColdStore) {
    let (t, c) = (tenant(), conversation("c1"));
    store
        .append(
            &t,
            &c,
            &user("u1"),
            vec![message(Role::User, "oi", 0)],
            at(0),
        )
        .await
        .unwrap();
    let err = store
        .append(
            &t,
            &c,
            &user("u2"),
            vec![message(Role::User, "oi", 1)],
            at(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    assert_eq!(
        store
            .conversation(&t, &c)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        1
    );
}

/// Appends of many conversations at once (a backend may commit them
/// together): every conversation's numbers stay gap-free, and an append
/// refused among them is refused alone, the others landing whole.
pub async fn concurrent_appends_stay_gap_free_and_a_refusal_is_only_its_own(
    store: &impl ColdStore,
) {
    let t = tenant();
    let (u1, u2) = (user("u1"), user("u2"));
    let (c1, c2, c3, theirs) = (
        conversation("c1"),
        conversation("c2"),
        conversation("c3"),
        conversation("theirs"),
    );
    let first = vec![message_with_id("m-1", Role::User, "oi", 0)];
    store.append(&t, &c1, &u1, first, at(0)).await.unwrap();
    let other = vec![message(Role::User, "de outra pessoa", 0)];
    store.append(&t, &theirs, &u2, other, at(0)).await.unwrap();

    let mut appends = Vec::new();
    for i in 0..10 {
        for c in [&c1, &c2, &c3] {
            let text = format!("mensagem {i}");
            appends.push((c, &u1, vec![message(Role::User, &text, i + 1)]));
        }
        if i == 5 {
            appends.push((&theirs, &u1, vec![message(Role::User, "não é minha", i)]));
            let changed = message_with_id("m-1", Role::User, "mudou", i);
            appends.push((&c1, &u1, vec![message(Role::User, "antes", i), changed]));
        }
    }
    let outcomes = futures::future::join_all(
        appends
            .iter()
            .map(|(c, u, messages)| store.append(&t, c, u, messages.clone(), at(20))),
    )
    .await;
    for ((c, _, messages), outcome) in appends.iter().zip(&outcomes) {
        match (c.as_str(), messages.len(), outcome) {
            ("theirs", _, Err(Error::FailedPrecondition(_))) => {}
            ("c1", 2, Err(Error::AlreadyExists(_))) => {}
            (_, 1, Ok(appended)) if *c != &theirs => assert_eq!(appended.messages.len(), 1),
            (c, n, outcome) => panic!("{c} ({n} messages): {outcome:?}"),
        }
    }
    for (c, count) in [(&c1, 11), (&c2, 10), (&c3, 10), (&theirs, 1)] {
        let meta = store.conversation(&t, c).await.unwrap().unwrap();
        assert_eq!((meta.message_count, meta.last_seq), (count, count), "{c:?}");
        let window = store.recent(&t, c, 50).await.unwrap().unwrap();
        let seqs: Vec<u64> = window.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=count).collect::<Vec<_>>(), "{c:?}");
    }
}

pub async fn tenants_are_isolated(store: &impl ColdStore) {
    let (a, b) = (tenant(), tenant());
    let (c, u) = (conversation("shared-id"), user("shared-user"));
    store
        .append(
            &a,
            &c,
            &u,
            vec![message(Role::User, "segredo do tenant a: limpeza", 0)],
            at(0),
        )
        .await
        .unwrap();
    store
        .put_facts(&a, &u, vec![fact("name", r#""Ana""#, 0)], at(0))
        .await
        .unwrap();

    assert!(store.conversation(&b, &c).await.unwrap().is_none());
    assert!(store.recent(&b, &c, 10).await.unwrap().is_none());
    assert!(
        store
            .messages_after(&b, &c, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .messages_at(&b, &[(c.clone(), 1)])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_conversations(&b, &u, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.current_facts(&b, &u).await.unwrap().facts.is_empty());
    assert!(
        store
            .fact_history(&b, &u, &key("name"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.facts_as_of(&b, &u, at(10)).await.unwrap().is_empty());
    let scope = Scope::User(u.clone());
    assert!(
        store
            .search_lexical(&b, &scope, "limpeza", &MessageFilter::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delete_conversation(&b, &c).await.unwrap().is_none());
    assert!(matches!(
        store.invalidate_fact(&b, &u, &key("name"), at(5)).await,
        Err(Error::NotFound { .. })
    ));

    // The same ids in tenant b are a different conversation, even with
    // another user.
    let other = store
        .append(
            &b,
            &c,
            &user("someone-else"),
            vec![message(Role::User, "b", 1)],
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(other.messages[0].message.seq, 1);
    assert_eq!(
        store.conversation(&a, &c).await.unwrap().unwrap().user_id,
        u
    );
    assert_eq!(store.current_facts(&a, &u).await.unwrap().facts.len(), 1);
}

pub async fn conversations_are_listed_most_recent_first(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    for (i, id) in ["c-old", "c-mid", "c-new"].iter().enumerate() {
        store
            .append(
                &t,
                &conversation(id),
                &u,
                vec![message(Role::User, "oi", i as i64)],
                at(i as i64 * 10),
            )
            .await
            .unwrap();
    }
    store
        .append(
            &t,
            &conversation("c-other-user"),
            &user("u2"),
            vec![message(Role::User, "oi", 0)],
            at(50),
        )
        .await
        .unwrap();
    let all = store.list_conversations(&t, &u, None, 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.conversation_id.as_str()).collect();
    assert_eq!(ids, ["c-new", "c-mid", "c-old"]);

    let first = store.list_conversations(&t, &u, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let last = &first[1];
    let cursor = ConversationCursor {
        updated_at: last.updated_at,
        conversation_id: last.conversation_id.clone(),
    };
    let rest = store
        .list_conversations(&t, &u, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.iter()
            .map(|c| c.conversation_id.as_str())
            .collect::<Vec<_>>(),
        ["c-old"]
    );

    // An append moves a conversation to the front.
    store
        .append(
            &t,
            &conversation("c-old"),
            &u,
            vec![message(Role::User, "de novo", 99)],
            at(99),
        )
        .await
        .unwrap();
    let again = store.list_conversations(&t, &u, None, 1).await.unwrap();
    assert_eq!(again[0].conversation_id.as_str(), "c-old");
}

pub async fn a_users_history_sums_their_conversations(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    assert_eq!(
        store.user_history(&t, &u).await.unwrap(),
        HistoryTotals::default(),
        "nothing yet, not even the tenant"
    );
    let batches = [
        ("c1", &u, vec!["oi", "quero marcar uma limpeza"]),
        ("c2", &u, vec!["e o clareamento?"]),
        ("c3", &user("u2"), vec!["outra pessoa"]),
    ];
    let mut tokens = 0;
    for (i, (id, who, contents)) in batches.iter().enumerate() {
        let messages = contents
            .iter()
            .map(|c| message(Role::User, c, i as i64))
            .collect();
        let out = store
            .append(&t, &conversation(id), who, messages, at(i as i64))
            .await
            .unwrap();
        if *who == &u {
            tokens += out.conversation.total_tokens;
        }
    }
    assert_eq!(
        store.user_history(&t, &u).await.unwrap(),
        HistoryTotals {
            conversations: 2,
            messages: 3,
            tokens,
        }
    );
    assert!(tokens > 0);
}

pub async fn delete_removes_the_conversation(store: &impl ColdStore) {
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    store
        .append(
            &t,
            &c,
            &u,
            vec![
                message_with_id("m-1", Role::User, "limpeza", 0),
                message(Role::User, "x", 1),
            ],
            at(1),
        )
        .await
        .unwrap();
    let deleted = store
        .delete_conversation(&t, &c)
        .await
        .unwrap()
        .expect("existed");
    assert_eq!(deleted.message_count, 2);
    assert!(store.conversation(&t, &c).await.unwrap().is_none());
    assert!(
        store
            .messages_after(&t, &c, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_conversations(&t, &u, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let scope = Scope::User(u.clone());
    assert!(
        store
            .search_lexical(&t, &scope, "limpeza", &MessageFilter::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delete_conversation(&t, &c).await.unwrap().is_none());

    // A new conversation under the same id starts afresh: the old message id
    // is not a duplicate any more.
    let again = store
        .append(
            &t,
            &c,
            &u,
            vec![message_with_id("m-1", Role::User, "outra coisa", 5)],
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(again.messages[0].message.seq, 1);
    assert!(!again.messages[0].deduplicated);
}

/// Lexical search meets the other forms of a word (engram's analyser,
/// `text::terms`, on every backend), in English and in Portuguese with or
/// without accents.
pub async fn lexical_search_meets_other_forms_of_a_word(store: &impl ColdStore) {
    let (t, u, c) = (tenant(), user("u1"), conversation("c1"));
    let said = [
        "We adopted two dogs last spring",
        "I went hiking with the kids",
        "Já fiz duas operações no joelho",
        "as consultas de limpeza sao caras",
    ];
    let messages = said
        .iter()
        .enumerate()
        .map(|(i, text)| message(Role::User, text, i as i64))
        .collect();
    store.append(&t, &c, &u, messages, at(4)).await.unwrap();
    let scope = Scope::User(u.clone());
    for (query, expected) in [
        ("did she adopt a dog?", said[0]),
        ("a hike with her kid", said[1]),
        ("ela passou por alguma operacao?", said[2]),
        ("quanto custa a consulta?", said[3]),
    ] {
        let hits = store
            .search_lexical(&t, &scope, query, &MessageFilter::default(), 5)
            .await
            .unwrap();
        assert_eq!(
            hits.first().map(|h| h.message.content.as_str()),
            Some(expected),
            "{query}"
        );
    }
}

pub async fn lexical_search_is_scoped_and_filtered(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    let (c1, c2) = (conversation("c1"), conversation("c2"));
    store
        .append(
            &t,
            &c1,
            &u,
            vec![
                message(Role::User, "quero marcar uma limpeza", 0),
                message(Role::Assistant, "a limpeza custa 200 reais", 1),
            ],
            at(1),
        )
        .await
        .unwrap();
    store
        .append(
            &t,
            &c2,
            &u,
            vec![message(Role::User, "limpeza de novo, por favor", 10)],
            at(10),
        )
        .await
        .unwrap();
    store
        .append(
            &t,
            &conversation("c3"),
            &user("u2"),
            vec![message(Role::User, "limpeza do outro usuário", 5)],
            at(5),
        )
        .await
        .unwrap();
    let all = MessageFilter::default();

    let hits = store
        .search_lexical(&t, &Scope::User(u.clone()), "limpeza", &all, 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 3, "both of u1's conversations, not u2's");
    assert!(hits.iter().all(|h| h.message.user_id == u && h.score > 0.0));
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));

    let hits = store
        .search_lexical(
            &t,
            &Scope::Conversation(u.clone(), c1.clone()),
            "limpeza",
            &all,
            10,
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.message.conversation_id == c1));

    let only_assistant = MessageFilter {
        roles: vec![Role::Assistant],
        ..Default::default()
    };
    let hits = store
        .search_lexical(&t, &Scope::User(u.clone()), "limpeza", &only_assistant, 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message.role, Role::Assistant);

    let later = MessageFilter {
        from: Some(at(5)),
        ..Default::default()
    };
    let hits = store
        .search_lexical(&t, &Scope::User(u.clone()), "limpeza", &later, 10)
        .await
        .unwrap();
    assert_eq!(
        hits.iter()
            .map(|h| h.message.conversation_id.as_str())
            .collect::<Vec<_>>(),
        ["c2"]
    );

    assert_eq!(
        store
            .search_lexical(&t, &Scope::User(u.clone()), "limpeza", &all, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .search_lexical(&t, &Scope::User(u), "canal", &all, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn messages_at_keeps_the_order_and_skips_missing(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    let (c1, c2) = (conversation("c1"), conversation("c2"));
    store
        .append(
            &t,
            &c1,
            &u,
            vec![message(Role::User, "a", 0), message(Role::User, "b", 1)],
            at(1),
        )
        .await
        .unwrap();
    store
        .append(&t, &c2, &u, vec![message(Role::User, "c", 2)], at(2))
        .await
        .unwrap();
    let got = store
        .messages_at(
            &t,
            &[(c2.clone(), 1), (c1.clone(), 9), (c1.clone(), 2), (c1, 1)],
        )
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["c", "b", "a"]
    );
}

pub async fn a_new_fact_invalidates_the_old_one(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    let march = store
        .put_facts(
            &t,
            &u,
            vec![fact("preferred_time", r#""mornings""#, 0)],
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(march.value[0].outcome, PutOutcome::Created);
    let june = store
        .put_facts(
            &t,
            &u,
            vec![fact("preferred_time", r#""afternoons""#, 100)],
            at(100),
        )
        .await
        .unwrap();
    assert_eq!(june.value[0].outcome, PutOutcome::Superseded);
    assert!(june.rev > march.rev);

    let current = store.current_facts(&t, &u).await.unwrap();
    assert_eq!(current.rev, june.rev);
    assert_eq!(current.facts.len(), 1);
    assert_eq!(current.facts[0].value, r#""afternoons""#);
    assert_eq!(current.facts[0].version, 2);

    let history = store
        .fact_history(&t, &u, &key("preferred_time"))
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].value, r#""mornings""#);
    assert_eq!(history[0].invalid_at, Some(at(100)));

    // The same value again changes nothing, not even the revision.
    let again = store
        .put_facts(
            &t,
            &u,
            vec![fact("preferred_time", r#""afternoons""#, 200)],
            at(200),
        )
        .await
        .unwrap();
    assert_eq!(again.value[0].outcome, PutOutcome::Unchanged);
    assert_eq!(again.rev, june.rev);
    assert_eq!(
        store
            .fact_history(&t, &u, &key("preferred_time"))
            .await
            .unwrap()
            .len(),
        2
    );
}

pub async fn facts_as_of_and_history(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    store
        .put_facts(
            &t,
            &u,
            vec![
                fact("name", r#""João""#, 0),
                fact("preferred_time", r#""mornings""#, 10),
            ],
            at(10),
        )
        .await
        .unwrap();
    store
        .put_facts(
            &t,
            &u,
            vec![fact("preferred_time", r#""afternoons""#, 100)],
            at(100),
        )
        .await
        .unwrap();
    let early = store.facts_as_of(&t, &u, at(5)).await.unwrap();
    assert_eq!(
        early.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["name"]
    );
    let mid = store.facts_as_of(&t, &u, at(50)).await.unwrap();
    assert_eq!(
        mid.iter().map(|f| f.value.as_str()).collect::<Vec<_>>(),
        [r#""João""#, r#""mornings""#]
    );
    let late = store.facts_as_of(&t, &u, at(150)).await.unwrap();
    assert_eq!(late[1].value, r#""afternoons""#);
    // Another user of the tenant has none of these.
    assert!(
        store
            .current_facts(&t, &user("u2"))
            .await
            .unwrap()
            .facts
            .is_empty()
    );
}

pub async fn a_backdated_fact_goes_into_history(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    store
        .put_facts(&t, &u, vec![fact("plan", r#""basic""#, 0)], at(0))
        .await
        .unwrap();
    store
        .put_facts(&t, &u, vec![fact("plan", r#""premium""#, 100)], at(100))
        .await
        .unwrap();
    let late = store
        .put_facts(&t, &u, vec![fact("plan", r#""trial""#, 50)], at(120))
        .await
        .unwrap();
    assert_eq!(late.value[0].outcome, PutOutcome::Historical);
    assert_eq!(late.value[0].fact.invalid_at, Some(at(100)));
    let current = store.current_facts(&t, &u).await.unwrap().facts;
    assert_eq!(current[0].value, r#""premium""#);
    assert_eq!(
        store.facts_as_of(&t, &u, at(60)).await.unwrap()[0].value,
        r#""trial""#
    );
    assert_eq!(
        store.facts_as_of(&t, &u, at(10)).await.unwrap()[0].value,
        r#""basic""#
    );
    let history = store.fact_history(&t, &u, &key("plan")).await.unwrap();
    assert_eq!(
        history.iter().map(|f| f.valid_at).collect::<Vec<_>>(),
        [at(0), at(50), at(100)]
    );
}

pub async fn invalidate_fact(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    assert!(matches!(
        store.invalidate_fact(&t, &u, &key("phone"), at(5)).await,
        Err(Error::NotFound { .. })
    ));
    let put = store
        .put_facts(&t, &u, vec![fact("phone", r#""11999998888""#, 10)], at(10))
        .await
        .unwrap();
    let err = store
        .invalidate_fact(&t, &u, &key("phone"), at(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let ended = store
        .invalidate_fact(&t, &u, &key("phone"), at(20))
        .await
        .unwrap();
    assert_eq!(ended.value.invalid_at, Some(at(20)));
    assert!(ended.rev > put.rev);
    assert!(store.current_facts(&t, &u).await.unwrap().facts.is_empty());
    assert_eq!(store.facts_as_of(&t, &u, at(15)).await.unwrap().len(), 1);
    assert_eq!(
        store
            .fact_history(&t, &u, &key("phone"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        store.invalidate_fact(&t, &u, &key("phone"), at(30)).await,
        Err(Error::NotFound { .. })
    ));
}

pub async fn facts_of_one_batch_apply_in_order(store: &impl ColdStore) {
    let (t, u) = (tenant(), user("u1"));
    let put = store
        .put_facts(
            &t,
            &u,
            vec![
                fact("city", r#""Campinas""#, 0),
                fact("city", r#""Santos""#, 10),
                fact("city", r#""Santos""#, 20),
            ],
            at(20),
        )
        .await
        .unwrap();
    let outcomes: Vec<_> = put.value.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            PutOutcome::Created,
            PutOutcome::Superseded,
            PutOutcome::Unchanged
        ]
    );
    let current = store.current_facts(&t, &u).await.unwrap();
    assert_eq!(current.facts[0].value, r#""Santos""#);
    assert_eq!(current.rev, put.rev);
}

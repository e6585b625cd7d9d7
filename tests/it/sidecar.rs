//! engram as a user sees it: the real binary, over gRPC, on the embedded
//! default.
//! Long: one test per behaviour a user relies on, each standing alone.

use engram::pb;
use tonic::Code;

use crate::common::Sidecar;

fn msg(id: &str, role: pb::Role, content: &str) -> pb::NewMessage {
    pb::NewMessage {
        message_id: id.to_owned(),
        role: role as i32,
        content: content.to_owned(),
        ..Default::default()
    }
}

fn append(
    tenant: &str,
    conversation: &str,
    user: &str,
    messages: Vec<pb::NewMessage>,
) -> pb::AppendMessagesRequest {
    pb::AppendMessagesRequest {
        tenant_id: tenant.into(),
        conversation_id: conversation.into(),
        user_id: user.into(),
        messages,
    }
}

fn fact(key: &str, json: &str, valid_secs: i64) -> pb::FactInput {
    pb::FactInput {
        key: key.into(),
        value_json: json.into(),
        valid_at: Some(prost_types::Timestamp {
            seconds: valid_secs,
            nanos: 0,
        }),
        ..Default::default()
    }
}

fn put_facts(tenant: &str, user: &str, facts: Vec<pb::FactInput>) -> pb::PutFactsRequest {
    pb::PutFactsRequest {
        tenant_id: tenant.into(),
        user_id: user.into(),
        facts,
    }
}

fn get_facts(tenant: &str, user: &str) -> pb::GetFactsRequest {
    pb::GetFactsRequest {
        tenant_id: tenant.into(),
        user_id: user.into(),
        ..Default::default()
    }
}

fn page(tenant: &str, conversation: &str) -> pb::GetConversationRequest {
    pb::GetConversationRequest {
        tenant_id: tenant.into(),
        conversation_id: conversation.into(),
        page_size: 1000,
        ..Default::default()
    }
}

fn compose(
    tenant: &str,
    conversation: &str,
    user: &str,
    input: &str,
    budget: u32,
) -> pb::ComposeContextRequest {
    pb::ComposeContextRequest {
        tenant_id: tenant.into(),
        conversation_id: conversation.into(),
        user_id: user.into(),
        input: input.into(),
        token_budget: budget,
        ..Default::default()
    }
}

const MARCH: i64 = 1_772_323_200; // 2026-03-01
const JUNE: i64 = 1_780_272_000; // 2026-06-01

#[tokio::test]
async fn acknowledged_writes_survive_a_restart_and_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    memory
        .append_messages(append(
            "acme",
            "c1",
            "u1",
            vec![
                msg("m1", pb::Role::User, "Olá, quero marcar uma limpeza"),
                msg("m2", pb::Role::Assistant, "Claro! Que dia?"),
            ],
        ))
        .await
        .unwrap();
    sidecar
        .facts()
        .put_facts(put_facts(
            "acme",
            "u1",
            vec![fact("name", r#""João Silva""#, MARCH)],
        ))
        .await
        .unwrap();
    sidecar.stop().await;

    // Graceful restart.
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    let got = memory
        .get_conversation(page("acme", "c1"))
        .await
        .unwrap()
        .into_inner();
    let contents: Vec<_> = got.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        ["Olá, quero marcar uma limpeza", "Claro! Que dia?"]
    );
    assert_eq!(got.conversation.unwrap().message_count, 2);
    let facts = sidecar
        .facts()
        .get_facts(get_facts("acme", "u1"))
        .await
        .unwrap()
        .into_inner()
        .facts;
    assert_eq!(facts[0].value_json, r#""João Silva""#);

    // An acknowledged append survives SIGKILL right after the ack.
    let acked = memory
        .append_messages(append(
            "acme",
            "c1",
            "u1",
            vec![msg("m3", pb::Role::User, "Terça de manhã")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.messages[0].message.as_ref().unwrap().seq, 3);
    sidecar.kill();

    let sidecar = Sidecar::start(dir.path()).await;
    let got = sidecar
        .memory()
        .get_conversation(page("acme", "c1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.messages.len(), 3);
    assert_eq!(got.messages[2].content, "Terça de manhã");
    // Sequence numbers continue after the restart.
    let next = sidecar
        .memory()
        .append_messages(append(
            "acme",
            "c1",
            "u1",
            vec![msg("", pb::Role::Assistant, "Anotado!")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.messages[0].message.as_ref().unwrap().seq, 4);
}

#[tokio::test]
async fn a_retried_append_does_not_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    let request = append(
        "acme",
        "c1",
        "u1",
        vec![
            msg("wamid.123", pb::Role::User, "oi"),
            msg("wamid.124", pb::Role::User, "tudo bem?"),
        ],
    );
    let first = memory
        .append_messages(request.clone())
        .await
        .unwrap()
        .into_inner();
    let retry = memory.append_messages(request).await.unwrap().into_inner();
    assert!(first.messages.iter().all(|m| !m.deduplicated));
    assert!(retry.messages.iter().all(|m| m.deduplicated));
    let seqs = |r: &pb::AppendMessagesResponse| {
        r.messages
            .iter()
            .map(|m| m.message.as_ref().unwrap().seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&first), seqs(&retry));
    let got = memory
        .get_conversation(page("acme", "c1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.messages.len(), 2);

    // The same id with other content is a client bug, not a retry.
    let err = memory
        .append_messages(append(
            "acme",
            "c1",
            "u1",
            vec![msg("wamid.123", pb::Role::User, "something else")],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(
        err.message().contains("messages[0].message_id"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn a_new_fact_invalidates_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut facts = sidecar.facts();
    facts
        .put_facts(put_facts(
            "acme",
            "u1",
            vec![fact("preferred_time", r#""mornings""#, MARCH)],
        ))
        .await
        .unwrap();
    let june = facts
        .put_facts(put_facts(
            "acme",
            "u1",
            vec![fact("preferred_time", r#""afternoons""#, JUNE)],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(june.results[0].outcome(), pb::PutOutcome::Superseded);

    let current = facts
        .get_facts(get_facts("acme", "u1"))
        .await
        .unwrap()
        .into_inner()
        .facts;
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].value_json, r#""afternoons""#);
    assert!(current[0].invalid_at.is_none());

    let april = pb::GetFactsRequest {
        as_of: Some(prost_types::Timestamp {
            seconds: MARCH + 40 * 86_400,
            nanos: 0,
        }),
        ..get_facts("acme", "u1")
    };
    let then = facts.get_facts(april).await.unwrap().into_inner().facts;
    assert_eq!(then[0].value_json, r#""mornings""#);

    let history = facts
        .get_fact_history(pb::GetFactHistoryRequest {
            tenant_id: "acme".into(),
            user_id: "u1".into(),
            key: "preferred_time".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].invalid_at.as_ref().unwrap().seconds, JUNE);

    // The same value again is a no-op.
    let again = facts
        .put_facts(put_facts(
            "acme",
            "u1",
            vec![fact("preferred_time", r#""afternoons""#, JUNE + 86_400)],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.results[0].outcome(), pb::PutOutcome::Unchanged);

    // ComposeContext sees the current value only.
    let composed = sidecar
        .memory()
        .compose_context(compose("acme", "c-new", "u1", "Que horas?", 500))
        .await
        .unwrap()
        .into_inner();
    assert!(
        composed.text.contains(r#"preferred_time: "afternoons""#),
        "{}",
        composed.text
    );
    assert!(!composed.text.contains("mornings"));

    let ended = facts
        .invalidate_fact(pb::InvalidateFactRequest {
            tenant_id: "acme".into(),
            user_id: "u1".into(),
            key: "preferred_time".into(),
            invalid_at: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ended.fact.unwrap().invalid_at.is_some());
    assert!(
        facts
            .get_facts(get_facts("acme", "u1"))
            .await
            .unwrap()
            .into_inner()
            .facts
            .is_empty()
    );
    let composed = sidecar
        .memory()
        .compose_context(compose("acme", "c-new", "u1", "Que horas?", 500))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !composed.text.contains("preferred_time"),
        "the warm tier must not serve an invalidated fact"
    );
}

#[tokio::test]
async fn tenant_a_never_sees_tenant_b() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let (mut memory, mut facts) = (sidecar.memory(), sidecar.facts());
    memory
        .append_messages(append(
            "clinic-a",
            "c1",
            "u1",
            vec![msg("m1", pb::Role::User, "tenho alergia a penicilina")],
        ))
        .await
        .unwrap();
    facts
        .put_facts(put_facts(
            "clinic-a",
            "u1",
            vec![fact("allergy", r#""penicilina""#, MARCH)],
        ))
        .await
        .unwrap();

    // Tenant b uses the very same ids.
    let b = "clinic-b";
    assert!(
        memory
            .get_recent(pb::GetRecentRequest {
                tenant_id: b.into(),
                conversation_id: "c1".into(),
                limit: 0
            })
            .await
            .unwrap()
            .into_inner()
            .messages
            .is_empty()
    );
    assert_eq!(
        memory
            .get_conversation(page(b, "c1"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let listed = memory
        .list_conversations(pb::ListConversationsRequest {
            tenant_id: b.into(),
            user_id: "u1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.into_inner().conversations.is_empty());
    assert!(
        facts
            .get_facts(get_facts(b, "u1"))
            .await
            .unwrap()
            .into_inner()
            .facts
            .is_empty()
    );
    // Once a's message is indexed, b still finds nothing.
    crate::common::indexed(&sidecar, "clinic-a").await;
    for mode in [
        pb::SearchMode::Lexical,
        pb::SearchMode::Semantic,
        pb::SearchMode::Hybrid,
    ] {
        let hits = memory
            .search(pb::SearchRequest {
                tenant_id: b.into(),
                user_id: "u1".into(),
                query: "alergia penicilina".into(),
                mode: mode as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .hits;
        assert!(hits.is_empty(), "{mode:?}");
    }
    let composed = memory
        .compose_context(compose(b, "c1", "u1", "tenho alergia?", 1000))
        .await
        .unwrap()
        .into_inner();
    assert!(!composed.text.contains("penicilina"), "{}", composed.text);
    assert_eq!(composed.tokens.unwrap().full_history_tokens, 0);
    let err = memory
        .delete_conversation(pb::DeleteConversationRequest {
            tenant_id: b.into(),
            conversation_id: "c1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // And tenant a still has everything.
    assert_eq!(
        memory
            .get_conversation(page("clinic-a", "c1"))
            .await
            .unwrap()
            .into_inner()
            .messages
            .len(),
        1
    );
}

#[tokio::test]
async fn compose_context_fits_the_budget_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    for batch in 0..6 {
        let messages = (0..20)
            .map(|i| {
                let n = batch * 20 + i;
                let role = if n % 2 == 0 { pb::Role::User } else { pb::Role::Assistant };
                msg(&format!("m{n}"), role, &format!("mensagem {n}: conversa longa sobre horários, exames e a limpeza marcada para a clínica"))
            })
            .collect();
        memory
            .append_messages(append("acme", "long", "u1", messages))
            .await
            .unwrap();
    }
    sidecar
        .facts()
        .put_facts(put_facts(
            "acme",
            "u1",
            vec![fact("name", r#""Maria""#, MARCH)],
        ))
        .await
        .unwrap();

    // Composing reads what the background jobs write (index, summaries):
    // let them finish so that the two composes below see the same memory.
    crate::common::indexed(&sidecar, "acme").await;
    let r = memory
        .compose_context(compose("acme", "long", "u1", "Posso remarcar?", 300))
        .await
        .unwrap()
        .into_inner();
    let tokens = r.tokens.unwrap();
    assert_eq!(tokens.budget, 300);
    assert_eq!(tokens.tokenizer, "o200k_base");
    assert!(tokens.composed_tokens <= 300);
    assert!(
        tokens.full_history_tokens > 5 * u64::from(tokens.composed_tokens),
        "{tokens:?}"
    );
    let context = r.context.unwrap();
    assert_eq!(context.facts[0].fact.as_ref().unwrap().key, "name");
    assert_eq!(context.facts[0].reason(), pb::SelectionReason::CurrentFact);
    let seqs: Vec<u64> = context
        .recent
        .iter()
        .map(|m| m.message.as_ref().unwrap().seq)
        .collect();
    assert_eq!(*seqs.last().unwrap(), 120, "ends with the newest message");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous: {seqs:?}"
    );
    assert!(
        context
            .recent
            .iter()
            .all(|m| m.reason() == pb::SelectionReason::Recent
                && !m.message.as_ref().unwrap().message_id.is_empty())
    );
    assert_eq!(context.input, "Posso remarcar?");
    // The identity is in the contract, not in the prompt.
    let identity = context.identity.clone().unwrap();
    assert_eq!(
        (identity.tenant_id.as_str(), identity.user_id.as_str()),
        ("acme", "u1")
    );
    assert!(r.text.starts_with("## Facts\n"), "{}", r.text);
    assert!(r.text.ends_with("## Input\nPosso remarcar?\n"));
    let sources: Vec<_> = r.timings.iter().map(|t| t.source.as_str()).collect();
    assert!(sources.contains(&"facts") && sources.contains(&"recent"));

    // Deterministic: the same request gives the same text.
    let again = memory
        .compose_context(compose("acme", "long", "u1", "Posso remarcar?", 300))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.text, r.text);

    // A gpt-4 model counts with cl100k, full history included.
    let gpt4 = pb::ComposeContextRequest {
        model: "gpt-4".into(),
        ..compose("acme", "long", "u1", "Posso remarcar?", 300)
    };
    let r4 = memory.compose_context(gpt4).await.unwrap().into_inner();
    let t4 = r4.tokens.unwrap();
    assert_eq!(t4.tokenizer, "cl100k_base");
    assert!(t4.full_history_tokens > 0 && t4.full_history_tokens != tokens.full_history_tokens);
    assert!(t4.composed_tokens <= 300);

    // Another user cannot compose on this conversation.
    let err = memory
        .compose_context(compose("acme", "long", "intruder", "oi", 300))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("belongs to another user"), "{err:?}");
}

#[tokio::test]
async fn reads_page_list_search_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    let messages = (1..=25)
        .map(|i| msg("", pb::Role::User, &format!("linha {i}")))
        .collect();
    memory
        .append_messages(append("acme", "c1", "u1", messages))
        .await
        .unwrap();
    memory
        .append_messages(append(
            "acme",
            "c2",
            "u1",
            vec![
                msg("", pb::Role::User, "Qual o valor da limpeza dental?"),
                msg("", pb::Role::Assistant, "A limpeza custa 200 reais."),
                msg("", pb::Role::User, "E o clareamento?"),
            ],
        ))
        .await
        .unwrap();

    // GetConversation pages through all 25 in order.
    let (mut token, mut seen) = (String::new(), Vec::new());
    loop {
        let r = memory
            .get_conversation(pb::GetConversationRequest {
                tenant_id: "acme".into(),
                conversation_id: "c1".into(),
                page_size: 10,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(r.messages.iter().map(|m| m.seq));
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    assert_eq!(seen, (1..=25).collect::<Vec<u64>>());

    let recent = memory
        .get_recent(pb::GetRecentRequest {
            tenant_id: "acme".into(),
            conversation_id: "c1".into(),
            limit: 3,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        recent.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [23, 24, 25]
    );

    // ListConversations: most recent first, paged.
    let first = memory
        .list_conversations(pb::ListConversationsRequest {
            tenant_id: "acme".into(),
            user_id: "u1".into(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.conversations[0].conversation_id, "c2");
    let second = memory
        .list_conversations(pb::ListConversationsRequest {
            tenant_id: "acme".into(),
            user_id: "u1".into(),
            page_size: 1,
            page_token: first.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.conversations[0].conversation_id, "c1");
    assert!(second.next_page_token.is_empty());

    // Search, each mode, scoped to the user or a conversation (semantic
    // search sees a message once its indexing job is done).
    crate::common::indexed(&sidecar, "acme").await;
    for mode in [
        pb::SearchMode::Lexical,
        pb::SearchMode::Semantic,
        pb::SearchMode::Hybrid,
    ] {
        let r = memory
            .search(pb::SearchRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                query: "preço da limpeza".into(),
                mode: mode as i32,
                limit: 3,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!r.semantic_unavailable);
        let top = r.hits[0].message.as_ref().unwrap();
        assert!(top.content.contains("limpeza"), "{mode:?}: {}", top.content);
        assert!(r.hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    let only_c1 = memory
        .search(pb::SearchRequest {
            tenant_id: "acme".into(),
            conversation_id: "c1".into(),
            query: "limpeza".into(),
            mode: pb::SearchMode::Lexical as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(only_c1.hits.is_empty());
    let assistant_only = memory
        .search(pb::SearchRequest {
            tenant_id: "acme".into(),
            user_id: "u1".into(),
            query: "limpeza".into(),
            mode: pb::SearchMode::Lexical as i32,
            roles: vec![pb::Role::Assistant as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(assistant_only.hits.len(), 1);

    // Delete removes the conversation from every read.
    let deleted = memory
        .delete_conversation(pb::DeleteConversationRequest {
            tenant_id: "acme".into(),
            conversation_id: "c2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted_messages, 3);
    assert_eq!(
        memory
            .get_conversation(page("acme", "c2"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert!(
        memory
            .get_recent(pb::GetRecentRequest {
                tenant_id: "acme".into(),
                conversation_id: "c2".into(),
                limit: 5
            })
            .await
            .unwrap()
            .into_inner()
            .messages
            .is_empty()
    );
    for mode in [pb::SearchMode::Lexical, pb::SearchMode::Semantic] {
        let r = memory
            .search(pb::SearchRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                query: "limpeza".into(),
                mode: mode as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            r.hits
                .iter()
                .all(|h| h.message.as_ref().unwrap().conversation_id == "c1"),
            "{mode:?}: a deleted conversation's message came back"
        );
    }
}

#[tokio::test]
async fn full_history_is_everything_the_user_has_rendered_compactly() {
    use engram_domain::time::Timestamp;
    use engram_text::tokens::{Tokenizer, render_line_parts, render_session_header};

    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    /// (message id, role, content)
    type Turn = (&'static str, pb::Role, &'static str);
    let sessions: [(&str, i64, &[Turn]); 2] = [
        (
            "visit-1",
            MARCH,
            &[
                (
                    "a1",
                    pb::Role::User,
                    "Quero marcar uma limpeza para o meu filho Pedro.",
                ),
                (
                    "a2",
                    pb::Role::Assistant,
                    "Claro! Temos terça às 9h para a limpeza.",
                ),
                ("a3", pb::Role::User, "Terça às 9h está ótimo, obrigada."),
            ],
        ),
        (
            "visit-2",
            JUNE,
            &[
                (
                    "b1",
                    pb::Role::User,
                    "A limpeza do Pedro foi ótima, ele adorou a dentista.",
                ),
                ("b2", pb::Role::Assistant, "Que bom! Até a próxima limpeza."),
            ],
        ),
    ];
    for (conversation, at, turns) in sessions {
        let messages = turns
            .iter()
            .enumerate()
            .map(|(i, (id, role, content))| pb::NewMessage {
                created_at: Some(prost_types::Timestamp {
                    seconds: at + 60 * i as i64,
                    nanos: 0,
                }),
                ..msg(id, *role, content)
            })
            .collect();
        memory
            .append_messages(append("acme", conversation, "u9", messages))
            .await
            .unwrap();
    }
    let role = |r: pb::Role| match r {
        pb::Role::User => engram_domain::model::Role::User,
        _ => engram_domain::model::Role::Assistant,
    };
    let expected = |tk: Tokenizer| -> u64 {
        sessions
            .iter()
            .map(|(_, at, turns)| {
                u64::from(tk.count(&render_session_header(Timestamp(at * 1_000_000))))
                    + turns
                        .iter()
                        .map(|(_, r, c)| u64::from(tk.count(&render_line_parts(role(*r), c))))
                        .sum::<u64>()
            })
            .sum()
    };
    crate::common::indexed(&sidecar, "acme").await;

    // A new conversation: its own history is empty, the user's is not.
    for (model, tk) in [("gpt-4o", Tokenizer::O200k), ("gpt-4", Tokenizer::Cl100k)] {
        let r = memory
            .compose_context(pb::ComposeContextRequest {
                model: model.into(),
                ..compose(
                    "acme",
                    "visit-3",
                    "u9",
                    "Como foi a limpeza do Pedro?",
                    4000,
                )
            })
            .await
            .unwrap()
            .into_inner();
        let tokens = r.tokens.unwrap();
        assert_eq!(tokens.full_history_tokens, expected(tk), "{model}");
        // Everything fits: each message once, each session's time once.
        for (_, _, turns) in &sessions {
            for (_, _, content) in *turns {
                assert_eq!(r.text.matches(content).count(), 1, "{content}\n{}", r.text);
            }
        }
        assert!(
            r.text.contains("\n[2026-03-01 00:00]\nuser: Quero marcar"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("\n[2026-06-01 00:00]\nuser: A limpeza"),
            "{}",
            r.text
        );
        assert_eq!(r.text.matches("[2026-").count(), 2, "{}", r.text);
    }

    // The input the client appended as the newest message is not repeated.
    let input = "E quando é a próxima limpeza do Pedro?";
    memory
        .append_messages(append(
            "acme",
            "visit-3",
            "u9",
            vec![msg("c1", pb::Role::User, input)],
        ))
        .await
        .unwrap();
    crate::common::indexed(&sidecar, "acme").await;
    let r = memory
        .compose_context(compose("acme", "visit-3", "u9", input, 4000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.text.matches(input).count(), 1, "{}", r.text);
    assert!(
        r.text.ends_with(&format!("## Input\n{input}\n"))
            || r.text.ends_with(&format!("user: {input}\n"))
    );
    sidecar.stop().await;
}

#[tokio::test]
async fn a_date_in_the_question_finds_what_was_said_that_day() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    // Forty days of the same kind of message; one day says what was asked.
    let day = 86_400;
    for i in 0..40i64 {
        let content = if i == 17 {
            "Hoje comprei um presente para a minha mãe: um relógio dourado.".to_owned()
        } else {
            format!("Hoje comprei um presente para a minha mãe, o número {i} da lista.")
        };
        memory
            .append_messages(append(
                "acme",
                &format!("day-{i}"),
                "u7",
                vec![pb::NewMessage {
                    created_at: Some(prost_types::Timestamp {
                        seconds: MARCH + i * day + 3600,
                        nanos: 0,
                    }),
                    ..msg(&format!("m{i}"), pb::Role::User, &content)
                }],
            ))
            .await
            .unwrap();
    }
    crate::common::indexed(&sidecar, "acme").await;
    // MARCH + 17 days: 2026-03-18, searched a day either side; without the
    // date the forty messages are alike.
    for question in [
        "Que presente comprei para a minha mãe em 18 de março de 2026?",
        "Qual presente comprei para minha mãe no dia 18/03/2026?",
        "What gift did I buy (comprei um presente) on March 18, 2026?",
    ] {
        let r = memory
            .compose_context(compose("acme", "today", "u7", question, 1000))
            .await
            .unwrap()
            .into_inner();
        let mut placed: Vec<(f64, String)> = r
            .context
            .unwrap()
            .relevant
            .iter()
            .filter_map(|m| {
                m.message
                    .as_ref()
                    .map(|msg| (m.score, msg.message_id.clone()))
            })
            .collect();
        placed.sort_by(|a, b| b.0.total_cmp(&a.0));
        let best: Vec<&str> = placed.iter().take(3).map(|(_, id)| id.as_str()).collect();
        assert!(best.contains(&"m17"), "{question}: {placed:?}");
        assert!(
            best.iter().all(|id| ["m16", "m17", "m18"].contains(id)),
            "{question}: {placed:?}"
        );
    }
    sidecar.stop().await;
}

/// One turn of the documented call order on a short conversation: the
/// composed prompt carries the input once and costs no more than the
/// history it replaces.
#[tokio::test]
async fn a_short_conversation_composes_no_dearer_than_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    let input = "Pode ser terça?";
    crate::common::append_turns(
        &sidecar,
        "acme",
        "new-user",
        "short",
        &[
            (pb::Role::User, "Olá, quero marcar uma limpeza"),
            (pb::Role::Assistant, "Claro! Que dia prefere?"),
            (pb::Role::User, input),
        ],
    )
    .await;
    let r = memory
        .compose_context(compose("acme", "short", "new-user", input, 500))
        .await
        .unwrap()
        .into_inner();
    let tokens = r.tokens.unwrap();
    assert!(
        u64::from(tokens.composed_tokens) <= tokens.full_history_tokens,
        "{tokens:?}\n{}",
        r.text
    );
    assert_eq!(r.text.matches(input).count(), 1, "{}", r.text);
    assert!(r.text.ends_with(&format!("user: {input}\n")), "{}", r.text);
    assert!(!r.text.contains("new-user"), "no identity in the prompt");
    sidecar.stop().await;
}

/// Small talk asks nothing older: composing for it runs no search (no
/// lexical or semantic source in its timings) and still carries the
/// recent messages.
#[tokio::test]
async fn small_talk_is_composed_without_searching() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    crate::common::append_turns(
        &sidecar,
        "acme",
        "u1",
        "chat",
        &[
            (pb::Role::User, "a limpeza ficou para terça às 9h"),
            (pb::Role::Assistant, "Confirmado: terça às 9h."),
        ],
    )
    .await;
    let sources = |r: &pb::ComposeContextResponse| {
        r.timings
            .iter()
            .map(|t| t.source.clone())
            .collect::<Vec<_>>()
    };
    let r = memory
        .compose_context(compose("acme", "chat", "u1", "Ok, obrigado!", 500))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !sources(&r).contains(&"lexical".to_owned()),
        "{:?}",
        sources(&r)
    );
    assert!(!sources(&r).contains(&"semantic".to_owned()));
    assert!(r.degraded.is_empty());
    assert!(r.text.contains("terça às 9h"), "{}", r.text);
    // A question does search.
    let r = memory
        .compose_context(compose("acme", "chat", "u1", "a limpeza é que horas?", 500))
        .await
        .unwrap()
        .into_inner();
    assert!(
        sources(&r).contains(&"lexical".to_owned()),
        "{:?}",
        sources(&r)
    );
    sidecar.stop().await;
}

/// `text_only`: the same text, counts and timings, without the contract
/// that repeats the messages.
#[tokio::test]
async fn text_only_leaves_the_contract_out() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    crate::common::append_turns(
        &sidecar,
        "acme",
        "u1",
        "c1",
        &[
            (pb::Role::User, "quero marcar uma limpeza"),
            (pb::Role::Assistant, "Claro! Que dia?"),
        ],
    )
    .await;
    let full = memory
        .compose_context(compose("acme", "c1", "u1", "Pode ser terça?", 500))
        .await
        .unwrap()
        .into_inner();
    let lean = memory
        .compose_context(pb::ComposeContextRequest {
            text_only: true,
            ..compose("acme", "c1", "u1", "Pode ser terça?", 500)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(full.context.is_some() && lean.context.is_none());
    assert_eq!(lean.text, full.text);
    assert_eq!(lean.tokens, full.tokens);
    assert!(!lean.timings.is_empty());
    assert!(prost::Message::encoded_len(&lean) < prost::Message::encoded_len(&full));
    sidecar.stop().await;
}

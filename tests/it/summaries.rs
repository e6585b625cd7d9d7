//! Summarize and the running summary, through the real binary on the
//! embedded default.

use std::time::Duration;

use crate::common::{Sidecar, eventually};
use engram::pb;
use engram_testrig::{ChatReply, ScriptedChat};
use tonic::Code;

const TENANT: &str = "dental-office";

const DENTAL: [(pb::Role, &str); 10] = [
    (pb::Role::User, "Oi, bom dia!"),
    (
        pb::Role::Assistant,
        "Bom dia! Tudo bem? Um momento, vou verificar.",
    ),
    (
        pb::Role::User,
        "Meu nome é João Silva, meu celular é 11 99999-8888.",
    ),
    (pb::Role::Assistant, "Perfeito, anotado."),
    (
        pb::Role::User,
        "Estou com dor no dente do siso há três dias.",
    ),
    (pb::Role::User, "Ok, obrigado."),
    (pb::Role::User, "Prefiro atendimento de manhã."),
    (
        pb::Role::Assistant,
        "Confirmado: extração do siso amanhã às 9h com a Dra. Ana.",
    ),
    (pb::Role::User, "Valeu!"),
    (pb::Role::Assistant, "Qualquer dúvida estou à disposição."),
];

async fn append(
    sidecar: &Sidecar,
    conversation: &str,
    messages: &[(pb::Role, &str)],
) -> Vec<pb::Message> {
    crate::common::append_turns(sidecar, TENANT, "joao", conversation, messages).await
}

fn summarize_request(
    conversation: &str,
    vertical: i32,
    from_seq: u64,
    to_seq: u64,
) -> pb::SummarizeRequest {
    pb::SummarizeRequest {
        tenant_id: TENANT.into(),
        conversation_id: conversation.into(),
        vertical,
        from_seq,
        to_seq,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_keeps_what_matters_and_drops_chatter() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let stored = append(&sidecar, "c1", &DENTAL).await;

    let reply = sidecar
        .memory()
        .summarize(summarize_request("c1", pb::Vertical::Dental as i32, 0, 0))
        .await
        .unwrap()
        .into_inner();
    let summary = reply.summary.unwrap();
    for kept in [
        "João Silva",
        "99999-8888",
        "dor no dente do siso",
        "Prefiro atendimento de manhã",
        "extração do siso amanhã",
    ] {
        assert!(
            summary.text.contains(kept),
            "{kept} missing from {}",
            summary.text
        );
    }
    for dropped in ["bom dia", "Valeu", "obrigado", "anotado", "à disposição"] {
        assert!(
            !summary.text.contains(dropped),
            "{dropped} kept in {}",
            summary.text
        );
    }
    assert!(summary.text.contains("Dental history:"));
    assert_eq!((summary.from_seq, summary.to_seq), (1, 10));
    assert!(reply.compression_ratio > 1.0, "{}", reply.compression_ratio);
    assert!(reply.took_micros > 0);
    assert_eq!(reply.summarizer, "extractive");
    assert!(!reply.fell_back);
    let ids: Vec<&str> = stored.iter().map(|m| m.message_id.as_str()).collect();
    assert!(summary.source_message_ids.contains(&ids[2].to_owned()));
    assert!(!summary.source_message_ids.contains(&ids[0].to_owned()));

    // A range.
    let part = sidecar
        .memory()
        .summarize(summarize_request("c1", 0, 3, 5))
        .await
        .unwrap()
        .into_inner()
        .summary
        .unwrap();
    assert_eq!((part.from_seq, part.to_seq), (3, 5));
    assert!(
        part.text.contains("João Silva") && !part.text.contains("manhã"),
        "{}",
        part.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_with_a_language_model_falls_back_to_extractive() {
    let chat = ScriptedChat::start(ChatReply::Text(
        "Dental history:\n- João Silva, 11 99999-8888: dor no siso; extração amanhã às 9h."
            .to_owned(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with(
        dir.path(),
        &crate::common::llm_flags(chat.url(), "small-chat", 1000),
    )
    .await;
    let stored = append(&sidecar, "c1", &DENTAL).await;
    let summarize = || {
        let mut memory = sidecar.memory();
        async move {
            memory
                .summarize(summarize_request("c1", pb::Vertical::Dental as i32, 0, 0))
                .await
                .unwrap()
                .into_inner()
        }
    };

    // The model writes it, from the whole transcript and the dental template.
    let reply = summarize().await;
    let summary = reply.summary.unwrap();
    assert_eq!(reply.summarizer, "small-chat");
    assert!(!reply.fell_back);
    assert!(
        summary.text.starts_with("Dental history:\n- João Silva"),
        "{}",
        summary.text
    );
    assert_eq!(summary.source_message_ids.len(), stored.len());
    assert!(reply.compression_ratio > 1.0);
    let sent = chat.requests();
    let system = sent[0]["messages"][0]["content"].as_str().unwrap();
    let user = sent[0]["messages"][1]["content"].as_str().unwrap();
    assert!(
        system.contains("dental office") && system.contains("Dental history"),
        "{system}"
    );
    assert!(
        user.contains("user: Meu nome é João Silva") && user.contains("Valeu"),
        "{user}"
    );

    // The model fails: the extractive summary answers, flagged.
    chat.set(ChatReply::Status(500));
    let reply = summarize().await;
    assert_eq!(reply.summarizer, "extractive");
    assert!(reply.fell_back);
    assert!(
        reply
            .summary
            .unwrap()
            .text
            .contains("extração do siso amanhã")
    );

    // The model is too slow for --llm-timeout-ms: the same.
    chat.set(ChatReply::Slow(Duration::from_secs(3), "late".to_owned()));
    let reply = summarize().await;
    assert_eq!(reply.summarizer, "extractive");
    assert!(reply.fell_back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    append(&sidecar, "c1", &DENTAL).await;
    let cases = [
        (
            summarize_request("c1", 99, 0, 0),
            Code::InvalidArgument,
            "vertical",
        ),
        (
            summarize_request("c1", 0, 5, 3),
            Code::InvalidArgument,
            "from_seq",
        ),
        (summarize_request("nope", 0, 0, 0), Code::NotFound, "nope"),
        (
            summarize_request("", 0, 0, 0),
            Code::InvalidArgument,
            "conversation_id",
        ),
    ];
    for (request, code, mention) in cases {
        let status = sidecar.memory().summarize(request).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(status.message().contains(mention), "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_conversation_composes_with_the_running_summary_of_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar =
        Sidecar::start_with(dir.path(), &["--summary-vertical".into(), "dental".into()]).await;
    let first = append(&sidecar, "week-1", &DENTAL).await;
    let name = first[2].message_id.clone();
    // A week later, a new conversation.
    append(
        &sidecar,
        "week-2",
        &[(pb::Role::User, "Oi, quero remarcar.")],
    )
    .await;

    let input = "Pode confirmar meu telefone?";
    // Joao's turn in week-2, composed in 500 tokens.
    let compose = || async {
        sidecar
            .memory()
            .compose_context(pb::ComposeContextRequest {
                tenant_id: TENANT.into(),
                conversation_id: "week-2".into(),
                user_id: "joao".into(),
                input: input.into(),
                token_budget: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    };
    let reply = eventually("the running summary", Duration::from_secs(30), || async {
        let reply = compose().await;
        reply.context.as_ref()?.summary.is_some().then_some(reply)
    })
    .await;
    let summary = reply.context.unwrap().summary.unwrap();
    assert!(summary.source_message_ids.contains(&name), "{summary:?}");
    assert!(summary.text.contains("99999-8888"));
    assert_eq!(summary.summary_id, "user:joao");
    assert!(reply.text.contains("## Summary of earlier messages\n"));
    let timing = reply
        .timings
        .iter()
        .find(|t| t.source == "summary")
        .unwrap();
    assert!(timing.available);
    assert!(reply.tokens.unwrap().composed_tokens <= 500);

    // The natural turn: the client appends the input, then composes with
    // it. The input found as its own best hit does not count as the
    // history answering it: the summary stays.
    append(&sidecar, "week-2", &[(pb::Role::User, input)]).await;
    let summary = compose().await.context.unwrap().summary.unwrap();
    assert!(summary.source_message_ids.contains(&name), "{summary:?}");
}

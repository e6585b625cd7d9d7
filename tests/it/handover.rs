//! HandoverService through the real binary: the AI paused and resumed,
//! operator events durable through a Redis flush and a sidecar kill, one
//! summary per handover through a crash and two racing sidecars, and
//! precise statuses for bad input.
//! Long: one test per behaviour of the handover a user relies on.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::common::{Sidecar, eventually};
use engram::pb;
use engram_testrig::{ChatReply, PgDatabase, RedisServer, ScriptedChat, unique_prefix};
use tonic::Code;

const TENANT: &str = "dental-office";

fn pg_flags(db: &PgDatabase, extra: &[String]) -> Vec<String> {
    let mut f = vec![
        "--postgres-url".into(),
        db.url.clone(),
        "--redis-prefix".into(),
        unique_prefix(),
    ];
    f.extend_from_slice(extra);
    f
}

async fn append(sidecar: &Sidecar, conversation: &str, contents: &[&str]) {
    sidecar
        .memory()
        .append_messages(pb::AppendMessagesRequest {
            tenant_id: TENANT.into(),
            conversation_id: conversation.into(),
            user_id: "maria".into(),
            messages: contents
                .iter()
                .map(|c| pb::NewMessage {
                    role: pb::Role::User as i32,
                    content: (*c).into(),
                    ..Default::default()
                })
                .collect(),
        })
        .await
        .unwrap();
}

async fn start(sidecar: &Sidecar, conversation: &str) -> pb::HandoverState {
    sidecar
        .handover()
        .start_handover(pb::StartHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: conversation.into(),
            operator_id: "ana".into(),
            reason: "customer asked for a person".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .handover
        .unwrap()
}

fn event(
    conversation: &str,
    handover: &str,
    event_id: &str,
    kind: &str,
    description: &str,
    metadata: &[(&str, &str)],
) -> pb::RecordOperatorEventRequest {
    pb::RecordOperatorEventRequest {
        tenant_id: TENANT.into(),
        conversation_id: conversation.into(),
        handover_id: handover.into(),
        event_id: event_id.into(),
        action: Some(pb::HumanAction {
            kind: kind.into(),
            description: description.into(),
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            occurred_at: None,
        }),
    }
}

fn end(
    conversation: &str,
    handover: &str,
    resolution: pb::ResolutionStatus,
) -> pb::EndHandoverRequest {
    pb::EndHandoverRequest {
        tenant_id: TENANT.into(),
        conversation_id: conversation.into(),
        handover_id: handover.into(),
        resolution_status: resolution as i32,
        notes: "Orçamento do implante enviado ao gerente".into(),
    }
}

async fn get(sidecar: &Sidecar, conversation: &str) -> Option<pb::HandoverState> {
    sidecar
        .handover()
        .get_handover(pb::GetHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: conversation.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .handover
}

/// Waits for the handover's summary.
async fn summarized(sidecar: &Sidecar, conversation: &str) -> pb::HandoverState {
    eventually("the handover summary", Duration::from_secs(60), || async {
        let state = get(sidecar, conversation).await?;
        (state.summary_job_status == pb::SummaryJobStatus::Done as i32).then_some(state)
    })
    .await
}

fn compose(conversation: &str) -> pb::ComposeContextRequest {
    pb::ComposeContextRequest {
        tenant_id: TENANT.into(),
        conversation_id: conversation.into(),
        user_id: "maria".into(),
        input: "E então, como ficou?".into(),
        token_budget: 2000,
        ..Default::default()
    }
}

async fn operator_messages(sidecar: &Sidecar, conversation: &str) -> Vec<String> {
    sidecar
        .memory()
        .get_recent(pb::GetRecentRequest {
            tenant_id: TENANT.into(),
            conversation_id: conversation.into(),
            limit: 100,
        })
        .await
        .unwrap()
        .into_inner()
        .messages
        .into_iter()
        .filter(|m| m.role == pb::Role::Operator as i32)
        .map(|m| m.content)
        .collect()
}

/// The whole story on the embedded default: paused, events, ended,
/// summarized, resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ai_pauses_during_a_handover_and_resumes_with_what_the_human_did() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar =
        Sidecar::start_with(dir.path(), &["--summary-vertical".into(), "dental".into()]).await;
    append(
        &sidecar,
        "c1",
        &["Quero falar com uma pessoa sobre o implante."],
    )
    .await;

    let started = start(&sidecar, "c1").await;
    assert_eq!(started.status, pb::HandoverStatus::Active as i32);
    assert!(started.ai_paused);
    assert_eq!(started.operator_id, "ana");

    // The agent composing now is told it is paused.
    let paused = sidecar
        .memory()
        .compose_context(compose("c1"))
        .await
        .unwrap()
        .into_inner();
    assert!(paused.context.unwrap().handover.unwrap().ai_paused);
    assert!(paused.text.contains("## Handover\n"), "{}", paused.text);
    assert!(paused.text.contains("The AI is paused"), "{}", paused.text);

    let h = started.handover_id.clone();
    let mut handover = sidecar.handover();
    handover
        .record_operator_event(event(
            "c1",
            &h,
            "e1",
            "message",
            "Olá Maria, aqui é a Ana da recepção.",
            &[],
        ))
        .await
        .unwrap();
    append(
        &sidecar,
        "c1",
        &["Meu telefone é 11 98888-7777, prefiro à tarde."],
    )
    .await;
    let booked = handover
        .record_operator_event(event(
            "c1",
            &h,
            "e2",
            "appointment_booked",
            "Avaliação do implante marcada para 28/11 às 15h",
            &[("dentist", "Dr. Paulo")],
        ))
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    assert_eq!(booked.kind, "appointment_booked");
    assert_eq!(
        booked.metadata.get("dentist").map(String::as_str),
        Some("Dr. Paulo")
    );
    // A retry of the same event is not a second event.
    handover
        .record_operator_event(event(
            "c1",
            &h,
            "e2",
            "appointment_booked",
            "Avaliação do implante marcada para 28/11 às 15h",
            &[("dentist", "Dr. Paulo")],
        ))
        .await
        .unwrap();
    // The operator's messages are part of the conversation's history.
    assert_eq!(operator_messages(&sidecar, "c1").await.len(), 2);

    let ended = handover
        .end_handover(end("c1", &h, pb::ResolutionStatus::Escalated))
        .await
        .unwrap()
        .into_inner()
        .handover
        .unwrap();
    assert_eq!(ended.status, pb::HandoverStatus::Ended as i32);
    assert!(!ended.ai_paused);
    assert!(ended.ended_at.is_some());

    let done = summarized(&sidecar, "c1").await;
    let summary = done.summary.unwrap();
    assert!(summary.handover_occurred);
    assert_eq!(
        summary.resolution_status,
        pb::ResolutionStatus::Escalated as i32
    );
    assert!(summary.requires_followup);
    let kinds: Vec<&str> = summary
        .human_actions
        .iter()
        .map(|a| a.kind.as_str())
        .collect();
    assert_eq!(kinds, ["message", "appointment_booked"]);
    for expected in [
        "(ana)",
        "customer asked for a person",
        "Outcome: escalated",
        "Follow-up required",
        "Orçamento do implante enviado ao gerente",
        "Avaliação do implante marcada para 28/11 às 15h (dentist=Dr. Paulo)",
        "11 98888-7777",
    ] {
        assert!(
            summary.ai_resumption_context.contains(expected),
            "{expected} missing from {}",
            summary.ai_resumption_context
        );
    }

    // The AI resumes with the resumption context ahead of recent history.
    let resumed = sidecar
        .memory()
        .compose_context(compose("c1"))
        .await
        .unwrap()
        .into_inner();
    let state = resumed.context.unwrap().handover.unwrap();
    assert!(!state.ai_paused);
    assert!(state.summary.unwrap().requires_followup);
    let text = resumed.text;
    let block = text.find("## Handover\n").expect("handover block");
    assert!(block < text.find("## Recent history\n").unwrap(), "{text}");
    assert!(
        text.contains("Orçamento do implante enviado ao gerente"),
        "{text}"
    );
    assert!(
        resumed
            .timings
            .iter()
            .any(|t| t.source == "handover" && t.available)
    );

    // A small budget still holds the block's first lines, within budget.
    let mut small = compose("c1");
    small.token_budget = 300;
    let tight = sidecar
        .memory()
        .compose_context(small)
        .await
        .unwrap()
        .into_inner();
    assert!(tight.tokens.unwrap().composed_tokens <= 300);
    assert!(tight.text.contains("## Handover\n"), "{}", tight.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handover_input_gets_precise_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    append(&sidecar, "c1", &["oi"]).await;
    let mut client = sidecar.handover();

    let unknown = client
        .start_handover(pb::StartHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "nope".into(),
            operator_id: "ana".into(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let no_operator = client
        .start_handover(pb::StartHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            operator_id: String::new(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_operator.code(), Code::InvalidArgument);
    assert!(no_operator.message().contains("operator_id"));

    let h = start(&sidecar, "c1").await.handover_id;
    let twice = client
        .start_handover(pb::StartHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            operator_id: "bruno".into(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition, "{twice:?}");

    let cases = [
        (
            event("c1", &h, "", "", "x", &[]),
            Code::InvalidArgument,
            "action.kind",
        ),
        (
            event("c1", &h, "", "Refund!", "x", &[]),
            Code::InvalidArgument,
            "action.kind",
        ),
        (
            event("c1", &h, "", "note", " ", &[]),
            Code::InvalidArgument,
            "action.description",
        ),
        (
            event(
                "c1",
                &h,
                "",
                "note",
                "x",
                &[("engram.handover_id", "other")],
            ),
            Code::InvalidArgument,
            "action.metadata",
        ),
        (
            event("c1", "not a handover", "", "note", "x", &[]),
            Code::InvalidArgument,
            "handover_id",
        ),
        (
            event("c1", "h-unknown", "", "note", "x", &[]),
            Code::FailedPrecondition,
            "h-unknown",
        ),
        (
            event("nope", &h, "", "note", "x", &[]),
            Code::NotFound,
            "nope",
        ),
    ];
    for (request, code, mention) in cases {
        let status = client.record_operator_event(request).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(status.message().contains(mention), "{status:?}");
    }
    let unspecified = client
        .end_handover(end("c1", &h, pb::ResolutionStatus::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(unspecified.code(), Code::InvalidArgument);
    assert!(unspecified.message().contains("resolution_status"));
    let unknown_handover = client
        .end_handover(end("c1", "h-unknown", pb::ResolutionStatus::Resolved))
        .await
        .unwrap_err();
    assert_eq!(unknown_handover.code(), Code::NotFound);

    client
        .end_handover(end("c1", &h, pb::ResolutionStatus::Resolved))
        .await
        .unwrap();
    let again = client
        .end_handover(end("c1", &h, pb::ResolutionStatus::Resolved))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    let late = client
        .record_operator_event(event("c1", &h, "", "note", "late", &[]))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition, "{late:?}");

    let missing = client
        .get_handover(pb::GetHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Another tenant does not see this conversation's handover.
    let other = client
        .get_handover(pb::GetHandoverRequest {
            tenant_id: "another-office".into(),
            conversation_id: "c1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
}

async fn next(stream: &mut tonic::Streaming<pb::WatchHandoverResponse>) -> pb::HandoverState {
    tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("a change within 30 s")
        .unwrap()
        .unwrap()
        .handover
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_the_state_changes() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    append(&sidecar, "c1", &["oi"]).await;
    let mut stream = sidecar
        .handover()
        .watch_handover(pb::WatchHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let h = start(&sidecar, "c1").await.handover_id;
    let first = next(&mut stream).await;
    assert_eq!(
        (first.handover_id.as_str(), first.ai_paused),
        (h.as_str(), true)
    );
    sidecar
        .handover()
        .end_handover(end("c1", &h, pb::ResolutionStatus::Resolved))
        .await
        .unwrap();
    // Ended (queued or already running), then done.
    let mut last = next(&mut stream).await;
    assert_eq!(last.status, pb::HandoverStatus::Ended as i32);
    while last.summary_job_status != pb::SummaryJobStatus::Done as i32 {
        last = next(&mut stream).await;
    }
    assert!(!last.summary.unwrap().requires_followup);
}

/// Postgres + Redis: what the operator wrote survives a Redis flush and a
/// sidecar kill, and ends up in the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_events_survive_a_redis_flush_and_a_sidecar_kill() {
    let db = PgDatabase::create();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let flags = pg_flags(&db, &["--redis-url".into(), redis.url()]);
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    append(&sidecar, "c1", &["Preciso de reembolso da consulta."]).await;
    let h = start(&sidecar, "c1").await.handover_id;
    for (i, text) in [
        "Verifiquei o pagamento.",
        "Reembolso de R$ 200,00 aprovado.",
    ]
    .iter()
    .enumerate()
    {
        sidecar
            .handover()
            .record_operator_event(event("c1", &h, &format!("e{i}"), "note", text, &[]))
            .await
            .unwrap();
    }
    let flushed = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "FLUSHALL"])
        .status()
        .unwrap();
    assert!(flushed.success());
    sidecar.kill();

    let sidecar = Sidecar::start_with(dir.path(), &flags).await;
    assert_eq!(
        operator_messages(&sidecar, "c1").await,
        [
            "Verifiquei o pagamento.",
            "Reembolso de R$ 200,00 aprovado."
        ]
    );
    assert!(get(&sidecar, "c1").await.unwrap().ai_paused);
    sidecar
        .handover()
        .end_handover(end("c1", &h, pb::ResolutionStatus::Resolved))
        .await
        .unwrap();
    let summary = summarized(&sidecar, "c1").await.summary.unwrap();
    assert_eq!(summary.human_actions.len(), 2);
    assert!(
        summary
            .ai_resumption_context
            .contains("Reembolso de R$ 200,00 aprovado.")
    );
}

/// Postgres: the sidecar dies while the summary is being written; after a
/// restart there is exactly one summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_killed_between_end_and_summary_yields_one_summary_after_restart() {
    let db = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let slow = ScriptedChat::start(ChatReply::Slow(Duration::from_secs(60), "late".into()));
    let llm = |chat: &ScriptedChat| {
        pg_flags(
            &db,
            &[
                "--llm-url".into(),
                chat.url(),
                "--llm-model".into(),
                "small-chat".into(),
                "--job-lease-ms".into(),
                "1500".into(),
            ],
        )
    };
    let sidecar = Sidecar::start_with(dir.path(), &llm(&slow)).await;
    append(&sidecar, "c1", &["Quero cancelar o tratamento."]).await;
    let h = start(&sidecar, "c1").await.handover_id;
    sidecar
        .handover()
        .record_operator_event(event(
            "c1",
            &h,
            "e1",
            "note",
            "Cancelamento registrado.",
            &[],
        ))
        .await
        .unwrap();
    sidecar
        .handover()
        .end_handover(end("c1", &h, pb::ResolutionStatus::Pending))
        .await
        .unwrap();
    // The worker took the job and waits on the model: kill it there.
    eventually(
        "the summary job to start",
        Duration::from_secs(30),
        || async { (!slow.requests().is_empty()).then_some(()) },
    )
    .await;
    sidecar.kill();

    let fast = ScriptedChat::start(ChatReply::Text(
        "- Cancelamento registrado; aguardando confirmação.".into(),
    ));
    let sidecar = Sidecar::start_with(dir.path(), &llm(&fast)).await;
    let state = summarized(&sidecar, "c1").await;
    let summary = state.summary.clone().unwrap();
    assert_eq!(
        summary.ai_resumption_context,
        "- Cancelamento registrado; aguardando confirmação."
    );
    assert!(summary.requires_followup);
    assert_eq!(summary.summarizer, "small-chat");
    assert_eq!(summary.human_actions.len(), 1);
    // One summary: the restarted worker wrote it once, and nothing runs
    // again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fast.requests().len(), 1);
    assert_eq!(slow.requests().len(), 1);
    assert_eq!(get(&sidecar, "c1").await.unwrap(), state);
}

/// Postgres: two sidecars sweep the same jobs; each handover is summarized
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sidecars_racing_on_the_jobs_write_one_summary_each() {
    let db = PgDatabase::create();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (chat_a, chat_b) = (
        ScriptedChat::start(ChatReply::Slow(
            Duration::from_millis(50),
            "- from A".into(),
        )),
        ScriptedChat::start(ChatReply::Slow(
            Duration::from_millis(50),
            "- from B".into(),
        )),
    );
    let flags = |chat: &ScriptedChat| {
        pg_flags(
            &db,
            &[
                "--llm-url".into(),
                chat.url(),
                "--llm-model".into(),
                "m".into(),
            ],
        )
    };
    let a = Sidecar::start_with(dir_a.path(), &flags(&chat_a)).await;
    let b = Sidecar::start_with(dir_b.path(), &flags(&chat_b)).await;
    let conversations: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    let mut handovers = HashMap::new();
    for c in &conversations {
        append(&a, c, &["oi"]).await;
        handovers.insert(c.clone(), start(&a, c).await.handover_id);
    }
    // Ended alternately through each sidecar: both workers are woken.
    for (i, c) in conversations.iter().enumerate() {
        let sidecar = if i % 2 == 0 { &a } else { &b };
        sidecar
            .handover()
            .end_handover(end(c, &handovers[c], pb::ResolutionStatus::Resolved))
            .await
            .unwrap();
    }
    for c in &conversations {
        let summary = summarized(&a, c).await.summary.unwrap();
        assert!(summary.ai_resumption_context.starts_with("- from "));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        chat_a.requests().len() + chat_b.requests().len(),
        conversations.len(),
        "every job ran once (A: {}, B: {})",
        chat_a.requests().len(),
        chat_b.requests().len()
    );
}

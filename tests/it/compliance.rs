//! ComplianceService's Classify and Anonymize, and FactsService's
//! ExtractFacts (built on the same detectors), through the real binary.

use crate::common::Sidecar;
use engram::pb;
use engram_testrig::{ChatReply, ScriptedChat};
use tonic::Code;

fn classify(content: &str, vertical: pb::Vertical) -> pb::ClassifyRequest {
    pb::ClassifyRequest {
        tenant_id: "clinic".into(),
        content: content.into(),
        vertical: vertical as i32,
    }
}

fn anonymize(tenant: &str, content: &str) -> pb::AnonymizeRequest {
    pb::AnonymizeRequest {
        tenant_id: tenant.into(),
        content: content.into(),
        reason: "sharing with the insurer".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_applies_the_vertical_rules_and_reports_findings() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut client = sidecar.compliance();

    let text = "Meu CPF é 529.982.247-25 e sou alérgica a dipirona";
    let r = client
        .classify(classify(text, pb::Vertical::Medical))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.classification, pb::DataClassification::Sensitive as i32);
    assert_eq!(r.regimes, [pb::Regime::Lgpd as i32, pb::Regime::Cfm as i32]);
    assert_eq!(r.retention_days, 7300);
    assert_eq!(r.retention_action, pb::RetentionAction::Anonymize as i32);
    assert!(r.anonymization_required && r.encryption_required);
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(f.pii_type, "cpf");
    assert_eq!(&text[f.start as usize..f.end as usize], "529.982.247-25");

    let r = client
        .classify(classify("Vocês abrem sábado?", pb::Vertical::Dental))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.classification, pb::DataClassification::Internal as i32);
    assert_eq!(r.regimes, [pb::Regime::Cfo as i32]);
    assert!(!r.anonymization_required);

    for (request, field) in [
        (
            pb::ClassifyRequest {
                vertical: 99,
                ..classify("x", pb::Vertical::Medical)
            },
            "vertical",
        ),
        (
            pb::ClassifyRequest {
                tenant_id: "Bad Tenant".into(),
                ..classify("x", pb::Vertical::Medical)
            },
            "tenant_id",
        ),
        (
            classify(&"x".repeat(40_000), pb::Vertical::General),
            "content",
        ),
    ] {
        let status = client.classify(request).await.unwrap_err();
        assert!(
            matches!(
                status.code(),
                Code::InvalidArgument | Code::ResourceExhausted
            ),
            "{status:?}"
        );
        assert!(status.message().contains(field), "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymize_masks_by_default_and_per_tenant_modes_apply() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with(
        dir.path(),
        &[
            "--anonymization".into(),
            "mask,lawfirm=remove,lab=hash".into(),
            "--anonymization-key".into(),
            "test-master-key".into(),
        ],
    )
    .await;
    let mut client = sidecar.compliance();
    let text = "Sou João Silva, CPF 529.982.247-25, fone 11999998888, joao@email.com";

    let masked = client
        .anonymize(anonymize("clinic", text))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        masked.content,
        "Sou João S***, CPF ***.***.***-25, fone 11*****88, ***@email.com"
    );
    assert!(masked.anonymized);
    assert_eq!(masked.reason, "sharing with the insurer");
    let kinds: Vec<&str> = masked
        .findings
        .iter()
        .map(|f| f.pii_type.as_str())
        .collect();
    assert_eq!(kinds, ["name", "cpf", "phone", "email"]);

    let removed = client
        .anonymize(anonymize("lawfirm", text))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        removed.content,
        "Sou [name], CPF [cpf], fone [phone], [email]"
    );

    let hashed = client
        .anonymize(anonymize("lab", text))
        .await
        .unwrap()
        .into_inner();
    assert!(hashed.content.contains("CPF [cpf:"), "{}", hashed.content);
    assert!(!hashed.content.contains("529"), "{}", hashed.content);

    let clean = client
        .anonymize(anonymize("clinic", "Qual o horário?"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clean.content, "Qual o horário?");
    assert!(!clean.anonymized);
}

/// A clinic conversation: the customer's statements, and an agent's
/// questions that hold data of their own (the clinic's phone, a doctor).
const CLINIC: [(pb::Role, &str); 7] = [
    (
        pb::Role::User,
        "Oi, meu nome é Maria Souza e queria marcar uma consulta",
    ),
    (
        pb::Role::Assistant,
        "Claro! Com a Dra. Ana Lima? Nosso telefone é (11) 3456-7890. Qual seu CPF?",
    ),
    (pb::Role::User, "529.982.247-25"),
    (pb::Role::User, "Prefiro terça de manhã, segunda não posso."),
    (pb::Role::User, "meu email é maria@exemplo.com.br"),
    (
        pb::Role::User,
        "Aliás, mudei de email: maria.souza@exemplo.com",
    ),
    (
        pb::Role::User,
        "Tomei o remédio às 8h. Quartas são ótimas pra mim.",
    ),
];

/// Appends CLINIC in two calls (the second from the e-mail change on), so
/// that the two e-mails are valid from different times.
async fn append_clinic(sidecar: &Sidecar, conversation: &str) -> Vec<pb::Message> {
    let mut stored = Vec::new();
    for part in [&CLINIC[..5], &CLINIC[5..]] {
        stored.extend(
            crate::common::append_turns(sidecar, "clinic", "maria", conversation, part).await,
        );
    }
    stored
}

fn extract(conversation: &str, dry_run: bool) -> pb::ExtractFactsRequest {
    pb::ExtractFactsRequest {
        tenant_id: "clinic".into(),
        conversation_id: conversation.into(),
        dry_run,
    }
}

/// (key, value, message index in CLINIC) of each proposal.
fn proposed(
    reply: &pb::ExtractFactsResponse,
    stored: &[pb::Message],
) -> Vec<(String, String, usize)> {
    reply
        .proposals
        .iter()
        .map(|p| {
            let fact = p.fact.as_ref().unwrap();
            let source = fact.source.as_ref().unwrap();
            assert_eq!(source.kind, pb::FactSourceKind::Extraction as i32);
            assert_eq!(source.reference, p.message_id);
            let at = stored
                .iter()
                .position(|m| m.message_id == p.message_id)
                .unwrap();
            assert_eq!(fact.valid_at, stored[at].created_at);
            assert!(fact.confidence > 0.0 && fact.confidence <= 1.0);
            (fact.key.clone(), fact.value_json.clone(), at)
        })
        .collect()
}

fn owned(expected: &[(&str, &str, usize)]) -> Vec<(String, String, usize)> {
    expected
        .iter()
        .map(|(k, v, i)| ((*k).to_owned(), (*v).to_owned(), *i))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_facts_proposes_the_customers_own_facts_and_stores_them_as_puts() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let stored = append_clinic(&sidecar, "c1").await;
    let mut facts = sidecar.facts();
    let expected = owned(&[
        ("name", r#""Maria Souza""#, 0),
        ("document.cpf", r#""52998224725""#, 2),
        ("preferred_days", r#"["tuesday"]"#, 3),
        ("unavailable_days", r#"["monday"]"#, 3),
        ("preferred_time", r#""morning""#, 3),
        ("email", r#""maria@exemplo.com.br""#, 4),
        ("email", r#""maria.souza@exemplo.com""#, 5),
    ]);

    // A dry run proposes (not the agent's phone, not the doctor, not the
    // hour of a medicine) and stores nothing.
    let dry = facts
        .extract_facts(extract("c1", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proposed(&dry, &stored), expected);
    assert!(dry.results.is_empty());
    assert_eq!(
        (dry.extractor.as_str(), dry.model_fell_back),
        ("rules", false)
    );
    let current = |facts: &mut pb::facts_service_client::FactsServiceClient<_>| {
        let mut facts = facts.clone();
        async move {
            facts
                .get_facts(pb::GetFactsRequest {
                    tenant_id: "clinic".into(),
                    user_id: "maria".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .facts
                .into_iter()
                .map(|f| (f.key, f.value_json))
                .collect::<Vec<_>>()
        }
    };
    assert!(current(&mut facts).await.is_empty());

    // Stored with PutFacts semantics: the later e-mail supersedes the
    // earlier one, each valid from its message's time.
    let run = facts
        .extract_facts(extract("c1", false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proposed(&run, &stored), expected);
    let outcomes: Vec<i32> = run.results.iter().map(|r| r.outcome).collect();
    let created = pb::PutOutcome::Created as i32;
    assert_eq!(
        outcomes,
        [
            created,
            created,
            created,
            created,
            created,
            created,
            pb::PutOutcome::Superseded as i32
        ]
    );
    assert_eq!(
        current(&mut facts).await,
        [
            ("document.cpf".to_owned(), r#""52998224725""#.to_owned()),
            (
                "email".to_owned(),
                r#""maria.souza@exemplo.com""#.to_owned()
            ),
            ("name".to_owned(), r#""Maria Souza""#.to_owned()),
            ("preferred_days".to_owned(), r#"["tuesday"]"#.to_owned()),
            ("preferred_time".to_owned(), r#""morning""#.to_owned()),
            ("unavailable_days".to_owned(), r#"["monday"]"#.to_owned()),
        ]
    );
    let history = facts
        .get_fact_history(pb::GetFactHistoryRequest {
            tenant_id: "clinic".into(),
            user_id: "maria".into(),
            key: "email".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].invalid_at, stored[5].created_at);

    // Running it again changes nothing.
    let again = facts
        .extract_facts(extract("c1", false))
        .await
        .unwrap()
        .into_inner();
    assert!(
        again
            .results
            .iter()
            .all(|r| r.outcome == pb::PutOutcome::Unchanged as i32),
        "{:?}",
        again.results
    );

    // Two values stated in one append are valid from the same instant:
    // only the later one is proposed.
    let turns = [
        (pb::Role::User, "meu email é a@b.com"),
        (pb::Role::User, "errei, é c@d.com"),
    ];
    let stored = crate::common::append_turns(&sidecar, "clinic", "maria", "c2", &turns).await;
    let dry = facts
        .extract_facts(extract("c2", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        proposed(&dry, &stored),
        owned(&[("email", r#""c@d.com""#, 1)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_facts_merges_a_language_models_proposals_the_detectors_confirm() {
    // Message 6 of CLINIC is the 6th user message (index 5 among them).
    let chat = ScriptedChat::start(ChatReply::Text(
        r#"[{"message": 1, "key": "document.cpf", "value": "529.982.247-25"},
            {"message": 1, "key": "document.cpf", "value": "111.444.777-35"},
            {"message": 5, "key": "preferred_days", "value": ["wednesday"]},
            {"message": 2, "key": "diagnosis", "value": "enxaqueca"},
            {"message": 4, "key": "email", "value": "maria.souza@exemplo.com"}]"#
            .to_owned(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with(
        dir.path(),
        &crate::common::llm_flags(chat.url(), "small-chat", 2000),
    )
    .await;
    let stored = append_clinic(&sidecar, "c1").await;
    let mut facts = sidecar.facts();
    let reply = facts
        .extract_facts(extract("c1", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.extractor, "rules+small-chat");
    // The CPF the message holds is the rules' own (merged once); a CPF the
    // message does not hold and a key ExtractFacts does not write are
    // refused; the model reads a preference the rules' cue words miss,
    // and the message does name that day.
    assert_eq!(reply.model_refused, 2);
    let got = proposed(&reply, &stored);
    assert!(
        got.contains(&("preferred_days".into(), r#"["wednesday"]"#.into(), 6)),
        "{got:?}"
    );
    assert_eq!(got.iter().filter(|p| p.0 == "document.cpf").count(), 1);
    let sent = chat.requests();
    let user = sent[0]["messages"][1]["content"].as_str().unwrap();
    assert!(user.starts_with("[0] Oi, meu nome é Maria Souza"), "{user}");
    assert!(
        !user.contains("Nosso telefone"),
        "agent messages are not sent: {user}"
    );

    // The model fails: the rules answer alone, flagged.
    chat.set(ChatReply::Status(500));
    let reply = facts
        .extract_facts(extract("c1", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.extractor.as_str(), reply.model_fell_back),
        ("rules", true)
    );
    assert_eq!(proposed(&reply, &stored).len(), 7);
}

//! ComplianceService's Classify and Anonymize through the real binary.

mod common;

use common::Sidecar;
use engram::pb;
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

//! ComplianceService. Classify, Anonymize and memory statistics are
//! served; the subject-rights, retention and audit RPCs answer
//! UNIMPLEMENTED until they land (with the authorization of administrative
//! calls).

use std::pin::Pin;
use std::sync::Arc;

use engram_core::compliance::{
    Classification, Jurisdictions, Masking, Regime, RetentionAction, anonymize, classify,
};
use engram_core::error::Error;
use engram_core::ids::TenantId;
use engram_core::limits::{MAX_CONTENT_BYTES, MAX_REASON_BYTES};
use engram_core::model::IMPORTANCE_BANDS;
use engram_core::pii::{Finding, detect};
use engram_core::time::Timestamp;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use super::status::{not_built, to_status};
use crate::backends::AppEngine;
use crate::config::{Anonymization, AnonymizationMode, ServeArgs};
use crate::pb;
use crate::pb::compliance_service_server::ComplianceService;

/// Classification and anonymization settings, from the configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    jurisdictions: Jurisdictions,
    anonymization: Anonymization,
    key: Option<Arc<[u8]>>,
}

impl Policy {
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        if args.anonymization.uses_hash() && args.anonymization_key.is_none() {
            anyhow::bail!("--anonymization uses hash: --anonymization-key is required");
        }
        Ok(Self {
            jurisdictions: args.jurisdictions.0,
            anonymization: args.anonymization.clone(),
            key: args
                .anonymization_key
                .as_ref()
                .map(|k| Arc::from(k.as_bytes())),
        })
    }

    fn masking(&self, tenant: &TenantId) -> Masking {
        match (self.anonymization.mode(tenant.as_str()), &self.key) {
            (AnonymizationMode::Mask, _) | (AnonymizationMode::Hash, None) => Masking::Mask,
            (AnonymizationMode::Hash, Some(key)) => Masking::hash_for(key, tenant.as_str()),
            (AnonymizationMode::Remove, _) => Masking::Remove,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ComplianceApi {
    engine: Arc<AppEngine>,
    policy: Policy,
}

impl ComplianceApi {
    pub fn new(engine: Arc<AppEngine>, policy: Policy) -> Self {
        Self { engine, policy }
    }
}

fn to_finding(f: &Finding) -> pb::PiiFinding {
    pb::PiiFinding {
        pii_type: f.kind.as_str().to_owned(),
        start: u32::try_from(f.start).unwrap_or(u32::MAX),
        end: u32::try_from(f.end).unwrap_or(u32::MAX),
        confidence: f.confidence,
    }
}

type Reply<T> = Result<Response<T>, Status>;
const WHAT: &str = "ComplianceService";

#[tonic::async_trait]
impl ComplianceService for ComplianceApi {
    async fn classify(&self, request: Request<pb::ClassifyRequest>) -> Reply<pb::ClassifyResponse> {
        let r = request.into_inner();
        convert::tenant(&r.tenant_id).map_err(to_status)?;
        convert::text("content", &r.content, MAX_CONTENT_BYTES, false).map_err(to_status)?;
        let vertical = convert::vertical(r.vertical).map_err(to_status)?;
        let c = classify(&r.content, vertical, self.policy.jurisdictions);
        Ok(Response::new(pb::ClassifyResponse {
            classification: match c.classification {
                Classification::Public => pb::DataClassification::Public,
                Classification::Internal => pb::DataClassification::Internal,
                Classification::Confidential => pb::DataClassification::Confidential,
                Classification::Sensitive => pb::DataClassification::Sensitive,
            } as i32,
            regimes: c
                .regimes
                .iter()
                .map(|r| {
                    (match r {
                        Regime::Lgpd => pb::Regime::Lgpd,
                        Regime::Gdpr => pb::Regime::Gdpr,
                        Regime::Hipaa => pb::Regime::Hipaa,
                        Regime::Cfm => pb::Regime::Cfm,
                        Regime::Cfo => pb::Regime::Cfo,
                        Regime::Oab => pb::Regime::Oab,
                    }) as i32
                })
                .collect(),
            retention_days: c.retention_days,
            retention_action: match c.retention_action {
                RetentionAction::Delete => pb::RetentionAction::Delete,
                RetentionAction::Anonymize => pb::RetentionAction::Anonymize,
                RetentionAction::Archive => pb::RetentionAction::Archive,
            } as i32,
            anonymization_required: c.anonymization_required,
            encryption_required: c.encryption_required,
            findings: c.findings.iter().map(to_finding).collect(),
        }))
    }

    async fn anonymize(
        &self,
        request: Request<pb::AnonymizeRequest>,
    ) -> Reply<pb::AnonymizeResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        convert::text("content", &r.content, MAX_CONTENT_BYTES, false).map_err(to_status)?;
        convert::text("reason", &r.reason, MAX_REASON_BYTES, false).map_err(to_status)?;
        let findings = detect(&r.content);
        let content = anonymize(&r.content, &findings, &self.policy.masking(&tenant));
        Ok(Response::new(pb::AnonymizeResponse {
            content,
            anonymized: !findings.is_empty(),
            findings: findings.iter().map(to_finding).collect(),
            reason: r.reason,
        }))
    }

    type ExportSubjectDataStream =
        Pin<Box<dyn Stream<Item = Result<pb::ExportSubjectDataResponse, Status>> + Send>>;

    async fn export_subject_data(
        &self,
        _: Request<pb::ExportSubjectDataRequest>,
    ) -> Reply<Self::ExportSubjectDataStream> {
        Err(not_built(WHAT))
    }

    async fn erase_subject(
        &self,
        _: Request<pb::EraseSubjectRequest>,
    ) -> Reply<pb::EraseSubjectResponse> {
        Err(not_built(WHAT))
    }

    async fn put_retention_policy(
        &self,
        _: Request<pb::PutRetentionPolicyRequest>,
    ) -> Reply<pb::PutRetentionPolicyResponse> {
        Err(not_built(WHAT))
    }

    async fn run_retention(
        &self,
        _: Request<pb::RunRetentionRequest>,
    ) -> Reply<pb::RunRetentionResponse> {
        Err(not_built(WHAT))
    }

    async fn set_legal_hold(
        &self,
        _: Request<pb::SetLegalHoldRequest>,
    ) -> Reply<pb::SetLegalHoldResponse> {
        Err(not_built(WHAT))
    }

    async fn verify_audit_log(
        &self,
        _: Request<pb::VerifyAuditLogRequest>,
    ) -> Reply<pb::VerifyAuditLogResponse> {
        Err(not_built(WHAT))
    }

    async fn get_memory_stats(
        &self,
        request: Request<pb::GetMemoryStatsRequest>,
    ) -> Reply<pb::GetMemoryStatsResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let max_users = match r.max_users {
            0 => DEFAULT_STATS_USERS,
            n if n as usize > MAX_STATS_USERS => {
                return Err(to_status(Error::invalid(
                    "max_users",
                    format!("at most {MAX_STATS_USERS}"),
                )));
            }
            n => n as usize,
        };
        let stats = self
            .engine
            .memory_stats(&tenant, max_users)
            .await
            .map_err(to_status)?;
        let now = Timestamp::now();
        let ts = |t: Option<Timestamp>| t.map(convert::to_timestamp);
        Ok(Response::new(pb::GetMemoryStatsResponse {
            conversations: stats.conversations,
            messages: stats.messages,
            bands: IMPORTANCE_BANDS
                .iter()
                .zip(stats.by_importance)
                .enumerate()
                .map(|(i, ((band, floor), messages))| pb::ImportanceBand {
                    band: (*band).to_owned(),
                    min_importance: *floor,
                    max_importance: match i {
                        0 => 1.0,
                        _ => IMPORTANCE_BANDS[i - 1].1,
                    },
                    messages,
                })
                .collect(),
            oldest: ts(stats.oldest),
            newest: ts(stats.newest),
            users: stats
                .users
                .into_iter()
                .map(|u| pb::UserMemoryStats {
                    user_id: u.user_id.to_string(),
                    conversations: u.conversations,
                    messages: u.messages,
                    oldest: ts(u.oldest),
                    newest: ts(u.newest),
                })
                .collect(),
            users_truncated: stats.users_truncated,
            indexing: Some(pb::IndexingStats {
                pending_jobs: stats.outbox.pending,
                lag_ms: stats
                    .outbox
                    .oldest
                    .map_or(0, |o| (now.0.saturating_sub(o.0).max(0) / 1000) as u64),
                model: self.engine.embedding_model().to_owned(),
            }),
        }))
    }
}

/// Users listed by GetMemoryStats unless asked otherwise, and at most.
const DEFAULT_STATS_USERS: usize = 100;
const MAX_STATS_USERS: usize = 10_000;

//! ComplianceService. Classify and Anonymize are open to every caller;
//! the administrative RPCs (export, erase, retention, legal holds, audit
//! verification, statistics) need a bearer token with the right scope
//! (`crate::admin`). Every administrative call — granted or refused — and
//! every Anonymize is written to the tenant's hash-chained audit log.
//!
//! About 600 lines: ten RPCs, each with its token scope, input checks and
//! audit entry; thin otherwise (the work is the engine's).

use std::pin::Pin;
use std::sync::Arc;

use engram_domain::audit::{NewAuditEntry, subject_ref};
use engram_domain::error::Error;
use engram_domain::ids::TenantId;
use engram_domain::ids::UserId;
use engram_domain::limits::{MAX_CONTENT_BYTES, MAX_REASON_BYTES};
use engram_domain::model::IMPORTANCE_BANDS;
use engram_domain::retention::RetentionAction;
use engram_domain::retention::{MAX_POLICY_ID_BYTES, MAX_RETENTION_DAYS, RetentionPolicy};
use engram_domain::time::Timestamp;
use engram_engine::{RetentionRuns, retention_report};
use engram_rules::compliance::{
    Classification, Jurisdictions, Masking, Regime, anonymize, classify,
};
use engram_rules::pii::{Finding, detect};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use tracing::warn;

use super::convert;
use super::status::to_status;
use crate::admin::{AdminScope, Admins};
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
    admins: Admins,
    audit_key: Option<Arc<[u8]>>,
}

impl Policy {
    /// The policy of `args`, which [`ServeArgs::validate`] accepted.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        Ok(Self {
            jurisdictions: args.jurisdictions.0,
            anonymization: args.anonymization.clone(),
            key: args
                .anonymization_key
                .as_ref()
                .map(|k| Arc::from(k.as_bytes())),
            admins: Admins::with_identities(
                args.admin_tokens.clone(),
                args.admin_identities.clone(),
            ),
            audit_key: args.audit_key.as_ref().map(|k| Arc::from(k.as_bytes())),
        })
    }

    /// The pseudonym of a user in the audit log.
    pub fn subject(&self, tenant: &TenantId, user: &UserId) -> String {
        subject_ref(self.audit_key.as_deref(), tenant.as_str(), user.as_str())
    }

    pub(super) fn masking(&self, tenant: &TenantId) -> Masking {
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

    /// The tenant, user and audit pseudonym of a call about a data
    /// subject, whose reason is required.
    fn subject_call(
        &self,
        tenant: &str,
        user: &str,
        reason: &str,
    ) -> Result<(TenantId, UserId, String), Status> {
        let tenant = convert::tenant(tenant).map_err(to_status)?;
        let user = convert::user(user).map_err(to_status)?;
        convert::text("reason", reason, MAX_REASON_BYTES, true).map_err(to_status)?;
        let subject = self.policy.subject(&tenant, &user);
        Ok((tenant, user, subject))
    }

    /// The caller's token name when it may use `scope`; a refusal is
    /// audited (best effort: the refusal stands if the log cannot be
    /// written).
    async fn admit<T>(
        &self,
        request: &Request<T>,
        tenant: &TenantId,
        scope: AdminScope,
        what: Audited<'_>,
    ) -> Result<String, Status> {
        // The client's certificate when it came over mTLS (verified by the
        // handshake against --tls-client-ca).
        let peer = request.extensions().get::<super::tls::Peer>();
        let client = peer
            .and_then(|p| p.certificates.as_ref())
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.as_ref());
        match self
            .policy
            .admins
            .authorize(request.metadata(), client, scope)
        {
            Ok(actor) => Ok(actor),
            Err(refusal) => {
                let entry = what.entry(
                    &refusal.actor,
                    format!("refused: {}", refusal.status.message()),
                );
                if let Err(error) = self.engine.audit(tenant, entry).await {
                    warn!(%tenant, error = %error.redacted(), "a refused call could not be audited");
                }
                Err(refusal.status)
            }
        }
    }

    /// Writes the audit entry of a call that was carried out.
    async fn record(
        &self,
        tenant: &TenantId,
        actor: &str,
        what: Audited<'_>,
        result: String,
    ) -> Result<(), Status> {
        self.engine
            .audit(tenant, what.entry(actor, result))
            .await
            .map(drop)
            .map_err(to_status)
    }
}

/// What an audit entry says was asked.
#[derive(Debug, Clone, Copy)]
struct Audited<'a> {
    action: &'static str,
    subject: &'a str,
    reason: &'a str,
}

impl Audited<'_> {
    fn entry(&self, actor: &str, result: String) -> NewAuditEntry {
        NewAuditEntry {
            actor: actor.to_owned(),
            action: self.action.to_owned(),
            subject: self.subject.to_owned(),
            reason: self.reason.to_owned(),
            result,
        }
    }
}

fn retention_action(raw: i32) -> Result<RetentionAction, Error> {
    match pb::RetentionAction::try_from(raw) {
        Ok(pb::RetentionAction::Delete) => Ok(RetentionAction::Delete),
        Ok(pb::RetentionAction::Anonymize) => Ok(RetentionAction::Anonymize),
        Ok(pb::RetentionAction::Archive) => Ok(RetentionAction::Archive),
        _ => Err(Error::invalid(
            "policy.action",
            "must be DELETE, ANONYMIZE or ARCHIVE",
        )),
    }
}

/// An audit entry's result: `ok: …` from the value, or `failed: …`.
/// What the engine's retention scheduler needs of the server: each
/// tenant's masking, and a failure's words as a client would read them.
pub fn retention_runs(policy: Policy) -> RetentionRuns {
    RetentionRuns {
        masking: Arc::new(move |tenant| policy.masking(tenant)),
        describe_error: |error| to_status(error.clone()).message().to_owned(),
    }
}

fn outcome<T>(result: &Result<T, Error>, ok: impl FnOnce(&T) -> String) -> String {
    match result {
        Ok(value) => ok(value),
        Err(e) => format!("failed: {}", to_status(e.clone()).message()),
    }
}

fn to_pb_action(action: RetentionAction) -> pb::RetentionAction {
    match action {
        RetentionAction::Delete => pb::RetentionAction::Delete,
        RetentionAction::Anonymize => pb::RetentionAction::Anonymize,
        RetentionAction::Archive => pb::RetentionAction::Archive,
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
            retention_action: to_pb_action(c.retention_action) as i32,
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
        let what = Audited {
            action: "compliance.anonymize",
            subject: "",
            reason: &r.reason,
        };
        self.record(
            &tenant,
            "api",
            what,
            format!("ok: {} masked", findings.len()),
        )
        .await?;
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
        request: Request<pb::ExportSubjectDataRequest>,
    ) -> Reply<Self::ExportSubjectDataStream> {
        let r = request.get_ref();
        let (tenant, user, subject) = self.subject_call(&r.tenant_id, &r.user_id, &r.reason)?;
        let what = Audited {
            action: "compliance.export_subject_data",
            subject: &subject,
            reason: &r.reason,
        };
        let actor = self
            .admit(&request, &tenant, AdminScope::Export, what)
            .await?;
        // Audited before the stream starts: the entry is part of the export.
        self.record(&tenant, &actor, what, "ok: export started".into())
            .await?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let engine = self.engine.clone();
        tokio::spawn(async move {
            engine.export_subject(&tenant, &user, &subject, tx).await;
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(|record| {
            record
                .map(|r| pb::ExportSubjectDataResponse {
                    kind: r.kind.to_owned(),
                    json: r.json,
                })
                .map_err(to_status)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn erase_subject(
        &self,
        request: Request<pb::EraseSubjectRequest>,
    ) -> Reply<pb::EraseSubjectResponse> {
        let r = request.get_ref();
        let (tenant, user, subject) = self.subject_call(&r.tenant_id, &r.user_id, &r.reason)?;
        let what = Audited {
            action: "compliance.erase_subject",
            subject: &subject,
            reason: &r.reason,
        };
        let actor = self
            .admit(&request, &tenant, AdminScope::Erase, what)
            .await?;
        let tiers = match self.engine.erase_subject(&tenant, &user).await {
            Ok(tiers) => tiers,
            Err(error) => {
                let status = to_status(error);
                self.record(
                    &tenant,
                    &actor,
                    what,
                    format!("failed: {}", status.message()),
                )
                .await?;
                return Err(status);
            }
        };
        let report = tiers
            .iter()
            .map(|t| {
                format!(
                    "{}={}{}",
                    t.tier,
                    t.removed,
                    if t.verified { "" } else { " (unverified)" }
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        self.record(&tenant, &actor, what, format!("ok: {report}"))
            .await?;
        Ok(Response::new(pb::EraseSubjectResponse {
            tiers: tiers
                .into_iter()
                .map(|t| pb::TierErasure {
                    tier: t.tier.to_owned(),
                    removed: t.removed,
                    verified: t.verified,
                })
                .collect(),
        }))
    }

    async fn put_retention_policy(
        &self,
        request: Request<pb::PutRetentionPolicyRequest>,
    ) -> Reply<pb::PutRetentionPolicyResponse> {
        let tenant = convert::tenant(&request.get_ref().tenant_id).map_err(to_status)?;
        let what = Audited {
            action: "compliance.put_retention_policy",
            subject: "",
            reason: "",
        };
        let actor = self
            .admit(&request, &tenant, AdminScope::Retention, what)
            .await?;
        let Some(p) = request.into_inner().policy else {
            return Err(to_status(Error::invalid("policy", "is required")));
        };
        if p.policy_id.is_empty()
            || p.policy_id.len() > MAX_POLICY_ID_BYTES
            || !p
                .policy_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(to_status(Error::invalid(
                "policy.policy_id",
                format!("1-{MAX_POLICY_ID_BYTES} of [A-Za-z0-9_.-]"),
            )));
        }
        if p.retention_days == 0 || p.retention_days > MAX_RETENTION_DAYS {
            return Err(to_status(Error::invalid(
                "policy.retention_days",
                format!("must be 1 to {MAX_RETENTION_DAYS}"),
            )));
        }
        let policy = RetentionPolicy {
            vertical: convert::vertical(p.vertical).map_err(to_status)?,
            action: retention_action(p.action).map_err(to_status)?,
            retention_days: p.retention_days,
            policy_id: p.policy_id,
        };
        let result = self.engine.put_retention_policy(&tenant, &policy).await;
        let outcome = outcome(&result, |()| {
            format!(
                "ok: {} {} days {:?}",
                policy.policy_id, policy.retention_days, policy.action
            )
        });
        self.record(&tenant, &actor, what, outcome).await?;
        result.map_err(to_status)?;
        Ok(Response::new(pb::PutRetentionPolicyResponse {
            policy: Some(pb::RetentionPolicy {
                policy_id: policy.policy_id,
                vertical: convert::to_pb_vertical(policy.vertical) as i32,
                retention_days: policy.retention_days,
                action: to_pb_action(policy.action) as i32,
            }),
        }))
    }

    async fn run_retention(
        &self,
        request: Request<pb::RunRetentionRequest>,
    ) -> Reply<pb::RunRetentionResponse> {
        let tenant = convert::tenant(&request.get_ref().tenant_id).map_err(to_status)?;
        let dry_run = request.get_ref().dry_run;
        let what = Audited {
            action: if dry_run {
                "compliance.run_retention.dry_run"
            } else {
                "compliance.run_retention"
            },
            subject: "",
            reason: "",
        };
        let actor = self
            .admit(&request, &tenant, AdminScope::Retention, what)
            .await?;
        let masking = self.policy.masking(&tenant);
        let result = self
            .engine
            .run_retention(&tenant, Timestamp::now(), &masking, dry_run)
            .await;
        let outcome = outcome(&result, retention_report);
        self.record(&tenant, &actor, what, outcome).await?;
        let r = result.map_err(to_status)?;
        Ok(Response::new(pb::RunRetentionResponse {
            deleted: r.deleted,
            anonymized: r.anonymized,
            archived: r.archived,
            held: r.held,
        }))
    }

    async fn set_legal_hold(
        &self,
        request: Request<pb::SetLegalHoldRequest>,
    ) -> Reply<pb::SetLegalHoldResponse> {
        let r = request.get_ref();
        let (tenant, user, subject) = self.subject_call(&r.tenant_id, &r.user_id, &r.reason)?;
        let hold = r.hold;
        let what = Audited {
            action: if hold {
                "compliance.legal_hold.place"
            } else {
                "compliance.legal_hold.release"
            },
            subject: &subject,
            reason: &r.reason,
        };
        let actor = self
            .admit(&request, &tenant, AdminScope::Retention, what)
            .await?;
        let result = self.engine.set_legal_hold(&tenant, &user, hold).await;
        let outcome = outcome(&result, |()| "ok".to_owned());
        self.record(&tenant, &actor, what, outcome).await?;
        result.map_err(to_status)?;
        Ok(Response::new(pb::SetLegalHoldResponse { held: hold }))
    }

    async fn verify_audit_log(
        &self,
        request: Request<pb::VerifyAuditLogRequest>,
    ) -> Reply<pb::VerifyAuditLogResponse> {
        let tenant = convert::tenant(&request.get_ref().tenant_id).map_err(to_status)?;
        let what = Audited {
            action: "compliance.verify_audit_log",
            subject: "",
            reason: "",
        };
        let actor = self
            .admit(&request, &tenant, AdminScope::Audit, what)
            .await?;
        // Verified before this call's own entry is appended.
        let v = self.engine.verify_audit(&tenant).await.map_err(to_status)?;
        let outcome = match v.first_broken {
            None => format!("ok: {} entries valid", v.entries),
            Some(seq) => format!("ok: chain broken at entry {seq}"),
        };
        self.record(&tenant, &actor, what, outcome).await?;
        Ok(Response::new(pb::VerifyAuditLogResponse {
            valid: v.first_broken.is_none(),
            entries: v.entries,
            first_broken_seq: v.first_broken.unwrap_or(0),
        }))
    }

    async fn get_memory_stats(
        &self,
        request: Request<pb::GetMemoryStatsRequest>,
    ) -> Reply<pb::GetMemoryStatsResponse> {
        let tenant = convert::tenant(&request.get_ref().tenant_id).map_err(to_status)?;
        let what = Audited {
            action: "compliance.get_memory_stats",
            subject: "",
            reason: "",
        };
        let actor = self
            .admit(&request, &tenant, AdminScope::Stats, what)
            .await?;
        let r = request.into_inner();
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
        self.record(&tenant, &actor, what, "ok".into()).await?;
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

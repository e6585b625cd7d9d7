//! ComplianceService. Memory statistics are served; the other RPCs answer
//! UNIMPLEMENTED until the compliance work lands (and with it the
//! authorization of administrative calls).

use std::pin::Pin;
use std::sync::Arc;

use engram_core::error::Error;
use engram_core::model::IMPORTANCE_BANDS;
use engram_core::time::Timestamp;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use super::status::{not_built, to_status};
use crate::backends::AppEngine;
use crate::pb;
use crate::pb::compliance_service_server::ComplianceService;

#[derive(Debug, Clone)]
pub struct ComplianceApi {
    engine: Arc<AppEngine>,
}

impl ComplianceApi {
    pub fn new(engine: Arc<AppEngine>) -> Self {
        Self { engine }
    }
}

type Reply<T> = Result<Response<T>, Status>;
const WHAT: &str = "ComplianceService";

#[tonic::async_trait]
impl ComplianceService for ComplianceApi {
    async fn classify(&self, _: Request<pb::ClassifyRequest>) -> Reply<pb::ClassifyResponse> {
        Err(not_built(WHAT))
    }

    async fn anonymize(&self, _: Request<pb::AnonymizeRequest>) -> Reply<pb::AnonymizeResponse> {
        Err(not_built(WHAT))
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

//! ComplianceService: part of the API contract, not built yet. Every RPC
//! answers UNIMPLEMENTED until the compliance work lands.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::status::not_built;
use crate::pb;
use crate::pb::compliance_service_server::ComplianceService;

#[derive(Debug, Clone, Default)]
pub struct ComplianceApi;

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
        _: Request<pb::GetMemoryStatsRequest>,
    ) -> Reply<pb::GetMemoryStatsResponse> {
        Err(not_built(WHAT))
    }
}

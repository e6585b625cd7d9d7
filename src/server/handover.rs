//! HandoverService: part of the API contract, not built yet. Every RPC
//! answers UNIMPLEMENTED until the handover work lands.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::status::not_built;
use crate::pb;
use crate::pb::handover_service_server::HandoverService;

#[derive(Debug, Clone, Default)]
pub struct HandoverApi;

type Reply<T> = Result<Response<T>, Status>;
const WHAT: &str = "HandoverService";

#[tonic::async_trait]
impl HandoverService for HandoverApi {
    async fn start_handover(
        &self,
        _: Request<pb::StartHandoverRequest>,
    ) -> Reply<pb::StartHandoverResponse> {
        Err(not_built(WHAT))
    }

    async fn record_operator_event(
        &self,
        _: Request<pb::RecordOperatorEventRequest>,
    ) -> Reply<pb::RecordOperatorEventResponse> {
        Err(not_built(WHAT))
    }

    async fn end_handover(
        &self,
        _: Request<pb::EndHandoverRequest>,
    ) -> Reply<pb::EndHandoverResponse> {
        Err(not_built(WHAT))
    }

    async fn get_handover(
        &self,
        _: Request<pb::GetHandoverRequest>,
    ) -> Reply<pb::GetHandoverResponse> {
        Err(not_built(WHAT))
    }

    type WatchHandoverStream =
        Pin<Box<dyn Stream<Item = Result<pb::WatchHandoverResponse, Status>> + Send>>;

    async fn watch_handover(
        &self,
        _: Request<pb::WatchHandoverRequest>,
    ) -> Reply<Self::WatchHandoverStream> {
        Err(not_built(WHAT))
    }
}

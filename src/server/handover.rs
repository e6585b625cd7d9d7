//! HandoverService: thin handlers over the engine's handover paths.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use engram_domain::ids::{HandoverId, OperatorId};
use engram_engine::OperatorEvent;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use super::status::to_status;
use crate::backends::AppEngine;
use crate::pb;
use crate::pb::handover_service_server::HandoverService;

/// How often a watch re-reads the state, for the changes made through
/// other sidecars (changes through this one wake it at once).
const WATCH_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct HandoverApi {
    engine: Arc<AppEngine>,
    /// True once the server drains: watches end.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl HandoverApi {
    pub fn new(engine: Arc<AppEngine>, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { engine, stopping }
    }
}

/// What a watch ends with when engram stops: the client watches again,
/// through the next sidecar.
fn stopping() -> Status {
    Status::unavailable("engram is shutting down: watch again")
}

type Reply<T> = Result<Response<T>, Status>;

fn handover_id(raw: &str) -> Result<HandoverId, Status> {
    HandoverId::parse("handover_id", raw).map_err(to_status)
}

#[tonic::async_trait]
impl HandoverService for HandoverApi {
    async fn start_handover(
        &self,
        request: Request<pb::StartHandoverRequest>,
    ) -> Reply<pb::StartHandoverResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let operator = OperatorId::parse("operator_id", &r.operator_id).map_err(to_status)?;
        let handover = self
            .engine
            .start_handover(&tenant, &conversation, operator, r.reason)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::StartHandoverResponse {
            handover: Some(convert::to_handover(handover)),
        }))
    }

    async fn record_operator_event(
        &self,
        request: Request<pb::RecordOperatorEventRequest>,
    ) -> Reply<pb::RecordOperatorEventResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let handover = handover_id(&r.handover_id)?;
        let action = r
            .action
            .ok_or_else(|| to_status(engram_domain::Error::invalid("action", "is required")))?;
        let event = OperatorEvent {
            event_id: convert::message_id("event_id", &r.event_id).map_err(to_status)?,
            kind: action.kind,
            description: action.description,
            metadata: convert::metadata("action.metadata", &action.metadata).map_err(to_status)?,
            occurred_at: convert::timestamp("action.occurred_at", action.occurred_at.as_ref())
                .map_err(to_status)?,
        };
        let stored = self
            .engine
            .record_operator_event(&tenant, &conversation, &handover, event)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RecordOperatorEventResponse {
            action: Some(convert::to_action(stored)),
        }))
    }

    async fn end_handover(
        &self,
        request: Request<pb::EndHandoverRequest>,
    ) -> Reply<pb::EndHandoverResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let handover = handover_id(&r.handover_id)?;
        let resolution = convert::resolution(r.resolution_status).map_err(to_status)?;
        let ended = self
            .engine
            .end_handover(&tenant, &conversation, &handover, resolution, r.notes)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::EndHandoverResponse {
            handover: Some(convert::to_handover(ended)),
        }))
    }

    async fn get_handover(
        &self,
        request: Request<pb::GetHandoverRequest>,
    ) -> Reply<pb::GetHandoverResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let handover = self
            .engine
            .handover(&tenant, &conversation)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetHandoverResponse {
            handover: handover.map(convert::to_handover),
        }))
    }

    type WatchHandoverStream =
        Pin<Box<dyn Stream<Item = Result<pb::WatchHandoverResponse, Status>> + Send>>;

    /// Sends the current state (when there is one), then every change,
    /// until the client goes away.
    async fn watch_handover(
        &self,
        request: Request<pb::WatchHandoverRequest>,
    ) -> Reply<Self::WatchHandoverStream> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        // Fails at once for an unknown conversation.
        let first = self
            .engine
            .handover(&tenant, &conversation)
            .await
            .map_err(to_status)?;
        let engine = self.engine.clone();
        let mut changes = engine.handover_changes();
        let mut stop = self.stopping.clone();
        if *stop.borrow() {
            return Err(stopping());
        }
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut last = None;
            let mut current = first;
            loop {
                if current.is_some() && current != last {
                    let state = current.clone().map(convert::to_handover);
                    let sent = tx
                        .send(Ok(pb::WatchHandoverResponse { handover: state }))
                        .await;
                    if sent.is_err() {
                        return;
                    }
                    last.clone_from(&current);
                }
                tokio::select! {
                    () = tx.closed() => return,
                    () = async { drop(stop.wait_for(|stopping| *stopping).await) } => {
                        let _ = tx.send(Err(stopping())).await;
                        return;
                    }
                    _ = tokio::time::sleep(WATCH_POLL) => {}
                    change = changes.recv() => match change {
                        Ok((t, c)) if t != tenant || c != conversation => continue,
                        _ => {}
                    },
                }
                current = match engine.handover(&tenant, &conversation).await {
                    Ok(state) => state,
                    Err(error) => {
                        let _ = tx.send(Err(to_status(error))).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

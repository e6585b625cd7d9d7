//! OpenTelemetry traces over OTLP, received by a real OTLP/gRPC collector
//! (the `opentelemetry-proto` TraceService, served by the test): a
//! ComposeContext sent with a W3C `traceparent` continues the client's
//! trace, with a span per RPC, a child span per ComposeContext source and
//! per tier call; no span carries content; the request log line carries
//! the trace id.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{Sidecar, append_turns, eventually};
use engram::pb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

const TENANT: &str = "clinic";
/// What the agent's own trace looks like when it calls engram.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
/// Content that must never reach a span.
const SECRET: &str = "canal radicular no dente 36";

/// An OTLP collector: keeps every span it is sent.
#[derive(Debug, Default, Clone)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compose_continues_the_agents_trace_with_a_span_per_source_and_tier_call() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--otlp-endpoint".to_owned(),
        format!("http://127.0.0.1:{port}"),
    ];
    let sidecar = Sidecar::start_with_env(dir.path(), &flags, &[("ENGRAM_LOG", "debug")]).await;
    let turn = format!("preciso remarcar o {SECRET}");
    append_turns(&sidecar, TENANT, "ana", "c1", &[(pb::Role::User, &turn)]).await;
    let mut memory = sidecar.memory();
    let mut request = tonic::Request::new(pb::ComposeContextRequest {
        tenant_id: TENANT.into(),
        conversation_id: "c1".into(),
        user_id: "ana".into(),
        input: format!("quando e o {SECRET}?"),
        token_budget: 500,
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    memory.compose_context(request).await.unwrap();

    // The RPC's span, a child of the agent's, in the agent's trace.
    let spans = eventually(
        "the collector receives the ComposeContext span",
        Duration::from_secs(30),
        || {
            let spans = collector.spans.lock().unwrap().clone();
            async move {
                spans
                    .iter()
                    .any(|s| s.name.ends_with("MemoryService/ComposeContext"))
                    .then_some(spans)
            }
        },
    )
    .await;
    let rpc = spans
        .iter()
        .find(|s| s.name.ends_with("MemoryService/ComposeContext"))
        .unwrap();
    assert_eq!(hex(&rpc.trace_id), TRACE_ID, "the agent's trace goes on");
    assert_eq!(
        hex(&rpc.parent_span_id),
        PARENT_ID,
        "under the agent's span"
    );
    assert_eq!(attribute(rpc, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(attribute(rpc, "rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(attribute(rpc, "tenant").as_deref(), Some(TENANT));

    // Below it: one span per ComposeContext source, and the tier calls.
    let in_trace: Vec<&Span> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE_ID)
        .collect();
    let below = |parent: &Span| -> Vec<&Span> {
        in_trace
            .iter()
            .copied()
            .filter(|s| s.parent_span_id == parent.span_id)
            .collect()
    };
    let sources: HashSet<String> = below(rpc)
        .iter()
        .filter(|s| s.name == "compose.source")
        .filter_map(|s| attribute(s, "source"))
        .collect();
    for source in ["facts", "recent", "recall", "summary", "handover"] {
        assert!(sources.contains(source), "no {source} span in {sources:?}");
    }
    // Every span of the trace descends from the RPC's.
    let mut descendants = vec![rpc];
    let mut i = 0;
    while i < descendants.len() {
        let children = below(descendants[i]);
        descendants.extend(children);
        i += 1;
    }
    assert_eq!(descendants.len(), in_trace.len(), "a span outside the RPC");
    let tier_calls: HashSet<&str> = descendants
        .iter()
        .filter(|s| attribute(s, "backend").as_deref() == Some("embedded"))
        .map(|s| s.name.as_str())
        .collect();
    for call in ["cold.fact_rev", "cold.search_lexical", "index.search"] {
        assert!(tier_calls.contains(call), "no {call} span: {tier_calls:?}");
    }

    // Nothing of the content in any span, any attribute, any event.
    for span in collector.spans.lock().unwrap().iter() {
        let all = format!("{span:?}");
        assert!(!all.contains("radicular"), "content in a span: {all}");
    }

    // The request log line carries the trace id and the tenant.
    let logs = sidecar.logs();
    let line = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "rpc" && v["method"] == "ComposeContext")
        .expect("a request log line");
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["tenant"], TENANT, "{line}");
    assert!(!logs.iter().any(|l| l.contains("radicular")));
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_otlp_the_log_line_still_carries_the_callers_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with_env(dir.path(), &[], &[("ENGRAM_LOG", "debug")]).await;
    let mut request = tonic::Request::new(pb::ListConversationsRequest {
        tenant_id: TENANT.into(),
        user_id: "ana".into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    sidecar.memory().list_conversations(request).await.unwrap();
    let line = eventually("the request log line", Duration::from_secs(10), || {
        let logs = sidecar.logs();
        async move {
            logs.iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| v["message"] == "rpc" && v["method"] == "ListConversations")
        }
    })
    .await;
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["code"], "OK", "{line}");
    // A line logged inside the RPC names the trace through its span.
    assert_eq!(line["span"]["trace_id"], TRACE_ID, "{line}");
    sidecar.stop().await;
}

/// A collector address or a sample ratio engram cannot use is a
/// configuration error (EX_USAGE), said before anything starts.
#[test]
fn a_bad_otlp_endpoint_or_ratio_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for flags in [
        ["--otlp-endpoint", "collector:4317"],
        ["--otlp-sample-ratio", "1.5"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_engram"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{flags:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(flags[0]), "{said}");
    }
}

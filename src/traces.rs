//! Logs and traces: the sidecar's `tracing` subscriber, and what each RPC
//! leaves in it.
//!
//! Three layers listen, each with its own filter:
//! - the log (JSON or text on stdout), filtered by `ENGRAM_LOG`;
//! - the metrics layer (`metrics::CallLayer`, handed to
//!   `Telemetry::init`), which times the backend calls' spans and counts
//!   the core's tier and invalidation events, whatever `ENGRAM_LOG` says;
//! - with `--otlp-endpoint`, OpenTelemetry: every span at info and above
//!   (the RPC's, each ComposeContext source's, each backend call's) sent
//!   over OTLP/gRPC in batches.
//!
//! Spans carry names from fixed sets (method, source, backend call) and
//! the tenant; never an id of a user or conversation, never content. A
//! backend call's error is counted by kind, and its text (which may quote
//! a value) reaches neither the log nor a trace.

use std::sync::{Arc, OnceLock};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing::level_filters::LevelFilter;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, Targets, filter_fn};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Where the spans go, and how many.
#[derive(Debug, Clone)]
pub struct Otlp {
    /// An OTLP/gRPC endpoint, `http://collector:4317`.
    pub endpoint: String,
    /// The share of new traces kept (a trace the caller sampled is kept,
    /// one it did not is not: parent-based).
    pub sample_ratio: f64,
}

/// A layer of the subscriber, boxed.
pub type CallsLayer =
    Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

/// The installed subscriber; [`Telemetry::shutdown`] flushes the spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// The crates whose spans and events are engram's.
const ENGRAM: [&str; 10] = [
    "engram",
    "engram_engine",
    "engram_crypto",
    "engram_postgres",
    "engram_redis",
    "engram_qdrant",
    "engram_models",
    "engram_embedded",
    "engram::tier",
    "engram::invalidation",
];

impl Telemetry {
    /// Installs the subscriber. With `otlp`, it must run inside the tokio
    /// runtime (the exporter's channel is spawned on it).
    /// `calls`: the layer that turns backend calls and the core's events
    /// into metrics (`metrics::CallLayer`), given engram's events
    /// only.
    pub fn init(
        format: LogFormat,
        calls: Option<CallsLayer>,
        otlp: Option<&Otlp>,
    ) -> anyhow::Result<Self> {
        let filter =
            EnvFilter::try_from_env("ENGRAM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
        // A backend call's error event (its only field: `error`, the
        // error's text) is for the metrics layer, not the log.
        let log_filter = filter.and(filter_fn(|meta| {
            !(meta.is_event() && meta.fields().len() == 1 && meta.fields().field("error").is_some())
        }));
        let log = match format {
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_filter(log_filter)
                .boxed(),
            // Colours only for a person at a terminal: a log collector
            // gets plain text.
            LogFormat::Text => {
                use std::io::IsTerminal;
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_filter(log_filter)
                    .boxed()
            }
        };
        let engram = ENGRAM.iter().fold(Targets::new(), |t, target| {
            t.with_target(*target, LevelFilter::DEBUG)
        });
        let mut layers = vec![log];
        layers.extend(calls.map(|calls| calls.with_filter(engram).boxed()));
        let provider = match otlp {
            Some(otlp) => {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(&otlp.endpoint)
                    .build()?;
                let provider = SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                        otlp.sample_ratio,
                    ))))
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name("engram")
                            .build(),
                    )
                    .build();
                let spans = ENGRAM.iter().fold(Targets::new(), |t, target| {
                    t.with_target(*target, LevelFilter::INFO)
                });
                layers.push(
                    tracing_opentelemetry::layer()
                        .with_tracer(provider.tracer("engram"))
                        .with_filter(spans)
                        .boxed(),
                );
                Some(provider)
            }
            None => None,
        };
        tracing_subscriber::registry().with(layers).try_init()?;
        Ok(Self { provider })
    }

    /// Sends the spans still buffered.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("engram: flushing traces: {error}");
        }
    }
}

/// The logs of a command other than `serve`: no metrics, no traces.
pub fn init_logs(format: LogFormat) {
    let _ = Telemetry::init(format, None, None);
}

tokio::task_local! {
    /// The tenant of the RPC being served, once a handler has read it.
    static TENANT: Arc<OnceLock<String>>;
}

/// What a handler tells the RPC's span and log line about its request.
pub fn note_tenant(tenant: &str) {
    let _ = TENANT.try_with(|slot| slot.set(tenant.to_owned()));
    Span::current().record("tenant", tenant);
}

/// Runs `future` (an RPC) with a slot for its tenant.
pub async fn with_tenant_slot<F: Future>(slot: Arc<OnceLock<String>>, future: F) -> F::Output {
    TENANT.scope(slot, future).await
}

/// The span of one RPC: a child of the caller's (W3C `traceparent`), and
/// its trace id for the logs: the span's own when traces are on, else the
/// caller's, if it sent one.
pub fn rpc_span(
    headers: &hyper::HeaderMap,
    path: &str,
    service: &str,
    method: &str,
) -> (Span, Option<String>) {
    let span = tracing::info_span!(
        target: "engram",
        "rpc",
        otel.name = path,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        tenant = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let from_caller = parent.span().span_context().clone();
    if from_caller.is_valid() {
        let _ = span.set_parent(parent);
    }
    let own = span.context().span().span_context().clone();
    let trace_id = if own.is_valid() {
        Some(own.trace_id().to_string())
    } else if from_caller.is_valid() {
        Some(from_caller.trace_id().to_string())
    } else {
        None
    };
    // Every log line inside the RPC names its trace (the span's fields).
    if let Some(id) = &trace_id {
        span.record("trace_id", id.as_str());
    }
    (span, trace_id)
}

/// HTTP/2 headers as an OpenTelemetry extractor.
struct Headers<'a>(&'a hyper::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

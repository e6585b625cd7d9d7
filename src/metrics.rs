//! Prometheus metrics: what the sidecar serves and how its backends fare,
//! on a port of their own (`--metrics-listen`: HTTP `GET /metrics`, the
//! OpenMetrics text format). gRPC requests are counted by a tower layer
//! around every service ([`RpcLayer`]); handlers and the readiness loop
//! record the rest. Labels carry no id but the tenant, and the tenant only
//! with `--metrics-tenant-label` (cardinality).
//!
//! Over 600 lines: every metric family with its help text, the tower
//! layer that times RPCs and the tracing layer that times backend calls.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use anyhow::Context as _;
use http_body_util::Full;
use hyper::body::{Body, Bytes, Frame};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tracing::{Instrument, debug, info, warn};

/// Latency buckets, in seconds: 100 µs to 10 s, where engram lives
/// (sub-millisecond reads to multi-second model calls).
const LATENCY: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Token buckets: a turn's context to a long history.
const TOKENS: [f64; 12] = [
    64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 32768.0, 65536.0, 131072.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// `MemoryService`, `grpc.health.v1.Health`…
    pub service: String,
    /// `ComposeContext`…
    pub method: String,
    /// The gRPC status code's name: `OK`, `INVALID_ARGUMENT`…
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub service: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabels {
    /// `indexer`, `handover` (the handover summaries' worker).
    pub worker: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// `cold`, `hot`, `index`; `subscription` (the invalidation
    /// subscription, with Redis); `embedder` (its last call).
    pub backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// `composed` (what ComposeContext returned) or `full` (the whole
    /// history it stood for).
    pub kind: String,
    /// Empty unless `--metrics-tenant-label`.
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DegradedLabels {
    /// What ComposeContext answered without: `hot`, `semantic`…
    pub source: String,
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `postgres`, `redis`, `qdrant`, `embedded`, `http` (the embedder and
    /// the summarising model).
    pub backend: String,
    /// The port's call: `cold.append`, `hot.recent`, `index.search`,
    /// `embedder.embed`, `model.complete`…
    pub call: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub backend: String,
    pub call: String,
    /// The error's kind: `Unavailable`, `NotFound`, `Internal`…
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TierLabels {
    /// `near` (this sidecar's cache), `hot` (Redis, or the embedded hot
    /// tier), `cold` (the source of truth).
    pub tier: String,
    /// `recent` (a conversation's window) or `facts` (a user's).
    pub what: String,
    /// `hit`, `miss`, `stale` (an older copy, repaired) or `error`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InvalidationLabels {
    /// `published`, `received`, `queued` (Redis unreachable) or `replayed`.
    pub event: String,
}

/// Every metric of the sidecar.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    tenant_label: bool,
    pub rpc_requests: Family<RpcLabels, Counter>,
    pub rpc_duration: Family<MethodLabels, Histogram>,
    pub backend_up: Family<BackendLabels, Gauge>,
    pub worker_running: Family<WorkerLabels, Gauge>,
    pub compose_tokens: Family<TokenLabels, Histogram>,
    pub compose_degraded: Family<DegradedLabels, Counter>,
    pub backend_call_duration: Family<CallLabels, Histogram>,
    pub backend_errors: Family<ErrorLabels, Counter>,
    pub tier_reads: Family<TierLabels, Counter>,
    pub invalidations: Family<InvalidationLabels, Counter>,
    pub invalidations_queued: Gauge,
    pub index_queue_depth: Gauge,
    pub handover_queue_depth: Gauge,
    pub index_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Metrics {
    pub fn new(tenant_label: bool) -> Self {
        let mut registry = Registry::with_prefix("engram");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "gRPC requests answered, by service, method and status code",
            rpc_requests.clone(),
        );
        let rpc_duration =
            Family::<MethodLabels, Histogram>::new_with_constructor(|| Histogram::new(LATENCY));
        registry.register_with_unit(
            "rpc_duration",
            "Time from a gRPC request's arrival to its last response byte",
            Unit::Seconds,
            rpc_duration.clone(),
        );
        let backend_up = Family::<BackendLabels, Gauge>::default();
        registry.register(
            "backend_up",
            "1 while a backend answers (cold: the source of truth, readiness follows it; hot and index only degrade), else 0",
            backend_up.clone(),
        );
        let worker_running = Family::<WorkerLabels, Gauge>::default();
        registry.register(
            "worker_running",
            "1 while a background worker of the engine runs; 0 once it stopped (a panic: its queue waits in the cold store until a restart)",
            worker_running.clone(),
        );
        let compose_tokens =
            Family::<TokenLabels, Histogram>::new_with_constructor(|| Histogram::new(TOKENS));
        registry.register(
            "compose_tokens",
            "Tokens of each ComposeContext: the composed context, and the full history it stands for",
            compose_tokens.clone(),
        );
        let compose_degraded = Family::<DegradedLabels, Counter>::default();
        registry.register(
            "compose_degraded",
            "ComposeContext answers given without a source (a backend down or over its budget)",
            compose_degraded.clone(),
        );
        let backend_call_duration =
            Family::<CallLabels, Histogram>::new_with_constructor(|| Histogram::new(LATENCY));
        registry.register_with_unit(
            "backend_call_duration",
            "Time of each call to a backend, by backend and call",
            Unit::Seconds,
            backend_call_duration.clone(),
        );
        let backend_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "backend_errors",
            "Backend calls that failed, by backend, call and kind of error",
            backend_errors.clone(),
        );
        let tier_reads = Family::<TierLabels, Counter>::default();
        registry.register(
            "tier_reads",
            "Reads of a conversation's window or a user's facts, by tier and result",
            tier_reads.clone(),
        );
        let invalidations = Family::<InvalidationLabels, Counter>::default();
        registry.register(
            "invalidations",
            "Near-cache invalidations published, received, queued while Redis was unreachable, and replayed",
            invalidations.clone(),
        );
        let invalidations_queued = Gauge::default();
        registry.register(
            "invalidations_queued",
            "Invalidations waiting for Redis to answer (replayed once it does)",
            invalidations_queued.clone(),
        );
        let index_queue_depth = Gauge::default();
        registry.register(
            "index_queue_depth",
            "Indexing jobs pending in the outbox, over every tenant (read every 5 s)",
            index_queue_depth.clone(),
        );
        let handover_queue_depth = Gauge::default();
        registry.register(
            "handover_queue_depth",
            "Handover summary jobs queued, over every tenant (read every 5 s)",
            handover_queue_depth.clone(),
        );
        let index_lag = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "index_lag",
            "Age of the oldest pending indexing job: how far semantic search is behind the writes",
            Unit::Seconds,
            index_lag.clone(),
        );
        Self {
            registry,
            tenant_label,
            invalidations_queued,
            index_queue_depth,
            handover_queue_depth,
            index_lag,
            backend_call_duration,
            backend_errors,
            tier_reads,
            invalidations,
            rpc_requests,
            rpc_duration,
            backend_up,
            worker_running,
            compose_tokens,
            compose_degraded,
        }
    }

    /// The tenant as a label value: itself with `--metrics-tenant-label`,
    /// else empty (one series for every tenant).
    pub fn tenant(&self, tenant: &str) -> String {
        if self.tenant_label {
            tenant.to_owned()
        } else {
            String::new()
        }
    }

    /// The exposition, OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The exposition in Prometheus's text format 0.0.4, for scrapers and
    /// tools that do not ask for OpenMetrics (`promtool check metrics`):
    /// a counter's HELP and TYPE name its `_total` series, no UNIT, no EOF.
    pub fn encode_text(&self) -> String {
        to_text_format(&self.encode())
    }
}

/// OpenMetrics text to Prometheus text format 0.0.4.
fn to_text_format(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "metrics: accept failed");
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                let metrics = metrics.clone();
                async move {
                    let mut response = if request.uri().path() == "/metrics" {
                        // OpenMetrics when the scraper asks for it (Prometheus
                        // does), else the classic text format.
                        let open_metrics = request
                            .headers()
                            .get(hyper::header::ACCEPT)
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.contains("application/openmetrics-text"));
                        let (body, content_type) = if open_metrics {
                            (
                                metrics.encode(),
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                        } else {
                            (
                                metrics.encode_text(),
                                "text/plain; version=0.0.4; charset=utf-8",
                            )
                        };
                        let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
                        r.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static(content_type),
                        );
                        r
                    } else {
                        hyper::Response::new(Full::new(Bytes::from_static(b"see /metrics\n")))
                    };
                    if request.uri().path() != "/metrics" {
                        *response.status_mut() = hyper::StatusCode::NOT_FOUND;
                    }
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds `--metrics-listen` and serves there in the background.
pub async fn spawn(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics port {addr}"))?;
    info!(addr = %listener.local_addr()?, "metrics listening");
    tokio::spawn(serve(listener, metrics));
    Ok(())
}

/// Counts and times every gRPC request (a tower layer on the server).
#[derive(Debug, Clone)]
pub struct RpcLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<hyper::Request<B>> for RpcService<S>
where
    S: tower::Service<hyper::Request<B>, Response = hyper::Response<R>> + Send,
    S::Future: Send + 'static,
    R: Body + Send + 'static,
{
    type Response = hyper::Response<Observed<R>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: hyper::Request<B>) -> Self::Future {
        let started = Instant::now();
        // `/engram.v1.MemoryService/ComposeContext`: the service without
        // its package, the method.
        let path = request.uri().path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        let short = service.strip_prefix("engram.v1.").unwrap_or(service);
        let (span, trace_id) = crate::traces::rpc_span(request.headers(), path, service, method);
        let labels = MethodLabels {
            service: short.to_owned(),
            method: method.to_owned(),
        };
        let metrics = self.metrics.clone();
        let tenant = Arc::new(OnceLock::new());
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let future =
            crate::traces::with_tenant_slot(tenant.clone(), future.instrument(span.clone()));
        Box::pin(async move {
            let response = future.await?;
            // A trailers-only response carries its status in the headers.
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok());
            Ok(response.map(|body| Observed {
                body: Box::pin(body),
                done: Some(Done {
                    metrics,
                    labels,
                    started,
                    code,
                    span,
                    trace_id,
                    tenant,
                }),
            }))
        })
    }
}

/// What is recorded once a response ends.
#[derive(Debug)]
struct Done {
    metrics: Arc<Metrics>,
    labels: MethodLabels,
    started: Instant,
    code: Option<i32>,
    /// The RPC's span: ends with this.
    span: tracing::Span,
    trace_id: Option<String>,
    tenant: Arc<OnceLock<String>>,
}

impl Done {
    fn record(self, code: Option<i32>) {
        let number = code.or(self.code).unwrap_or(2);
        let code = code_name(number);
        let elapsed = self.started.elapsed();
        self.span.record("rpc.grpc.status_code", number);
        // What OpenTelemetry's gRPC conventions call a server error.
        if matches!(number, 2 | 4 | 12 | 13 | 14 | 15) {
            self.span.record("otel.status_code", "ERROR");
        }
        // One line per RPC (debug): what, for whom, how it ended, how long,
        // and the trace to look it up by.
        self.span.in_scope(|| {
            debug!(
                service = %self.labels.service,
                method = %self.labels.method,
                code,
                micros = elapsed.as_micros() as u64,
                tenant = self.tenant.get().map(String::as_str),
                trace_id = self.trace_id.as_deref(),
                "rpc"
            )
        });
        self.metrics
            .rpc_duration
            .get_or_create(&self.labels)
            .observe(elapsed.as_secs_f64());
        self.metrics
            .rpc_requests
            .get_or_create(&RpcLabels {
                service: self.labels.service,
                method: self.labels.method,
                code: code.to_owned(),
            })
            .inc();
    }
}

/// A response body that reports its gRPC status (from the trailers) when
/// it ends, or `CANCELLED` when it is dropped first (the client left).
pub struct Observed<B> {
    body: Pin<Box<B>>,
    done: Option<Done>,
}

impl<B> std::fmt::Debug for Observed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

impl<B: Body> Body for Observed<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = self.body.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = trailers
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok());
                    if let Some(done) = self.done.take() {
                        done.record(code);
                    }
                }
            }
            Poll::Ready(None) => {
                if let Some(done) = self.done.take() {
                    done.record(None);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(done) = self.done.take() {
                    done.record(Some(13));
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl<B> Drop for Observed<B> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            // Ended before its trailers: a trailers-only response read
            // whole, or a client that went away.
            let code = done.code;
            done.record(code.or(Some(1)));
        }
    }
}

/// Turns the spans and events of engram's crates into metrics: each
/// backend call's span (a `backend` field: see the `#[instrument]`s of the
/// backend crates) into its latency and, when it failed, an error by kind;
/// the core's `engram::tier` and `engram::invalidation` events into
/// counters.
#[derive(Debug)]
pub struct CallLayer(pub Arc<Metrics>);

/// A backend call in flight (a span's extension).
struct Call {
    labels: CallLabels,
    started: Instant,
    error: Option<String>,
}

/// Reads string fields by name.
#[derive(Default)]
struct Fields {
    backend: Option<String>,
    tier: Option<String>,
    what: Option<String>,
    result: Option<String>,
    event: Option<String>,
    error: Option<String>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let slot = match field.name() {
            "backend" => &mut self.backend,
            "tier" => &mut self.tier,
            "what" => &mut self.what,
            "result" => &mut self.result,
            "event" => &mut self.event,
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "error" {
            // The variant's name only: `Unavailable { backend: …, reason: … }`.
            let text = format!("{value:?}");
            let kind: String = text
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            self.error = Some(kind);
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for CallLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().fields().field("backend").is_none() {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let (Some(backend), Some(span)) = (fields.backend, ctx.span(id)) else {
            return;
        };
        span.extensions_mut().insert(Call {
            labels: CallLabels {
                backend,
                call: attrs.metadata().name().to_owned(),
            },
            started: Instant::now(),
            error: None,
        });
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let target = event.metadata().target();
        let mut fields = Fields::default();
        match target {
            "engram::tier" => {
                event.record(&mut fields);
                if let (Some(tier), Some(what), Some(result)) =
                    (fields.tier, fields.what, fields.result)
                {
                    self.0
                        .tier_reads
                        .get_or_create(&TierLabels { tier, what, result })
                        .inc();
                }
            }
            "engram::invalidation" => {
                event.record(&mut fields);
                if let Some(event) = fields.event {
                    self.0
                        .invalidations
                        .get_or_create(&InvalidationLabels { event })
                        .inc();
                }
            }
            _ if event.metadata().fields().field("error").is_some() => {
                event.record(&mut fields);
                if let (Some(kind), Some(span)) = (fields.error, ctx.event_span(event))
                    && let Some(call) = span.extensions_mut().get_mut::<Call>()
                {
                    call.error = Some(kind);
                }
            }
            _ => {}
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(call) = span.extensions_mut().remove::<Call>() else {
            return;
        };
        self.0
            .backend_call_duration
            .get_or_create(&call.labels)
            .observe(call.started.elapsed().as_secs_f64());
        // The embedder has no ping: its last call tells whether it is up.
        if call.labels.call == "embedder.embed" {
            self.0
                .backend_up
                .get_or_create(&BackendLabels {
                    backend: "embedder".into(),
                })
                .set(i64::from(call.error.is_none()));
        }
        if let Some(kind) = call.error {
            self.0
                .backend_errors
                .get_or_create(&ErrorLabels {
                    backend: call.labels.backend,
                    call: call.labels.call,
                    kind,
                })
                .inc();
        }
    }
}

/// The name of a gRPC status code.
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

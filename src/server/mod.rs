//! The gRPC server: the engram services behind thin handlers, health,
//! reflection, and graceful shutdown.

mod compliance;
mod convert;
mod facts;
mod handover;
mod memory;
mod status;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use crate::backends::{self, AppEngine};
use crate::config::{Invalid, LIVENESS, Listen, READINESS, ServeArgs};
use crate::metrics::{BackendLabels, Metrics, RpcLayer, WorkerLabels};
use crate::pb;
use crate::pb::compliance_service_server::ComplianceServiceServer;
use crate::pb::facts_service_server::FactsServiceServer;
use crate::pb::handover_service_server::HandoverServiceServer;
use crate::pb::memory_service_server::MemoryServiceServer;

/// How often the indexing backlog is read for the metrics.
const BACKLOG_PERIOD: Duration = Duration::from_secs(5);
/// How often readiness is re-checked.
const READINESS_PERIOD: Duration = Duration::from_secs(2);
/// Services whose health follows the backends (readiness): the server as
/// a whole, `readiness`, and every engram service.
const SERVED: [&str; 6] = [
    "",
    READINESS,
    "engram.v1.MemoryService",
    "engram.v1.FactsService",
    "engram.v1.HandoverService",
    "engram.v1.ComplianceService",
];

/// A service that sends at most `MAX_MESSAGE_BYTES` (what default gRPC
/// clients accept: a reply past it is refused by the server with a status,
/// instead of by the client after the work was done) and decodes up to
/// `MAX_DECODE_BYTES` (so that oversize requests get a precise status).
macro_rules! sized {
    ($service:expr) => {
        $service
            .max_decoding_message_size(engram_domain::limits::MAX_DECODE_BYTES)
            .max_encoding_message_size(engram_domain::limits::MAX_MESSAGE_BYTES)
    };
}

/// Serves until `shutdown` resolves, then drains for the grace period and
/// flushes the background work. `args` passed [`ServeArgs::validate`]
/// (`main` refuses them before anything starts).
pub async fn run(
    args: ServeArgs,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let policy = compliance::Policy::from_args(&args)?;
    let tls = listener_tls(&args)?;
    let engine = Arc::new(backends::build(&args).await?);
    if let Some(addr) = args.metrics_listen {
        crate::metrics::spawn(addr, metrics.clone()).await?;
    }
    let retention = engine.start_retention(
        std::time::Duration::from_secs(args.retention_interval_s),
        compliance::retention_runs(policy.clone()),
    );

    let (reporter, health) = tonic_health::server::health_reporter();
    for service in SERVED {
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
    }
    // Liveness: answered by the health service itself, so SERVING proves
    // the process accepts connections and its event loop turns; no
    // backend outage changes it.
    reporter
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;
    // Set when the pre-stop delay is over: streams end, the server drains.
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    let readiness = tokio::spawn(track_readiness(
        engine.clone(),
        reporter.clone(),
        metrics.clone(),
    ));
    if args.metrics_listen.is_some() {
        tokio::spawn(track_backlog(engine.clone(), metrics.clone()));
    }

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building reflection")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building reflection")?;

    let router = Server::builder()
        .timeout(args.request_timeout())
        .layer(RpcLayer(metrics.clone()))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(sized!(MemoryServiceServer::new(memory::MemoryApi::new(
            engine.clone(),
            metrics.clone(),
        ))))
        .add_service(sized!(FactsServiceServer::new(facts::FactsApi::new(
            engine.clone(),
            policy.clone(),
        ))))
        .add_service(sized!(HandoverServiceServer::new(
            handover::HandoverApi::new(engine.clone(), stop_rx)
        )))
        .add_service(sized!(ComplianceServiceServer::new(
            compliance::ComplianceApi::new(engine.clone(), policy),
        )));

    // On the signal: not ready at once, serving on for the pre-stop delay
    // (the app is finishing its last turn), then streams end and the
    // server drains; the grace period starts then.
    let (signalled, on_signal) = tokio::sync::oneshot::channel();
    let delay = args.shutdown_delay();
    let readiness_handle = readiness.abort_handle();
    let shutdown = async move {
        shutdown.await;
        readiness_handle.abort();
        for service in SERVED {
            reporter
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
        if !delay.is_zero() {
            info!(
                delay_s = delay.as_secs(),
                "stopping: serving until the pre-stop delay is over"
            );
            tokio::time::sleep(delay).await;
        }
        info!("shutting down: draining");
        let _ = stopping.send(true);
        let _ = signalled.send(());
    };
    let grace = args.shutdown_grace();
    let deadline = async move {
        if on_signal.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };

    let served = match &args.listen {
        Listen::Tcp(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            match &tls {
                Some(config) => {
                    info!(addr = %listener.local_addr()?, tls = true, mtls = args.tls_client_ca.is_some(), "listening");
                    let incoming = tls::incoming(listener, config.clone());
                    let server = router.serve_with_incoming_shutdown(incoming, shutdown);
                    tokio::select! {
                        served = server => served,
                        () = deadline => { warn!("grace period over; in-flight requests dropped"); Ok(()) }
                    }
                }
                None => {
                    info!(addr = %listener.local_addr()?, "listening");
                    // Without TCP_NODELAY a reply written in several segments
                    // waits for the client's delayed ACK: 40 ms per call on
                    // loopback.
                    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                    let server = router.serve_with_incoming_shutdown(incoming, shutdown);
                    tokio::select! {
                        served = server => served,
                        () = deadline => { warn!("grace period over; in-flight requests dropped"); Ok(()) }
                    }
                }
            }
        }
        Listen::Unix(path) => {
            use std::os::unix::fs::PermissionsExt;
            // A stale socket file from an earlier run would make bind fail.
            let _ = std::fs::remove_file(path);
            let listener =
                UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(args.socket_mode))
                .with_context(|| format!("setting the mode of {}", path.display()))?;
            info!(addr = %format!("unix:{}", path.display()), mode = %format!("{:04o}", args.socket_mode), "listening");
            let server =
                router.serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown);
            let served = tokio::select! {
                served = server => served,
                () = deadline => { warn!("grace period over; in-flight requests dropped"); Ok(()) }
            };
            let _ = std::fs::remove_file(path);
            served
        }
    };
    readiness.abort();
    served.context("serving")?;
    if let Some(retention) = retention {
        retention.stop().await;
    }
    engine.flush_index(grace).await;
    info!("stopped");
    Ok(())
}

/// TLS for the gRPC listener when `--tls-cert` is given; plaintext on an
/// address other hosts reach is refused without `--allow-plaintext`
/// (loopback and Unix sockets stay in the pod).
fn listener_tls(
    args: &ServeArgs,
) -> anyhow::Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>> {
    // ServeArgs::validate refused the other combinations.
    match (&args.tls_cert, &args.tls_key, &args.listen) {
        (Some(cert), Some(key), Listen::Tcp(_)) => {
            let config =
                engram_tls::server_config(cert, key, args.tls_client_ca.as_deref(), &[b"h2"])
                    .map_err(|e| Invalid(format!("preparing TLS: {e:#}")))?;
            Ok(Some(config))
        }
        (_, _, Listen::Tcp(addr)) if !addr.ip().is_loopback() => {
            warn!(%addr, "serving plaintext on an address other hosts can reach (--allow-plaintext)");
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Reads the indexing and handover backlogs into the metrics every few
/// seconds.
async fn track_backlog(engine: Arc<AppEngine>, metrics: Arc<Metrics>) {
    loop {
        if let Ok(backlog) = engine.index_backlog().await {
            metrics.index_queue_depth.set(backlog.pending as i64);
            let lag = backlog.oldest.map_or(0.0, |oldest| {
                engram_domain::Timestamp::now()
                    .0
                    .saturating_sub(oldest.0)
                    .max(0) as f64
                    / 1e6
            });
            metrics.index_lag.set(lag);
        }
        if let Ok(queued) = engine.handover_backlog().await {
            metrics.handover_queue_depth.set(queued as i64);
        }
        tokio::time::sleep(BACKLOG_PERIOD).await;
    }
}

/// SERVING while the cold store answers (a hot tier or index outage only
/// degrades), NOT_SERVING otherwise; every change is logged once. Liveness
/// (the process answering at all) never depends on this.
async fn track_readiness(engine: Arc<AppEngine>, reporter: HealthReporter, metrics: Arc<Metrics>) {
    let mut last: Option<(ServingStatus, bool, bool)> = None;
    loop {
        let readiness = engine.readiness().await;
        for (backend, up) in [
            ("cold", &readiness.cold),
            ("hot", &readiness.hot),
            ("index", &readiness.index),
        ] {
            metrics
                .backend_up
                .get_or_create(&BackendLabels {
                    backend: backend.into(),
                })
                .set(i64::from(up.is_ok()));
        }
        for (worker, running) in engine.workers() {
            metrics
                .worker_running
                .get_or_create(&WorkerLabels {
                    worker: worker.into(),
                })
                .set(i64::from(running));
        }
        if let Some((subscribed, queued)) = engine.hot().subscription() {
            metrics
                .backend_up
                .get_or_create(&BackendLabels {
                    backend: "subscription".into(),
                })
                .set(i64::from(subscribed));
            metrics.invalidations_queued.set(queued as i64);
        }
        let status = if readiness.serving() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        let state = (status, readiness.hot.is_ok(), readiness.index.is_ok());
        if last != Some(state) {
            for service in SERVED {
                reporter.set_service_status(service, status).await;
            }
            let reason = |r: &engram_domain::Result<()>| match r {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.redacted().to_string(),
            };
            let (cold, hot, index) = (
                reason(&readiness.cold),
                reason(&readiness.hot),
                reason(&readiness.index),
            );
            if state == (ServingStatus::Serving, true, true) {
                info!(status = ?status, "health");
            } else {
                warn!(status = ?status, cold, hot, index, "health: degraded");
            }
            last = Some(state);
        }
        tokio::time::sleep(READINESS_PERIOD).await;
    }
}

use std::process::ExitCode;
use std::sync::Arc;

use engram::config::{
    Cli, Command, HealthArgs, HealthTarget, InjectorArgs, Invalid, LoadError, LogFormat,
};
use engram::metrics::{CallLayer, Metrics};
use engram::traces::{Otlp, Telemetry, init_logs};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Exit code for a bad configuration (EX_USAGE), as linkerd2-proxy does.
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::load(std::env::args_os()) {
        Ok(cli) => cli,
        Err(LoadError::Clap(e)) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EX_USAGE);
        }
        Err(LoadError::Clap(e)) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(LoadError::File(e)) => {
            eprintln!("engram: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("engram: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Health(args) => return runtime.block_on(health(args)),
        Command::HashToken => return hash_token(),
        Command::Injector(args) => return runtime.block_on(injector(args)),
        Command::NewEncryptionKey { id } => return new_encryption_key(id),
        Command::Serve(args) => *args,
    };
    if let Err(e) = result.validate() {
        eprintln!("engram: {e}");
        return ExitCode::from(EX_USAGE);
    }
    let metrics = Arc::new(Metrics::new(result.metrics_tenant_label));
    let otlp = result.otlp_endpoint.clone().map(|endpoint| Otlp {
        endpoint,
        sample_ratio: result.otlp_sample_ratio,
    });
    let telemetry = {
        // The OTLP exporter's channel runs on the runtime.
        let _runtime = runtime.enter();
        Telemetry::init(
            result.log_format,
            Some(Box::new(CallLayer(metrics.clone()))),
            otlp.as_ref(),
        )
    };
    let telemetry = match telemetry {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("engram: {e:#}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let shutdown = {
        let _runtime = runtime.enter();
        shutdown_signal()
    };
    let code = match runtime.block_on(engram::server::run(result, metrics, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.chain().any(|c| c.is::<Invalid>()) => {
            tracing::error!(error = format!("{e:#}"), "engram refused its configuration");
            eprintln!("engram: {e:#}");
            ExitCode::from(EX_USAGE)
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "engram failed");
            eprintln!("engram: {e:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn injector(args: InjectorArgs) -> ExitCode {
    init_logs(LogFormat::Json);
    let defaults = std::fs::read(&args.config)
        .map_err(|e| format!("reading {}: {e}", args.config.display()))
        .and_then(|raw| {
            serde_json::from_slice::<engram_injector::Defaults>(&raw)
                .map_err(|e| format!("{}: {e}", args.config.display()))
        });
    let defaults = match defaults {
        Ok(defaults) => defaults,
        Err(e) => {
            eprintln!("engram injector: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let config = engram_injector::server::Config {
        listen: args.listen,
        cert: args.tls_cert,
        key: args.tls_key,
        defaults,
    };
    match engram_injector::server::serve(config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "engram injector failed");
            eprintln!("engram injector: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn hash_token() -> ExitCode {
    let mut token = String::new();
    match std::io::stdin().read_line(&mut token) {
        Ok(_) if !token.trim().is_empty() => {
            println!("{}", engram::admin::token_hash(token.trim()));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("engram: hash-token reads a token on stdin");
            ExitCode::from(EX_USAGE)
        }
    }
}

fn new_encryption_key(id: Option<String>) -> ExitCode {
    let id = id.unwrap_or_else(|| format!("k{}", engram_domain::Timestamp::now().0 / 1_000_000));
    match engram_crypto::new_master_key(&id) {
        Ok(spec) => {
            println!("{spec}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("engram: {e}");
            ExitCode::from(EX_USAGE)
        }
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is
/// called (inside the runtime), not when the future is first polled: a
/// SIGTERM that came before the server first polled its shutdown future
/// would otherwise end the process at once, with no drain.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
}

async fn health(args: HealthArgs) -> ExitCode {
    let listen = std::env::var("ENGRAM_LISTEN").ok();
    let target = match args.target(listen.as_deref()) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("engram health: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let status = async {
        let timeout = std::time::Duration::from_secs(3);
        let channel = match &target {
            HealthTarget::Http(uri) => {
                tonic::transport::Endpoint::from_shared(uri.clone())?
                    .connect_timeout(timeout)
                    .connect()
                    .await?
            }
            HealthTarget::Unix(path) => {
                let path = path.clone();
                // The URI is not used: every connection goes to the socket.
                tonic::transport::Endpoint::from_static("http://engram.local")
                    .connect_timeout(timeout)
                    .connect_with_connector(tower::service_fn(move |_| {
                        let path = path.clone();
                        async move {
                            let stream = tokio::net::UnixStream::connect(path).await?;
                            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                        }
                    }))
                    .await?
            }
        };
        let mut client = HealthClient::new(channel);
        let reply = tokio::time::timeout(
            timeout,
            client.check(HealthCheckRequest {
                service: args.service().to_owned(),
            }),
        )
        .await??;
        anyhow::Ok(reply.into_inner().status())
    };
    match status.await {
        Ok(ServingStatus::Serving) => {
            println!("SERVING");
            ExitCode::SUCCESS
        }
        Ok(other) => {
            println!("{}", other.as_str_name());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("engram health: cannot ask {target}: {}", causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once: a transport error
/// repeats its cause's text ("tcp connect error: tcp connect error").
fn causes(e: &anyhow::Error) -> String {
    let mut said: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !said.iter().any(|s| s.contains(&text) || text.is_empty()) {
            said.retain(|s| !text.contains(s.as_str()));
            said.push(text);
        }
    }
    said.join(": ")
}

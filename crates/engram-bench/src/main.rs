//! engram-bench: N concurrent gRPC clients against a running engram, each
//! on its own connection, reporting latency percentiles and throughput next
//! to the gRPC floor (a health Check at the same concurrency, same run).
//!
//! Over 600 lines: one binary for every scenario of BENCHMARKS.md (each a
//! workload with its floor), so a figure and its floor are measured by the
//! same client code.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use engram::pb;
use engram::pb::facts_service_client::FactsServiceClient;
use engram::pb::memory_service_client::MemoryServiceClient;
use hdrhistogram::Histogram;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// AppendMessages, `--batch` messages per request, one conversation per client.
    Append,
    /// ComposeContext on a 40-message conversation with 5 facts, served hot.
    ComposeHot,
    /// The same ComposeContext against a sidecar started with `--no-cache`:
    /// every read from the cold store.
    ComposeCold,
    /// ComposeContext with recall, a new input on every call (no cache
    /// answers it), on a conversation of `--history` messages per client
    /// (3,500 by default: a long user; 40 for a short one).
    ComposeRecall,
    /// GetFacts of a user with 5 current facts.
    GetFacts,
    /// Search in semantic mode over the client's user's whole history (10
    /// hits): the semantic index alone (grow the history with `append`).
    SearchSemantic,
    /// One append, one compose, one get-facts, in turn.
    Mixed,
    /// Ack of an append on `--addr` to the first read that sees it on
    /// `--peer` (another sidecar on the same stores).
    StaleWindow,
    /// Only the floor: grpc.health.v1.Health/Check.
    Floor,
}

/// Load generator for engram.
#[derive(Debug, Parser)]
struct Args {
    /// The engram to load.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    #[arg(long, value_enum)]
    scenario: Vec<Scenario>,
    /// Concurrent clients, each on its own connection.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Messages per AppendMessages request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Tenant used for the load (keep it apart from real data).
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// Connect over TLS, trusting this PEM CA (the server's certificate
    /// must name `localhost`).
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// A second sidecar on the same stores, for `stale-window`.
    #[arg(long)]
    peer: Option<String>,
    /// Messages per client's conversation for `compose-recall`.
    #[arg(long, default_value_t = 3500)]
    history: u64,
}

struct Report {
    name: String,
    histogram: Histogram<u64>,
    elapsed: Duration,
    errors: u64,
}

impl Report {
    fn ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }

    fn rps(&self) -> f64 {
        self.histogram.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, floor: Option<&Report>, per_request: usize) {
        let ratio = floor.map_or(String::new(), |f| {
            format!("  p99/floor-p99 {:.2}", self.ms(0.99) / f.ms(0.99))
        });
        let items = if per_request > 1 {
            format!(" ({:.0} msgs/s)", self.rps() * per_request as f64)
        } else {
            String::new()
        };
        println!(
            "{:<12} n={:<8} {:>9.0} req/s{items}  p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  errors {}{ratio}",
            self.name,
            self.histogram.len(),
            self.rps(),
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.ms(0.999),
            self.histogram.max() as f64 / 1000.0,
            self.errors,
        );
    }
}

async fn connect(addr: &str) -> anyhow::Result<Channel> {
    let Some(ca) = TLS_CA.get().and_then(Option::as_ref) else {
        return Endpoint::from_shared(addr.to_owned())?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {addr}"));
    };
    // TLS (rustls), trusting `--tls-ca`, the server named `localhost`.
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let target = addr
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .to_owned();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, target) = (connector.clone(), target.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect(target).await?;
                tcp.set_nodelay(true)?;
                let tls = connector
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .with_context(|| format!("connecting to {addr} over TLS"))
}

/// `--tls-ca`, once parsed.
static TLS_CA: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Runs `op(client, i)` in a loop on every client for `seconds`.
async fn measure<F, Fut>(name: &str, channels: &[Channel], seconds: u64, op: F) -> Report
where
    F: Fn(Channel, usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = channels
        .iter()
        .cloned()
        .enumerate()
        .map(|(client, channel)| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let mut errors = 0;
                let mut i = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match op(channel.clone(), client, i).await {
                        Ok(()) => h.saturating_record(t.elapsed().as_micros() as u64),
                        Err(_) => errors += 1,
                    }
                    i += 1;
                }
                (h, errors)
            })
        })
        .collect();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await.expect("client task");
        histogram.add(h).expect("same bounds");
        errors += e;
    }
    Report {
        name: name.to_owned(),
        histogram,
        elapsed: start.elapsed(),
        errors,
    }
}

fn text(i: u64) -> String {
    const WORDS: [&str; 12] = [
        "consulta",
        "limpeza",
        "horário",
        "terça",
        "manhã",
        "dor",
        "dente",
        "exame",
        "retorno",
        "valor",
        "convênio",
        "remarcar",
    ];
    (0..24)
        .map(|k| WORDS[((i as usize) * 7 + k * 5) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn new_message(role: pb::Role, content: String) -> pb::NewMessage {
    pb::NewMessage {
        role: role as i32,
        content,
        ..Default::default()
    }
}

fn append_request(
    tenant: &str,
    conversation: &str,
    client: usize,
    batch: usize,
    i: u64,
) -> pb::AppendMessagesRequest {
    pb::AppendMessagesRequest {
        tenant_id: tenant.to_owned(),
        conversation_id: conversation.to_owned(),
        user_id: format!("user-{client}"),
        messages: (0..batch)
            .map(|k| new_message(pb::Role::User, text(i * 31 + k as u64)))
            .collect(),
    }
}

fn compose_request(tenant: &str, run: u32, client: usize) -> pb::ComposeContextRequest {
    pb::ComposeContextRequest {
        tenant_id: tenant.to_owned(),
        conversation_id: format!("compose-{run}-{client}"),
        user_id: format!("user-{client}"),
        input: "Posso remarcar a limpeza para terça de manhã?".into(),
        token_budget: 2000,
        model: "gpt-4o".into(),
        ..Default::default()
    }
}

fn facts_request(tenant: &str, client: usize) -> pb::GetFactsRequest {
    pb::GetFactsRequest {
        tenant_id: tenant.to_owned(),
        user_id: format!("user-{client}"),
        ..Default::default()
    }
}

/// Per client: a 40-message conversation and 5 facts.
async fn seed(channels: &[Channel], tenant: &str, run: u32) -> anyhow::Result<()> {
    for (client, channel) in channels.iter().enumerate() {
        let mut memory = MemoryServiceClient::new(channel.clone());
        for half in 0..2u64 {
            let messages = (0..20u64)
                .map(|k| {
                    let role = if k % 2 == 0 {
                        pb::Role::User
                    } else {
                        pb::Role::Assistant
                    };
                    new_message(role, text(half * 20 + k))
                })
                .collect();
            let request = pb::AppendMessagesRequest {
                tenant_id: tenant.to_owned(),
                conversation_id: format!("compose-{run}-{client}"),
                user_id: format!("user-{client}"),
                messages,
            };
            memory.append_messages(request).await?;
        }
        let facts = ["name", "phone_verified", "preferred_time", "plan", "city"]
            .iter()
            .map(|k| pb::FactInput {
                key: (*k).into(),
                value_json: format!("\"{k} value\""),
                ..Default::default()
            })
            .collect();
        FactsServiceClient::new(channel.clone())
            .put_facts(pb::PutFactsRequest {
                tenant_id: tenant.to_owned(),
                user_id: format!("user-{client}"),
                facts,
            })
            .await?;
    }
    Ok(())
}

/// Per client: one conversation of `history` messages, appended 100 per
/// request, for `compose-recall`.
async fn seed_history(
    channels: &[Channel],
    tenant: &str,
    run: u32,
    history: u64,
) -> anyhow::Result<()> {
    for (client, channel) in channels.iter().enumerate() {
        let mut memory = MemoryServiceClient::new(channel.clone());
        let mut k = 0;
        while k < history {
            let n = (history - k).min(100);
            let messages = (k..k + n)
                .map(|j| {
                    let role = if j % 2 == 0 {
                        pb::Role::User
                    } else {
                        pb::Role::Assistant
                    };
                    new_message(role, text(j))
                })
                .collect();
            memory
                .append_messages(pb::AppendMessagesRequest {
                    tenant_id: tenant.to_owned(),
                    conversation_id: format!("recall-{run}-{client}"),
                    user_id: format!("recall-user-{run}-{client}"),
                    messages,
                })
                .await?;
            k += n;
        }
    }
    Ok(())
}

/// From the ack of an append on A to the first GetRecent on B that returns
/// it. B reads the conversation between rounds, so its caches are warm and
/// only the invalidation can make it fresh.
async fn stale_window(
    a: Channel,
    b: Channel,
    tenant: &str,
    run: u32,
    seconds: u64,
) -> anyhow::Result<Report> {
    let conversation = format!("stale-{run}");
    let mut writer = MemoryServiceClient::new(a);
    let mut reader = MemoryServiceClient::new(b);
    let read = pb::GetRecentRequest {
        tenant_id: tenant.to_owned(),
        conversation_id: conversation.clone(),
        limit: 1,
    };
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut i = 0u64;
    while Instant::now() < deadline {
        let id = format!("sw-{i}");
        let request = pb::AppendMessagesRequest {
            tenant_id: tenant.to_owned(),
            conversation_id: conversation.clone(),
            user_id: "stale-user".into(),
            messages: vec![pb::NewMessage {
                message_id: id.clone(),
                ..new_message(pb::Role::User, text(i))
            }],
        };
        writer.append_messages(request).await?;
        let acked = Instant::now();
        loop {
            let last = reader
                .get_recent(read.clone())
                .await?
                .into_inner()
                .messages
                .pop();
            if last.is_some_and(|m| m.message_id == id) {
                h.saturating_record(acked.elapsed().as_micros() as u64);
                break;
            }
            if acked.elapsed() > Duration::from_secs(5) {
                errors += 1;
                break;
            }
        }
        // Keep B's caches warm with the current state before the next write.
        reader.get_recent(read.clone()).await?;
        i += 1;
    }
    Ok(Report {
        name: "stale-window".into(),
        histogram: h,
        elapsed: start.elapsed(),
        errors,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = TLS_CA.set(args.tls_ca.clone());
    let scenarios = if args.scenario.is_empty() {
        vec![Scenario::Append, Scenario::ComposeHot]
    } else {
        args.scenario.clone()
    };
    let mut channels = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        channels.push(connect(&args.addr).await?);
    }
    println!(
        "engram-bench: {} clients, {} s per measurement, {}",
        args.clients, args.seconds, args.addr
    );

    let floor = measure(
        "floor",
        &channels,
        args.seconds,
        |channel, _, _| async move {
            HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(drop)
        },
    )
    .await;
    floor.print(None, 1);

    let run = std::process::id();
    let mut seeded = false;
    for scenario in scenarios {
        if matches!(
            scenario,
            Scenario::ComposeHot | Scenario::ComposeCold | Scenario::GetFacts | Scenario::Mixed
        ) && !seeded
        {
            seed(&channels, &args.tenant, run).await?;
            seeded = true;
        }
        let tenant = args.tenant.clone();
        let batch = args.batch;
        let report = match scenario {
            Scenario::Floor => continue,
            Scenario::Append => {
                measure(
                    "append",
                    &channels,
                    args.seconds,
                    move |channel, client, i| {
                        let request = append_request(
                            &tenant,
                            &format!("append-{run}-{client}"),
                            client,
                            batch,
                            i,
                        );
                        async move {
                            MemoryServiceClient::new(channel)
                                .append_messages(request)
                                .await
                                .map(drop)
                        }
                    },
                )
                .await
            }
            Scenario::ComposeHot | Scenario::ComposeCold => {
                let name = if scenario == Scenario::ComposeHot {
                    "compose-hot"
                } else {
                    "compose-cold"
                };
                measure(name, &channels, args.seconds, move |channel, client, _| {
                    let request = compose_request(&tenant, run, client);
                    async move {
                        MemoryServiceClient::new(channel)
                            .compose_context(request)
                            .await
                            .map(drop)
                    }
                })
                .await
            }
            Scenario::ComposeRecall => {
                seed_history(&channels, &tenant, run, args.history).await?;
                let name = format!("compose-recall ({} msgs)", args.history);
                measure(&name, &channels, args.seconds, move |channel, client, i| {
                    let request = pb::ComposeContextRequest {
                        tenant_id: tenant.clone(),
                        conversation_id: format!("recall-{run}-{client}"),
                        user_id: format!("recall-user-{run}-{client}"),
                        input: format!("o que eu disse sobre {}? ({i})", text(i)),
                        token_budget: 2000,
                        model: "gpt-4o".into(),
                        text_only: true,
                        ..Default::default()
                    };
                    async move {
                        MemoryServiceClient::new(channel)
                            .compose_context(request)
                            .await
                            .map(drop)
                    }
                })
                .await
            }
            Scenario::SearchSemantic => {
                measure(
                    "search-semantic",
                    &channels,
                    args.seconds,
                    move |channel, client, _| {
                        let request = pb::SearchRequest {
                            tenant_id: tenant.clone(),
                            user_id: format!("user-{client}"),
                            query: "Posso remarcar a limpeza para terça de manhã?".into(),
                            mode: pb::SearchMode::Semantic as i32,
                            limit: 10,
                            ..Default::default()
                        };
                        async move {
                            MemoryServiceClient::new(channel)
                                .search(request)
                                .await
                                .map(drop)
                        }
                    },
                )
                .await
            }
            Scenario::GetFacts => {
                measure(
                    "get-facts",
                    &channels,
                    args.seconds,
                    move |channel, client, _| {
                        let request = facts_request(&tenant, client);
                        async move {
                            FactsServiceClient::new(channel)
                                .get_facts(request)
                                .await
                                .map(drop)
                        }
                    },
                )
                .await
            }
            Scenario::Mixed => {
                measure(
                    "mixed",
                    &channels,
                    args.seconds,
                    move |channel, client, i| {
                        let tenant = tenant.clone();
                        async move {
                            match i % 3 {
                                0 => {
                                    let request = append_request(
                                        &tenant,
                                        &format!("compose-{run}-{client}"),
                                        client,
                                        1,
                                        i,
                                    );
                                    MemoryServiceClient::new(channel)
                                        .append_messages(request)
                                        .await
                                        .map(drop)
                                }
                                1 => MemoryServiceClient::new(channel)
                                    .compose_context(compose_request(&tenant, run, client))
                                    .await
                                    .map(drop),
                                _ => FactsServiceClient::new(channel)
                                    .get_facts(facts_request(&tenant, client))
                                    .await
                                    .map(drop),
                            }
                        }
                    },
                )
                .await
            }
            Scenario::StaleWindow => {
                let peer = args
                    .peer
                    .as_deref()
                    .context("stale-window needs --peer ADDR (a second sidecar)")?;
                stale_window(
                    channels[0].clone(),
                    connect(peer).await?,
                    &tenant,
                    run,
                    args.seconds,
                )
                .await?
            }
        };
        report.print(
            Some(&floor),
            if scenario == Scenario::Append {
                args.batch
            } else {
                1
            },
        );
    }
    Ok(())
}

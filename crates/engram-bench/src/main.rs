//! engram-bench: N concurrent gRPC clients against a running engram, each
//! on its own connection, reporting latency percentiles and throughput next
//! to the gRPC floor (a health Check at the same concurrency, same run).

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
    Endpoint::from_shared(addr.to_owned())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {addr}"))
}

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
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

    for scenario in scenarios {
        match scenario {
            Scenario::Floor => {}
            Scenario::Append => {
                let (tenant, batch) = (args.tenant.clone(), args.batch);
                let run = std::process::id();
                let report = measure(
                    "append",
                    &channels,
                    args.seconds,
                    move |channel, client, i| {
                        let request = pb::AppendMessagesRequest {
                            tenant_id: tenant.clone(),
                            conversation_id: format!("append-{run}-{client}"),
                            user_id: format!("user-{client}"),
                            messages: (0..batch)
                                .map(|k| new_message(pb::Role::User, text(i * 31 + k as u64)))
                                .collect(),
                        };
                        async move {
                            MemoryServiceClient::new(channel)
                                .append_messages(request)
                                .await
                                .map(drop)
                        }
                    },
                )
                .await;
                report.print(Some(&floor), args.batch);
            }
            Scenario::ComposeHot => {
                let run = std::process::id();
                for (client, channel) in channels.iter().enumerate() {
                    let (conversation, user) =
                        (format!("compose-{run}-{client}"), format!("user-{client}"));
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
                            tenant_id: args.tenant.clone(),
                            conversation_id: conversation.clone(),
                            user_id: user.clone(),
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
                            tenant_id: args.tenant.clone(),
                            user_id: user,
                            facts,
                        })
                        .await?;
                }
                let tenant = args.tenant.clone();
                let report = measure(
                    "compose-hot",
                    &channels,
                    args.seconds,
                    move |channel, client, _| {
                        let request = pb::ComposeContextRequest {
                            tenant_id: tenant.clone(),
                            conversation_id: format!("compose-{run}-{client}"),
                            user_id: format!("user-{client}"),
                            input: "Posso remarcar a limpeza para terça de manhã?".into(),
                            token_budget: 2000,
                            model: "gpt-4o".into(),
                            ..Default::default()
                        };
                        async move {
                            MemoryServiceClient::new(channel)
                                .compose_context(request)
                                .await
                                .map(drop)
                        }
                    },
                )
                .await;
                report.print(Some(&floor), 1);
            }
        }
    }
    Ok(())
}

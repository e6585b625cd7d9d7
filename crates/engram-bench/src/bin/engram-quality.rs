//! engram-quality: the memory-quality benchmark. Ingests long synthetic
//! conversations (clinic, dental, legal, retail; Portuguese and English)
//! through the gRPC API of a running engram, waits until they are indexed,
//! then asks each planted question through ComposeContext at several token
//! budgets and reports evidence recall (share of the evidence messages
//! present in the composed context) and tokens used, next to full history
//! and to last-N truncation at the same budget.

#[path = "../corpus.rs"]
mod corpus;
#[path = "../quality.rs"]
mod quality;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use clap::Parser;
use corpus::{History, ProbeKind, Shape};
use engram::pb;
use engram::pb::memory_service_client::MemoryServiceClient;
use hdrhistogram::Histogram;
use quality::{connect, embedding_model, last_n, line_tokens, recall, wait_indexed};
use tonic::transport::Channel;

/// Memory-quality benchmark for engram.
#[derive(Debug, Parser)]
struct Args {
    /// The engram to measure.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Tenant the corpus is written to (a fresh one per run by default).
    #[arg(long)]
    tenant: Option<String>,
    /// Customers per (vertical, language): 8 scripts.
    #[arg(long, default_value_t = 1)]
    per_script: usize,
    /// Sessions per customer, a week apart; questions come in the last.
    #[arg(long, default_value_t = 6)]
    sessions: usize,
    /// Turns per session.
    #[arg(long, default_value_t = 80)]
    turns: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Token budgets to compose at.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,4000")]
    budgets: Vec<u32>,
    /// Longest wait for the index to catch up, in seconds.
    #[arg(long, default_value_t = 900)]
    index_timeout: u64,
    /// Model named in ComposeContext (for token counting).
    #[arg(long, default_value = "gpt-4o")]
    model: String,
    /// A label for the report (e.g. the embedder).
    #[arg(long, default_value = "")]
    label: String,
    /// Also print, per question, the rank of its evidence in lexical,
    /// semantic and hybrid Search (for tuning).
    #[arg(long)]
    diagnose: bool,
}

/// Stored message ids and tokens of one customer, oldest first.
struct Ingested {
    history: History,
    messages: Vec<(String, u32)>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tenant = args
        .tenant
        .clone()
        .unwrap_or_else(|| format!("quality-{}", std::process::id()));
    let channel = connect(&args.addr).await?;
    let mut memory = MemoryServiceClient::new(channel.clone());

    let corpus = corpus::generate(Shape {
        per_script: args.per_script,
        sessions: args.sessions,
        turns: args.turns,
        seed: args.seed,
    });
    let started = Instant::now();
    let mut ingested = Vec::new();
    for history in corpus {
        ingested.push(ingest(&mut memory, &tenant, history).await?);
    }
    let messages: usize = ingested.iter().map(|i| i.messages.len()).sum();
    let ingest_secs = started.elapsed().as_secs_f64();
    let index_secs = wait_indexed(channel.clone(), &tenant, args.index_timeout).await?;
    let model = embedding_model(channel.clone(), &tenant).await?;

    if args.diagnose {
        diagnose(&mut memory, &tenant, &ingested).await?;
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let mut rows: Vec<Row> = Vec::new();
    for &budget in &args.budgets {
        let mut row = Row::new(budget);
        for customer in &ingested {
            let last_n = last_n(&customer.messages, budget);
            let last = customer.history.sessions.last().expect("sessions");
            for q in &customer.history.questions {
                let t0 = Instant::now();
                let reply = memory
                    .compose_context(pb::ComposeContextRequest {
                        tenant_id: tenant.clone(),
                        conversation_id: last.conversation_id.clone(),
                        user_id: customer.history.user_id.clone(),
                        input: q.text.clone(),
                        token_budget: budget,
                        model: args.model.clone(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                latency.record(t0.elapsed().as_micros() as u64)?;
                let context = reply.context.unwrap_or_default();
                // Evidence counts when the context carries it: as a message,
                // or quoted by the summary block.
                let in_context: HashSet<String> = context
                    .relevant
                    .iter()
                    .chain(&context.recent)
                    .filter_map(|m| m.message.as_ref().map(|m| m.message_id.clone()))
                    .chain(
                        context
                            .summary
                            .iter()
                            .flat_map(|s| s.source_message_ids.iter().cloned()),
                    )
                    .collect();
                let tokens = reply.tokens.unwrap_or_default();
                row.add(
                    q.kind,
                    customer.history.lang,
                    recall(&q.evidence, &in_context),
                    recall(&q.evidence, &last_n),
                    tokens.composed_tokens,
                    tokens.full_history_tokens,
                    !reply.degraded.is_empty(),
                );
            }
        }
        rows.push(row);
    }

    let users = ingested.len();
    println!(
        "## engram-quality{}",
        if args.label.is_empty() {
            String::new()
        } else {
            format!(" ({})", args.label)
        }
    );
    println!();
    println!(
        "corpus: {users} customers x {} sessions x {} turns = {messages} messages, {} questions per budget (seed {}); embedding model {model}",
        args.sessions,
        args.turns,
        rows.first().map_or(0, |r| r.questions),
        args.seed,
    );
    println!(
        "ingest {ingest_secs:.1} s ({:.0} msg/s), index caught up {index_secs:.1} s after ingest",
        messages as f64 / ingest_secs
    );
    let full_avg = rows
        .first()
        .map_or(0.0, |r| r.full as f64 / r.questions.max(1) as f64);
    println!("full history: 100% recall at {full_avg:.0} tokens per question on average");
    println!();
    println!(
        "| budget | engram recall | engram tokens (avg) | % of full history | last-N recall | stated early | changed later | buried | pt | en | degraded |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1}% | {:.0} | {:.1}% | {:.1}% | {:.0}% | {:.0}% | {:.0}% | {:.0}% | {:.0}% | {} |",
            r.budget,
            100.0 * r.recall / r.questions as f64,
            r.tokens as f64 / r.questions as f64,
            100.0 * r.tokens as f64 / r.full as f64,
            100.0 * r.last_n / r.questions as f64,
            r.by(ProbeKind::Early.name()),
            r.by(ProbeKind::Changed.name()),
            r.by(ProbeKind::Buried.name()),
            r.by("pt"),
            r.by("en"),
            r.degraded,
        );
    }
    println!();
    println!(
        "ComposeContext latency over {} calls (sequential, semantic recall on): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latency.len(),
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0,
    );
    Ok(())
}

struct Row {
    budget: u32,
    questions: usize,
    recall: f64,
    last_n: f64,
    tokens: u64,
    full: u64,
    degraded: usize,
    /// By probe kind and by language: (recall sum, questions).
    kinds: HashMap<&'static str, (f64, usize)>,
}

impl Row {
    fn new(budget: u32) -> Self {
        Self {
            budget,
            questions: 0,
            recall: 0.0,
            last_n: 0.0,
            tokens: 0,
            full: 0,
            degraded: 0,
            kinds: HashMap::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        kind: ProbeKind,
        lang: &'static str,
        recall: f64,
        last_n: f64,
        tokens: u32,
        full: u64,
        degraded: bool,
    ) {
        self.questions += 1;
        self.recall += recall;
        self.last_n += last_n;
        self.tokens += u64::from(tokens);
        self.full += full;
        self.degraded += usize::from(degraded);
        for group in [kind.name(), lang] {
            let entry = self.kinds.entry(group).or_default();
            entry.0 += recall;
            entry.1 += 1;
        }
    }

    fn by(&self, group: &str) -> f64 {
        self.kinds
            .get(group)
            .map_or(0.0, |(sum, n)| 100.0 * sum / *n as f64)
    }
}

async fn ingest(
    memory: &mut MemoryServiceClient<Channel>,
    tenant: &str,
    history: History,
) -> anyhow::Result<Ingested> {
    // The corpus ends a few hours before now.
    let last_minute = history
        .sessions
        .iter()
        .flat_map(|s| &s.turns)
        .map(|t| t.minute)
        .max()
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let base = now - 6 * 3600 - last_minute * 60;
    let mut messages = Vec::new();
    for session in &history.sessions {
        for chunk in session.turns.chunks(20) {
            let reply = memory
                .append_messages(pb::AppendMessagesRequest {
                    tenant_id: tenant.to_owned(),
                    conversation_id: session.conversation_id.clone(),
                    user_id: history.user_id.clone(),
                    messages: chunk
                        .iter()
                        .map(|t| pb::NewMessage {
                            message_id: t.message_id.clone(),
                            role: if t.user {
                                pb::Role::User
                            } else {
                                pb::Role::Assistant
                            } as i32,
                            content: t.text.clone(),
                            created_at: Some(prost_types::Timestamp {
                                seconds: base + t.minute * 60,
                                nanos: 0,
                            }),
                            ..Default::default()
                        })
                        .collect(),
                })
                .await?
                .into_inner();
            for m in reply.messages.into_iter().filter_map(|a| a.message) {
                messages.push((m.message_id, line_tokens(m.tokens)));
            }
        }
    }
    Ok(Ingested { history, messages })
}

/// Rank (1-based) of each question's evidence in each search mode.
async fn diagnose(
    memory: &mut MemoryServiceClient<Channel>,
    tenant: &str,
    ingested: &[Ingested],
) -> anyhow::Result<()> {
    println!("| customer | question | kind | lexical | semantic | hybrid |");
    println!("|---|---|---|---|---|---|");
    for customer in ingested {
        for q in &customer.history.questions {
            let mut ranks = Vec::new();
            for mode in [
                pb::SearchMode::Lexical,
                pb::SearchMode::Semantic,
                pb::SearchMode::Hybrid,
            ] {
                let hits = memory
                    .search(pb::SearchRequest {
                        tenant_id: tenant.to_owned(),
                        user_id: customer.history.user_id.clone(),
                        query: q.text.clone(),
                        mode: mode as i32,
                        limit: 100,
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .hits;
                let rank = hits.iter().position(|h| {
                    h.message
                        .as_ref()
                        .is_some_and(|m| q.evidence.contains(&m.message_id))
                });
                ranks.push(rank.map_or("-".to_owned(), |r| (r + 1).to_string()));
            }
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                customer.history.user_id,
                q.text,
                q.kind.name(),
                ranks[0],
                ranks[1],
                ranks[2]
            );
        }
    }
    Ok(())
}

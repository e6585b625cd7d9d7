//! engram-locomo: evidence recall of ComposeContext on LoCoMo, the public
//! long-term conversational memory benchmark (a file of its format; the
//! data is never part of this repository: its path is an argument).
//!
//! The protocol, through the gRPC API only: one engram user per LoCoMo
//! conversation, one engram conversation per session, in order, at the
//! session's date (turns a minute apart), each turn a message with its
//! `dia_id` as the client message id, the first speaker as role `user` and
//! the second as `assistant`, the content `Speaker: text` (and a shared
//! photo's caption). Once indexed, each question of categories 1–4 whose
//! evidence names stored turns is asked through ComposeContext in a *new*
//! conversation of that user, at each budget. Evidence recall is the share
//! of a question's evidence turns present in the composed context. Beside
//! it, at the same budget: last-N truncation, and the best hits of Search
//! (lexical, semantic, hybrid) packed in rank order.

#[path = "../quality.rs"]
mod quality;

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use engram::pb;
use engram::pb::memory_service_client::MemoryServiceClient;
use hdrhistogram::Histogram;
use quality::{connect, embedding_model, last_n, line_tokens, recall, wait_indexed};
use serde_json::Value;
use tonic::transport::Channel;

/// Evidence recall of ComposeContext on a LoCoMo-format file.
#[derive(Debug, Parser)]
struct Args {
    /// The LoCoMo file (e.g. ../shared/eval/locomo-dev/locomo-dev.json).
    #[arg(long)]
    data: std::path::PathBuf,
    /// The engram to measure.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Tenant the conversations are written to (a fresh one by default).
    #[arg(long)]
    tenant: Option<String>,
    /// Token budgets to compose at.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,4000")]
    budgets: Vec<u32>,
    /// Model named in ComposeContext (for token counting).
    #[arg(long, default_value = "gpt-4o")]
    model: String,
    /// Longest wait for the index to catch up, in seconds.
    #[arg(long, default_value_t = 3600)]
    index_timeout: u64,
    /// A label for the report (e.g. the embedder).
    #[arg(long, default_value = "")]
    label: String,
    /// Print the composed text of this many missed questions (at the
    /// second budget), to see what crowded the evidence out.
    #[arg(long, default_value_t = 0)]
    show_misses: usize,
}

/// One LoCoMo conversation as stored: its user, and its turns' ids and
/// stored tokens in time order.
struct Stored {
    user: String,
    turns: Vec<(String, u32)>,
    questions: Vec<Question>,
}

struct Question {
    text: String,
    category: u8,
    evidence: Vec<String>,
}

const CATEGORIES: [(u8, &str); 4] = [
    (1, "multi-hop"),
    (2, "temporal"),
    (3, "open-domain"),
    (4, "single-hop"),
];

/// Sums per budget: (recall, questions) overall and per category, and the
/// baselines'.
#[derive(Default)]
struct Tally {
    questions: usize,
    recall: f64,
    by_category: BTreeMap<u8, (f64, usize)>,
    tokens: u64,
    full: u64,
    degraded: usize,
    /// Per block: evidence turns it carried, tokens it took.
    blocks: BTreeMap<&'static str, (usize, u64)>,
    evidence_turns: usize,
    baselines: BTreeMap<&'static str, f64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.data.exists() {
        println!(
            "engram-locomo: skipped, no LoCoMo file at {}",
            args.data.display()
        );
        return Ok(());
    }
    let raw = std::fs::read_to_string(&args.data)
        .with_context(|| format!("reading {}", args.data.display()))?;
    let samples: Vec<Value> = serde_json::from_str(&raw).context("parsing the LoCoMo file")?;
    let tenant = args
        .tenant
        .clone()
        .unwrap_or_else(|| format!("locomo-{}", std::process::id()));
    let channel = connect(&args.addr).await?;
    let mut memory = MemoryServiceClient::new(channel.clone());

    let started = Instant::now();
    let mut stored = Vec::new();
    for sample in &samples {
        stored.push(ingest(&mut memory, &tenant, sample).await?);
    }
    let turns: usize = stored.iter().map(|s| s.turns.len()).sum();
    let ingest_secs = started.elapsed().as_secs_f64();
    let index_secs = wait_indexed(channel.clone(), &tenant, args.index_timeout).await?;
    let model = embedding_model(channel.clone(), &tenant).await?;

    let mut latency = Histogram::<u64>::new(3)?;
    let mut tallies = Vec::new();
    let mut misses_shown = 0;
    for (b, &budget) in args.budgets.iter().enumerate() {
        let mut tally = Tally::default();
        for conversation in &stored {
            let last = last_n(&conversation.turns, budget);
            for (i, q) in conversation.questions.iter().enumerate() {
                let t0 = Instant::now();
                let reply = memory
                    .compose_context(pb::ComposeContextRequest {
                        tenant_id: tenant.clone(),
                        conversation_id: format!("{}-q{i}", conversation.user),
                        user_id: conversation.user.clone(),
                        input: q.text.clone(),
                        token_budget: budget,
                        model: args.model.clone(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                latency.record(t0.elapsed().as_micros() as u64)?;
                let context = reply.context.clone().unwrap_or_default();
                let mut present = HashSet::new();
                for m in context.relevant.iter().chain(&context.recent) {
                    let Some(message) = &m.message else { continue };
                    let block = match pb::SelectionReason::try_from(m.reason) {
                        Ok(pb::SelectionReason::Neighbour) => "neighbours",
                        Ok(pb::SelectionReason::Recent) => "recent",
                        _ => "relevant",
                    };
                    let entry = tally.blocks.entry(block).or_default();
                    entry.1 += u64::from(m.tokens);
                    if q.evidence.contains(&message.message_id) {
                        entry.0 += 1;
                    }
                    present.insert(message.message_id.clone());
                }
                if let Some(summary) = &context.summary {
                    let entry = tally.blocks.entry("summary").or_default();
                    entry.1 += u64::from(summary.tokens);
                    for id in &summary.source_message_ids {
                        if q.evidence.contains(id) && present.insert(id.clone()) {
                            entry.0 += 1;
                        }
                    }
                }
                let facts = tally.blocks.entry("facts").or_default();
                facts.1 += context
                    .facts
                    .iter()
                    .map(|f| u64::from(f.tokens))
                    .sum::<u64>();
                let r = recall(&q.evidence, &present);
                if r < 1.0 && b == 1 && misses_shown < args.show_misses {
                    misses_shown += 1;
                    println!(
                        "### missed ({:.0}%): {} [evidence {:?}]\n\n```text\n{}\n```\n",
                        100.0 * r,
                        q.text,
                        q.evidence,
                        reply.text
                    );
                }
                let tokens = reply.tokens.unwrap_or_default();
                tally.questions += 1;
                tally.recall += r;
                let by = tally.by_category.entry(q.category).or_default();
                by.0 += r;
                by.1 += 1;
                tally.tokens += u64::from(tokens.composed_tokens);
                tally.full += tokens.full_history_tokens;
                tally.degraded += usize::from(!reply.degraded.is_empty());
                tally.evidence_turns += q.evidence.len();
                *tally.baselines.entry("last-N").or_default() += recall(&q.evidence, &last);
                for (name, mode) in [
                    ("lexical", pb::SearchMode::Lexical),
                    ("semantic", pb::SearchMode::Semantic),
                    ("hybrid", pb::SearchMode::Hybrid),
                ] {
                    let packed =
                        search_packed(&mut memory, &tenant, conversation, q, mode, budget).await?;
                    *tally.baselines.entry(name).or_default() += recall(&q.evidence, &packed);
                }
            }
        }
        tallies.push((budget, tally));
    }

    report(
        &args,
        &model,
        turns,
        ingest_secs,
        index_secs,
        &tallies,
        &latency,
    );
    Ok(())
}

/// The best Search hits of the user's history, packed in rank order until
/// `budget` tokens (each as a `role: content` line): a plain retrieval
/// baseline.
async fn search_packed(
    memory: &mut MemoryServiceClient<Channel>,
    tenant: &str,
    conversation: &Stored,
    q: &Question,
    mode: pb::SearchMode,
    budget: u32,
) -> anyhow::Result<HashSet<String>> {
    let hits = memory
        .search(pb::SearchRequest {
            tenant_id: tenant.to_owned(),
            user_id: conversation.user.clone(),
            query: q.text.clone(),
            mode: mode as i32,
            limit: 100,
            ..Default::default()
        })
        .await?
        .into_inner()
        .hits;
    let mut used = 0;
    let mut kept = HashSet::new();
    for m in hits.into_iter().filter_map(|h| h.message) {
        let tokens = line_tokens(m.tokens);
        if used + tokens > budget {
            break;
        }
        used += tokens;
        kept.insert(m.message_id);
    }
    Ok(kept)
}

fn report(
    args: &Args,
    model: &str,
    turns: usize,
    ingest_secs: f64,
    index_secs: f64,
    tallies: &[(u32, Tally)],
    latency: &Histogram<u64>,
) {
    let label = if args.label.is_empty() {
        String::new()
    } else {
        format!(" ({})", args.label)
    };
    println!("## engram-locomo{label}");
    println!();
    println!(
        "data: {} ({turns} turns, {} questions of categories 1-4 per budget); embedding model {model}",
        args.data.display(),
        tallies.first().map_or(0, |(_, t)| t.questions),
    );
    println!(
        "ingest {ingest_secs:.1} s ({:.0} msg/s), index caught up {index_secs:.1} s after ingest",
        turns as f64 / ingest_secs
    );
    println!();
    let pct = |sum: f64, n: usize| 100.0 * sum / n.max(1) as f64;
    println!(
        "| budget | % of full history | engram | multi-hop | temporal | open-domain | single-hop | last-N | lexical | semantic | hybrid | degraded |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (budget, t) in tallies {
        let category = |c: u8| t.by_category.get(&c).map_or(0.0, |(sum, n)| pct(*sum, *n));
        let baseline = |name: &str| pct(t.baselines.get(name).copied().unwrap_or(0.0), t.questions);
        println!(
            "| {budget} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {} |",
            100.0 * t.tokens as f64 / t.full.max(1) as f64,
            pct(t.recall, t.questions),
            category(CATEGORIES[0].0),
            category(CATEGORIES[1].0),
            category(CATEGORIES[2].0),
            category(CATEGORIES[3].0),
            baseline("last-N"),
            baseline("lexical"),
            baseline("semantic"),
            baseline("hybrid"),
            t.degraded,
        );
    }
    println!();
    println!(
        "Blocks: share of the composed tokens, and share of the evidence turns asked for that each carried."
    );
    println!();
    println!("| budget | block | token share | evidence carried |");
    println!("|---|---|---|---|");
    for (budget, t) in tallies {
        for (block, (evidence, tokens)) in &t.blocks {
            println!(
                "| {budget} | {block} | {:.1}% | {:.1}% |",
                100.0 * *tokens as f64 / t.tokens.max(1) as f64,
                100.0 * *evidence as f64 / t.evidence_turns.max(1) as f64,
            );
        }
    }
    println!();
    println!(
        "ComposeContext latency over {} calls (sequential): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latency.len(),
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0,
    );
}

/// Stores one LoCoMo conversation and returns its questions.
async fn ingest(
    memory: &mut MemoryServiceClient<Channel>,
    tenant: &str,
    sample: &Value,
) -> anyhow::Result<Stored> {
    let user = sample["sample_id"]
        .as_str()
        .context("a sample without sample_id")?
        .to_owned();
    let conversation = &sample["conversation"];
    let first_speaker = conversation["speaker_a"].as_str().unwrap_or_default();
    let mut turns = Vec::new();
    for k in 1.. {
        let Some(session) = conversation[format!("session_{k}")].as_array() else {
            break;
        };
        let date = conversation[format!("session_{k}_date_time")]
            .as_str()
            .unwrap_or_default();
        let start = session_start(date).with_context(|| format!("{user}: date {date:?}"))?;
        let messages: Vec<pb::NewMessage> = session
            .iter()
            .enumerate()
            .map(|(i, turn)| {
                let speaker = turn["speaker"].as_str().unwrap_or_default();
                let mut content =
                    format!("{speaker}: {}", turn["text"].as_str().unwrap_or_default());
                if let Some(caption) = turn["blip_caption"].as_str() {
                    content.push_str(&format!(" [shares a photo: {caption}]"));
                }
                pb::NewMessage {
                    message_id: turn["dia_id"].as_str().unwrap_or_default().to_owned(),
                    role: if speaker == first_speaker {
                        pb::Role::User
                    } else {
                        pb::Role::Assistant
                    } as i32,
                    content,
                    created_at: Some(prost_types::Timestamp {
                        seconds: start + 60 * i as i64,
                        nanos: 0,
                    }),
                    ..Default::default()
                }
            })
            .collect();
        for chunk in messages.chunks(50) {
            let reply = memory
                .append_messages(pb::AppendMessagesRequest {
                    tenant_id: tenant.to_owned(),
                    conversation_id: format!("{user}-s{k}"),
                    user_id: user.clone(),
                    messages: chunk.to_vec(),
                })
                .await
                .with_context(|| format!("{user} session {k}"))?
                .into_inner();
            for m in reply.messages.into_iter().filter_map(|a| a.message) {
                turns.push((m.message_id, line_tokens(m.tokens)));
            }
        }
    }
    let ids: HashSet<&str> = turns.iter().map(|(id, _)| id.as_str()).collect();
    let questions = sample["qa"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| {
            let category = u8::try_from(q["category"].as_u64()?).ok()?;
            let evidence: Vec<String> = q["evidence"]
                .as_array()?
                .iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect();
            let usable = CATEGORIES.iter().any(|(c, _)| *c == category)
                && !evidence.is_empty()
                && evidence.iter().all(|e| ids.contains(e.as_str()));
            usable.then(|| Question {
                text: q["question"].as_str().unwrap_or_default().to_owned(),
                category,
                evidence,
            })
        })
        .collect();
    Ok(Stored {
        user,
        turns,
        questions,
    })
}

/// "1:56 pm on 8 May, 2023" as Unix seconds (UTC).
fn session_start(text: &str) -> anyhow::Result<i64> {
    let (time, date) = text.split_once(" on ").context("no ' on '")?;
    let (clock, half) = time.trim().split_once(' ').context("no am/pm")?;
    let (h, m) = clock.split_once(':').context("no h:mm")?;
    let (mut h, m): (i64, i64) = (h.parse()?, m.parse()?);
    match half.to_ascii_lowercase().as_str() {
        "am" if h == 12 => h = 0,
        "am" => {}
        "pm" if h != 12 => h += 12,
        "pm" => {}
        other => bail!("{other:?} is not am/pm"),
    }
    let parts: Vec<&str> = date.split([' ', ',']).filter(|p| !p.is_empty()).collect();
    let [day, month, year] = parts[..] else {
        bail!("not 'D Month, YYYY'");
    };
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let month = MONTHS
        .iter()
        .position(|name| *name == month.to_ascii_lowercase())
        .context("unknown month")? as i64
        + 1;
    let days = days_from_civil(year.parse()?, month, day.parse()?);
    Ok(days * 86_400 + h * 3600 + m * 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn session_dates() {
        assert_eq!(session_start("12:00 am on 1 January, 1970").unwrap(), 0);
        // 2023-05-08T13:56:00Z
        assert_eq!(
            session_start("1:56 pm on 8 May, 2023").unwrap(),
            1_683_554_160
        );
        assert!(session_start("yesterday").is_err());
    }

    #[test]
    fn categories_are_named() {
        let names: HashMap<u8, &str> = CATEGORIES.into_iter().collect();
        assert_eq!(names[&2], "temporal");
    }
}

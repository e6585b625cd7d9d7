//! engram-index-scan: what a semantic search costs on the embedded index,
//! by the number of vectors in the searched scope (one user's history).
//! The embedded index answers by an exact scan of the scope; this measures
//! where that stops being cheap, which is where an ANN index (qdrant-edge)
//! would start to pay.

use std::time::Instant;

use clap::Parser;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{MessageFilter, Role, Scope};
use engram_domain::ports::{IndexPoint, SemanticIndex};
use engram_domain::time::Timestamp;
use engram_embedded::EmbeddedIndex;
use hdrhistogram::Histogram;

/// Embedded-index scan benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Scope sizes (vectors of one user) to measure.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,20000,50000")]
    sizes: Vec<usize>,
    /// Vector dimension (multilingual-e5-small: 384).
    #[arg(long, default_value_t = 384)]
    dimension: usize,
    /// Searches per size.
    #[arg(long, default_value_t = 300)]
    searches: usize,
    /// Hits asked per search (ComposeContext asks 100).
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

/// A deterministic pseudo-random unit vector.
fn vector(seed: u64, dimension: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<f32> = (0..dimension)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tenant = TenantId::parse("tenant_id", "bench")?;
    println!(
        "{:>8} {:>10} {:>10} {:>10}   (dimension {}, {} hits, {} searches)",
        "vectors", "p50 ms", "p99 ms", "MB", args.dimension, args.limit, args.searches
    );
    for (n, &size) in args.sizes.iter().enumerate() {
        let dir = tempfile::tempdir()?;
        let index = EmbeddedIndex::open(dir.path(), "bench", args.dimension, 64 << 20)?;
        let user = UserId::parse("user_id", &format!("user-{n}"))?;
        let mut seq = 0u64;
        while (seq as usize) < size {
            let batch: Vec<IndexPoint> = (0..1000.min(size - seq as usize))
                .map(|_| {
                    seq += 1;
                    IndexPoint {
                        user_id: user.clone(),
                        conversation_id: ConversationId::parse(
                            "conversation_id",
                            &format!("c-{}", seq / 100),
                        )
                        .expect("conversation id"),
                        seq,
                        role: if seq.is_multiple_of(2) {
                            Role::User
                        } else {
                            Role::Assistant
                        },
                        created_at: Timestamp(i64::try_from(seq).unwrap_or(0) * 1_000_000),
                        vector: vector(seq, args.dimension),
                    }
                })
                .collect();
            index.upsert(&tenant, batch).await?;
        }
        let scope = Scope::User(user);
        let mut latency = Histogram::<u64>::new(3)?;
        for i in 0..args.searches {
            let query = vector(1_000_000 + i as u64, args.dimension);
            let started = Instant::now();
            let hits = index
                .search(
                    &tenant,
                    &scope,
                    &query,
                    &MessageFilter::default(),
                    args.limit,
                )
                .await?;
            latency.record(u64::try_from(started.elapsed().as_micros())?)?;
            anyhow::ensure!(hits.len() == args.limit.min(size), "short answer");
        }
        let bytes = std::fs::read_dir(dir.path())?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum::<u64>();
        println!(
            "{:>8} {:>10.2} {:>10.2} {:>10.1}",
            size,
            latency.value_at_quantile(0.5) as f64 / 1000.0,
            latency.value_at_quantile(0.99) as f64 / 1000.0,
            bytes as f64 / 1e6
        );
    }
    Ok(())
}

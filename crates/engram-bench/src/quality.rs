//! What the quality benchmarks share: evidence recall, plain truncation,
//! and waiting for the index through GetMemoryStats.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use engram::pb;
use engram::pb::compliance_service_client::ComplianceServiceClient;
use tonic::transport::{Channel, Endpoint};

/// A channel to the engram at `addr`.
pub async fn connect(addr: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(addr.to_owned())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {addr}"))
}

/// Share of `evidence` present in the context (1 without evidence).
pub fn recall(evidence: &[String], present: &HashSet<String>) -> f64 {
    if evidence.is_empty() {
        return 1.0;
    }
    evidence.iter().filter(|e| present.contains(*e)).count() as f64 / evidence.len() as f64
}

/// A message's tokens as a client would send it, a `role: content` line,
/// from its stored size (which counts a `[date time]` stamp too): the size
/// the baselines pack messages at, and the full history is counted at.
pub fn line_tokens(stored: u32) -> u32 {
    stored.saturating_sub(engram_text::tokens::Tokenizer::STORED.stamp_tokens())
}

/// The newest messages that fit in `budget` tokens: plain truncation.
pub fn last_n(messages: &[(String, u32)], budget: u32) -> HashSet<String> {
    let mut used = 0;
    let mut kept = HashSet::new();
    for (id, tokens) in messages.iter().rev() {
        if used + tokens > budget {
            break;
        }
        used += tokens;
        kept.insert(id.clone());
    }
    kept
}

pub async fn stats(channel: Channel, tenant: &str) -> anyhow::Result<pb::IndexingStats> {
    // GetMemoryStats is an administrative call: the sidecar must be given
    // `--admin-token NAME:stats:<hash>` and this bench the token.
    let mut request = tonic::Request::new(pb::GetMemoryStatsRequest {
        tenant_id: tenant.to_owned(),
        max_users: 1,
    });
    if let Ok(token) = std::env::var("ENGRAM_ADMIN_TOKEN") {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    Ok(ComplianceServiceClient::new(channel)
        .get_memory_stats(request)
        .await?
        .into_inner()
        .indexing
        .unwrap_or_default())
}

pub async fn wait_indexed(channel: Channel, tenant: &str, timeout: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    loop {
        let s = stats(channel.clone(), tenant).await?;
        if s.pending_jobs == 0 {
            return Ok(start.elapsed().as_secs_f64());
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            bail!(
                "{} indexing jobs still pending after {timeout} s",
                s.pending_jobs
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn embedding_model(channel: Channel, tenant: &str) -> anyhow::Result<String> {
    Ok(stats(channel, tenant).await?.model)
}

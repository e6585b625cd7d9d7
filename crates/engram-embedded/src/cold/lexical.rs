//! Lexical search in the embedded store: an inverted index of engram's
//! terms (per tenant and user), scored with BM25. A search reads the
//! postings of the query's terms and decodes only the best messages, so its
//! cost follows the query, not the length of the user's history.

use std::collections::HashMap;

use engram_domain::error::Result;
use engram_domain::ids::{ConversationId, TenantId};
use engram_domain::model::{Message, MessageFilter, Scope, ScoredMessage};
use engram_text::{ANALYSER_VERSION, is_common_term, terms};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::{MESSAGES, META, POSTINGS, TERM_STATS, after, decode};
use crate::writer::storage;

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Meta key: the version of the analyser the postings were built with,
/// once they cover every message.
const POSTINGS_ANALYSER: &str = "postings_analyser";
/// What stores of analyser 1 set instead.
const LEGACY_POSTINGS_BUILT: &str = "postings_v1";

fn pack(tf: u32, len: u32) -> u64 {
    (u64::from(tf) << 32) | u64::from(len)
}

fn unpack(v: u64) -> (f64, f64) {
    ((v >> 32) as f64, (v & 0xffff_ffff) as f64)
}

/// Term frequencies of a message's content, and its length in terms.
fn analyse(content: &str) -> (HashMap<String, u32>, u32) {
    let all = terms(content);
    let mut tf = HashMap::new();
    for term in &all {
        *tf.entry(term.clone()).or_insert(0) += 1;
    }
    (tf, all.len() as u32)
}

/// Adds (or removes) a message's postings and the user's term statistics.
pub(super) fn index(
    txn: &WriteTransaction,
    tenant: &TenantId,
    m: &Message,
    add: bool,
) -> Result<()> {
    let (t, u, c) = (
        tenant.as_str(),
        m.user_id.as_str(),
        m.conversation_id.as_str(),
    );
    let (tf, len) = analyse(&m.content);
    let mut postings = txn.open_table(POSTINGS).map_err(storage)?;
    for (term, n) in &tf {
        let key = (t, u, term.as_str(), c, m.seq);
        if add {
            postings.insert(key, pack(*n, len)).map_err(storage)?;
        } else {
            postings.remove(key).map_err(storage)?;
        }
    }
    let mut stats = txn.open_table(TERM_STATS).map_err(storage)?;
    let (docs, total) = stats
        .get((t, u))
        .map_err(storage)?
        .map_or((0, 0), |v| v.value());
    let next = if add {
        (docs + 1, total + u64::from(len))
    } else {
        (docs.saturating_sub(1), total.saturating_sub(u64::from(len)))
    };
    stats.insert((t, u), next).map_err(storage)?;
    Ok(())
}

/// Builds the postings of every stored message when they were built by
/// another version of the analyser, or never (stores written before the
/// inverted index existed): the terms a search asks for are always those
/// its messages were indexed with.
pub(super) fn build_current(txn: &WriteTransaction) -> Result<()> {
    let built = {
        let meta = txn.open_table(META).map_err(storage)?;
        let version = meta
            .get(POSTINGS_ANALYSER)
            .map_err(storage)?
            .map(|v| v.value());
        // Stores of before the version was kept: analyser 1.
        let legacy = meta.get(LEGACY_POSTINGS_BUILT).map_err(storage)?.map(|_| 1);
        version.or(legacy)
    };
    if built == Some(u64::from(ANALYSER_VERSION)) {
        return Ok(());
    }
    if built.is_some() {
        txn.delete_table(POSTINGS).map_err(storage)?;
        txn.delete_table(TERM_STATS).map_err(storage)?;
    }
    let messages: Vec<(String, Message)> = {
        let table = txn.open_table(MESSAGES).map_err(storage)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(storage)? {
            let (key, value) = row.map_err(storage)?;
            out.push((key.value().0.to_owned(), decode(value.value())?));
        }
        out
    };
    // The tables exist even when there is nothing to index.
    txn.open_table(POSTINGS).map_err(storage)?;
    txn.open_table(TERM_STATS).map_err(storage)?;
    for (tenant, m) in messages {
        if let Ok(tenant) = TenantId::parse("tenant_id", &tenant) {
            index(txn, &tenant, &m, true)?;
        }
    }
    let mut meta = txn.open_table(META).map_err(storage)?;
    meta.remove(LEGACY_POSTINGS_BUILT).map_err(storage)?;
    meta.insert(POSTINGS_ANALYSER, u64::from(ANALYSER_VERSION))
        .map_err(storage)?;
    Ok(())
}

/// BM25 over the scope's messages that pass the filter, best first.
pub(super) fn search(
    txn: &ReadTransaction,
    tenant: &TenantId,
    scope: &Scope,
    query: &str,
    filter: &MessageFilter,
    limit: usize,
) -> Result<Vec<ScoredMessage>> {
    let mut query = terms(query);
    query.sort();
    query.dedup();
    let (t, u) = (tenant.as_str(), scope.user().as_str());
    let only: Option<&ConversationId> = match scope {
        Scope::Conversation(_, c) => Some(c),
        Scope::User(_) => None,
    };
    let (docs, total) = txn
        .open_table(TERM_STATS)
        .map_err(storage)?
        .get((t, u))
        .map_err(storage)?
        .map_or((0, 0), |v| v.value());
    if docs == 0 || query.is_empty() {
        return Ok(Vec::new());
    }
    let n = docs as f64;
    let avg_len = (total as f64 / n).max(1.0);
    let postings = txn.open_table(POSTINGS).map_err(storage)?;
    let mut postings_of = Vec::new();
    for term in &query {
        let end = after(term);
        let mut hits = Vec::new();
        for row in postings
            .range((t, u, term.as_str(), "", 0)..(t, u, end.as_str(), "", 0))
            .map_err(storage)?
        {
            let (key, value) = row.map_err(storage)?;
            let (_, _, _, c, seq) = key.value();
            if only.is_none_or(|o| o.as_str() == c) {
                hits.push((c.to_owned(), seq, value.value()));
            }
        }
        postings_of.push(hits);
    }
    // Terms in a large share of the user's messages rank nothing, unless
    // the query has no others.
    let common = |hits: &Vec<(String, u64, u64)>| is_common_term(hits.len(), docs);
    if !postings_of.iter().all(common) {
        postings_of.retain(|hits| !common(hits));
    }
    let mut scores: HashMap<(String, u64), f64> = HashMap::new();
    for hits in postings_of {
        let df = hits.len() as f64;
        let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
        for (c, seq, packed) in hits {
            let (tf, len) = unpack(packed);
            let score = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg_len));
            *scores.entry((c, seq)).or_default() += score;
        }
    }
    let mut ranked: Vec<((String, u64), f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let messages = txn.open_table(MESSAGES).map_err(storage)?;
    let mut out = Vec::new();
    for ((c, seq), score) in ranked {
        if out.len() == limit {
            break;
        }
        let Some(value) = messages.get((t, c.as_str(), seq)).map_err(storage)? else {
            continue;
        };
        let message: Message = decode(value.value())?;
        if message.user_id.as_str() == u && filter.matches(message.role, message.created_at) {
            out.push(ScoredMessage { message, score });
        }
    }
    Ok(out)
}

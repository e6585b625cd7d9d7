//! ComposeContext: fetch the sources in parallel, let `engram_context::compose`
//! decide, report timings.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use engram_context::compose::{Candidate, Composition, Reason, Sources, compose};
use engram_domain::error::{Error, Result};
use engram_domain::handover::Handover;
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{ConversationCursor, Message, MessageFilter, Scope};
use engram_domain::ports::{ColdStore, Embedder, HotTier, SemanticIndex};
use engram_domain::time::Timestamp;
use engram_text::query::{dates, terms_found};
use engram_text::tokens::Tokenizer;
use engram_text::{fold, reciprocal_rank_fusion};
use tracing::Instrument;

use super::Engine;

/// Messages read per page when the full history must be recounted.
const RECOUNT_PAGE: usize = 1000;
/// Running summaries read: the user's most recent conversations.
const SUMMARIES_READ: usize = 8;
/// Hits asked of each retriever.
const RECALL_DEPTH: usize = 100;
/// Hits asked of each retriever within each date the input names.
const DATED_DEPTH: usize = 20;
/// Best lexical hits that tell how much of the input the history says in
/// its own words.
const FOUND_IN: usize = 5;
/// Best hits whose neighbours are proposed too.
const NEIGHBOURED: usize = 6;
/// A neighbour's score relative to its hit's, per turn of distance.
const NEIGHBOUR_WEIGHT: f64 = 0.5;
/// How many turns before and after a best hit are proposed.
const NEIGHBOUR_REACH: u64 = 2;
/// How much importance (0..1) and recency (1 now, 0.5 after a half-life)
/// lift a fused score.
const IMPORTANCE_WEIGHT: f64 = 0.6;
const RECENCY_WEIGHT: f64 = 0.2;
const RECENCY_HALF_LIFE_DAYS: f64 = 30.0;

/// What recall found, and how its sources fared.
#[derive(Debug, Default)]
struct Recall {
    candidates: Vec<Candidate>,
    /// Share of the input's terms that the best lexical hits carry.
    input_found: f64,
    timings: Vec<Timing>,
    degraded: Vec<&'static str>,
}

/// How many turns `m` is from a hit, when it is a neighbour of it.
fn distance(m: &Message, (conversation, seq): &(ConversationId, u64)) -> Option<u64> {
    let d = m.seq.abs_diff(*seq);
    (m.conversation_id == *conversation && (1..=NEIGHBOUR_REACH).contains(&d)).then_some(d)
}

/// Keeps, of the hits with the same folded text, the newest one at the
/// rank of the best.
fn distinct(hits: Vec<(Message, f64)>) -> Vec<(Message, f64)> {
    let mut by_text: HashMap<String, (Message, f64)> = HashMap::new();
    for (m, score) in hits {
        match by_text.entry(fold(&m.content)) {
            Entry::Occupied(mut entry) => {
                let (kept, best) = entry.get_mut();
                *best = best.max(score);
                if m.created_at > kept.created_at {
                    *kept = m;
                }
            }
            Entry::Vacant(entry) => {
                entry.insert((m, score));
            }
        }
    }
    // The rank of a text is that of its best copy; ties in a fixed order.
    let mut out: Vec<(Message, f64)> = by_text.into_values().collect();
    out.sort_by(|(a, sa), (b, sb)| {
        sb.total_cmp(sa)
            .then_with(|| b.created_at.cmp(&a.created_at))
            .then_with(|| (&a.conversation_id, a.seq).cmp(&(&b.conversation_id, b.seq)))
    });
    out
}

/// Fuses rankings (lexical, semantic, and the same within the dates the
/// input names) by reciprocal rank, then lifts each score by the message's
/// importance and recency. Best first.
pub(crate) fn rank(lists: Vec<Vec<(Message, f64)>>, now: Timestamp) -> Vec<(Message, f64)> {
    let key = |m: &Message| (m.conversation_id.clone(), m.seq);
    // Repeated boilerplate ("ok, thanks", the same confirmation every
    // week) would fill every rank with copies of one text: each list keeps
    // the newest copy of a text, so that the ranks go to distinct content.
    let lists: Vec<Vec<(Message, f64)>> = lists.into_iter().map(distinct).collect();
    let keys: Vec<Vec<(ConversationId, u64)>> = lists
        .iter()
        .map(|list| list.iter().map(|(m, _)| key(m)).collect())
        .collect();
    let fused = reciprocal_rank_fusion(&keys);
    let mut messages: HashMap<(ConversationId, u64), Message> = lists
        .into_iter()
        .flatten()
        .map(|(m, _)| (key(&m), m))
        .collect();
    let mut ranked: Vec<(Message, f64)> = fused
        .into_iter()
        .filter_map(|(k, score)| {
            let m = messages.remove(&k)?;
            let age_days = (now.0 - m.created_at.0).max(0) as f64 / 86_400e6;
            let recency = 0.5f64.powf(age_days / RECENCY_HALF_LIFE_DAYS);
            let lift = 1.0
                + IMPORTANCE_WEIGHT * (f64::from(m.importance) - 0.5)
                + RECENCY_WEIGHT * recency;
            Some((m, score * lift))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}

/// A validated ComposeContext request.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeQuery {
    pub conversation: ConversationId,
    pub user: UserId,
    pub input: String,
    pub budget: u32,
    pub model: String,
    pub query_vector: Option<Vec<f32>>,
    pub latency_budget: Option<Duration>,
}

/// Time one source took.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub source: &'static str,
    pub micros: u64,
    pub available: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComposeResult {
    pub composition: Composition,
    /// The token budget that was applied.
    pub budget: u32,
    pub full_history_tokens: u64,
    pub tokenizer: Tokenizer,
    pub timings: Vec<Timing>,
    pub degraded: Vec<&'static str>,
    /// The conversation's active handover, or else its last one.
    pub handover: Option<Handover>,
}

/// Runs one source of a composition in a span of its own (`compose.source`,
/// the source's name as its only field: never content) and times it.
async fn timed<T>(source: &'static str, fut: impl Future<Output = T>) -> (T, u64) {
    let start = Instant::now();
    let out = fut
        .instrument(tracing::info_span!("compose.source", source))
        .await;
    (
        out,
        u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
    )
}

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    pub async fn compose(&self, tenant: &TenantId, q: ComposeQuery) -> Result<ComposeResult> {
        let started = Instant::now();
        let tokenizer = Tokenizer::for_model(&q.model);
        let budget = q.budget;
        let scope = Scope::User(q.user.clone());
        let (
            (facts, facts_us),
            (window, recent_us),
            (recall, _),
            (summaries, summary_us),
            (handover, handover_us),
            (full_history_tokens, history_us),
        ) = tokio::join!(
            timed("facts", self.current_facts(tenant, &q.user)),
            timed("recent", self.window(tenant, &q.conversation)),
            timed("recall", self.recall(tenant, &scope, &q, started)),
            timed(
                "summary",
                self.cold.user_summaries(tenant, &q.user, SUMMARIES_READ)
            ),
            timed("handover", self.cold.handover(tenant, &q.conversation)),
            timed(
                "history_stats",
                self.full_history_tokens(tenant, tokenizer, &q.user)
            ),
        );
        let mut recall = recall?;
        // Without the handover state the agent cannot tell whether it is
        // paused: composed anyway, and flagged.
        let handover_available = handover.is_ok();
        if !handover_available {
            recall.degraded.push("handover");
        }
        let handover = handover.ok().flatten();
        let summary_available = summaries.is_ok();
        if !summary_available {
            recall.degraded.push("summary");
        }
        let summaries = summaries
            .map(|s| s.into_iter().map(|(_, s)| s).collect())
            .unwrap_or_default();
        let facts = facts?.facts;
        let recent = match window? {
            Some(w) if w.conversation.user_id != q.user => {
                return Err(Error::belongs_to_another_user(q.conversation.as_str()));
            }
            Some(w) => w.messages,
            None => Vec::new(),
        };

        let composition = compose(Sources {
            input: &q.input,
            budget,
            tokenizer,
            facts,
            recent,
            relevant: recall.candidates,
            input_found: recall.input_found,
            summaries,
            handover: handover.as_ref(),
        })?;
        let mut timings = vec![
            Timing {
                source: "facts",
                micros: facts_us,
                available: true,
            },
            Timing {
                source: "recent",
                micros: recent_us,
                available: true,
            },
        ];
        timings.push(Timing {
            source: "handover",
            micros: handover_us,
            available: handover_available,
        });
        timings.push(Timing {
            source: "summary",
            micros: summary_us,
            available: summary_available,
        });
        timings.extend(recall.timings);
        timings.push(Timing {
            source: "history_stats",
            micros: history_us,
            available: true,
        });
        Ok(ComposeResult {
            composition,
            budget,
            full_history_tokens: full_history_tokens?,
            tokenizer,
            timings,
            degraded: recall.degraded,
            handover,
        })
    }

    /// Older messages relevant to the input: lexical and semantic hits
    /// fused by reciprocal rank, weighted by importance and recency, each
    /// of the best followed by its neighbours in its conversation. A source
    /// that fails (or would overrun the latency budget) is left out and
    /// reported as degraded; composing goes on without it.
    async fn recall(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        q: &ComposeQuery,
        started: Instant,
    ) -> Result<Recall> {
        let mut out = Recall::default();
        // Small talk ("ok, obrigado!") asks nothing older: no search.
        if q.input.trim().is_empty() || self.config.importance.is_small_talk(&q.input) {
            return Ok(out);
        }
        let filter = MessageFilter::default();
        // Whatever is left of the latency budget once the call started.
        let budget = q
            .latency_budget
            .map(|b| b.saturating_sub(started.elapsed()));
        // Dates the input names are searched within as well: their hits
        // are a ranking of their own, fused with the others.
        let dated: Vec<MessageFilter> = dates(&q.input)
            .into_iter()
            .map(|span| MessageFilter {
                from: Some(span.from),
                until: Some(span.until),
                roles: Vec::new(),
            })
            .collect();
        let ((lexical, lexical_us), (semantic, semantic_us), dated_lexical) = tokio::join!(
            timed(
                "lexical",
                self.cold
                    .search_lexical(tenant, scope, &q.input, &filter, RECALL_DEPTH)
            ),
            timed("semantic", async {
                let Some(vector) = self
                    .query_vector(tenant, &q.input, q.query_vector.clone(), budget)
                    .await?
                else {
                    return Ok(None);
                };
                let all = self
                    .semantic_hits(tenant, scope, &vector, &filter, RECALL_DEPTH)
                    .await?;
                let mut within = Vec::new();
                for f in &dated {
                    let hits = self
                        .semantic_hits(tenant, scope, &vector, f, DATED_DEPTH)
                        .await?;
                    within.extend(hits.unwrap_or_default());
                }
                Ok::<_, Error>(all.map(|all| (all, within)))
            }),
            async {
                let mut within = Vec::new();
                for f in &dated {
                    if let Ok(hits) = self
                        .cold
                        .search_lexical(tenant, scope, &q.input, f, DATED_DEPTH)
                        .await
                    {
                        within.extend(hits.into_iter().map(|s| (s.message, s.score)));
                    }
                }
                within
            },
        );
        let lexical: Vec<(Message, f64)> = match lexical {
            Ok(hits) => {
                // The input itself, when the client appended it first (or
                // said it before), is no answer to it.
                out.input_found = terms_found(
                    &q.input,
                    hits.iter()
                        .map(|s| s.message.content.as_str())
                        .filter(|text| text.trim() != q.input.trim())
                        .take(FOUND_IN),
                );
                hits.into_iter().map(|s| (s.message, s.score)).collect()
            }
            Err(_) => {
                out.degraded.push("lexical");
                Vec::new()
            }
        };
        let (semantic, dated_semantic) = match semantic {
            Ok(Some(hits)) => hits,
            // A malformed client-supplied query vector is the caller's error.
            Err(error @ Error::InvalidArgument { .. }) => return Err(error),
            Ok(None) | Err(_) => {
                out.degraded.push("semantic");
                (Vec::new(), Vec::new())
            }
        };
        out.timings.push(Timing {
            source: "lexical",
            micros: lexical_us,
            available: !out.degraded.contains(&"lexical"),
        });
        out.timings.push(Timing {
            source: "semantic",
            micros: semantic_us,
            available: !out.degraded.contains(&"semantic"),
        });

        let ranked = rank(
            vec![lexical, semantic, dated_lexical, dated_semantic],
            Timestamp::now(),
        );
        let (neighbours, neighbours_us) =
            timed("neighbours", self.neighbours(tenant, &ranked)).await;
        out.timings.push(Timing {
            source: "neighbours",
            micros: neighbours_us,
            available: neighbours.is_ok(),
        });
        let neighbours = neighbours.unwrap_or_default();
        for (i, (message, score)) in ranked.into_iter().enumerate() {
            let position = (message.conversation_id.clone(), message.seq);
            out.candidates.push(Candidate {
                message,
                score,
                reason: Reason::Relevant,
            });
            if i < NEIGHBOURED {
                for n in &neighbours {
                    if let Some(d) = distance(n, &position) {
                        out.candidates.push(Candidate {
                            message: n.clone(),
                            score: score * NEIGHBOUR_WEIGHT.powi(d as i32),
                            reason: Reason::Neighbour,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The messages right before and after each of the best hits.
    async fn neighbours(
        &self,
        tenant: &TenantId,
        ranked: &[(Message, f64)],
    ) -> Result<Vec<Message>> {
        let positions: Vec<(ConversationId, u64)> = ranked
            .iter()
            .take(NEIGHBOURED)
            .flat_map(|(m, _)| {
                (1..=NEIGHBOUR_REACH)
                    .flat_map(|d| [m.seq.checked_sub(d), Some(m.seq + d)])
                    .flatten()
                    .filter(|&seq| seq > 0)
                    .map(|seq| (m.conversation_id.clone(), seq))
            })
            .collect();
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        self.cold.messages_at(tenant, &positions).await
    }

    /// Tokens of a prompt of everything engram holds for the user, as a
    /// client would send it: each conversation behind its session header,
    /// each message a `role: content` line. From the totals kept at
    /// append for the stored tokenizer; recounted from the cold store for
    /// another one.
    async fn full_history_tokens(
        &self,
        tenant: &TenantId,
        tokenizer: Tokenizer,
        user: &UserId,
    ) -> Result<u64> {
        let headers =
            |conversations: u64| conversations * u64::from(tokenizer.session_header_tokens());
        if tokenizer == Tokenizer::STORED {
            let totals = self.cold.user_history(tenant, user).await?;
            let stamps = totals.messages * u64::from(tokenizer.stamp_tokens());
            return Ok(totals.tokens.saturating_sub(stamps) + headers(totals.conversations));
        }
        let mut total = 0;
        let mut cursor = None;
        loop {
            let conversations = self
                .cold
                .list_conversations(tenant, user, cursor.as_ref(), RECOUNT_PAGE)
                .await?;
            for c in &conversations {
                total += headers(1);
                let mut after = 0;
                loop {
                    let page = self
                        .cold
                        .messages_after(tenant, &c.conversation_id, after, RECOUNT_PAGE)
                        .await?;
                    total += page
                        .iter()
                        .map(|m| u64::from(tokenizer.line_tokens(m)))
                        .sum::<u64>();
                    match page.last() {
                        Some(last) if page.len() == RECOUNT_PAGE => after = last.seq,
                        _ => break,
                    }
                }
            }
            match conversations.last() {
                Some(last) if conversations.len() == RECOUNT_PAGE => {
                    cursor = Some(ConversationCursor::after(last))
                }
                _ => return Ok(total),
            }
        }
    }
}

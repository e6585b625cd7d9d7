//! ComposeContext: fetch the sources in parallel, let `crate::compose`
//! decide, report timings.

use std::time::{Duration, Instant};

use super::Engine;
use crate::compose::{Composition, Sources, compose};
use crate::error::{Error, Result};
use crate::ids::{ConversationId, TenantId, UserId};
use crate::model::{Conversation, Message};
use crate::ports::{ColdStore, Embedder, HotTier, SemanticIndex};
use crate::tokens::Tokenizer;

/// Messages read per page when the full history must be recounted.
const RECOUNT_PAGE: usize = 1000;

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
}

async fn timed<T>(fut: impl Future<Output = T>) -> (T, u64) {
    let start = Instant::now();
    let out = fut.await;
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
        let tokenizer = Tokenizer::for_model(&q.model);
        let budget = q.budget;
        let ((facts, facts_us), (window, recent_us)) = tokio::join!(
            timed(self.current_facts(tenant, &q.user)),
            timed(self.window(tenant, &q.conversation)),
        );
        let facts = facts?.facts;
        let (conversation, recent) = match window? {
            Some(w) if w.conversation.user_id != q.user => {
                return Err(Error::NotFound {
                    what: "conversation",
                    id: q.conversation.to_string(),
                });
            }
            Some(w) => (Some(w.conversation), w.messages),
            None => (None, Vec::new()),
        };
        let (full_history_tokens, history_us) =
            timed(self.full_history_tokens(tenant, tokenizer, conversation.as_ref(), &recent))
                .await;

        let composition = compose(Sources {
            tenant_id: tenant.as_str(),
            user_id: q.user.as_str(),
            conversation_id: q.conversation.as_str(),
            input: &q.input,
            budget,
            tokenizer,
            facts,
            recent,
            relevant: Vec::new(),
        })?;
        Ok(ComposeResult {
            composition,
            budget,
            full_history_tokens: full_history_tokens?,
            tokenizer,
            timings: vec![
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
                Timing {
                    source: "history_stats",
                    micros: history_us,
                    available: true,
                },
            ],
            degraded: Vec::new(),
        })
    }

    /// Tokens of the whole history: kept up to date at append for the stored
    /// tokenizer; recounted from the cold store for another one.
    async fn full_history_tokens(
        &self,
        tenant: &TenantId,
        tokenizer: Tokenizer,
        conversation: Option<&Conversation>,
        recent: &[Message],
    ) -> Result<u64> {
        let Some(conversation) = conversation else {
            return Ok(0);
        };
        if tokenizer == Tokenizer::STORED {
            return Ok(conversation.total_tokens);
        }
        let count = |messages: &[Message]| -> u64 {
            messages
                .iter()
                .map(|m| u64::from(tokenizer.message_tokens(m)))
                .sum()
        };
        if recent.len() as u64 >= conversation.message_count {
            return Ok(count(recent));
        }
        let (mut total, mut after) = (0, 0);
        loop {
            let page = self
                .cold
                .messages_after(tenant, &conversation.conversation_id, after, RECOUNT_PAGE)
                .await?;
            total += count(&page);
            match page.last() {
                Some(last) if page.len() == RECOUNT_PAGE => after = last.seq,
                _ => return Ok(total),
            }
        }
    }
}

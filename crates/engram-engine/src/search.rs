//! Search: lexical, semantic, or their reciprocal-rank fusion.

use std::collections::HashMap;
use std::time::Duration;

use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Message, MessageFilter, Scope};
use engram_domain::ports::{ColdStore, EmbedKind, Embedder, HotTier, SemanticIndex};
use engram_text::reciprocal_rank_fusion;

use super::Engine;

/// How Search ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Lexical,
    Semantic,
    Hybrid,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub user: Option<UserId>,
    pub conversation: Option<ConversationId>,
    pub query: String,
    pub mode: SearchMode,
    pub limit: usize,
    pub filter: MessageFilter,
    /// A client-supplied embedding of the query.
    pub query_vector: Option<Vec<f32>>,
}

/// One hit.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub message: Message,
    pub score: f64,
    pub lexical: f64,
    pub semantic: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    pub semantic_unavailable: bool,
}

type Position = (ConversationId, u64);

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    pub async fn search(&self, tenant: &TenantId, q: SearchQuery) -> Result<SearchResult> {
        let scope = self
            .scope(tenant, q.user.as_ref(), q.conversation.as_ref())
            .await?;
        let depth = if q.mode == SearchMode::Hybrid {
            (q.limit * 3).min(200)
        } else {
            q.limit
        };

        let lexical = if q.mode == SearchMode::Semantic {
            Vec::new()
        } else {
            self.cold
                .search_lexical(tenant, &scope, &q.query, &q.filter, depth)
                .await?
                .into_iter()
                .map(|s| (s.message, s.score))
                .collect()
        };
        let (semantic, semantic_unavailable) = if q.mode == SearchMode::Lexical {
            (Vec::new(), false)
        } else {
            match self
                .semantic(
                    tenant,
                    &scope,
                    &q.query,
                    q.query_vector,
                    &q.filter,
                    depth,
                    None,
                )
                .await?
            {
                Some(hits) => (hits, false),
                None => (Vec::new(), true),
            }
        };

        let hits = match q.mode {
            SearchMode::Lexical => single(lexical, |h, s| h.lexical = s),
            SearchMode::Semantic => single(semantic, |h, s| h.semantic = s),
            SearchMode::Hybrid => fuse(lexical, semantic, q.limit),
        };
        Ok(SearchResult {
            hits: hits.into_iter().take(q.limit).collect(),
            semantic_unavailable,
        })
    }

    /// Resolves what a search covers; a conversation must exist and belong
    /// to the user when both are named.
    pub(crate) async fn scope(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
        conversation: Option<&ConversationId>,
    ) -> Result<Scope> {
        match (user, conversation) {
            (user, Some(conversation)) => {
                let meta = self
                    .cold
                    .conversation(tenant, conversation)
                    .await?
                    .ok_or_else(|| Error::NotFound {
                        what: "conversation",
                        id: conversation.to_string(),
                    })?;
                if user.is_some_and(|u| *u != meta.user_id) {
                    return Err(Error::belongs_to_another_user(conversation.as_str()));
                }
                Ok(Scope::Conversation(meta.user_id, conversation.clone()))
            }
            (Some(user), None) => Ok(Scope::User(user.clone())),
            (None, None) => Err(Error::invalid(
                "user_id",
                "user_id or conversation_id is required",
            )),
        }
    }

    /// Semantic hits with their cosine similarity, or `None` when the
    /// embedder or the index is unavailable (or the embedding would take
    /// longer than `budget`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn semantic(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        query: &str,
        query_vector: Option<Vec<f32>>,
        filter: &MessageFilter,
        limit: usize,
        budget: Option<Duration>,
    ) -> Result<Option<Vec<(Message, f64)>>> {
        let Some(vector) = self
            .query_vector(tenant, query, query_vector, budget)
            .await?
        else {
            return Ok(None);
        };
        self.semantic_hits(tenant, scope, &vector, filter, limit)
            .await
    }

    /// The query's vector and the index it is for: the client's vector
    /// (checked) for the current index, or the embedder's — the previous
    /// model's, for its index, while the current one catches up with the
    /// tenant. `None` when the embedder fails or would overrun `budget`.
    pub(crate) async fn query_vector(
        &self,
        tenant: &TenantId,
        query: &str,
        query_vector: Option<Vec<f32>>,
        budget: Option<Duration>,
    ) -> Result<Option<QueryVector<'_, I>>> {
        if let Some(vector) = query_vector {
            let vector = self.check_query_vector(vector)?;
            return Ok(Some(QueryVector {
                vector,
                index: &self.index,
            }));
        }
        let (index, embedder): (&I, &E) = match &self.previous {
            Some(previous) if previous.answers(self.cold.as_ref(), tenant).await => {
                (&previous.index, &previous.embedder)
            }
            _ => (&self.index, &self.embedder),
        };
        let texts = [query];
        let embed = embedder.embed(&texts, EmbedKind::Query);
        let embedded = match budget {
            Some(budget) => match tokio::time::timeout(budget, embed).await {
                Ok(result) => result,
                Err(_) => return Ok(None),
            },
            None => embed.await,
        };
        Ok(embedded
            .ok()
            .and_then(|mut v| v.pop())
            .map(|vector| QueryVector { vector, index }))
    }

    /// The index's nearest messages to the query's vector; `None` when the
    /// index fails.
    pub(crate) async fn semantic_hits(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        query: &QueryVector<'_, I>,
        filter: &MessageFilter,
        limit: usize,
    ) -> Result<Option<Vec<(Message, f64)>>> {
        let Ok(hits) = query
            .index
            .search(tenant, scope, &query.vector, filter, limit)
            .await
        else {
            return Ok(None);
        };
        let positions: Vec<Position> = hits
            .iter()
            .map(|h| (h.conversation_id.clone(), h.seq))
            .collect();
        let scores: HashMap<Position, f64> = hits
            .into_iter()
            .map(|h| ((h.conversation_id, h.seq), f64::from(h.score)))
            .collect();
        let messages = self.cold.messages_at(tenant, &positions).await?;
        Ok(Some(
            messages
                .into_iter()
                .map(|m| {
                    let score = scores
                        .get(&(m.conversation_id.clone(), m.seq))
                        .copied()
                        .unwrap_or_default();
                    (m, score)
                })
                .collect(),
        ))
    }

    fn check_query_vector(&self, mut vector: Vec<f32>) -> Result<Vec<f32>> {
        let expected = self.embedder.dimension();
        if vector.len() != expected {
            return Err(Error::invalid(
                "query_vector",
                format!(
                    "has {} dimensions; the index's model {} has {expected}",
                    vector.len(),
                    self.embedder.model()
                ),
            ));
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(Error::invalid(
                "query_vector",
                "must be finite and non-zero",
            ));
        }
        vector.iter_mut().for_each(|x| *x /= norm);
        Ok(vector)
    }
}

/// A query's vector and the semantic index it was embedded for.
pub(crate) struct QueryVector<'a, I> {
    vector: Vec<f32>,
    index: &'a I,
}

fn single(ranked: Vec<(Message, f64)>, set: impl Fn(&mut SearchHit, f64)) -> Vec<SearchHit> {
    ranked
        .into_iter()
        .map(|(message, score)| {
            let mut hit = SearchHit {
                message,
                score,
                lexical: 0.0,
                semantic: 0.0,
            };
            set(&mut hit, score);
            hit
        })
        .collect()
}

fn fuse(
    lexical: Vec<(Message, f64)>,
    semantic: Vec<(Message, f64)>,
    limit: usize,
) -> Vec<SearchHit> {
    let key = |m: &Message| (m.conversation_id.clone(), m.seq);
    let fused = reciprocal_rank_fusion(&[
        lexical.iter().map(|(m, _)| key(m)).collect(),
        semantic.iter().map(|(m, _)| key(m)).collect(),
    ]);
    let mut by_key: HashMap<Position, SearchHit> = HashMap::new();
    let lexical = lexical.into_iter().map(|(m, s)| (m, s, true));
    let semantic = semantic.into_iter().map(|(m, s)| (m, s, false));
    for (message, score, is_lexical) in lexical.chain(semantic) {
        let hit = by_key.entry(key(&message)).or_insert_with(|| SearchHit {
            message,
            score: 0.0,
            lexical: 0.0,
            semantic: 0.0,
        });
        if is_lexical {
            hit.lexical = score;
        } else {
            hit.semantic = score;
        }
    }
    fused
        .into_iter()
        .take(limit)
        .filter_map(|(k, score)| {
            by_key.remove(&k).map(|mut hit| {
                hit.score = score;
                hit
            })
        })
        .collect()
}

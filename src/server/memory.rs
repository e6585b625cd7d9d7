//! MemoryService: validate, convert, call the engine, convert back.

use std::sync::Arc;
use std::time::Duration;

use engram_domain::error::Error;
use engram_domain::limits::*;
use engram_domain::model::{ConversationCursor, MessageFilter};
use engram_domain::time::Timestamp;
use engram_engine::{ComposeQuery, MessageDraft, SearchMode, SearchQuery};
use engram_text::tokens::Tokenizer;
use prost::Message;
use tonic::{Request, Response, Status};

use super::convert::{self, decode_token, encode_token, page_size, text, to_message};
use super::status::to_status;
use crate::backends::AppEngine;
use crate::metrics::{DegradedLabels, Metrics, TokenLabels};
use crate::pb;
use crate::pb::memory_service_server::MemoryService;

#[derive(Debug, Clone)]
pub struct MemoryApi {
    engine: Arc<AppEngine>,
    metrics: Arc<Metrics>,
}

impl MemoryApi {
    pub fn new(engine: Arc<AppEngine>, metrics: Arc<Metrics>) -> Self {
        Self { engine, metrics }
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// Keeps the longest prefix of `items` whose encoding stays within
/// `MAX_REPLY_BYTES` (always the first item: one message is far below it);
/// true when some were left out.
fn fit<T>(items: &mut Vec<T>, size: impl Fn(&T) -> usize) -> bool {
    let mut total = 0;
    let keep = items
        .iter()
        .position(|item| {
            // A repeated field costs its tag and length prefix as well.
            total += size(item) + 8;
            total > MAX_REPLY_BYTES
        })
        .map_or(items.len(), |i| i.max(1));
    let truncated = keep < items.len();
    items.truncate(keep);
    truncated
}

fn drafts(messages: &[pb::NewMessage]) -> Result<Vec<MessageDraft>, Error> {
    if messages.is_empty() {
        return Err(Error::invalid(
            "messages",
            "at least one message is required",
        ));
    }
    if messages.len() > MAX_APPEND_BATCH {
        return Err(Error::too_many(
            "messages",
            messages.len(),
            MAX_APPEND_BATCH,
        ));
    }
    let size: usize = messages
        .iter()
        .map(|m| {
            m.content.len()
                + m.message_id.len()
                + m.metadata
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        })
        .sum();
    if size > MAX_APPEND_BYTES {
        return Err(Error::too_large("messages", size, MAX_APPEND_BYTES));
    }
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let field = |name: &str| format!("messages[{i}].{name}");
            text(&field("content"), &m.content, MAX_CONTENT_BYTES, true)?;
            Ok(MessageDraft {
                message_id: convert::message_id(&field("message_id"), &m.message_id)?,
                role: convert::role(&field("role"), m.role)?,
                content: m.content.clone(),
                created_at: convert::timestamp(&field("created_at"), m.created_at.as_ref())?,
                metadata: convert::metadata(&field("metadata"), &m.metadata)?,
            })
        })
        .collect()
}

#[tonic::async_trait]
impl MemoryService for MemoryApi {
    async fn append_messages(
        &self,
        request: Request<pb::AppendMessagesRequest>,
    ) -> Reply<pb::AppendMessagesResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let user = convert::user(&r.user_id).map_err(to_status)?;
        let drafts = drafts(&r.messages).map_err(to_status)?;
        let outcome = self
            .engine
            .append(&tenant, &conversation, &user, drafts)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::AppendMessagesResponse {
            messages: outcome
                .messages
                .into_iter()
                .map(|a| pb::AppendedMessage {
                    message: Some(to_message(a.message)),
                    deduplicated: a.deduplicated,
                })
                .collect(),
        }))
    }

    async fn get_recent(
        &self,
        request: Request<pb::GetRecentRequest>,
    ) -> Reply<pb::GetRecentResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let limit = page_size("limit", r.limit, DEFAULT_RECENT, MAX_RECENT).map_err(to_status)?;
        let messages = self
            .engine
            .recent(&tenant, &conversation, limit)
            .await
            .map_err(to_status)?;
        // The newest messages are the ones asked for: older ones go first.
        let mut messages: Vec<pb::Message> = messages.into_iter().map(to_message).collect();
        messages.reverse();
        let truncated = fit(&mut messages, Message::encoded_len);
        messages.reverse();
        Ok(Response::new(pb::GetRecentResponse {
            messages,
            truncated,
        }))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Reply<pb::GetConversationResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let limit = page_size("page_size", r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
            .map_err(to_status)?;
        let after = if r.page_token.is_empty() {
            0
        } else {
            let parts = decode_token("page_token", "m", &r.page_token, 1).map_err(to_status)?;
            parts[0].parse().map_err(|_| {
                to_status(Error::invalid(
                    "page_token",
                    "is not a page token of this request",
                ))
            })?
        };
        let (meta, messages) = self
            .engine
            .conversation_page(&tenant, &conversation, after, limit)
            .await
            .map_err(to_status)?;
        let mut messages: Vec<pb::Message> = messages.into_iter().map(to_message).collect();
        fit(&mut messages, Message::encoded_len);
        let next_page_token = match messages.last() {
            Some(last) if last.seq < meta.last_seq => encode_token("m", &[&last.seq.to_string()]),
            _ => String::new(),
        };
        Ok(Response::new(pb::GetConversationResponse {
            conversation: Some(convert::to_conversation(meta)),
            messages,
            next_page_token,
        }))
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Reply<pb::ListConversationsResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let user = convert::user(&r.user_id).map_err(to_status)?;
        let limit = page_size("page_size", r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
            .map_err(to_status)?;
        let cursor = if r.page_token.is_empty() {
            None
        } else {
            let parts = decode_token("page_token", "c", &r.page_token, 2).map_err(to_status)?;
            let bad = || {
                to_status(Error::invalid(
                    "page_token",
                    "is not a page token of this request",
                ))
            };
            Some(ConversationCursor {
                updated_at: Timestamp(parts[0].parse().map_err(|_| bad())?),
                conversation_id: convert::conversation(parts[1]).map_err(|_| bad())?,
            })
        };
        let conversations = self
            .engine
            .list_conversations(&tenant, &user, cursor.as_ref(), limit + 1)
            .await
            .map_err(to_status)?;
        let more = conversations.len() > limit;
        let page: Vec<_> = conversations.into_iter().take(limit).collect();
        let next_page_token = match page.last() {
            Some(last) if more => encode_token(
                "c",
                &[
                    &last.updated_at.0.to_string(),
                    last.conversation_id.as_str(),
                ],
            ),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListConversationsResponse {
            conversations: page.into_iter().map(convert::to_conversation).collect(),
            next_page_token,
        }))
    }

    async fn delete_conversation(
        &self,
        request: Request<pb::DeleteConversationRequest>,
    ) -> Reply<pb::DeleteConversationResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let deleted_messages = self
            .engine
            .delete_conversation(&tenant, &conversation)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DeleteConversationResponse {
            deleted_messages,
        }))
    }

    async fn search(&self, request: Request<pb::SearchRequest>) -> Reply<pb::SearchResponse> {
        let r = request.into_inner();
        let query = search_query(&r).map_err(to_status)?;
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let result = self
            .engine
            .search(&tenant, query)
            .await
            .map_err(to_status)?;
        let mut hits: Vec<pb::SearchHit> = result
            .hits
            .into_iter()
            .map(|h| pb::SearchHit {
                message: Some(to_message(h.message)),
                score: h.score,
                lexical_score: h.lexical,
                semantic_score: h.semantic,
            })
            .collect();
        let truncated = fit(&mut hits, Message::encoded_len);
        Ok(Response::new(pb::SearchResponse {
            hits,
            semantic_unavailable: result.semantic_unavailable,
            truncated,
        }))
    }

    async fn compose_context(
        &self,
        request: Request<pb::ComposeContextRequest>,
    ) -> Reply<pb::ComposeContextResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let query = compose_query(&r).map_err(to_status)?;
        let query_user = query.user.clone();
        let result = self
            .engine
            .compose(&tenant, query)
            .await
            .map_err(to_status)?;
        let c = result.composition;
        let context_message = |p: engram_context::compose::Placed<
            engram_domain::model::Message,
        >| pb::ContextMessage {
            reason: convert::to_reason(p.reason) as i32,
            score: p.score,
            tokens: p.tokens,
            message: Some(to_message(p.item)),
        };
        let context = (!r.text_only).then(|| pb::ContextContract {
            identity: Some(pb::IdentityBlock {
                tenant_id: r.tenant_id,
                user_id: r.user_id,
                conversation_id: r.conversation_id,
            }),
            focus: Some(pb::FocusBlock {
                terms: c.focus_terms,
            }),
            handover: result.handover.map(convert::to_handover),
            facts: c
                .facts
                .into_iter()
                .map(|p| pb::ContextFact {
                    reason: convert::to_reason(p.reason) as i32,
                    tokens: p.tokens,
                    fact: Some(convert::to_fact(p.item)),
                })
                .collect(),
            summary: c.summary.map(|placed| pb::SummaryBlock {
                summary_id: format!("user:{}", query_user),
                from_seq: 0,
                to_seq: 0,
                tokens: placed.tokens,
                source_message_ids: placed
                    .items
                    .iter()
                    .map(|i| i.message_id.to_string())
                    .collect(),
                text: placed.text,
            }),
            relevant: c.relevant.into_iter().map(context_message).collect(),
            recent: c.recent.into_iter().map(context_message).collect(),
            input: r.input,
        });
        let tenant_label = self.metrics.tenant(tenant.as_str());
        for (kind, tokens) in [
            ("composed", f64::from(c.tokens)),
            ("full", result.full_history_tokens as f64),
        ] {
            self.metrics
                .compose_tokens
                .get_or_create(&TokenLabels {
                    kind: kind.into(),
                    tenant: tenant_label.clone(),
                })
                .observe(tokens);
        }
        for source in &result.degraded {
            self.metrics
                .compose_degraded
                .get_or_create(&DegradedLabels {
                    source: (*source).to_owned(),
                    tenant: tenant_label.clone(),
                })
                .inc();
        }
        Ok(Response::new(pb::ComposeContextResponse {
            context,
            text: c.text,
            tokens: Some(pb::TokenCounts {
                full_history_tokens: result.full_history_tokens,
                composed_tokens: c.tokens,
                budget: result.budget,
                tokenizer: result.tokenizer.name().to_owned(),
            }),
            timings: result
                .timings
                .into_iter()
                .map(|t| pb::SourceTiming {
                    source: t.source.to_owned(),
                    micros: t.micros,
                    available: t.available,
                })
                .collect(),
            degraded: result.degraded.into_iter().map(str::to_owned).collect(),
        }))
    }

    async fn summarize(
        &self,
        request: Request<pb::SummarizeRequest>,
    ) -> Reply<pb::SummarizeResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let vertical = convert::vertical(r.vertical).map_err(to_status)?;
        let summary = self
            .engine
            .summarize(&tenant, &conversation, vertical, r.from_seq, r.to_seq)
            .await
            .map_err(to_status)?;
        let tokens = Tokenizer::STORED.count(&summary.text);
        Ok(Response::new(pb::SummarizeResponse {
            compression_ratio: if tokens == 0 {
                0.0
            } else {
                summary.source_tokens as f64 / f64::from(tokens)
            },
            took_micros: u64::try_from(summary.took.as_micros()).unwrap_or(u64::MAX),
            summary: Some(pb::SummaryBlock {
                summary_id: format!("{conversation}:{}-{}", summary.from_seq, summary.to_seq),
                from_seq: summary.from_seq,
                to_seq: summary.to_seq,
                tokens,
                source_message_ids: summary.sources.iter().map(ToString::to_string).collect(),
                text: summary.text,
            }),
            summarizer: summary.summarizer,
            fell_back: summary.fell_back,
        }))
    }
}

fn search_query(r: &pb::SearchRequest) -> Result<SearchQuery, Error> {
    let user = convert::optional(&r.user_id, convert::user)?;
    let conversation = convert::optional(&r.conversation_id, convert::conversation)?;
    if user.is_none() && conversation.is_none() {
        return Err(Error::invalid(
            "user_id",
            "user_id or conversation_id is required",
        ));
    }
    text("query", &r.query, MAX_QUERY_BYTES, true)?;
    let mode = match pb::SearchMode::try_from(r.mode) {
        Ok(pb::SearchMode::Unspecified | pb::SearchMode::Hybrid) => SearchMode::Hybrid,
        Ok(pb::SearchMode::Lexical) => SearchMode::Lexical,
        Ok(pb::SearchMode::Semantic) => SearchMode::Semantic,
        Err(_) => {
            return Err(Error::invalid(
                "mode",
                format!("{} is not a SearchMode", r.mode),
            ));
        }
    };
    let range = r.time_range.as_ref();
    let from = convert::timestamp("time_range.start", range.and_then(|t| t.start.as_ref()))?;
    let until = convert::timestamp("time_range.end", range.and_then(|t| t.end.as_ref()))?;
    let roles = r
        .roles
        .iter()
        .enumerate()
        .map(|(i, role)| convert::role(&format!("roles[{i}]"), *role))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SearchQuery {
        user,
        conversation,
        query: r.query.clone(),
        mode,
        limit: page_size("limit", r.limit, DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT)?,
        filter: MessageFilter { from, until, roles },
        query_vector: convert::vector("query_vector", &r.query_vector)?,
    })
}

fn compose_query(r: &pb::ComposeContextRequest) -> Result<ComposeQuery, Error> {
    text("input", &r.input, MAX_INPUT_BYTES, false)?;
    text("model", &r.model, 128, false)?;
    Ok(ComposeQuery {
        conversation: convert::conversation(&r.conversation_id)?,
        user: convert::user(&r.user_id)?,
        input: r.input.clone(),
        budget: match r.token_budget {
            0 => DEFAULT_TOKEN_BUDGET,
            n if n > MAX_TOKEN_BUDGET => {
                return Err(Error::invalid(
                    "token_budget",
                    format!("{n} is over the limit of {MAX_TOKEN_BUDGET}"),
                ));
            }
            n => n,
        },
        model: r.model.clone(),
        query_vector: convert::vector("query_vector", &r.query_vector)?,
        latency_budget: (r.latency_budget_ms > 0)
            .then(|| Duration::from_millis(u64::from(r.latency_budget_ms))),
    })
}

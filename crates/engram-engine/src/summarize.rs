//! Summarize: the extractive compressor, or the language model when one is
//! configured, with the extractive summary answering when the model fails
//! or runs out of time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

use engram_context::summary::{LLM_INPUT_TOKENS, llm_prompt, summarize, transcript};
use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, MessageId, TenantId};
use engram_domain::ports::{ColdStore, Embedder, HotTier, LanguageModel, Prompt, SemanticIndex};
use engram_domain::summary::Vertical;
use engram_text::tokens::{Tokenizer, clip_lines};

use super::Engine;

/// Smallest token cap of a Summarize (a fifth of the source above it).
const SUMMARIZE_MIN_TOKENS: u32 = 160;

/// Who wrote a summary.
pub const EXTRACTIVE: &str = "extractive";

/// A summary of a conversation's messages `from_seq..=to_seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct Summarized {
    pub from_seq: u64,
    pub to_seq: u64,
    pub text: String,
    /// The messages the summary draws on, in time order.
    pub sources: Vec<MessageId>,
    /// Tokens (o200k) of the summarized messages.
    pub source_tokens: u64,
    /// `"extractive"`, or the language model's name.
    pub summarizer: String,
    /// A language model is configured but failed or ran out of time: the
    /// extractive summary answered.
    pub fell_back: bool,
    pub took: Duration,
}

/// What the language model wrote, or why the extractive text stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub text: String,
    pub summarizer: String,
    pub fell_back: bool,
}

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    /// Compresses the messages `from_seq..=to_seq` of a conversation (0:
    /// from the start / to the end) with a vertical's template, into at
    /// most a fifth of their tokens (at least `SUMMARIZE_MIN_TOKENS`). The
    /// running summary is kept by the indexing jobs; this call only
    /// computes.
    pub async fn summarize(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        vertical: Vertical,
        from_seq: u64,
        to_seq: u64,
    ) -> Result<Summarized> {
        let started = Instant::now();
        if to_seq != 0 && from_seq > to_seq {
            return Err(Error::invalid("from_seq", "is after to_seq"));
        }
        if self
            .cold
            .conversation(tenant, conversation)
            .await?
            .is_none()
        {
            return Err(Error::NotFound {
                what: "conversation",
                id: conversation.to_string(),
            });
        }
        let messages = super::messages_since(
            self.cold.as_ref(),
            tenant,
            conversation,
            from_seq.saturating_sub(1),
            to_seq,
        )
        .await?;
        let source_tokens: u64 = messages.iter().map(|m| u64::from(m.tokens)).sum();
        let cap = u32::try_from(source_tokens / 5)
            .unwrap_or(u32::MAX)
            .max(SUMMARIZE_MIN_TOKENS);
        let extractive = summarize(None, &messages, vertical, cap);
        let (from_seq, to_seq) = (extractive.from_seq, extractive.to_seq);
        let mut sources = extractive.sources();
        let extractive_text = extractive.text();

        let written = if self.config.language_model.is_some() && !messages.is_empty() {
            // The model reads the whole range when it fits its input, the
            // extractive notes of it otherwise.
            let whole = source_tokens <= u64::from(LLM_INPUT_TOKENS);
            let material = if whole {
                transcript(&messages)
            } else {
                summarize(None, &messages, vertical, LLM_INPUT_TOKENS).text()
            };
            let written = write(
                self.config.language_model.as_ref(),
                self.config.llm_timeout,
                &llm_prompt(vertical, material, cap),
                extractive_text,
            )
            .await;
            if whole && !written.fell_back {
                sources = messages.iter().map(|m| m.message_id.clone()).collect();
            }
            written
        } else {
            Written {
                text: extractive_text,
                summarizer: EXTRACTIVE.to_owned(),
                fell_back: false,
            }
        };
        Ok(Summarized {
            from_seq,
            to_seq,
            text: written.text,
            sources,
            source_tokens,
            summarizer: written.summarizer,
            fell_back: written.fell_back,
            took: started.elapsed(),
        })
    }
}

/// Asks the language model (if any) to answer `prompt`; `fallback` (the
/// extractive summary, the rules' proposals) stands when there is none, or
/// it fails, overruns `timeout` or answers nothing.
pub(crate) async fn write(
    model: Option<&Arc<dyn LanguageModel>>,
    timeout: Duration,
    prompt: &Prompt,
    fallback: String,
) -> Written {
    let Some(model) = model else {
        return Written {
            text: fallback,
            summarizer: EXTRACTIVE.to_owned(),
            fell_back: false,
        };
    };
    match tokio::time::timeout(timeout, model.complete(prompt)).await {
        Ok(Ok(text)) if !text.trim().is_empty() => Written {
            // A model may write past the length it was asked for: the
            // caller's budget holds whatever it does.
            text: clip_lines(Tokenizer::STORED, text.trim(), prompt.max_tokens),
            summarizer: model.model().to_owned(),
            fell_back: false,
        },
        failed => {
            let reason = match failed {
                Err(_) => "timed out".to_owned(),
                Ok(Err(e)) => e.redacted().to_string(),
                Ok(Ok(_)) => "answered nothing".to_owned(),
            };
            warn!(model = model.model(), %reason, "language model failed; engram's own text answers");
            Written {
                text: fallback,
                summarizer: EXTRACTIVE.to_owned(),
                fell_back: true,
            }
        }
    }
}

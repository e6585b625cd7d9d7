//! ExtractFacts: the rules of `extract` over a conversation's user
//! messages, plus the language model's proposals (when one is configured)
//! once the detectors have checked them; stored with PutFacts semantics
//! unless the call is a dry run.

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use engram_context::summary::LLM_INPUT_TOKENS;
use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, FactKey, MessageId, TenantId, UserId};
use engram_domain::limits::MAX_FACT_BATCH;
use engram_domain::model::{FactInput, FactSource, FactSourceKind, Message, PutFactResult, Role};
use engram_domain::ports::{ColdStore, Embedder, HotTier, LanguageModel, Prompt, SemanticIndex};
use engram_rules::extract;
use engram_rules::extract::Proposal;
use engram_text::tokens::{Tokenizer, clip_lines};

use super::Engine;
use super::summarize::write;

/// The latest messages of a conversation ExtractFacts reads.
pub const EXTRACT_WINDOW: u64 = 1_000;

/// Who proposed the facts.
pub const RULES: &str = "rules";

/// A proposed fact and the message it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedFact {
    pub fact: FactInput,
    pub message_id: MessageId,
}

/// What ExtractFacts found and, unless a dry run, stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub user: UserId,
    /// In message order.
    pub proposals: Vec<ProposedFact>,
    /// One per proposal, in order; empty on a dry run.
    pub results: Vec<PutFactResult>,
    /// `"rules"`, or `"rules+<model>"` when the model's checked proposals
    /// were merged.
    pub extractor: String,
    /// A model is configured but failed, overran or answered nothing
    /// usable: the rules answered alone.
    pub model_fell_back: bool,
    /// Model proposals the detectors refused.
    pub refused: usize,
}

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    /// Proposes facts from the user's messages among the conversation's
    /// latest `EXTRACT_WINDOW`; stores them (valid from the message's time,
    /// source = extraction of that message) unless `dry_run`.
    pub async fn extract_facts(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        dry_run: bool,
    ) -> Result<Extracted> {
        let Some(meta) = self.cold.conversation(tenant, conversation).await? else {
            return Err(Error::NotFound {
                what: "conversation",
                id: conversation.to_string(),
            });
        };
        let after = meta.last_seq.saturating_sub(EXTRACT_WINDOW);
        let messages: Vec<Message> =
            super::messages_since(self.cold.as_ref(), tenant, conversation, after, 0)
                .await?
                .into_iter()
                .filter(|m| m.role == Role::User)
                .collect();
        let texts: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        let mut proposals = extract::extract(&texts);
        let mut extractor = RULES.to_owned();
        let (mut model_fell_back, mut refused) = (false, 0);
        if let Some(model) = self.config.language_model.as_ref()
            && !texts.is_empty()
        {
            match ask(model, self.config.llm_timeout, &texts).await {
                Some(answer) => {
                    let (checked, wrong) = check(&answer, &texts);
                    refused = wrong;
                    proposals.extend(checked);
                    proposals = extract::merge(proposals);
                    extractor = format!("{RULES}+{}", model.model());
                }
                None => model_fell_back = true,
            }
        }
        let mut proposals = proposals
            .into_iter()
            .map(|p| proposed(&messages[p.message], p))
            .collect::<Result<Vec<_>>>()?;
        // Messages appended in one call share their time: of two values of
        // a key valid from the same instant only the later one ever held.
        let mut i = 0;
        while i < proposals.len() {
            let (key, at) = (&proposals[i].fact.key, proposals[i].fact.valid_at);
            let overtaken = proposals[i + 1..]
                .iter()
                .any(|later| &later.fact.key == key && later.fact.valid_at == at);
            if overtaken {
                proposals.remove(i);
            } else {
                i += 1;
            }
        }
        let mut results = Vec::new();
        if !dry_run {
            for chunk in proposals.chunks(MAX_FACT_BATCH) {
                let inputs = chunk.iter().map(|p| p.fact.clone()).collect();
                results.extend(self.put_facts(tenant, &meta.user_id, inputs).await?);
            }
        }
        Ok(Extracted {
            user: meta.user_id,
            proposals,
            results,
            extractor,
            model_fell_back,
            refused,
        })
    }
}

fn proposed(message: &Message, p: Proposal) -> Result<ProposedFact> {
    Ok(ProposedFact {
        fact: FactInput {
            key: FactKey::parse("key", p.key)?,
            value: p.value,
            valid_at: message.created_at,
            source: FactSource {
                kind: FactSourceKind::Extraction,
                reference: message.message_id.to_string(),
            },
            confidence: p.confidence,
        },
        message_id: message.message_id.clone(),
    })
}

/// The instructions: numbered messages in, a JSON array out.
const INSTRUCTIONS: &str = "You extract facts a customer states about themselves from their \
messages to a service (a clinic, a dental office, a law firm, a shop). Messages are numbered \
[n]. Answer only with a JSON array of objects {\"message\": n, \"key\": k, \"value\": v}, one \
per fact, [] when there is none. Keys: \"name\" (the customer's own name, as written), \
\"phone\", \"email\", \"document.cpf\", \"document.cnpj\", \"document.cns\", \"document.ssn\" \
(values as written in the message), \"preferred_days\" and \"unavailable_days\" (arrays of \
English weekday names in lower case), \"preferred_time\" (\"morning\", \"afternoon\", \
\"evening\", \"HH:MM\", \"after HH:MM\" or \"before HH:MM\"). Never report payment cards, \
other people's data or anything the message does not say.";

/// The model's answer, or None when it failed, overran or answered
/// nothing.
async fn ask(model: &Arc<dyn LanguageModel>, timeout: Duration, texts: &[&str]) -> Option<String> {
    let numbered: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("[{i}] {}\n", t.replace('\n', " ")))
        .collect();
    let prompt = Prompt {
        system: INSTRUCTIONS.to_owned(),
        // The latest lines are kept when the window overruns the input.
        user: clip_tail(&numbered, LLM_INPUT_TOKENS),
        max_tokens: 1_000,
    };
    let written = write(Some(model), timeout, &prompt, String::new()).await;
    (!written.fell_back).then_some(written.text)
}

/// The last lines of `text` that fit in `max_tokens`.
fn clip_tail(text: &str, max_tokens: u32) -> String {
    let lines: Vec<&str> = text.lines().rev().collect();
    let kept = clip_lines(Tokenizer::STORED, &lines.join("\n"), max_tokens);
    let mut kept: Vec<&str> = kept.lines().collect();
    kept.reverse();
    kept.join("\n")
}

/// The model's proposals the detectors confirm, and how many they refused.
/// An answer that is not a JSON array of proposals counts as one refusal.
fn check(answer: &str, texts: &[&str]) -> (Vec<Proposal>, usize) {
    let json = answer
        .find('[')
        .zip(answer.rfind(']'))
        .and_then(|(a, b)| (a < b).then(|| &answer[a..=b]));
    let Some(items) = json
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| v.as_array().cloned())
    else {
        warn!("the language model's answer is not a JSON array; its proposals are dropped");
        return (Vec::new(), 1);
    };
    let mut checked = Vec::new();
    let mut refused = 0;
    for item in &items {
        let message = item["message"]
            .as_u64()
            .and_then(|m| usize::try_from(m).ok());
        let key = item["key"].as_str();
        let valid = match (message, key) {
            (Some(m), Some(key)) if m < texts.len() => {
                extract::validate(key, &item["value"], texts[m], m).ok()
            }
            _ => None,
        };
        match valid {
            Some(p) => checked.push(p),
            None => refused += 1,
        }
    }
    (checked, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_answers_are_checked_item_by_item() {
        let texts = ["bom dia", "aqui quem fala: Pedro Alves, CPF 529.982.247-25"];
        let answer = r#"Here you go: [
            {"message": 1, "key": "name", "value": "Pedro Alves"},
            {"message": 1, "key": "document.cpf", "value": "529.982.247-25"},
            {"message": 1, "key": "phone", "value": "11987654321"},
            {"message": 7, "key": "email", "value": "a@b.com"},
            {"message": 0, "key": "card", "value": "4111111111111111"}
        ]"#;
        let (checked, refused) = check(answer, &texts);
        let got: Vec<_> = checked.iter().map(|p| (p.key, p.value.as_str())).collect();
        assert_eq!(
            got,
            [
                ("name", r#""Pedro Alves""#),
                ("document.cpf", r#""52998224725""#)
            ]
        );
        assert_eq!(refused, 3);
        assert_eq!(check("I cannot help", &texts), (Vec::new(), 1));
    }
}

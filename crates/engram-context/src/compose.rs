//! Context composition: choosing, within a token budget, what the next
//! answer needs, and rendering it as a deterministic text.
//!
//! Pure: the engine fetches the sources, this module decides. The text's
//! blocks come in a fixed order, stable first (facts), so that a prompt
//! cache keeps hitting on the prefix while the conversation moves.
//!
//! The text carries no identity: the model gains nothing from tenant or
//! conversation ids, a user id is often a phone number or an e-mail
//! address (personal data sent to the model's provider with every turn),
//! and they cost tokens; the contract carries them. When the client
//! appended the input as the newest message and the recent messages are
//! the only history the context holds, they and the input are one block,
//! the conversation as a client would send it: without facts or a
//! handover the text is exactly that, never dearer than the history.
//!
//! Over 600 lines: about 300 are its tests (one per packing rule); the
//! composer itself is one algorithm that reads best in one file.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use engram_domain::error::{Error, Result};
use engram_domain::handover::{Handover, Resolution};
use engram_domain::ids::{ConversationId, MessageId};
use engram_domain::model::{Fact, Message};
use engram_domain::summary::{Summary, SummaryItem, render as render_summary};
use engram_domain::time::Timestamp;
use engram_text::tokens::{Tokenizer, clip_lines, render_fact, render_line, render_session_header};
use engram_text::{fold, keywords};

const FACTS_HEADER: &str = "## Facts\n";
const HANDOVER_HEADER: &str = "## Handover\n";
const SUMMARY_HEADER: &str = "## Summary of earlier messages\n";
const RELEVANT_HEADER: &str = "## Relevant history\n";
const RECENT_HEADER: &str = "## Recent history\n";
const INPUT_HEADER: &str = "## Input\n";
const CONVERSATION_HEADER: &str = "## Conversation\n";

/// Tokens of the fixed block headers, counted once per tokenizer.
#[derive(Debug)]
struct Headers {
    facts: u32,
    handover: u32,
    summary: u32,
    relevant: u32,
    recent: u32,
    input: u32,
    conversation: u32,
}

fn headers(tk: Tokenizer) -> &'static Headers {
    static O200K: OnceLock<Headers> = OnceLock::new();
    static CL100K: OnceLock<Headers> = OnceLock::new();
    let cell = match tk {
        Tokenizer::O200k => &O200K,
        Tokenizer::Cl100k => &CL100K,
    };
    cell.get_or_init(|| Headers {
        facts: tk.count(FACTS_HEADER),
        handover: tk.count(HANDOVER_HEADER),
        summary: tk.count(SUMMARY_HEADER),
        relevant: tk.count(RELEVANT_HEADER),
        recent: tk.count(RECENT_HEADER),
        input: tk.count(INPUT_HEADER),
        conversation: tk.count(CONVERSATION_HEADER),
    })
}

/// Share of the budget that facts may take.
const FACTS_SHARE: f64 = 0.4;
/// Share of what is left after facts that the handover block may take.
const HANDOVER_SHARE: f64 = 0.5;
/// Share of what is left after facts that the summary may take.
const SUMMARY_SHARE: f64 = 0.3;
/// The summary is left out when the best lexical hits carry more than
/// this share of the input's terms.
const SUMMARY_UNLESS_FOUND: f64 = 0.5;
/// Share of what is left after facts that recent messages may take when
/// there are relevant older messages to place as well.
const RECENT_SHARE: f64 = 0.6;
/// Most focus terms reported.
const MAX_FOCUS_TERMS: usize = 12;

/// Why an item is in the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    CurrentFact,
    Recent,
    /// Found by the input (semantic, lexical, weighted by importance and
    /// recency).
    Relevant,
    /// Next to a relevant message in its conversation (the answer to a
    /// relevant question, the question of a relevant answer).
    Neighbour,
}

/// An older message proposed for the relevant block.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub message: Message,
    pub score: f64,
    pub reason: Reason,
}

/// An item placed in the context.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed<T> {
    pub item: T,
    pub reason: Reason,
    pub tokens: u32,
    pub score: f64,
}

/// What the composer works from.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    pub input: &'a str,
    pub budget: u32,
    pub tokenizer: Tokenizer,
    /// Current facts, ordered by key.
    pub facts: Vec<Fact>,
    /// The last messages of the conversation, oldest first.
    pub recent: Vec<Message>,
    /// Older messages relevant to the input, best first.
    pub relevant: Vec<Candidate>,
    /// Running summaries of the user's conversations, most recent first.
    pub summaries: Vec<Summary>,
    /// Share of the input's search terms that the best lexical hits carry
    /// ([`engram_text::query::terms_found`]).
    pub input_found: f64,
    /// The conversation's active handover, or else its last one.
    pub handover: Option<&'a Handover>,
}

/// The handover block: the AI is paused, or what it must know to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedHandover {
    /// The block's text without its header.
    pub text: String,
    pub tokens: u32,
}

/// The summary block: the best items of the user's running summaries.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedSummary {
    /// In time order.
    pub items: Vec<SummaryItem>,
    /// The block's text without its header.
    pub text: String,
    pub tokens: u32,
}

/// The composed context.
#[derive(Debug, Clone, PartialEq)]
pub struct Composition {
    pub focus_terms: Vec<String>,
    pub facts: Vec<Placed<Fact>>,
    pub handover: Option<PlacedHandover>,
    pub summary: Option<PlacedSummary>,
    /// In time order.
    pub relevant: Vec<Placed<Message>>,
    /// In sequence order.
    pub recent: Vec<Placed<Message>>,
    pub text: String,
    pub tokens: u32,
}

/// Composes the context. Fails with `InvalidArgument` on `token_budget`
/// when the budget cannot hold the input.
pub fn compose(sources: Sources<'_>) -> Result<Composition> {
    let tk = sources.tokenizer;
    let input_line = format!("{}\n", sources.input.trim());
    let h = headers(tk);
    let fixed = h.input + tk.count(&input_line);
    if fixed > sources.budget {
        return Err(Error::invalid(
            "token_budget",
            format!(
                "{} tokens cannot hold the input ({fixed} tokens)",
                sources.budget
            ),
        ));
    }
    let mut left = sources.budget - fixed;
    // The input is not repeated when the client appended it as the newest
    // message (nor found again as a relevant one).
    let mut recent = sources.recent;
    let mut relevant = sources.relevant;
    let appended_input = if recent
        .last()
        .is_some_and(|m| m.content.trim() == sources.input.trim())
    {
        let input = recent.pop();
        relevant.retain(|c| Some(&c.message.message_id) != input.as_ref().map(|m| &m.message_id));
        input
    } else {
        None
    };

    let before_stable = left;
    let facts = place_facts(
        tk,
        sources.facts,
        &mut left,
        share(sources.budget, FACTS_SHARE),
    );

    let handover_cap = share(left, HANDOVER_SHARE);
    let handover = sources
        .handover
        .and_then(|h| place_handover(tk, h, &mut left, handover_cap));
    let stable = before_stable - left;

    // The summary is a profile of what the user said, chosen without the
    // input: it earns its tokens when the history does not answer in the
    // input's own words (the answer was said in other words, or lies in
    // who the user is). When the best hits already carry most of the
    // input's terms, its share goes to the hits: on long histories of
    // rich turns a question-blind block is mostly what the question does
    // not need.
    let summary = if sources.input_found > SUMMARY_UNLESS_FOUND {
        None
    } else {
        let summary_cap = share(left, SUMMARY_SHARE);
        place_summary(tk, sources.summaries, &recent, &mut left, summary_cap)
    };

    let recent_cap = if relevant.is_empty() {
        left
    } else {
        share(left, RECENT_SHARE)
    };
    let recent = place_recent(tk, recent, &mut left, recent_cap);
    let relevant = place_relevant(tk, relevant, &recent, &mut left);

    let mut text = String::new();
    push_block(
        &mut text,
        FACTS_HEADER,
        facts.iter().map(|p| render_fact(&p.item)),
    );
    push_block(
        &mut text,
        HANDOVER_HEADER,
        handover.iter().map(|h| h.text.clone()),
    );

    // One history block ending with the appended input: the conversation
    // as the client would send it, under one header when a block precedes.
    let header = if text.is_empty() { 0 } else { h.conversation };
    // The input's line is rendered after the recent ones, under a session
    // header of its own when it opens a new run: `render_sessions` of both.
    let conversation = appended_input
        .filter(|_| summary.is_none() && relevant.is_empty())
        .map(|input| {
            let opens_run = recent
                .last()
                .is_none_or(|last| session(&last.item) != session(&input));
            let cost = stable
                + header
                + sessions_cost(tk, &recent)
                + tk.line_tokens(&input)
                + if opens_run {
                    tk.session_header_tokens()
                } else {
                    0
                };
            (cost, input, opens_run)
        })
        .filter(|(cost, _, _)| *cost <= sources.budget);
    let tokens = match conversation {
        Some((tokens, input, opens_run)) => {
            if header > 0 {
                text.push_str(CONVERSATION_HEADER);
            }
            text.extend(render_sessions(&recent));
            if opens_run {
                text.push_str(&render_session_header(input.created_at));
            }
            text.push_str(&render_line(&input));
            tokens
        }
        None => {
            push_block(
                &mut text,
                SUMMARY_HEADER,
                summary.iter().map(|s| s.text.clone()),
            );
            push_block(&mut text, RELEVANT_HEADER, render_sessions(&relevant));
            push_block(&mut text, RECENT_HEADER, render_sessions(&recent));
            text.push_str(INPUT_HEADER);
            text.push_str(&input_line);
            sources.budget - left
        }
    };

    Ok(Composition {
        focus_terms: focus_terms(sources.input),
        tokens,
        facts,
        handover,
        summary,
        relevant,
        recent,
        text,
    })
}

/// What the AI must know of the handover: that it is paused while a human
/// has the conversation; once handed back, the summary's resumption
/// context (or, while the summary is being written, the outcome and the
/// operator's notes).
pub fn handover_text(handover: &Handover) -> String {
    let reason = if handover.reason.is_empty() {
        "not given"
    } else {
        &handover.reason
    };
    let Some(ended) = handover.ended_at else {
        return format!(
            "A human operator ({}) has this conversation since {} (reason: {reason}). \
             The AI is paused: do not answer.\n",
            handover.operator_id,
            handover.started_at.to_minute_string()
        );
    };
    if let Some(summary) = &handover.summary {
        return format!("{}\n", summary.ai_resumption_context.trim_end());
    }
    let resolution = handover.resolution.unwrap_or(Resolution::Pending);
    let mut text = format!(
        "A human operator ({}) handled this conversation from {} to {} (reason: {reason}). \
         Outcome: {}{}.\n",
        handover.operator_id,
        handover.started_at.to_minute_string(),
        ended.to_minute_string(),
        resolution.as_str(),
        if resolution.requires_followup() {
            "; follow-up required"
        } else {
            ""
        }
    );
    if !handover.notes.is_empty() {
        text.push_str(&format!("Operator's notes: {}\n", handover.notes));
    }
    text
}

fn place_handover(
    tk: Tokenizer,
    handover: &Handover,
    left: &mut u32,
    cap: u32,
) -> Option<PlacedHandover> {
    let room = cap.min(*left).checked_sub(headers(tk).handover)?;
    let text = clip_lines(tk, &handover_text(handover), room);
    if text.is_empty() {
        return None;
    }
    let tokens = tk.count(&text) + headers(tk).handover;
    *left -= tokens.min(*left);
    Some(PlacedHandover { text, tokens })
}

fn share(total: u32, fraction: f64) -> u32 {
    (f64::from(total) * fraction) as u32
}

fn push_block(text: &mut String, header: &str, lines: impl Iterator<Item = String>) {
    let mut lines = lines.peekable();
    if lines.peek().is_some() {
        text.push_str(header);
        lines.for_each(|line| text.push_str(&line));
    }
}

/// Places items while they fit in `cap` and `left`; the block header is
/// charged with the first item.
fn place<T>(
    header_tokens: u32,
    items: impl IntoIterator<Item = (T, u32, f64)>,
    reason: Reason,
    left: &mut u32,
    cap: u32,
    stop_at_first_misfit: bool,
) -> Vec<Placed<T>> {
    let mut used = 0;
    let mut placed = Vec::new();
    for (item, tokens, score) in items {
        let cost = tokens + if placed.is_empty() { header_tokens } else { 0 };
        if used + cost > cap.min(*left + used) {
            if stop_at_first_misfit {
                break;
            }
            continue;
        }
        used += cost;
        placed.push(Placed {
            item,
            reason,
            tokens,
            score,
        });
    }
    *left -= used;
    placed
}

fn place_facts(tk: Tokenizer, facts: Vec<Fact>, left: &mut u32, cap: u32) -> Vec<Placed<Fact>> {
    let items = facts.into_iter().map(|f| {
        let tokens = tk.count(&render_fact(&f));
        (f, tokens, 0.0)
    });
    place(
        headers(tk).facts,
        items,
        Reason::CurrentFact,
        left,
        cap,
        false,
    )
}

/// The best items of the summaries that fit in `cap`, one copy of each
/// sentence, leaving out those quoting a message of the recent window.
fn place_summary(
    tk: Tokenizer,
    summaries: Vec<Summary>,
    recent: &[Message],
    left: &mut u32,
    cap: u32,
) -> Option<PlacedSummary> {
    let vertical = summaries.first()?.vertical;
    let in_window: HashSet<&MessageId> = recent.iter().map(|m| &m.message_id).collect();
    let mut seen = HashSet::new();
    let mut items: Vec<SummaryItem> = summaries
        .into_iter()
        .flat_map(|s| s.items)
        .filter(|i| !in_window.contains(&i.message_id))
        .collect();
    // Newest copy of a sentence wins.
    items.sort_by_key(|i| std::cmp::Reverse(i.created_at));
    items.retain(|i| seen.insert(fold(&i.sentence)));
    items.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.created_at.cmp(&a.created_at))
    });
    // Each item is charged as if it had its own section title, so the sum
    // bounds the block; the block is then counted exactly.
    let budget = cap.min(*left).saturating_sub(headers(tk).summary);
    let mut used = 0;
    let mut kept = Vec::new();
    for item in items {
        let cost = if tk == Tokenizer::STORED && item.tokens > 0 {
            item.tokens
        } else {
            tk.count(&render_summary(std::slice::from_ref(&item), vertical))
        };
        if used + cost <= budget {
            used += cost;
            kept.push(item);
        }
    }
    if kept.is_empty() {
        return None;
    }
    kept.sort_by_key(|i| (i.created_at, i.seq));
    let text = render_summary(&kept, vertical);
    let tokens = tk.count(&text) + headers(tk).summary;
    *left -= tokens.min(*left);
    Some(PlacedSummary {
        items: kept,
        text,
        tokens,
    })
}

/// What `render_sessions` of `placed` costs: its lines and a header per
/// run of one session.
fn sessions_cost(tk: Tokenizer, placed: &[Placed<Message>]) -> u32 {
    let runs = placed
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == 0 || session(&placed[i - 1].item) != session(&p.item))
        .count() as u32;
    placed.iter().map(|p| p.tokens).sum::<u32>() + runs * tk.session_header_tokens()
}

/// The conversation and day a message was said in: a block opens each run
/// of messages of one session with its header.
fn session(m: &Message) -> (ConversationId, i64) {
    (
        m.conversation_id.clone(),
        m.created_at.secs().div_euclid(86_400),
    )
}

/// A block's lines: each message as `role: content`, each run of messages
/// of one session after a header with the time of its first.
fn render_sessions(placed: &[Placed<Message>]) -> impl Iterator<Item = String> + '_ {
    let mut previous = None;
    placed.iter().flat_map(move |p| {
        let current = Some(session(&p.item));
        let header = (current != previous).then(|| render_session_header(p.item.created_at));
        previous = current;
        header.into_iter().chain([render_line(&p.item)])
    })
}

/// What placing a message's line costs: its tokens, the block's header
/// when it is the block's first, a session header when it opens a run.
fn line_cost(tk: Tokenizer, tokens: u32, block_header: Option<u32>, opens_run: bool) -> u32 {
    tokens
        + block_header.unwrap_or(0)
        + if opens_run {
            tk.session_header_tokens()
        } else {
            0
        }
}

/// The newest messages that fit, contiguous back from the last one.
fn place_recent(
    tk: Tokenizer,
    recent: Vec<Message>,
    left: &mut u32,
    cap: u32,
) -> Vec<Placed<Message>> {
    let budget = cap.min(*left);
    let mut used = 0;
    let mut placed: Vec<Placed<Message>> = Vec::new();
    for m in recent.into_iter().rev() {
        let tokens = tk.line_tokens(&m);
        // Going back, a message opens a new run unless it is of the
        // session of the one after it.
        let opens_run = placed
            .last()
            .is_none_or(|later| session(&later.item) != session(&m));
        let cost = line_cost(
            tk,
            tokens,
            placed.is_empty().then_some(headers(tk).recent),
            opens_run,
        );
        if used + cost > budget {
            break;
        }
        used += cost;
        placed.push(Placed {
            item: m,
            reason: Reason::Recent,
            tokens,
            score: 0.0,
        });
    }
    *left -= used;
    placed.reverse();
    placed
}

/// The best older messages that fit, not already among the recent ones,
/// rendered session by session (sessions in time order, each in sequence
/// order).
fn place_relevant(
    tk: Tokenizer,
    relevant: Vec<Candidate>,
    recent: &[Placed<Message>],
    left: &mut u32,
) -> Vec<Placed<Message>> {
    let is_recent = |m: &Message| {
        recent
            .iter()
            .any(|p| p.item.conversation_id == m.conversation_id && p.item.seq == m.seq)
    };
    let mut seen = HashSet::new();
    let mut sessions = HashSet::new();
    let mut used = 0;
    let mut placed = Vec::new();
    for candidate in relevant {
        let m = &candidate.message;
        if is_recent(m) || seen.contains(&(m.conversation_id.clone(), m.seq)) {
            continue;
        }
        let tokens = tk.line_tokens(m);
        let opens_session = !sessions.contains(&session(m));
        let cost = line_cost(
            tk,
            tokens,
            placed.is_empty().then_some(headers(tk).relevant),
            opens_session,
        );
        if used + cost > *left {
            continue;
        }
        used += cost;
        seen.insert((m.conversation_id.clone(), m.seq));
        sessions.insert(session(m));
        placed.push(Placed {
            item: candidate.message,
            reason: candidate.reason,
            tokens,
            score: candidate.score,
        });
    }
    *left -= used;
    let mut first: HashMap<(ConversationId, i64), Timestamp> = HashMap::new();
    for p in &placed {
        let at = first.entry(session(&p.item)).or_insert(p.item.created_at);
        *at = (*at).min(p.item.created_at);
    }
    placed.sort_by_cached_key(|p| {
        let key = session(&p.item);
        (first[&key], key, p.item.seq)
    });
    placed
}

/// Distinctive words of the input (folded, not stemmed), in order,
/// without repeats.
pub fn focus_terms(input: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for term in keywords(input) {
        if !seen.contains(&term) {
            seen.push(term);
        }
        if seen.len() == MAX_FOCUS_TERMS {
            break;
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use engram_domain::ids::{ConversationId, FactKey, MessageId, UserId};
    use engram_domain::model::{FactSource, FactSourceKind, Role};
    use engram_text::tokens::render_message_parts;

    use super::*;

    fn message(seq: u64, content: &str) -> Message {
        let created_at = Timestamp(1_700_000_000_000_000 + seq as i64 * 60_000_000);
        let role = if seq.is_multiple_of(2) {
            Role::Assistant
        } else {
            Role::User
        };
        Message {
            message_id: MessageId::generate(),
            conversation_id: ConversationId::parse("c", "c1").unwrap(),
            user_id: UserId::parse("u", "u1").unwrap(),
            seq,
            role,
            content: content.to_owned(),
            created_at,
            metadata: Default::default(),
            importance: 0.5,
            tokens: Tokenizer::O200k.count(&render_message_parts(created_at, role, content)),
        }
    }

    fn fact(key: &str, value: &str) -> Fact {
        Fact {
            user_id: UserId::parse("u", "u1").unwrap(),
            key: FactKey::parse("k", key).unwrap(),
            value: value.to_owned(),
            valid_at: Timestamp(0),
            invalid_at: None,
            source: FactSource {
                kind: FactSourceKind::System,
                reference: String::new(),
            },
            confidence: 1.0,
            recorded_at: Timestamp(0),
            version: 1,
        }
    }

    fn sources(budget: u32, recent: Vec<Message>, relevant: Vec<Candidate>) -> Sources<'static> {
        Sources {
            input: "Posso remarcar a limpeza para sexta?",
            budget,
            tokenizer: Tokenizer::O200k,
            facts: vec![
                fact("name", r#""João Silva""#),
                fact("preferred_time", r#""mornings""#),
            ],
            recent,
            relevant,
            summaries: Vec::new(),
            input_found: 0.0,
            handover: None,
        }
    }

    fn history(n: u64) -> Vec<Message> {
        (1..=n)
            .map(|i| {
                message(
                    i,
                    &format!("mensagem número {i} sobre a consulta de limpeza e outras coisas"),
                )
            })
            .collect()
    }

    #[test]
    fn token_count_is_exact_and_within_budget() {
        for tokenizer in [Tokenizer::O200k, Tokenizer::Cl100k] {
            for budget in [60, 120, 300, 2000] {
                let mut s = sources(budget, history(40), vec![]);
                s.tokenizer = tokenizer;
                let c = compose(s).unwrap();
                assert_eq!(
                    c.tokens,
                    tokenizer.count(&c.text),
                    "{budget} {}",
                    tokenizer.name()
                );
                assert!(c.tokens <= budget);
            }
        }
    }

    #[test]
    fn recent_messages_are_the_newest_contiguous_ones() {
        let c = compose(sources(300, history(40), vec![])).unwrap();
        let seqs: Vec<u64> = c.recent.iter().map(|p| p.item.seq).collect();
        assert!(!seqs.is_empty() && seqs.len() < 40);
        assert_eq!(*seqs.last().unwrap(), 40);
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(c.recent.iter().all(|p| p.reason == Reason::Recent));
    }

    #[test]
    fn blocks_come_in_a_fixed_order_with_facts_first() {
        let relevant = vec![Candidate {
            message: message(3, "a limpeza custa 200 reais"),
            score: 0.9,
            reason: Reason::Relevant,
        }];
        let c = compose(sources(2000, history(40).split_off(30), relevant)).unwrap();
        let pos = |h: &str| c.text.find(h).unwrap();
        assert!(c.text.starts_with(FACTS_HEADER), "no identity in the text");
        assert!(pos(FACTS_HEADER) < pos(RELEVANT_HEADER));
        assert!(pos(RELEVANT_HEADER) < pos(RECENT_HEADER));
        assert!(pos(RECENT_HEADER) < pos(INPUT_HEADER));
        assert!(
            c.text
                .ends_with("## Input\nPosso remarcar a limpeza para sexta?\n")
        );
        assert_eq!(c.facts.len(), 2);
        assert_eq!(c.relevant.len(), 1);
        assert_eq!(c.tokens, Tokenizer::O200k.count(&c.text));
    }

    /// The input appended as the newest message, and nothing but history
    /// to show: the text is what a client would send without engram.
    #[test]
    fn history_alone_costs_no_more_than_the_history() {
        let mut h = history(4);
        h.push(message(5, "Posso remarcar a limpeza para sexta?"));
        let mut s = sources(2000, h.clone(), vec![]);
        s.facts.clear();
        let c = compose(s).unwrap();
        let naive: String = std::iter::once(render_session_header(h[0].created_at))
            .chain(h.iter().map(render_line))
            .collect();
        assert_eq!(c.text, naive);
        assert_eq!(c.tokens, Tokenizer::O200k.count(&c.text));
        assert_eq!(c.text.matches("Posso remarcar").count(), 1);
        assert_eq!(c.recent.len(), 4, "the input is not a recent item");

        // With facts to carry, they come first, then the conversation.
        let with_facts = compose(sources(2000, h, vec![])).unwrap();
        let (facts, conversation) = with_facts.text.split_once(CONVERSATION_HEADER).unwrap();
        assert!(facts.starts_with(FACTS_HEADER));
        assert_eq!(conversation, naive);
        assert_eq!(with_facts.tokens, Tokenizer::O200k.count(&with_facts.text));
        assert_eq!(with_facts.recent.len(), 4);
    }

    #[test]
    fn same_sources_same_text() {
        let a = compose(sources(500, history(20), vec![])).unwrap();
        let b = compose(sources(500, history(20), vec![])).unwrap();
        assert_eq!(a.text, b.text);
    }

    #[test]
    fn a_budget_too_small_for_the_input_is_refused() {
        let err = compose(sources(5, history(3), vec![])).unwrap_err();
        assert!(
            err.to_string().starts_with("token_budget is invalid"),
            "{err}"
        );
    }

    #[test]
    fn relevant_items_already_recent_are_not_repeated() {
        let h = history(5);
        let relevant = vec![Candidate {
            message: h[4].clone(),
            score: 1.0,
            reason: Reason::Relevant,
        }];
        let c = compose(sources(2000, h, relevant)).unwrap();
        assert!(c.relevant.is_empty());
        assert_eq!(c.recent.len(), 5);
    }

    #[test]
    fn relevant_items_are_placed_best_first_and_shown_in_time_order() {
        let h = history(40);
        let candidates = vec![
            Candidate {
                message: h[9].clone(),
                score: 0.9,
                reason: Reason::Relevant,
            },
            Candidate {
                message: h[10].clone(),
                score: 0.45,
                reason: Reason::Neighbour,
            },
            Candidate {
                message: h[2].clone(),
                score: 0.5,
                reason: Reason::Relevant,
            },
            Candidate {
                message: h[9].clone(),
                score: 0.4,
                reason: Reason::Relevant,
            },
        ];
        let c = compose(sources(2000, h[30..].to_vec(), candidates)).unwrap();
        let placed: Vec<(u64, Reason)> =
            c.relevant.iter().map(|p| (p.item.seq, p.reason)).collect();
        assert_eq!(
            placed,
            [
                (3, Reason::Relevant),
                (10, Reason::Relevant),
                (11, Reason::Neighbour)
            ]
        );
    }

    #[test]
    fn history_is_shown_session_by_session_with_one_time_each() {
        let day = 86_400_000_000;
        let at = |m: Message, conversation: &str, shift: i64| Message {
            conversation_id: ConversationId::parse("c", conversation).unwrap(),
            created_at: Timestamp(m.created_at.0 + shift),
            ..m
        };
        // Best first, sessions interleaved: an older conversation (two
        // days earlier, across two days) and this one.
        let candidates: Vec<Candidate> = [
            at(message(5, "a limpeza ficou para terça"), "old", -2 * day),
            at(message(31, "e o clareamento?"), "c1", 0),
            at(message(6, "terça às 9h"), "old", -day),
            at(message(4, "quero marcar uma limpeza"), "old", -2 * day),
        ]
        .into_iter()
        .map(|message| Candidate {
            message,
            score: 1.0,
            reason: Reason::Relevant,
        })
        .collect();
        for tokenizer in [Tokenizer::O200k, Tokenizer::Cl100k] {
            let mut s = sources(2000, history(40)[35..].to_vec(), candidates.clone());
            s.tokenizer = tokenizer;
            let c = compose(s).unwrap();
            assert_eq!(c.tokens, tokenizer.count(&c.text), "{}", tokenizer.name());
            let relevant =
                &c.text[c.text.find(RELEVANT_HEADER).unwrap()..c.text.find(RECENT_HEADER).unwrap()];
            let lines: Vec<&str> = relevant.lines().skip(1).collect();
            assert_eq!(lines.len(), 7, "{relevant}");
            assert!(lines[0].starts_with("[2023-11-12 "), "{relevant}");
            assert_eq!(lines[1], "assistant: quero marcar uma limpeza");
            assert_eq!(lines[2], "user: a limpeza ficou para terça");
            assert!(lines[3].starts_with("[2023-11-13 "), "{relevant}");
            assert_eq!(lines[4], "assistant: terça às 9h");
            assert!(lines[5].starts_with("[2023-11-14 "), "{relevant}");
            assert_eq!(lines[6], "user: e o clareamento?");
            // The recent block: one session, one time.
            let recent =
                &c.text[c.text.find(RECENT_HEADER).unwrap()..c.text.find(INPUT_HEADER).unwrap()];
            assert_eq!(recent.matches('[').count(), 1, "{recent}");
        }
    }

    #[test]
    fn the_summary_gives_way_when_the_best_hits_carry_the_input() {
        let said = message(2, "Sou alérgica a dipirona.");
        let summary = crate::summary::summarize(
            None,
            std::slice::from_ref(&said),
            engram_domain::summary::Vertical::Medical,
            400,
        );
        assert_eq!(summary.items.len(), 1);
        let hit = Candidate {
            message: message(9, "a limpeza de sexta está remarcada"),
            score: 1.0,
            reason: Reason::Relevant,
        };
        let with = |found: f64| {
            let mut s = sources(2000, Vec::new(), vec![hit.clone()]);
            s.summaries = vec![summary.clone()];
            s.input_found = found;
            compose(s).unwrap()
        };
        // Half of the input's terms or fewer in the best hits: the answer
        // may lie in what the user said in other words.
        for found in [0.0, 0.5] {
            let c = with(found);
            assert!(c.text.contains(SUMMARY_HEADER), "{found}: {}", c.text);
            assert_eq!(c.summary.unwrap().items[0].message_id, said.message_id);
        }
        // Most of them: the hits have the budget.
        let c = with(0.75);
        assert!(c.summary.is_none() && !c.text.contains(SUMMARY_HEADER));
        assert_eq!(c.relevant.len(), 1);
        assert_eq!(c.tokens, Tokenizer::O200k.count(&c.text));
    }
}

//! Token counting with the tokenizers of the target models, and the text
//! rendering whose tokens are counted.
//!
//! The composed text is a sequence of lines, each ending in '\n', and no line
//! starts with whitespace. The tokenizers' pre-tokenisers never merge across
//! such a line break, so the tokens of the text are the sum of the tokens of
//! its lines: a message's tokens are counted once, at append, and composing
//! only adds numbers (`additivity` test below).

use tiktoken_rs::CoreBPE;

use crate::model::{Fact, Message};

/// A tokenizer engram counts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenizer {
    /// GPT-4o, GPT-4.1, o-series, GPT-5: and the default for unknown models.
    O200k,
    /// GPT-4, GPT-3.5, text-embedding-3.
    Cl100k,
}

impl Tokenizer {
    /// The tokenizer stored message counts use.
    pub const STORED: Tokenizer = Tokenizer::O200k;

    /// The tokenizer of `model`; unknown or empty models count with o200k.
    pub fn for_model(model: &str) -> Self {
        match tiktoken_rs::tokenizer::get_tokenizer(model) {
            Some(tiktoken_rs::tokenizer::Tokenizer::Cl100kBase) => Tokenizer::Cl100k,
            _ => Tokenizer::O200k,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::O200k => "o200k_base",
            Tokenizer::Cl100k => "cl100k_base",
        }
    }

    fn bpe(self) -> &'static CoreBPE {
        match self {
            Tokenizer::O200k => tiktoken_rs::o200k_base_singleton(),
            Tokenizer::Cl100k => tiktoken_rs::cl100k_base_singleton(),
        }
    }

    pub fn count(self, text: &str) -> u32 {
        u32::try_from(self.bpe().encode_ordinary(text).len()).unwrap_or(u32::MAX)
    }

    /// Tokens of a message's rendered line: the stored count when it was
    /// made with this tokenizer, otherwise counted now.
    pub fn message_tokens(self, message: &Message) -> u32 {
        if self == Self::STORED {
            message.tokens
        } else {
            self.count(&render_message(message))
        }
    }
}

/// `text` cut at the last whole line within `max_tokens`.
pub fn clip_lines(tk: Tokenizer, text: &str, max_tokens: u32) -> String {
    if tk.count(text) <= max_tokens {
        return text.to_owned();
    }
    let mut kept = String::new();
    let mut used = 0;
    for line in text.split_inclusive('\n') {
        let cost = tk.count(line);
        if used + cost > max_tokens {
            break;
        }
        used += cost;
        kept.push_str(line);
    }
    // Counts of parts may not add up to the count of the whole.
    while tk.count(&kept) > max_tokens {
        let cut = kept.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
        kept.truncate(cut);
    }
    kept
}

/// A message as one line of the composed text:
/// `[2026-03-01 10:05] user: content\n`.
pub fn render_message(message: &Message) -> String {
    render_message_parts(message.created_at, message.role, &message.content)
}

pub fn render_message_parts(
    created_at: crate::time::Timestamp,
    role: crate::model::Role,
    content: &str,
) -> String {
    format!(
        "[{}] {}: {}\n",
        created_at.to_minute_string(),
        role.as_str(),
        content.trim()
    )
}

/// A fact as one line: `- key: value (since 2026-03-01 10:05)\n`.
pub fn render_fact(fact: &Fact) -> String {
    format!(
        "- {}: {} (since {})\n",
        fact.key,
        fact.value,
        fact.valid_at.to_minute_string()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::time::Timestamp;

    #[test]
    fn clip_lines_keeps_whole_lines_within_the_cap() {
        let tk = Tokenizer::STORED;
        let text = "- one two three\n- four five six\n- seven eight nine";
        assert_eq!(clip_lines(tk, text, 1000), text);
        let clipped = clip_lines(tk, text, 12);
        assert!(clipped.starts_with("- one two three\n"));
        assert!(!clipped.contains("seven"));
        assert!(tk.count(&clipped) <= 12);
        assert_eq!(clip_lines(tk, text, 1), "");
    }

    #[test]
    fn models_map_to_their_tokenizer() {
        assert_eq!(Tokenizer::for_model("gpt-4o-mini"), Tokenizer::O200k);
        assert_eq!(Tokenizer::for_model("gpt-4-0613"), Tokenizer::Cl100k);
        assert_eq!(Tokenizer::for_model("gpt-3.5-turbo"), Tokenizer::Cl100k);
        assert_eq!(Tokenizer::for_model(""), Tokenizer::O200k);
        assert_eq!(Tokenizer::for_model("claude-sonnet"), Tokenizer::O200k);
    }

    #[test]
    fn counts_are_real_tokens() {
        assert_eq!(Tokenizer::O200k.count("hello world"), 2);
        assert_eq!(Tokenizer::Cl100k.count("hello world"), 2);
        assert!(Tokenizer::O200k.count("Olá, gostaria de marcar uma consulta") > 5);
    }

    #[test]
    fn additivity() {
        let contents = [
            "Olá! Meu nome é João Silva, meu CPF é 123.456.789-09.",
            "  leading and trailing spaces  ",
            "multi\nline\n\n  indented\tcontent",
            "ok",
            "Preciso remarcar para terça às 14h30 — pode ser?",
            "emoji 🦷🦷 and 数字 123456789",
            "ends with punctuation...",
            "!!!",
            "https://example.com/a?b=c",
            "'quoted' \"text\" [brackets]",
        ];
        let roles = Role::ALL;
        for tokenizer in [Tokenizer::O200k, Tokenizer::Cl100k] {
            let mut text = String::from("## Recent\n");
            let mut sum = tokenizer.count(&text);
            for (i, content) in contents.iter().enumerate() {
                let line =
                    render_message_parts(Timestamp(i as i64 * 61_000_000), roles[i % 5], content);
                sum += tokenizer.count(&line);
                text.push_str(&line);
            }
            text.push_str("## Input\n");
            sum += tokenizer.count("## Input\n");
            assert_eq!(tokenizer.count(&text), sum, "{}", tokenizer.name());
        }
    }
}

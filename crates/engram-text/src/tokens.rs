//! Token counting with the tokenizers of the target models, and the text
//! rendering whose tokens are counted.
//!
//! The composed text is a sequence of lines, each ending in '\n', and no line
//! starts with whitespace. The tokenizers' pre-tokenisers never merge across
//! such a line break, so the tokens of the text are the sum of the tokens of
//! its lines: a message's tokens are counted once, at append, and composing
//! only adds numbers (`additivity` test below).

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

use engram_domain::model::{Fact, Message, Role};
use engram_domain::time::Timestamp;

/// One lazily computed count per tokenizer, indexed by `Tokenizer as usize`.
type PerTokenizer = [OnceLock<u32>; 2];

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

    /// Tokens of a message's compact line (`role: content`), from the
    /// stored count of its stamped line when that was made with this
    /// tokenizer: the stamp is a fixed number of tokens (`prefix` test).
    pub fn line_tokens(self, message: &Message) -> u32 {
        if self == Self::STORED {
            message.tokens.saturating_sub(self.stamp_tokens())
        } else {
            self.count(&render_line(message))
        }
    }

    /// What the `[YYYY-MM-DD HH:MM] ` stamp adds to a message's line: the
    /// same for every time of years 1000 to 9999 and every role, because
    /// both tokenizers split the stamp from the role and count every
    /// number up to three digits as one token.
    pub fn stamp_tokens(self) -> u32 {
        static CELLS: PerTokenizer = [const { OnceLock::new() }; 2];
        self.once(&CELLS, || {
            let stamped = render_message_parts(Timestamp(0), Role::User, "ok");
            self.count(&stamped) - self.count(&render_line_parts(Role::User, "ok"))
        })
    }

    /// Tokens of a session header: the same for every time of years 1000
    /// to 9999, like the stamp.
    pub fn session_header_tokens(self) -> u32 {
        static CELLS: PerTokenizer = [const { OnceLock::new() }; 2];
        self.once(&CELLS, || self.count(&render_session_header(Timestamp(0))))
    }

    /// A count computed once per tokenizer.
    fn once(self, cells: &'static PerTokenizer, init: impl FnOnce() -> u32) -> u32 {
        *cells[self as usize].get_or_init(init)
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

pub fn render_message_parts(created_at: Timestamp, role: Role, content: &str) -> String {
    format!(
        "[{}] {}: {}\n",
        created_at.to_minute_string(),
        role.as_str(),
        content.trim()
    )
}

/// A message as one line of a block that gives its time in a session
/// header: `user: content\n`.
pub fn render_line(message: &Message) -> String {
    render_line_parts(message.role, &message.content)
}

pub fn render_line_parts(role: Role, content: &str) -> String {
    format!("{}: {}\n", role.as_str(), content.trim())
}

/// The line that opens a block's messages of one conversation and day:
/// `[2026-03-01 10:05]\n`, the time of the first of them.
pub fn render_session_header(created_at: Timestamp) -> String {
    format!("[{}]\n", created_at.to_minute_string())
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

    #[test]
    fn the_stamp_costs_the_same_for_every_time_and_role() {
        let contents = [
            "Olá! Meu nome é João Silva.",
            "  spaced  ",
            "!!!",
            "[brackets] first",
            "123 numbers first",
            "",
            "emoji 🦷 first",
            "multi\nline",
        ];
        for tk in [Tokenizer::O200k, Tokenizer::Cl100k] {
            let stamp = tk.stamp_tokens();
            // Every minute of a day, every day of a leap year, years far apart.
            let minutes = (0..1440).map(|m| 1_772_323_200 + m * 60);
            let days = (0..366).map(|d| 1_704_067_200 + d * 86_400 + 37_980);
            let years = [
                -30_610_224_000i64,
                0,
                946_684_800,
                4_102_444_800,
                253_402_300_740,
            ];
            for (i, secs) in minutes.chain(days).chain(years).enumerate() {
                let at = Timestamp(secs * 1_000_000);
                let role = Role::ALL[i % Role::ALL.len()];
                let content = contents[i % contents.len()];
                let stamped = tk.count(&render_message_parts(at, role, content));
                let line = tk.count(&render_line_parts(role, content));
                assert_eq!(
                    stamped - line,
                    stamp,
                    "{} {at:?} {role:?} {content:?}",
                    tk.name()
                );
                assert_eq!(
                    tk.count(&render_session_header(at)),
                    tk.session_header_tokens(),
                    "{} {at:?}",
                    tk.name()
                );
            }
        }
    }
}

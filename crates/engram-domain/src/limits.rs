//! Request limits, checked at the API edge before anything is written.

use crate::error::{Error, Result};

/// Longest message content, in bytes.
pub const MAX_CONTENT_BYTES: usize = 32 * 1024;
/// Most messages in one AppendMessages.
pub const MAX_APPEND_BATCH: usize = 100;
/// Most metadata entries on one message.
pub const MAX_METADATA_ENTRIES: usize = 32;
/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_BYTES: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_BYTES: usize = 1024;
/// Largest page of GetConversation and ListConversations.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Most messages GetRecent returns.
pub const MAX_RECENT: u32 = 1000;
/// GetRecent's limit when the request says 0.
pub const DEFAULT_RECENT: u32 = 20;
/// Longest search query, in bytes.
pub const MAX_QUERY_BYTES: usize = 4 * 1024;
/// Most search hits.
pub const MAX_SEARCH_LIMIT: u32 = 100;
/// Search hits when the request says 0.
pub const DEFAULT_SEARCH_LIMIT: u32 = 10;
/// Longest ComposeContext input, in bytes.
pub const MAX_INPUT_BYTES: usize = 32 * 1024;
/// Largest token budget.
pub const MAX_TOKEN_BUDGET: u32 = 1_000_000;
/// Token budget when the request says 0.
pub const DEFAULT_TOKEN_BUDGET: u32 = 2000;
/// Most facts in one PutFacts.
pub const MAX_FACT_BATCH: usize = 100;
/// Longest fact value (JSON text), in bytes.
pub const MAX_FACT_VALUE_BYTES: usize = 16 * 1024;
/// Longest fact source reference, in bytes.
pub const MAX_REFERENCE_BYTES: usize = 128;
/// Most keys in one GetFacts.
pub const MAX_FACT_KEYS: usize = 1000;
/// Largest query vector dimension accepted.
pub const MAX_VECTOR_DIM: usize = 8192;
/// Longest free-text reason or note (a handover's reason and closing
/// notes, an anonymization's reason), in bytes.
pub const MAX_REASON_BYTES: usize = 4096;

/// The largest gRPC message engram sends, and what default gRPC clients
/// accept: every documented limit keeps a request and its reply under it.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// The largest request engram decodes: twice `MAX_MESSAGE_BYTES`, so that
/// a request past a documented limit (but not absurdly so) is told which
/// one (RESOURCE_EXHAUSTED naming the field); past this the transport
/// refuses it (OUT_OF_RANGE).
pub const MAX_DECODE_BYTES: usize = 2 * MAX_MESSAGE_BYTES;
/// Most bytes of content, metadata and ids one AppendMessages carries:
/// the request, and its reply (which returns the stored messages), stay
/// under `MAX_MESSAGE_BYTES` with room for framing.
pub const MAX_APPEND_BYTES: usize = 3 * 1024 * 1024;
/// Most bytes of messages one reply carries (GetRecent, GetConversation,
/// Search): a reply past it holds fewer items than asked (a page token, or
/// `truncated`, says so).
pub const MAX_REPLY_BYTES: usize = 3 * 1024 * 1024 + 512 * 1024;

/// Most characters of a rejected value an error quotes: enough to
/// recognise it, never enough to make the reply itself too large.
pub const MAX_QUOTED_CHARS: usize = 32;

/// Checks a free-text field: present when `required`, at most `max` bytes,
/// and without NUL (U+0000). Postgres's `text` and `jsonb` cannot hold a
/// NUL, so every backend refuses it alike (rather than the embedded store
/// keeping what Postgres would refuse).
pub fn check_text(field: &str, text: &str, max: usize, required: bool) -> Result<()> {
    if required && text.trim().is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if text.len() > max {
        return Err(Error::too_large(field, text.len(), max));
    }
    check_no_nul(field, text)
}

/// Refuses a NUL character (U+0000), which no backend stores alike.
pub fn check_no_nul(field: &str, text: &str) -> Result<()> {
    match text.find('\0') {
        Some(at) => Err(Error::invalid(
            field,
            format!("holds a NUL character (U+0000) at byte {at}"),
        )),
        None => Ok(()),
    }
}

/// A rejected value as an error may quote it: its first
/// `MAX_QUOTED_CHARS` characters, and its size when it is longer.
pub fn quoted(raw: &str) -> String {
    match raw.char_indices().nth(MAX_QUOTED_CHARS) {
        None => format!("{raw:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &raw[..end], raw.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks() {
        assert!(check_text("f", "olá", 10, true).is_ok());
        assert!(check_text("f", " ", 10, true).is_err());
        assert!(check_text("f", "", 10, false).is_ok());
        assert!(matches!(
            check_text("f", "abc", 2, false),
            Err(Error::TooLarge { .. })
        ));
        let nul = check_text("notes", "a\0b", 10, false).unwrap_err();
        assert_eq!(
            nul.to_string(),
            "notes is invalid: holds a NUL character (U+0000) at byte 1"
        );
    }

    #[test]
    fn quotes_a_prefix_of_long_values() {
        assert_eq!(quoted("acme"), "\"acme\"");
        let long = "é".repeat(10_000);
        let q = quoted(&long);
        assert!(q.len() < 100, "{q}");
        assert!(q.ends_with("… (20000 bytes)"), "{q}");
    }
}

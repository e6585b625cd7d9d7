//! Request limits, checked at the API edge before anything is written.

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

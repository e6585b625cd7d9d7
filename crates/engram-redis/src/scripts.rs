//! The Lua scripts that give Redis the fence semantics of
//! `engram_domain::ports::HotTier`, atomically per key; their text is in
//! `lua/`, one file per script or guard.
//!
//! A slot is a string: `V:<rev>:<json>` (a value at a revision) or
//! `F:<rev>` (a fence: nothing older than rev may be cached). The two rules
//! are written once, as guards the scripts are assembled from:
//! `put_guard.lua` returns 0 (refuses) when the slot KEYS[1] holds a value
//! at least as new as ARGV[1], or a higher fence (the rule for caching a
//! value); `fence_guard.lua` returns 0 (nothing to do) when it already
//! holds a value or a fence at least as new as ARGV[1] (the rule for
//! raising a fence).

/// PUT: KEYS[1]; ARGV = rev, value, ttl_ms.
pub(crate) const PUT: &str = concat!(
    include_str!("lua/put_guard.lua"),
    include_str!("lua/put.lua")
);

/// FENCE: KEYS[1]; ARGV = rev, ttl_ms.
pub(crate) const FENCE: &str = concat!(
    include_str!("lua/fence_guard.lua"),
    include_str!("lua/fence.lua")
);

// A conversation window is two keys under one hash tag: KEYS[1] its meta
// (a fenced slot holding the Conversation) and KEYS[2] a list of message
// JSON, oldest first. An append pushes only its new messages.

/// WINDOW_READ: the meta slot and the messages, atomically; nil unless the
/// slot holds a value.
pub(crate) const WINDOW_READ: &str = include_str!("lua/window_read.lua");

/// WINDOW_PUT: ARGV = rev, meta value, ttl_ms, window, messages…
pub(crate) const WINDOW_PUT: &str = concat!(
    include_str!("lua/put_guard.lua"),
    include_str!("lua/window_put.lua")
);

/// WINDOW_EXTEND: ARGV = expected rev, new rev, meta value, ttl_ms, window,
/// messages… Appends when the window ends at the expected revision;
/// otherwise fences at the new revision (unless something newer is there).
pub(crate) const WINDOW_EXTEND: &str = include_str!("lua/window_extend.lua");

/// WINDOW_FENCE: ARGV = rev, ttl_ms. FENCE, and drops the messages.
pub(crate) const WINDOW_FENCE: &str = concat!(
    include_str!("lua/fence_guard.lua"),
    include_str!("lua/window_fence.lua")
);

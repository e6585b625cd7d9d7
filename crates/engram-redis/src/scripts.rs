//! The Lua scripts that give Redis the fence semantics of
//! `engram_core::ports::HotTier`, atomically per key.
//!
//! A slot is a string: `V:<rev>:<json>` (a value at a revision) or
//! `F:<rev>` (a fence: nothing older than rev may be cached). The two rules
//! are written once, as guards the scripts are assembled from.

/// Returns 0 (refuses) when the slot KEYS[1] holds a value at least as new
/// as ARGV[1], or a higher fence: the rule for caching a value.
macro_rules! put_guard {
    () => {
        r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, rev = string.match(cur, '^(%a):(%d+)')
  rev = tonumber(rev)
  local new = tonumber(ARGV[1])
  if kind == 'V' and rev >= new then return 0 end
  if kind == 'F' and rev > new then return 0 end
end
"#
    };
}

/// Returns 0 (nothing to do) when the slot KEYS[1] already holds a value or
/// a fence at least as new as ARGV[1]: the rule for raising a fence.
macro_rules! fence_guard {
    () => {
        r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, rev = string.match(cur, '^(%a):(%d+)')
  if tonumber(rev) >= tonumber(ARGV[1]) then return 0 end
end
"#
    };
}

/// PUT: KEYS[1]; ARGV = rev, value, ttl_ms.
pub(crate) const PUT: &str = concat!(
    put_guard!(),
    r#"
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"#
);

/// FENCE: KEYS[1]; ARGV = rev, ttl_ms.
pub(crate) const FENCE: &str = concat!(
    fence_guard!(),
    r#"
redis.call('SET', KEYS[1], 'F:' .. ARGV[1], 'PX', ARGV[2])
return 1
"#
);

// A conversation window is two keys under one hash tag: KEYS[1] its meta
// (a fenced slot holding the Conversation) and KEYS[2] a list of message
// JSON, oldest first. An append pushes only its new messages.

/// WINDOW_READ: the meta slot and the messages, atomically; nil unless the
/// slot holds a value.
pub(crate) const WINDOW_READ: &str = r#"
local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, 1) ~= 'V' then return false end
return {cur, redis.call('LRANGE', KEYS[2], 0, -1)}
"#;

/// WINDOW_PUT: ARGV = rev, meta value, ttl_ms, window, messages…
pub(crate) const WINDOW_PUT: &str = concat!(
    put_guard!(),
    r#"
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
if #ARGV > 4 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 5))
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
"#
);

/// WINDOW_EXTEND: ARGV = expected rev, new rev, meta value, ttl_ms, window,
/// messages… Appends when the window ends at the expected revision;
/// otherwise fences at the new revision (unless something newer is there).
pub(crate) const WINDOW_EXTEND: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, rev = string.match(cur, '^(%a):(%d+)')
  if kind == 'V' and rev == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
    if #ARGV > 5 then
      redis.call('RPUSH', KEYS[2], unpack(ARGV, 6))
      redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
    end
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
    return 1
  end
  if tonumber(rev) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], 'F:' .. ARGV[2], 'PX', ARGV[4])
redis.call('DEL', KEYS[2])
return 2
"#;

/// WINDOW_FENCE: ARGV = rev, ttl_ms. FENCE, and drops the messages.
pub(crate) const WINDOW_FENCE: &str = concat!(
    fence_guard!(),
    r#"
redis.call('SET', KEYS[1], 'F:' .. ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"#
);

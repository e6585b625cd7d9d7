//! The Lua scripts that give Redis the fence semantics of
//! `engram_core::ports::HotTier`, atomically per key.
//!
//! A slot is a string: `V:<rev>:<json>` (a value at a revision) or
//! `F:<rev>` (a fence: nothing older than rev may be cached).

/// PUT: KEYS[1]; ARGV = rev, value, ttl_ms. Stores unless the slot holds a
/// value at least as new or a higher fence.
pub(crate) const PUT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, rev = string.match(cur, '^(%a):(%d+)')
  rev = tonumber(rev)
  local new = tonumber(ARGV[1])
  if kind == 'V' and rev >= new then return 0 end
  if kind == 'F' and rev > new then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"#;

/// FENCE: KEYS[1]; ARGV = rev, ttl_ms. Raises the fence to rev unless the
/// slot already holds a value or fence at least that new.
pub(crate) const FENCE: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, rev = string.match(cur, '^(%a):(%d+)')
  if tonumber(rev) >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], 'F:' .. ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// REPLACE: KEYS[1]; ARGV = expected rev, new rev, new value, ttl_ms.
/// Replaces a value still at the expected revision; otherwise fences at
/// the new revision (someone else changed the slot in between).
pub(crate) const REPLACE: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, rev = string.match(cur, '^(%a):(%d+)')
  if kind == 'V' and rev == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
    return 1
  end
  if tonumber(rev) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], 'F:' .. ARGV[2], 'PX', ARGV[4])
return 2
"#;

local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, rev = string.match(cur, '^(%a):(%d+)')
  if tonumber(rev) >= tonumber(ARGV[1]) then return 0 end
end

local cur = redis.call('GET', KEYS[1])
if cur then
  local kind, rev = string.match(cur, '^(%a):(%d+)')
  rev = tonumber(rev)
  local new = tonumber(ARGV[1])
  if kind == 'V' and rev >= new then return 0 end
  if kind == 'F' and rev > new then return 0 end
end

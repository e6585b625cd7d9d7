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

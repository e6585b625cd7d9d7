local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, 1) ~= 'V' then return false end
return {cur, redis.call('LRANGE', KEYS[2], 0, -1)}

redis.call('SET', KEYS[1], 'F:' .. ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1

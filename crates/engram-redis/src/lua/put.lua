redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1

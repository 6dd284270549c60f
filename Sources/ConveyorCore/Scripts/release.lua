-- Release a job's slot (membership, so releasing twice is harmless) and optionally forget it.
-- KEYS[1] running zset, KEYS[2] waiting zset, KEYS[3] jobinfo hash
-- ARGV[1] job id, ARGV[2] "forget" to drop its job info (job is final), else keep
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == 'forget' then redis.call('HDEL', KEYS[3], ARGV[1]) end
return removed

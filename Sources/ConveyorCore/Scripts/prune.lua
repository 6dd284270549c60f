-- Forget an owner in the set of owners with waiting jobs, only if its waiting set is empty.
-- KEYS[1] waiting zset, KEYS[2] owners-with-waiting set; ARGV[1] owner
if redis.call('ZCARD', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end
return 0

-- Put jobs into an owner's waiting set (idempotent: a job already running is left alone).
-- KEYS[1] waiting zset, KEYS[2] running zset, KEYS[3] jobinfo hash, KEYS[4] owners-with-waiting set
-- ARGV[1] owner login, then triples: job id, score, "<repo>\t<queue>"
local added = 0
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  if not redis.call('ZSCORE', KEYS[2], id) then
    added = added + redis.call('ZADD', KEYS[1], 'NX', ARGV[i + 1], id)
    redis.call('HSET', KEYS[3], id, ARGV[i + 2])
  end
end
redis.call('SADD', KEYS[4], ARGV[1])
return added

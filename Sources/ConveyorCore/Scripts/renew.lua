-- Renew a running job's lease without ever stealing it (docs/architecture.md §4).
-- KEYS[1] queue stream, KEYS[2] running zset
-- ARGV[1] group, ARGV[2] consumer (this worker), ARGV[3] entry id, ARGV[4] job id, ARGV[5] new deadline ms
-- Returns 1 when renewed; 0 when the entry is no longer pending to this consumer or the slot is gone.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then return 0 end
if not redis.call('ZSCORE', KEYS[2], ARGV[4]) then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[4])
return 1

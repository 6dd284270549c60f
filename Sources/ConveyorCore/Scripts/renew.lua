-- Renew a running job's lease without ever stealing it (docs/architecture.md §4).
-- KEYS[1] queue stream, KEYS[2] running zset
-- ARGV[1] group, ARGV[2] consumer (this worker), ARGV[3] entry id, ARGV[4] job id, ARGV[5] new deadline ms,
-- ARGV[6] "slot" when the entry was lost with Redis's data and the lease is the slot alone (optional)
-- Returns 1 when renewed; 0 when the entry is pending to another consumer or the slot is gone;
-- 2 when Redis knows no pending entry by that id at all (Redis lost it, or the reaper took it over
-- and acknowledged it): the worker asks PostgreSQL before re-establishing (docs/runbook.md).
if ARGV[6] == 'slot' then
  if not redis.call('ZSCORE', KEYS[2], ARGV[4]) then return 0 end
  redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[4])
  return 1
end
local ok, pending = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if not ok or #pending == 0 then return 2 end
if pending[1][2] ~= ARGV[2] then return 0 end
if not redis.call('ZSCORE', KEYS[2], ARGV[4]) then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[4])
return 1

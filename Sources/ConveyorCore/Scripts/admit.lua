-- Admit waiting jobs of one owner, atomically (docs/architecture.md §3, issue 3).
-- KEYS[1] waiting zset   (job id -> priority/FIFO score)
-- KEYS[2] running zset   (job id -> lease deadline ms)
-- KEYS[3] limits hash    (max, repo:<slug>, queue:<name>)
-- KEYS[4] jobinfo hash   (job id -> "<repo>\t<queue>")
-- KEYS[5] epoch          (cv:epoch; missing = Redis lost its data and is not rebuilt yet: admit nothing)
-- ARGV[1] now ms, ARGV[2] lease ms, ARGV[3] grace ms, ARGV[4] default max, ARGV[5] scan limit
-- Returns { admitted ids…(array), waiting, running, max, expired, blocked reasons (array of "id\treason"), gated (0/1) }
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])
local scan = tonumber(ARGV[5])

-- 0. the gate: after a Redis loss, slots of running jobs are only back once the repair has run
--    (docs/runbook.md#redis-lost-or-behind); admitting before would break the limits.
if redis.call('EXISTS', KEYS[5]) == 0 then
  return { {}, redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), tonumber(redis.call('HGET', KEYS[3], 'max') or ARGV[4]), 0, {}, 1 }
end

-- 1. lease clean-up: slots whose holder stopped renewing are dropped
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - grace))

local max = tonumber(redis.call('HGET', KEYS[3], 'max') or ARGV[4])
local running = redis.call('ZRANGE', KEYS[2], 0, -1)
local byRepo, byQueue = {}, {}
for _, id in ipairs(running) do
  local info = redis.call('HGET', KEYS[4], id)
  if info then
    local repo, queue = string.match(info, '^(.-)\t(.*)$')
    byRepo[repo] = (byRepo[repo] or 0) + 1
    byQueue[queue] = (byQueue[queue] or 0) + 1
  end
end
local count = #running
local admitted, blocked = {}, {}
local limitCache = {}
local function limit(field)
  if limitCache[field] == nil then
    limitCache[field] = tonumber(redis.call('HGET', KEYS[3], field) or '-1')
  end
  return limitCache[field]
end

-- 2. admit in priority order then FIFO, respecting repository and queue limits. The waiting set is
--    read in small pages, so a long queue costs only what is looked at.
local scanned = 0
local page = math.max(16, 2 * (max - count))
while count < max and scanned < scan do
  local waiting = redis.call('ZRANGE', KEYS[1], scanned - #admitted, scanned - #admitted + page - 1)
  if #waiting == 0 then break end
  for _, id in ipairs(waiting) do
    scanned = scanned + 1
    if count >= max or scanned > scan then break end
    local info = redis.call('HGET', KEYS[4], id) or '\t'
    local repo, queue = string.match(info, '^(.-)\t(.*)$')
    local repoMax, queueMax = limit('repo:' .. repo), limit('queue:' .. queue)
    if repoMax >= 0 and (byRepo[repo] or 0) >= repoMax then
      table.insert(blocked, id .. '\trepository limit')
    elseif queueMax >= 0 and (byQueue[queue] or 0) >= queueMax then
      table.insert(blocked, id .. '\tqueue limit')
    else
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZADD', KEYS[2], now + lease, id)
      byRepo[repo] = (byRepo[repo] or 0) + 1
      byQueue[queue] = (byQueue[queue] or 0) + 1
      count = count + 1
      table.insert(admitted, id)
    end
  end
end
return { admitted, redis.call('ZCARD', KEYS[1]), count, max, expired, blocked, 0 }

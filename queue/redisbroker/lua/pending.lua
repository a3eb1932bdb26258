-- pending: count a queue's pending jobs, per priority, and name the job at the front of each
-- priority's list (the oldest of that priority, for the queue's statistics).
-- KEYS[1]  the queue's key base
-- Returns {{priority, count, front ID}, …}, highest priority first, for each priority
-- that has jobs.
local base = KEYS[1]
local out = {}
for _, p in ipairs(pendingLevels(base)) do
  local k = pendingKey(base, p)
  local n = redis.call('LLEN', k)
  if n > 0 then out[#out + 1] = {p, n, redis.call('LINDEX', k, 0)} end
end
return out

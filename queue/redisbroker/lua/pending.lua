-- pending: count a queue's pending jobs and name the job at the front of each priority's
-- list (the oldest of that priority, for the queue's statistics).
-- KEYS[1]  the queue's key base
-- Returns {count, {id, …}}.
local base = KEYS[1]
local n, heads = 0, {}
for _, p in ipairs(pendingLevels(base)) do
  local k = pendingKey(base, p)
  local len = redis.call('LLEN', k)
  if len > 0 then
    n = n + len
    heads[#heads + 1] = redis.call('LINDEX', k, 0)
  end
end
return {n, heads}

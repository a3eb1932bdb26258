-- listpending: the IDs of a queue's pending jobs in the order fetch takes them (highest
-- priority first, FIFO within a priority), skipping offset, at most limit.
-- KEYS[1]  the queue's key base
-- ARGV     offset, limit
local base = KEYS[1]
local skip, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = {}
for _, p in ipairs(pendingLevels(base)) do
  if #ids >= limit then break end
  local k = pendingKey(base, p)
  local len = redis.call('LLEN', k)
  if skip >= len then
    skip = skip - len
  else
    for _, id in ipairs(redis.call('LRANGE', k, skip, skip + limit - #ids - 1)) do ids[#ids + 1] = id end
    skip = 0
  end
end
return ids

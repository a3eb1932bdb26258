-- setlimits: replace a queue's limits and release the jobs held back by a key's concurrency
-- limit (the next fetch holds them again if the new limits say so).
-- KEYS[1]  the queue's key base
-- ARGV     the limits' JSON ("" removes them), then field and rule pairs: field q for the
--          queue, t:<type> and k:<prefix> for keys; a rule is "rate per-ms burst concurrency"
local base = KEYS[1]
local limits = base .. 'limits'
redis.call('DEL', limits)
if ARGV[1] ~= '' then
  redis.call('HSET', limits, 'json', ARGV[1])
  for i = 2, #ARGV, 2 do redis.call('HSET', limits, ARGV[i], ARGV[i + 1]) end
end
local held = redis.call('ZRANGEBYSCORE', base .. 'scheduled', HELD, HELD)
for _, id in ipairs(held) do
  local jk = base .. 'job:' .. id
  local d = redis.call('HGET', jk, 'd') or ''
  local k = string.match(d, '^{"m":%d+,"rt":%d+,"rk":"([^"]*)"') or ('@' .. (string.match(d, ',"y":"([^"]*)"') or ''))
  redis.call('DEL', base .. 'held:' .. k)
  redis.call('HSET', jk, 's', 'pending')
  pushPending(base, prio(redis.call('HGET', jk, 'pr')), {id})
end
if #held > 0 then
  redis.call('ZREM', base .. 'scheduled', unpack(held))
end
wake(base)
return #held

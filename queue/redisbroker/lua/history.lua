-- history: record a sample of the queues' totals for its slot, unless the slot has one, and
-- drop the samples older than the keep window.
-- KEYS[1]  the history sorted set (score: slot start in ms; member: "<slot ms>:<fields>")
-- ARGV     slot start in ms, the sample's fields ("p,a,s,r,d,processed,failed"), oldest
--          slot to keep in ms
-- Returns 1 when the sample was stored, 0 when the slot had one.
local key, slot = KEYS[1], tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[3])
if redis.call('ZCOUNT', key, slot, slot) > 0 then return 0 end
redis.call('ZADD', key, slot, ARGV[1] .. ':' .. ARGV[2])
return 1

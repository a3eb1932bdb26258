-- retryall: move up to a limit of the jobs in a state (dead, canceled, retry or scheduled)
-- back to pending, oldest first, attempt reset.
-- KEYS[1]  the queue's key base
-- ARGV     state, limit
-- Returns the number of jobs moved.
local base = KEYS[1]
local s, limit = ARGV[1], tonumber(ARGV[2])
local ids = redis.call('ZRANGE', base .. s, 0, limit - 1)
local now = nowms()
for _, id in ipairs(ids) do revive(base, id, s, now) end
if #ids > 0 then wake(base) end
return #ids

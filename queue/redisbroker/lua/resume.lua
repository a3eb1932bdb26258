-- resume: let workers fetch the queue's jobs again, waking one if jobs are pending.
-- KEYS[1]  the queue's key base
local base = KEYS[1]
redis.call('DEL', base .. 'paused')
if hasPending(base) then wake(base) end
return 1

-- retry: move a dead, canceled, retry or scheduled job back to pending, attempt reset.
-- KEYS[1]  the queue's key base
-- ARGV[1]  job id
-- Returns {code, state}: code 0 done, 1 no such job, 2 state does not allow it.
local base = KEYS[1]
local id = ARGV[1]
local jk = base .. 'job:' .. id
local s = stateOf(jk, redis.call('HGET', jk, 's'))
if not s then return {1, ''} end
if s ~= 'dead' and s ~= 'canceled' and s ~= 'retry' and s ~= 'scheduled' then return {2, s} end
revive(base, id, s, nowms())
wake(base)
return {0, 'pending'}

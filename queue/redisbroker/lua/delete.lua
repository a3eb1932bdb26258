-- delete: remove a job that is not active, releasing its unique key.
-- KEYS[1]  the queue's key base
-- ARGV[1]  job id
-- Returns {code, state}: code 0 done, 1 no such job, 2 the job is active.
local base = KEYS[1]
local id = ARGV[1]
local jk = base .. 'job:' .. id
local v = redis.call('HMGET', jk, 's', 'u', 'pr')
local s = stateOf(jk, v[1])
if not s then return {1, ''} end
if s == 'active' then return {2, s} end
if s == 'pending' then
  removePending(base, prio(v[3]), id)
else
  redis.call('ZREM', base .. s, id)
end
release(base, v[2], id)
if s ~= 'completed' and s ~= 'dead' and s ~= 'canceled' then settle(base, id, 'deleted', nowms()) end
redis.call('DEL', jk)
return {0, s}

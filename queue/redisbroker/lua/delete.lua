-- delete: remove a job that is not active, releasing its unique key.
-- KEYS[1]  the queue's key base
-- ARGV[1]  job id; ARGV[2] the call's token ("" or absent: none)
-- Returns {code, state}: code 0 done (state: the job's state before), 1 no such job, 2 the
-- job is active.
-- A delete leaves base..'deleted:'..token (the state deleted) for a minute, so that the call
-- sent again after a lost reply answers as the first run did, not that there is no such job.
local base = KEYS[1]
local id, token = ARGV[1], ARGV[2] or ''
local jk = base .. 'job:' .. id
local v = redis.call('HMGET', jk, 's', 'u', 'pr')
local s = stateOf(jk, v[1])
if not s then
  local done = token ~= '' and redis.call('GET', base .. 'deleted:' .. token)
  if done then return {0, done} end
  return {1, ''}
end
if s == 'active' then return {2, s} end
if s == 'pending' then
  removePending(base, prio(v[3]), id)
else
  redis.call('ZREM', base .. s, id)
end
release(base, v[2], id)
if s ~= 'completed' and s ~= 'dead' and s ~= 'canceled' then settle(base, id, 'deleted', nowms()) end
redis.call('DEL', jk)
if token ~= '' then redis.call('SET', base .. 'deleted:' .. token, s, 'PX', 60000) end
return {0, s}

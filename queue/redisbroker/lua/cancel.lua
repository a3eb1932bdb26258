-- cancel: cancel a pending, scheduled, waiting or retry job at once; flag an active one so that its
-- worker cancels it (it becomes canceled when the worker reports its outcome).
-- KEYS[1]  the queue's key base
-- ARGV[1]  job id; ARGV[2] the call's token ("" or absent: none)
-- Returns {code, state}: code 0 done, 1 no such job, 2 state does not allow it; state is the
-- job's state after the call.
-- A job canceled, or active and flagged, keeps the token (field ct), so that the call sent
-- again after a lost reply finds its own work done and answers 0 (an active job flagged ends
-- canceled whatever its outcome). A job whose result TTL is under a minute may be deleted
-- (expired) before the call comes again: its cancel also leaves base..'canceled:'..token for
-- a minute.
local base = KEYS[1]
local id, token = ARGV[1], ARGV[2] or ''
local jk = base .. 'job:' .. id
local v = redis.call('HMGET', jk, 's', 'u', 't', 'pr', 'ct')
local s = stateOf(jk, v[1])
if not s then
  if token ~= '' and redis.call('EXISTS', base .. 'canceled:' .. token) == 1 then return {0, 'canceled'} end
  return {1, ''}
end
if s == 'canceled' and token ~= '' and v[5] == token then return {0, 'canceled'} end
if s == 'active' then
  redis.call('HSET', jk, 'c', '1')
  if token ~= '' then
    redis.call('HSET', jk, 'ct', token)
    local ttl = tonumber(v[3]) or ttlOf(redis.call('HGET', jk, 'd'))
    if ttl < 60000 then redis.call('SET', base .. 'canceled:' .. token, id, 'PX', 60000) end
  end
  return {0, 'active'}
end
if s == 'pending' then
  removePending(base, prio(v[4]), id)
elseif s == 'scheduled' or s == 'retry' or s == 'waiting' then
  redis.call('ZREM', base .. s, id)
else
  return {2, s}
end
local ttl = tonumber(v[3]) or ttlOf(redis.call('HGET', jk, 'd'))
cancelNow(base, id, nowms(), ttl, v[2])
if token ~= '' then
  redis.call('HSET', jk, 'ct', token)
  if ttl < 60000 then redis.call('SET', base .. 'canceled:' .. token, id, 'PX', 60000) end
end
return {0, 'canceled'}

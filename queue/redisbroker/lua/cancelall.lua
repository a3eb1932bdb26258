-- cancelall: cancel up to a limit of the jobs in a state (pending, scheduled, retry or waiting), oldest
-- first (pending: highest priority first), as cancel does: canceled now, kept for their result TTL, unique keys released.
-- KEYS[1]  the queue's key base
-- ARGV     state, limit
-- Returns {taken, canceled}: the IDs taken from the state (fewer than limit: none is left),
-- and the jobs canceled among them (an ID whose job hash is gone is only dropped).
local base = KEYS[1]
local s, limit = ARGV[1], tonumber(ARGV[2])
local ids
if s == 'pending' then
  ids = takePending(base, limit)
else
  ids = redis.call('ZRANGE', base .. s, 0, limit - 1)
  if #ids > 0 then redis.call('ZREM', base .. s, unpack(ids)) end
end
local now = nowms()
local n = 0
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', base .. 'job:' .. id, 'd', 'u', 't', 's', 'pr')
  if v[1] then
    -- Canceling a waiting job cancels its waiting children, or releases those that run
    -- anyway: a later one of ids may be canceled already (counted), or pending or scheduled
    -- now (canceled too: it was waiting at the call).
    local now_state = v[4] or 'pending'
    if now_state ~= 'canceled' then
      if now_state == 'pending' and s ~= 'pending' then
        removePending(base, prio(v[5]), id)
      elseif now_state ~= s then
        redis.call('ZREM', base .. now_state, id)
      end
      cancelNow(base, id, now, tonumber(v[3]) or ttlOf(v[1]), v[2])
    end
    n = n + 1
  end
end
return {#ids, n}

-- deleteall: remove up to a limit of the jobs in a state (not active), oldest first
-- (pending: highest priority first).
-- KEYS[1]  the queue's key base
-- ARGV     state, limit
-- Returns the number of jobs removed.
local base = KEYS[1]
local s, limit = ARGV[1], tonumber(ARGV[2])
local ids
if s == 'pending' then
  ids = takePending(base, limit)
else
  ids = redis.call('ZRANGE', base .. s, 0, limit - 1)
  if #ids > 0 then redis.call('ZREM', base .. s, unpack(ids)) end
end
local unfinished = s ~= 'completed' and s ~= 'dead' and s ~= 'canceled'
local now = nowms()
for _, id in ipairs(ids) do
  local jk = base .. 'job:' .. id
  release(base, redis.call('HGET', jk, 'u'), id)
  if unfinished then settle(base, id, 'deleted', now) end
  redis.call('DEL', jk)
end
return #ids

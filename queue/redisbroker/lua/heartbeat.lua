-- heartbeat: extend the leases of a worker's jobs in one queue.
-- KEYS[1]  the queue's key base
-- ARGV     worker id, lease ms, then the ids of the jobs the worker runs
-- Returns the ids among them (active under this worker) whose cancellation was requested.
local base = KEYS[1]
local worker = ARGV[1]
local deadline = nowms() + tonumber(ARGV[2])
local cancel = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local v = redis.call('HMGET', base .. 'job:' .. id, 's', 'w', 'c')
  if v[1] == 'active' and v[2] == worker then
    redis.call('ZADD', base .. 'active', 'XX', deadline, id)
    if v[3] then cancel[#cancel + 1] = id end
  end
end
return cancel

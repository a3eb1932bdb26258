-- requeue: put active jobs of a worker that is shutting down back at the front of pending
-- (of their priority), giving back the attempt they had started (a job whose cancellation
-- was requested becomes canceled instead).
-- KEYS[1]  the queue's key base
-- ARGV     worker id, then id and attempt of each job, in the order they should run
-- Returns the number of jobs put back.
local base = KEYS[1]
local worker = ARGV[1]
local now = nowms()
local n = 0
-- Backwards, so that pushing each to the front keeps their order.
for i = #ARGV - 1, 2, -2 do
  local id, attempt = ARGV[i], ARGV[i + 1]
  local jk = base .. 'job:' .. id
  local v = redis.call('HMGET', jk, 's', 'w', 'a', 'c', 'u', 't', 'pr', 'kc')
  if v[1] == 'active' and v[2] == worker and v[3] == attempt then
    redis.call('ZREM', base .. 'active', id)
    unrun(base, jk, v[8])
    if v[4] then
      cancelNow(base, id, now, v[6], v[5])
    else
      redis.call('HSET', jk, 's', 'pending', 'a', tonumber(attempt) - 1)
      pushPending(base, prio(v[7]), {id}, true)
      emit(base, id, 'retried')
      n = n + 1
    end
  end
end
if n > 0 then wake(base) end
return n

-- finish: record the outcomes of attempts of one queue's jobs.
-- KEYS[1]  the queue's key base
-- ARGV[1]  max dead jobs per queue, then 8 values per outcome: id, worker id, attempt,
--          kind (c completed, r retry, s snooze, d dead), retry run-at ms (r and s only), ms
--          since the handler returned, result (JSON or ""), error (JSON or "")
-- An outcome whose job is no longer active under that worker and attempt is ignored. A job
-- whose cancellation was requested becomes canceled whatever the outcome. A snooze is a retry
-- that gives the attempt back and counts nothing.
-- Returns the number of outcomes applied.
local base = KEYS[1]
local maxDead = tonumber(ARGV[1])
local now = nowms()
local nowstr = istr(now)

local processed, failed = 0, 0
local done, completed, canceled = {}, {}, {}
local before, soonest, dead = nil, false, false
for i = 2, #ARGV, 8 do
  local id, worker, attempt, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local jk = base .. 'job:' .. id
  local v = redis.call('HMGET', jk, 's', 'w', 'a', 'c', 'u', 't', 'kc', 'ch', 'b')
  if v[1] == 'active' and v[2] == worker and v[3] == attempt then
    done[#done + 1] = id
    unrun(base, jk, v[7])
    if kind ~= 's' then processed = processed + 1 end
    local ago = ARGV[i + 5]
    local f, fs = now, nowstr
    if ago ~= '0' then
      f = now - tonumber(ago)
      fs = istr(f)
    end
    local ttl = tonumber(v[6]) or 0
    local err = ARGV[i + 7]
    if err ~= '' then
      failed = failed + 1
      local n = redis.call('HINCRBY', jk, 'n', 1)
      redis.call('HSET', jk, 'e' .. n, err)
    end
    if v[4] then
      redis.call('HSET', jk, 's', 'canceled', 'f', fs)
      canceled[#canceled + 1] = istr(f + ttl)
      canceled[#canceled + 1] = id
      release(base, v[5], id)
    elseif kind == 'c' then
      local result = ARGV[i + 6]
      if result == '' then
        redis.call('HSET', jk, 's', 'completed', 'f', fs)
      else
        redis.call('HSET', jk, 's', 'completed', 'f', fs, 'res', result)
      end
      completed[#completed + 1] = istr(f + ttl)
      completed[#completed + 1] = id
      release(base, v[5], id)
    elseif kind == 'r' or kind == 's' then
      local at = tonumber(ARGV[i + 4])
      if kind == 's' then redis.call('HINCRBY', jk, 'a', -1) end
      if before == nil then before = earliest(base) end
      redis.call('HSET', jk, 's', 'retry', 'r', at)
      redis.call('ZADD', base .. 'retry', at, id)
      if not soonest or at < soonest then soonest = at end
    else
      redis.call('HSET', jk, 's', 'dead', 'f', fs)
      redis.call('ZADD', base .. 'dead', nowstr, id)
      release(base, v[5], id)
      dead = true
    end
    local ev = v[4] and 'canceled' or outcomeEvent[kind]
    emit(base, id, ev, err)
    -- Children and batch: one check for a job that has neither.
    if (v[8] or v[9]) and ev ~= 'failed' then ended(base, id, ev, now, v[8], v[9]) end
  end
end

if #done > 0 then redis.call('ZREM', base .. 'active', unpack(done)) end
if #completed > 0 then redis.call('ZADD', base .. 'completed', unpack(completed)) end
if #canceled > 0 then redis.call('ZADD', base .. 'canceled', unpack(canceled)) end
if processed > 0 then redis.call('HINCRBY', base .. 'stats', 'processed', processed) end
if failed > 0 then redis.call('HINCRBY', base .. 'stats', 'failed', failed) end
-- A limited queue's running jobs ended: a worker waiting for a free slot may start one.
if #done > 0 and redis.call('EXISTS', base .. 'limits') == 1 then wake(base) end
-- A retry due sooner than anything blocked workers wait for: wake one to re-time its wait.
if soonest and (not before or soonest < before) then wake(base) end
if dead then trimDead(base, maxDead) end
return #done

-- enqueue: store new jobs of one queue.
-- KEYS[1]  the queue's key base
-- ARGV     per job, either 2 values: id, packed fields (JSON), for a job pending now with
--          neither unique key, priority nor deadline (most jobs: Redis parses and Lua interns
--          5 values fewer per job), or 8 values: "" (a job ID is never empty), id, packed
--          fields, run-at ms (0: pending now), unique key ("" for none), unique-for ms (0:
--          until released), priority, deadline ms (0: none)
-- A pending job's hash holds only its packed fields (and unique key, priority when not 0,
-- deadline when set): no state field means pending.
-- Returns the jobs not stored, as pairs: the job's position in ARGV's jobs (1 for the first),
-- then 1 (duplicate id), 2 (duplicate unique key) or 3 (its key is not a job: a value of
-- another type, which someone else wrote); an empty array when every job was
-- stored, so that the common reply costs nothing per job.
-- Sending the same call twice stores each job once and returns the same: a client whose reply
-- was lost sends the call again (go-redis does), and its jobs are not duplicates of themselves.
-- A job stored already with the very fields of this one (its enqueue time is in nanoseconds)
-- was stored by an earlier send of this call, unless its ID came earlier in this one.
local base = KEYS[1]
local jobp, uniqp = base .. 'job:', base .. 'unique:'
-- The server's clock, read only for a job with a run-at (most calls have none: TIME through
-- redis.call costs a single enqueue's script a sixth of its time).
local now = nil

-- resent tells that job id, whose hash jk exists, was stored by an earlier send of this call:
-- with fields packed, and not by a job before ARGV[upto] in this one (a rare path: it reads
-- ARGV again).
local function resent(jk, packed, id, upto)
  if redis.pcall('HGET', jk, 'd') ~= packed then return false end -- (an error: not a job)
  local i = 1
  while i < upto do
    if ARGV[i] ~= '' then
      if ARGV[i] == id then return false end
      i = i + 2
    else
      if ARGV[i + 1] == id then return false end
      i = i + 8
    end
  end
  return true
end

local res, push, pushed = {}, {}, false
local before, soonest = nil, false
local i, nargs, pos = 1, #ARGV, 0
while i <= nargs do
  pos = pos + 1
  local at = i
  local id, packed, runAt, uk, uf, p, dl
  if ARGV[i] ~= '' then
    id, packed, runAt, uk, uf, p, dl = ARGV[i], ARGV[i + 1], 0, '', '0', 0, '0'
    i = i + 2
  else
    id, packed, runAt, uk, uf = ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5]
    p, dl = tonumber(ARGV[i + 6]), ARGV[i + 7]
    i = i + 8
  end
  local jk = jobp .. id
  local code = 0
  if uk == '' then
    -- The hot path: one call stores the job and tells a duplicate ID. A pcall, so that a key
    -- of another type (not a job: WRONGTYPE) refuses this job only, rather than failing the
    -- call with the jobs before it stored and none of them pending.
    local r = redis.pcall('HSETNX', jk, 'd', packed)
    if type(r) == 'table' then code = 3 elseif r == 0 then code = 1 end
  elseif redis.call('EXISTS', jk) == 1 then
    code = 1
  else
    local ok
    if uf ~= '0' then
      ok = redis.call('SET', uniqp .. uk, id, 'NX', 'PX', uf)
    else
      ok = redis.call('SET', uniqp .. uk, id, 'NX')
    end
    if ok then
      redis.call('HSET', jk, 'd', packed, 'u', uk)
    else
      code = 2
    end
  end
  if code == 1 and resent(jk, packed, id, at) then code = -1 end
  if code == 0 then
    if p ~= 0 then redis.call('HSET', jk, 'pr', p) end
    if dl ~= '0' then redis.call('HSET', jk, 'dl', dl) end
    if runAt > 0 and not now then now = nowms() end
    if runAt <= 0 or runAt <= now then
      group(push, p, id)
      pushed = true
    else
      if before == nil then before = earliest(base) end
      redis.call('HSET', jk, 's', 'scheduled', 'r', runAt)
      redis.call('ZADD', base .. 'scheduled', runAt, id)
      if not soonest or runAt < soonest then soonest = runAt end
    end
    emit(base, id, 'enqueued')
  elseif code > 0 then
    res[#res + 1] = pos
    res[#res + 1] = code
  end
end

for p, ids in pairs(push) do pushPending(base, p, ids) end
-- Wake a blocked worker when a job became pending, or when a job is due sooner than every
-- job the blocked workers are timing their wait on.
if pushed or (soonest and (not before or soonest < before)) then wake(base) end
return res

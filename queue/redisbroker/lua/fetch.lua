-- fetch: lease pending jobs to a worker, after the upkeep of its queues.
-- KEYS     the key base of each queue, in the order to serve them
-- ARGV     worker id, max jobs, lease ms, max dead jobs per queue, jobs this fetch leased
--          already (from other queues, one call per queue on a cluster; 0 when absent), the
--          call's token (unique per call; absent or "" for none), then "1" when the last of
--          KEYS is not a queue but the unblock list of the BLPOP this call follows (wait.go)
-- Returns {now, wait, spent, then per job: queue index, attempt, packed fields, errors, run-at
-- ms (0: none)}: when no job was leased (here or before), wait is the time in ms until the
-- soonest scheduled or retry run-at or lease deadline of these queues (-1: none), and spent
-- the number of wake-up tokens deleted (the worker is about to wait).
--
-- A call sent again returns what it leased the first time, and leases nothing more. A client
-- whose reply was lost sends the call again (go-redis does, on a new connection); jobs leased
-- twice would wait, leased to a worker that never got them, for their lease to run out, and
-- lose an attempt. So a call that leases jobs records them under its token for the lease, and
-- a call whose token is recorded returns those of them still active under its worker. (The
-- broker also sends the token of a fetch that failed, every send of it, with the worker's
-- next fetch: resend.go.)
-- The BLPOP before this call ended on its unblock list when that list is still there
-- (unblock.lua pushes two elements): its caller gave up, so nothing is leased.
if ARGV[7] == '1' then
  local unblock = table.remove(KEYS)
  if redis.call('DEL', unblock) == 1 then return {nowms(), -1, 0} end
end
local worker, max, lease, maxDead = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local before = tonumber(ARGV[5] or '0')
-- The key of this call's record, when it keeps one: with the queue first in byte order, so
-- that a fetch naming the same queues in another order finds it.
local record = nil
if (ARGV[6] or '') ~= '' then
  local first = KEYS[1]
  for _, base in ipairs(KEYS) do if base < first then first = base end end
  record = first .. 'fetched:' .. ARGV[6]
end
local now = nowms()
local nowstr = istr(now)
local taken = {} -- the key base and ID of each job leased
local deadline = string.format('%d', now + lease)
local noErrors = {} -- the errors of every job that has none: one table, not one per job

-- promote makes due jobs of zset z (scheduled or retry) pending, in run-at order, each at
-- the back of its priority.
local function promote(base, z)
  local ids = redis.call('ZRANGEBYSCORE', base .. z, '-inf', nowstr, 'LIMIT', 0, 1000)
  if #ids == 0 then return end
  local push = {}
  for _, id in ipairs(ids) do
    local jk = base .. 'job:' .. id
    redis.call('HSET', jk, 's', 'pending')
    group(push, prio(redis.call('HGET', jk, 'pr')), id)
  end
  for p, ids in pairs(push) do pushPending(base, p, ids) end
  redis.call('ZREM', base .. z, unpack(ids))
end

-- recover takes back the jobs whose lease ran out: to the front of pending (of their
-- priority), or to dead when
-- that was their last attempt. The attempt is recorded as failed.
local function recover(base)
  local active = base .. 'active'
  local ids = redis.call('ZRANGEBYSCORE', active, '-inf', nowstr, 'LIMIT', 0, 100)
  if #ids == 0 then return end
  local failed, dead = 0, false
  for _, id in ipairs(ids) do
    local jk = base .. 'job:' .. id
    local v = redis.call('HMGET', jk, 's', 'a', 'w', 'd', 'u', 'pr', 'kc', 'ch', 'b')
    if v[1] == 'active' then
      unrun(base, jk, v[7])
      local a = tonumber(v[2]) or 0
      local n = redis.call('HINCRBY', jk, 'n', 1)
      local msg = 'lease expired: worker ' .. (v[3] or '?') .. ' stopped heartbeating'
      local e = cjson.encode({a = a, e = msg, t = now})
      redis.call('HSET', jk, 'e' .. n, e)
      failed = failed + 1
      local kind = 'failed'
      if a > maxRetries(v[4]) then
        kind = 'dead'
        redis.call('HSET', jk, 's', 'dead', 'f', now)
        redis.call('ZADD', base .. 'dead', now, id)
        release(base, v[5], id)
        dead = true
        if v[8] or v[9] then ended(base, id, 'dead', now, v[8], v[9]) end
      else
        redis.call('HSET', jk, 's', 'pending')
        pushPending(base, prio(v[6]), {id}, true)
      end
      emit(base, id, kind, e)
    end
  end
  redis.call('ZREM', active, unpack(ids))
  if failed > 0 then
    redis.call('HINCRBY', base .. 'stats', 'processed', failed)
    redis.call('HINCRBY', base .. 'stats', 'failed', failed)
  end
  if dead then trimDead(base, maxDead) end
end

-- expire deletes the jobs of zset z (completed or canceled) whose result TTL has passed.
local function expire(base, z)
  local ids = redis.call('ZRANGEBYSCORE', base .. z, '-inf', nowstr, 'LIMIT', 0, 100)
  if #ids == 0 then return end
  local keys = {}
  for i, id in ipairs(ids) do keys[i] = base .. 'job:' .. id end
  redis.call('DEL', unpack(keys))
  redis.call('ZREM', base .. z, unpack(ids))
end

-- addLeased appends to out what the reply holds of a job leased: the queue index qi, the attempt
-- a, the packed fields, the list of errors recorded (ne of them, in hash jk) and the run-at.
local function addLeased(out, qi, jk, a, packed, ne, runAt)
  local errs = noErrors
  ne = tonumber(ne) or 0
  if ne > 0 then
    local fields = {}
    for i = 1, ne do fields[i] = 'e' .. i end
    errs = redis.call('HMGET', jk, unpack(fields))
  end
  out[#out + 1] = qi
  out[#out + 1] = a
  out[#out + 1] = packed
  out[#out + 1] = errs
  out[#out + 1] = tonumber(runAt) or 0
end

-- replay returns the reply of a call sent again: the jobs of its record (a list of the key
-- base and ID of each: a worker's next fetch may name the same queues in another order) still
-- active under this worker, with the time the call first ran, when they started.
local function replay(rec)
  local out, index = {now, -1, 0}, {}
  for qi, base in ipairs(KEYS) do index[base] = qi end
  for k = 1, #rec, 2 do
    local jk = rec[k] .. 'job:' .. rec[k + 1]
    local v = redis.call('HMGET', jk, 's', 'w', 'a', 'd', 'n', 'r', 'st')
    if v[1] == 'active' and v[2] == worker then
      addLeased(out, index[rec[k]] or 0, jk, tonumber(v[3]), v[4], v[5], v[6])
      out[1] = tonumber(v[7]) or now -- one call leased them all: one start time
    end
  end
  return out
end

-- take makes the job of hash jk (fields v as pop reads them) active under this worker,
-- appending to out the queue index qi, the attempt, the packed fields, the list of recorded
-- errors and the run-at.
local function take(qi, id, jk, v, out)
  local a = (tonumber(v[2]) or 0) + 1
  if v[4] then
    redis.call('HSET', jk, 's', 'active', 'a', istr(a), 'st', nowstr, 'w', worker)
  else -- the first run: copy the result TTL out of the packed fields, for finish
    redis.call('HSET', jk, 's', 'active', 'a', istr(a), 'st', nowstr, 'w', worker, 't', ttlText(v[1]))
  end
  addLeased(out, qi, jk, a, v[1], v[3], v[5])
  taken[#taken + 1] = KEYS[qi]
  taken[#taken + 1] = id
end

-- expireDeadline makes a pending job whose deadline passed dead, without starting it: the error
-- "deadline exceeded" is recorded for its latest attempt (a), its unique key released (read
-- here, not by the HMGET of every job fetched).
local function expireDeadline(base, id, a)
  local jk = base .. 'job:' .. id
  local uk = redis.call('HGET', jk, 'u')
  local n = redis.call('HINCRBY', jk, 'n', 1)
  local e = cjson.encode({a = tonumber(a) or 0, e = 'deadline exceeded', t = now})
  redis.call('HSET', jk, 'e' .. n, e, 's', 'dead', 'f', now)
  redis.call('ZADD', base .. 'dead', now, id)
  release(base, uk, id)
  emit(base, id, 'dead', e)
  settle(base, id, 'dead', now)
end

-- skiplist makes the queue's active zset a skiplist once it holds many leases. Redis keeps a
-- small sorted set as a listpack, in which each lease added costs two scans of the whole set
-- (to look for the member, then for its place) and each one removed another: with tens of
-- leases, the largest part of a fetch and its finish. A member longer than
-- zset-max-listpack-value (64 bytes by default) converts the set, and Redis does not convert
-- it back while it exists; the member is removed at once, so no reader ever sees it. Only a
-- performance matter: where OBJECT is not allowed, or the set stays a listpack, nothing changes.
local LONG = string.rep('~', 256)
local function skiplist(active)
  local enc = redis.pcall('OBJECT', 'ENCODING', active)
  if type(enc) ~= 'string' or enc == 'skiplist' or redis.call('ZCARD', active) < 32 then return end
  if redis.call('ZADD', active, 'NX', 0, LONG) == 1 then redis.call('ZREM', active, LONG) end
end

-- pop leases up to n pending jobs of the queue at index qi, highest priority first, appending
-- to out what take does per job. A job whose deadline has passed goes dead instead (at most
-- 1000 per call, so that a backlog of them never blocks Redis long).
local function pop(qi, base, n, out)
  local leased = {}
  local got, dead = 0, 0
  for _, p in ipairs(pendingLevels(base)) do
    local k = pendingKey(base, p)
    while got < n and dead < 1000 do
      local want = n - got
      local ids = redis.call('LPOP', k, want)
      if not ids then break end
      for _, id in ipairs(ids) do
        local jk = base .. 'job:' .. id
        local v = redis.call('HMGET', jk, 'd', 'a', 'n', 't', 'r', 'dl')
        if not v[1] then
          redis.call('DEL', jk) -- a stray ID or a broken hash: drop it
        elseif v[6] and tonumber(v[6]) <= now then
          expireDeadline(base, id, v[2])
          dead = dead + 1
        else
          take(qi, id, jk, v, out)
          emit(base, id, 'started')
          leased[#leased + 1] = deadline
          leased[#leased + 1] = id
          got = got + 1
        end
      end
      if #ids < want then break end
    end
    unlistEmpty(base, p)
    if got >= n or dead >= 1000 then break end
  end
  if #leased > 0 then
    redis.call('ZADD', base .. 'active', unpack(leased))
    skiplist(base .. 'active')
  end
  if dead > 0 then trimDead(base, maxDead) end
  return got
end

-- limitsOf reads the queue's limits (set by setlimits.lua): false when it has none, else
-- {q = queue rule or nil, types = {type = rule}, keys = {{prefix, rule}}}. A rule is
-- {rate, per ms, burst, concurrency}.
local function limitsOf(base)
  local h = redis.call('HGETALL', base .. 'limits')
  if #h == 0 then return false end
  local lim = {types = {}, keys = {}}
  for i = 1, #h, 2 do
    local f = h[i]
    local r = {}
    for x in string.gmatch(h[i + 1], '%S+') do r[#r + 1] = tonumber(x) end
    if f == 'q' then lim.q = r
    elseif string.sub(f, 1, 2) == 't:' then lim.types[string.sub(f, 3)] = r
    elseif string.sub(f, 1, 2) == 'k:' then lim.keys[#lim.keys + 1] = {string.sub(f, 3), r}
    end
  end
  return lim
end

-- ruleFor returns the rule of a job with packed fields d beyond its queue's, and the key it
-- counts under (queue.CountKey): its type's rule (a job without a rate key counts under '@'
-- and its type), else the rule of the longest key prefix its rate key starts with; nil when
-- none.
local function ruleFor(lim, d)
  local k = string.match(d, '^{"m":%d+,"rt":%d+,"rk":"([^"]*)"')
  local typ = string.match(d, ',"y":"([^"]*)"')
  if typ and lim.types[typ] then return lim.types[typ], k or ('@' .. typ) end
  if not k then return nil end
  local best, rule = -1, nil
  for _, p in ipairs(lim.keys) do
    if #p[1] > best and string.sub(k, 1, #p[1]) == p[1] then best, rule = #p[1], p[2] end
  end
  return rule, k
end

-- admit applies rate rule r to the limiter at key rl (its state "tat starts late", in ms; see
-- queue.Limit.Admit) and returns when the next start is allowed. It counts that start only
-- when count is set (the caller then starts the job now, or waits for the time returned).
-- Times are rounded up to the microsecond, so that rounding never lets a start come early.
local function admit(rl, r, count)
  local t = math.ceil(r[2] * 1000 / r[1]) / 1000
  local st = {}
  for x in string.gmatch(redis.call('GET', rl) or '', '%S+') do st[#st + 1] = tonumber(x) end
  local tat, n, late = st[1], st[2] or 0, st[3] or 0
  local at = now
  if tat then at = math.max(now, tat - r[3] * t) end
  if not count then return at end
  if r[3] > 0 then -- GCRA with a burst
    tat, n, late = math.max(tat or at, at) + t, 0, 0
  else -- no burst: the lateness of a period's starts is repaid once, at its end
    if not tat or at - tat >= t then tat, n, late = at, 0, 0 end
    late = math.max(late, at - tat)
    tat, n = tat + t, n + 1
    if n >= r[1] then tat, n, late = tat + late, 0, 0 end
  end
  tat = math.ceil(tat * 1000) / 1000
  local v = string.format('%.3f %d %.3f', tat, n, math.ceil(late * 1000) / 1000)
  redis.call('SET', rl, v, 'PX', math.ceil(tat + t - now) + 1)
  return at
end

-- keyAllows applies rule r of count key k (a rate key, or '@' and a type) to the job id (packed fields d). A job over the key's
-- concurrency is held (scheduled at HELD, listed in held:<k>) until unrun releases it; a job
-- over the key's rate is scheduled at the slot reserved for it. Returns whether it may start.
local function keyAllows(base, id, k, r)
  local jk = base .. 'job:' .. id
  if r[4] > 0 and (tonumber(redis.call('HGET', base .. 'running', k)) or 0) >= r[4] then
    redis.call('HSET', jk, 's', 'scheduled')
    redis.call('HDEL', jk, 'r', 'rs')
    redis.call('ZADD', base .. 'scheduled', HELD, id)
    redis.call('RPUSH', base .. 'held:' .. k, id)
    return false
  end
  if r[1] > 0 then
    if redis.call('HDEL', jk, 'rs') == 0 then -- no slot reserved yet
      local at = admit(base .. 'rl:' .. k, r, true)
      if at > now then
        at = math.ceil(at)
        redis.call('HSET', jk, 's', 'scheduled', 'r', at, 'rs', '1')
        redis.call('ZADD', base .. 'scheduled', at, id)
        return false
      end
    end
  end
  return true
end

-- popOne takes the first pending job of the queue, highest priority first, and returns its ID
-- (nil when none).
local function popOne(base)
  for _, p in ipairs(pendingLevels(base)) do
    local id = redis.call('LPOP', pendingKey(base, p))
    unlistEmpty(base, p)
    if id then return id end
  end
end

-- popLimited leases up to n pending jobs of the queue at index qi within its limits lim, as
-- pop does. Returns how many, and when the queue's rate allows the next start if it stopped
-- on it (false otherwise).
local function popLimited(qi, base, n, out, lim)
  local q, got, dead, slot = lim.q, 0, 0, false
  while got < n and dead < 1000 do
    if q and q[4] > 0 and redis.call('ZCARD', base .. 'active') >= q[4] then break end
    if q and q[1] > 0 then
      local at = admit(base .. 'rl', q, false)
      if at > now then
        slot = at
        break
      end
    end
    local id = popOne(base)
    if not id then break end
    local jk = base .. 'job:' .. id
    local v = redis.call('HMGET', jk, 'd', 'a', 'n', 't', 'r', 'dl')
    if not v[1] then
      redis.call('DEL', jk)
    elseif v[6] and tonumber(v[6]) <= now then
      expireDeadline(base, id, v[2])
      dead = dead + 1
    else
      local r, k = ruleFor(lim, v[1])
      if not r or keyAllows(base, id, k, r) then
        if q and q[1] > 0 then admit(base .. 'rl', q, true) end
        take(qi, id, jk, v, out)
        emit(base, id, 'started')
        redis.call('ZADD', base .. 'active', deadline, id)
        if r and r[4] > 0 then
          redis.call('HINCRBY', base .. 'running', k, 1)
          redis.call('HSET', jk, 'kc', k)
        end
        got = got + 1
      end
    end
  end
  if got > 0 then skiplist(base .. 'active') end
  if dead > 0 then trimDead(base, maxDead) end
  return got, slot
end

if record then
  local rec = redis.call('LRANGE', record, 0, -1)
  if #rec > 0 then return replay(rec) end
end

for _, base in ipairs(KEYS) do
  promote(base, 'scheduled')
  promote(base, 'retry')
  recover(base)
  expire(base, 'completed')
  expire(base, 'canceled')
end

local out = {now, -1, 0}
local got = 0
local slot = false -- when a queue's rate allows its next start, if one stopped on it
for qi, base in ipairs(KEYS) do
  if redis.call('EXISTS', base .. 'paused') == 1 then
    redis.call('DEL', base .. 'wake')
  else
    local lim = limitsOf(base)
    local blocked = false
    if got < max then
      if lim then
        local n, at = popLimited(qi, base, max - got, out, lim)
        got, blocked = got + n, at or (n < max - got)
        if at and (not slot or at < slot) then slot = at end
      else
        got = got + pop(qi, base, max - got, out)
      end
    end
    -- Jobs left: make sure a token is there, so that another blocked worker wakes up (in
    -- chain); not when the queue's limits hold them back.
    if not blocked and hasPending(base) then wake(base) end
  end
end

if got == 0 and before == 0 then
  -- This worker is about to wait, timed on what the queues hold now: the tokens are spent.
  -- (A worker that leased jobs leaves them: a token may be there to make a waiting worker
  -- re-time its wait on a job due sooner, which only a waiting worker can do.)
  for _, base in ipairs(KEYS) do out[3] = out[3] + redis.call('DEL', base .. 'wake') end
  local soonest = false
  for _, base in ipairs(KEYS) do
    for _, z in ipairs({'scheduled', 'retry', 'active'}) do
      local first = redis.call('ZRANGE', base .. z, 0, 0, 'WITHSCORES')
      if first[2] then
        local s = tonumber(first[2])
        if not soonest or s < soonest then soonest = s end
      end
    end
  end
  if slot and (not soonest or slot < soonest) then soonest = slot end
  if soonest then out[2] = math.max(math.ceil(soonest - now), 0) end
end
if record and #taken > 0 then
  redis.call('RPUSH', record, unpack(taken))
  redis.call('PEXPIRE', record, lease)
end
return out

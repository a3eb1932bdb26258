-- enqueuegraph: store new jobs of one queue that have parents or a batch (queue.DependsOn,
-- queue.InBatch), one by one in the order given (parents before children); jobs with neither
-- go through enqueue.lua. It registers the queue in <prefix>:queues, unless here (then the
-- caller does).
-- KEYS[1]  the queue's key base
-- ARGV[1]  the key prefix; ARGV[2] "1" to look for parents and batches on this queue only
--          (Redis Cluster: other queues are other slots), "" to look on every queue too;
--          then per job: id, packed fields, run-at ms (0: none), unique key ("" none),
--          unique-for ms, priority, deadline ms (0: none), batch ID ("" none), run anyway
--          ("1" or ""), number of parents n, then the n parent IDs
-- Returns two values per job: a code (0 stored pending or scheduled, 1 duplicate id,
-- 2 duplicate unique key, 3 parent not found, 4 batch not found, 5 batch sealed, 6 stored
-- waiting, 7 stored canceled by a failed parent) and the parent or batch it is about ("").
-- As with enqueue.lua, a job stored already with the very fields of this one, and not earlier
-- in this call, was stored by an earlier send of this call (its reply lost): it is not stored
-- again, and its code is the one its state now gives (6 waiting, 7 canceled, else 0).
local base = KEYS[1]
local prefix = ARGV[1]
local here = ARGV[2] == '1'
local q = string.match(base, '{([^{}]*)}:$')
local now = nowms()
local queues = nil

-- others returns the key bases of the other known queues (none with here).
local function others()
  if not queues then
    queues = {}
    if not here then
      for _, name in ipairs(redis.call('SMEMBERS', prefix .. ':queues')) do
        if name ~= q then queues[#queues + 1] = queueBase(prefix, name) end
      end
    end
  end
  return queues
end

-- findParent returns the key base of the queue holding job id (this queue first), or nil.
local function findParent(id)
  if redis.call('EXISTS', base .. 'job:' .. id) == 1 then return base end
  for _, b in ipairs(others()) do
    if redis.call('EXISTS', b .. 'job:' .. id) == 1 then return b end
  end
  return nil
end

-- findBatch returns batch bid as {key, the jobs' field b, sealed}, or false: on this queue,
-- else (unless here) as versions before this one stored it, else on another queue. Each
-- batch is looked up once per call.
local batches = {}
local function findBatch(bid)
  local found = batches[bid]
  if found ~= nil then return found end
  found = false
  local k = base .. 'batch:' .. bid
  if redis.call('EXISTS', k) == 1 then
    found = {k, q .. '/' .. bid}
  elseif not here then
    k = prefix .. ':batch:' .. bid
    if redis.call('EXISTS', k) == 1 then
      found = {k, bid}
    else
      for _, b in ipairs(others()) do
        k = b .. 'batch:' .. bid
        if redis.call('EXISTS', k) == 1 then
          found = {k, string.match(b, '{([^{}]*)}:$') .. '/' .. bid}
          break
        end
      end
    end
  end
  if found then found[3] = redis.call('HEXISTS', found[1], 'sealed') == 1 end
  batches[bid] = found
  return found
end

local seen = {} -- the IDs of this call's jobs so far

-- check returns the code and subject of a job refused before anything is stored (-1: stored
-- by an earlier send of this call), or nil, the key base of each parent and the batch (false
-- for none).
local function check(id, packed, bid, parents)
  local jk = base .. 'job:' .. id
  if redis.call('EXISTS', jk) == 1 then
    if not seen[id] and redis.pcall('HGET', jk, 'd') == packed then return -1, '' end -- (pcall: a key of another type is not a job)
    return 1, ''
  end
  local bases = {}
  for i, p in ipairs(parents) do
    bases[i] = findParent(p)
    if not bases[i] then return 3, p end
  end
  local batch = false
  if bid ~= '' then
    batch = findBatch(bid)
    if not batch then return 4, bid end
    if batch[3] then return 5, bid end
  end
  return nil, bases, batch
end

-- link registers job id under its parents and returns how many it waits for, or the parent
-- and state that cancel it.
local function link(id, parents, bases, anyway)
  local waits = 0
  for i, p in ipairs(parents) do
    local pk = bases[i] .. 'job:' .. p
    local s = stateOf(pk, redis.call('HGET', pk, 's'))
    if s == 'dead' or s == 'canceled' then
      if not anyway then return 0, p, s end
    elseif s ~= 'completed' then
      waits = waits + 1
      redis.call('SADD', bases[i] .. 'children:' .. p, q .. '/' .. id)
      redis.call('HSET', pk, 'ch', '1')
    end
  end
  return waits
end

if not here then redis.call('SADD', prefix .. ':queues', q) end
local res = {}
local i = 3
while i <= #ARGV do
  local id, packed, runAt, uk, uf = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local p, dl, bid, anyway = tonumber(ARGV[i + 5]), ARGV[i + 6], ARGV[i + 7], ARGV[i + 8] == '1'
  local n = tonumber(ARGV[i + 9])
  local parents = {}
  for k = 1, n do parents[k] = ARGV[i + 9 + k] end
  i = i + 10 + n
  local code, bases, batch = check(id, packed, bid, parents)
  seen[id] = true
  if code == -1 then
    local st = redis.call('HGET', base .. 'job:' .. id, 's')
    code = (st == 'waiting' and 6) or (st == 'canceled' and 7) or 0
  end
  if not code and uk ~= '' then
    local ok
    if uf ~= '0' then
      ok = redis.call('SET', base .. 'unique:' .. uk, id, 'NX', 'PX', uf)
    else
      ok = redis.call('SET', base .. 'unique:' .. uk, id, 'NX')
    end
    if not ok then code, bases = 2, '' end
  end
  if code then
    res[#res + 1] = code
    res[#res + 1] = bases
  else
    local jk = base .. 'job:' .. id
    redis.call('HSET', jk, 'd', packed)
    if uk ~= '' then redis.call('HSET', jk, 'u', uk) end
    if p ~= 0 then redis.call('HSET', jk, 'pr', p) end
    if dl ~= '0' then redis.call('HSET', jk, 'dl', dl) end
    if runAt > 0 then redis.call('HSET', jk, 'r', runAt) end
    if batch then
      redis.call('HSET', jk, 'b', batch[2])
      redis.call('HINCRBY', batch[1], 'total', 1)
    end
    emit(base, id, 'enqueued')
    local waits, parent, how = link(id, parents, bases, anyway)
    if parent then
      local ne = redis.call('HINCRBY', jk, 'n', 1)
      redis.call('HSET', jk, 'e' .. ne, cjson.encode({a = 0, e = 'parent job ' .. parent .. ' is ' .. how, t = now}))
      cancelOne(base, id, now, ttlOf(packed), uk ~= '' and uk or nil)
      if batch then batchCount(prefix, batch[2], 'canceled', 1, now) end
      code = 7
    elseif waits > 0 then
      redis.call('HSET', jk, 's', 'waiting', 'wn', waits)
      if anyway then redis.call('HSET', jk, 'ra', '1') end
      redis.call('ZADD', base .. 'waiting', now, id)
      code = 6
    else
      place(base, id, now)
      code = 0
    end
    res[#res + 1] = code
    res[#res + 1] = parent or ''
  end
end
return res

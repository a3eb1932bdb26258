-- lib: helpers shared by every script (prepended to each one when it is loaded).
--
-- Every key of a queue starts with its key base "<prefix>:{<queue>}:", passed as a KEYS entry
-- so that the script runs on the queue's Redis Cluster slot. Times are milliseconds of the
-- Redis server's clock.

local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- istr returns integer n as a string, formatting each value once per script call: a Lua
-- number given to redis.call is formatted with printf("%.17g"), which costs more than the
-- command itself, so per-job numbers go to Redis as strings.
local istrs = {}
local function istr(n)
  local s = istrs[n]
  if not s then
    s = string.format('%d', n)
    istrs[n] = s
  end
  return s
end

-- maxRetries and ttlOf read the max retries and the result TTL (ms) from packed fields d,
-- which start with {"m":<max retries>,"rt":<result TTL in ns>.
local function maxRetries(d)
  return tonumber(string.match(d or '', '^{"m":(%d+)')) or 0
end

local function ttlOf(d)
  local ns = tonumber(string.match(d or '', '^{"m":%d+,"rt":(%d+)')) or 0
  return math.floor(ns / 1000000)
end

-- ttlText is ttlOf as a string, read once per script call for each distinct TTL.
local ttlTexts = {}
local function ttlText(d)
  local ns = string.match(d or '', '^{"m":%d+,"rt":(%d+)') or '0'
  local s = ttlTexts[ns]
  if not s then
    s = istr(math.floor(tonumber(ns) / 1000000))
    ttlTexts[ns] = s
  end
  return s
end

-- stateOf returns state s read from job key jk, or 'pending' when the field is absent from
-- an existing job (a new job has no state field), or false when there is no such job.
local function stateOf(jk, s)
  if s then return s end
  if redis.call('EXISTS', jk) == 1 then return 'pending' end
  return false
end

-- release deletes the unique lock uk of job id, if uk is set and the lock still holds id.
local function release(base, uk, id)
  if uk then
    local k = base .. 'unique:' .. uk
    if redis.call('GET', k) == id then redis.call('DEL', k) end
  end
end

-- wake leaves one wake-up token for a blocked worker (the list holds at most one).
local function wake(base)
  local k = base .. 'wake'
  if redis.call('LLEN', k) == 0 then redis.call('RPUSH', k, '1') end
end

-- earliest returns the soonest run-at among scheduled and retry jobs, or false.
local function earliest(base)
  local best = false
  for _, z in ipairs({'scheduled', 'retry'}) do
    local first = redis.call('ZRANGE', base .. z, 0, 0, 'WITHSCORES')
    if first[2] then
      local s = tonumber(first[2])
      if not best or s < best then best = s end
    end
  end
  return best
end

-- trimDead deletes the oldest dead jobs beyond max (at most 1000 per call).
local function trimDead(base, max)
  local dead = base .. 'dead'
  local over = redis.call('ZCARD', dead) - max
  if over <= 0 then return end
  local ids = redis.call('ZRANGE', dead, 0, math.min(over, 1000) - 1)
  local keys = {}
  for i, id in ipairs(ids) do keys[i] = base .. 'job:' .. id end
  redis.call('DEL', unpack(keys))
  redis.call('ZREM', dead, unpack(ids))
end

-- Events (queue.EventStore): a transition appends one entry to the queue's stream p:{q}:events
-- while a subscriber is in p:{q}:subscribers (or keeps the p:{q}:subs key of older versions
-- alive); with none it costs one EXISTS per queue and call.
-- The entry: k kind, i job id, y type, s state after, a attempt, e error (stored error JSON),
-- p progress JSON.
local eventsOn = {}
local function emit(base, id, kind, err, progress)
  local on = eventsOn[base]
  if on == nil then
    on = redis.call('EXISTS', base .. 'subscribers', base .. 'subs') > 0
    eventsOn[base] = on
  end
  if not on then return end
  local v = redis.call('HMGET', base .. 'job:' .. id, 'd', 's', 'a')
  local ty = string.match(v[1] or '', '"y":"([^"\\]*)"') or cjson.decode(v[1]).y
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', 10000, '*', 'k', kind, 'i', id, 'y', ty,
    's', v[2] or 'pending', 'a', v[3] or '0', 'e', err or '', 'p', progress or '')
end

-- outcomeEvent is the event of each kind of outcome finish records.
local outcomeEvent = {c = 'completed', r = 'failed', s = 'failed', d = 'dead'}


-- Pending jobs: one LIST per priority, FIFO within it (queue.MinPriority to MaxPriority).
-- The default priority, 0, is the list base..'pending'; priority p ~= 0 is the list
-- base..'pending:'..p, and the ZSET base..'prios' holds every such p (score p) whose list
-- has jobs. A fetch finds the lists to pop with one ZREVRANGE, and a queue of default-priority
-- jobs costs what one list did. A job's priority is its hash field pr (absent: 0).

local function pendingKey(base, p)
  if p == 0 then return base .. 'pending' end
  return base .. 'pending:' .. p
end

-- prio reads a priority field (absent: 0).
local function prio(v) return tonumber(v) or 0 end

-- pushPending adds ids, all of priority p, to the back of their list, or to its front when
-- front is set (each pushed in turn, so that the last one given ends first).
local function pushPending(base, p, ids, front)
  if #ids == 0 then return end
  redis.call(front and 'LPUSH' or 'RPUSH', pendingKey(base, p), unpack(ids))
  if p ~= 0 then redis.call('ZADD', base .. 'prios', p, p) end
end

-- group appends id to groups[p], the IDs to push to priority p.
local function group(groups, p, id)
  local ids = groups[p]
  if not ids then
    ids = {}
    groups[p] = ids
  end
  ids[#ids + 1] = id
end

-- unlistEmpty forgets priority p of the queue when its list has no job left.
local function unlistEmpty(base, p)
  if p ~= 0 and redis.call('LLEN', pendingKey(base, p)) == 0 then
    redis.call('ZREM', base .. 'prios', p)
  end
end

-- removePending takes job id of priority p out of pending.
local function removePending(base, p, id)
  redis.call('LREM', pendingKey(base, p), 1, id)
  unlistEmpty(base, p)
end

-- pendingLevels returns the priorities whose lists may hold jobs, highest first (0 always
-- among them).
local function pendingLevels(base)
  local out, zero = {}, false
  for _, m in ipairs(redis.call('ZREVRANGE', base .. 'prios', 0, -1)) do
    local p = tonumber(m)
    if not zero and p < 0 then
      out[#out + 1] = 0
      zero = true
    end
    out[#out + 1] = p
  end
  if not zero then out[#out + 1] = 0 end
  return out
end

-- hasPending reports whether the queue has a pending job.
local function hasPending(base)
  return redis.call('LLEN', base .. 'pending') > 0 or redis.call('EXISTS', base .. 'prios') == 1
end

-- takePending removes up to limit pending jobs, highest priority first, and returns their
-- IDs (for the bulk scripts).
local function takePending(base, limit)
  local ids = {}
  for _, p in ipairs(pendingLevels(base)) do
    if #ids >= limit then break end
    local k = pendingKey(base, p)
    local got = redis.call('LRANGE', k, 0, limit - #ids - 1)
    if #got > 0 then
      redis.call('LTRIM', k, #got, -1)
      for _, id in ipairs(got) do ids[#ids + 1] = id end
    end
    unlistEmpty(base, p)
  end
  return ids
end

-- Dependencies and batches (queue.DependsOn, queue.InBatch). A job with parents waits in
-- state 'waiting' (zset base..'waiting', ID → enqueued ms) with field wn, the number of its
-- parents not finished, and ra = 1 when it runs even if a parent fails. A parent has field
-- ch = 1 and the set base..'children:'..id of "<queue>/<id>" of its children, which may be
-- on other queues (never on Redis Cluster, where a job's parents are on its queue). A job of
-- a batch has field b, "<queue>/<batch ID>": the batch is the hash <prefix>:{<queue>}:batch:<id>,
-- in the slot of its queue (on Redis Cluster, the job's own); b without a slash is a batch ID
-- written by versions before it, whose hash is <prefix>:batch:<id>.

local function prefixOf(base) return string.match(base, '^(.*):{[^{}]*}:$') end
local function queueBase(prefix, q) return prefix .. ':{' .. q .. '}:' end

-- batchKey returns the key of the batch of field b of a job.
local function batchKey(prefix, b)
  local q, id = string.match(b, '^(.*)/([^/]*)$')
  if q then return queueBase(prefix, q) .. 'batch:' .. id end
  return prefix .. ':batch:' .. b
end

-- cancelOne makes a job that is not active canceled: kept for its result TTL (ttl ms, read
-- from its packed fields when false), lock released. cancelNow also settles what depends on it.
local function cancelOne(base, id, now, ttl, uk)
  local jk = base .. 'job:' .. id
  ttl = tonumber(ttl) or ttlOf(redis.call('HGET', jk, 'd'))
  redis.call('HSET', jk, 's', 'canceled', 'f', now)
  redis.call('ZADD', base .. 'canceled', now + ttl, id)
  release(base, uk, id)
  emit(base, id, 'canceled')
end

-- place makes a job that stopped waiting pending, or scheduled while its run-at is ahead.
local function place(base, id, now)
  local jk = base .. 'job:' .. id
  local v = redis.call('HMGET', jk, 'r', 'pr')
  local r = tonumber(v[1])
  if r and r > now then
    redis.call('HSET', jk, 's', 'scheduled')
    redis.call('ZADD', base .. 'scheduled', r, id)
  else
    redis.call('HSET', jk, 's', 'pending')
    pushPending(base, prio(v[2]), {id})
  end
  wake(base)
end

-- addCallback enqueues the callback stored in field f of batch bk as
-- "<queue>\n<id>\n<priority>\n<packed fields>".
local function addCallback(prefix, bk, f)
  local spec = redis.call('HGET', bk, f)
  if not spec then return end
  local q, id, p, packed = string.match(spec, '^([^\n]*)\n([^\n]*)\n([^\n]*)\n(.*)$')
  local base = queueBase(prefix, q)
  if redis.call('HSETNX', base .. 'job:' .. id, 'd', packed) == 0 then return end
  p = tonumber(p)
  if p ~= 0 then redis.call('HSET', base .. 'job:' .. id, 'pr', p) end
  pushPending(base, p, {id})
  wake(base)
  -- The batch's own queue is registered by OpenBatch (on Redis Cluster p:queues is in
  -- another slot, and a callback is on the batch's queue).
  if string.sub(bk, 1, #base) ~= base then redis.call('SADD', prefix .. ':queues', q) end
  emit(base, id, 'enqueued')
end

-- fireBatch enqueues the callbacks of batch bk once it is sealed and every job finished,
-- exactly once (fin records that it did), and lets the batch expire after its keep time.
local function fireBatch(prefix, bk, now)
  local v = redis.call('HMGET', bk, 'total', 'completed', 'dead', 'canceled', 'sealed', 'fin', 'keep')
  if not v[5] or v[6] then return end
  local c, d, x = tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
  if c + d + x < (tonumber(v[1]) or 0) then return end
  redis.call('HSET', bk, 'fin', now)
  redis.call('PEXPIRE', bk, tonumber(v[7]) or 604800000)
  addCallback(prefix, bk, 'oc')
  if d + x == 0 then addCallback(prefix, bk, 'os') end
end

-- batchCount adds n to the count of a batch's jobs that ended as how (a job deleted before
-- it finished counts as canceled), and fires the batch if that was its last job; b is the
-- job's field b.
local function batchCount(prefix, b, how, n, now)
  local bk = batchKey(prefix, b)
  if redis.call('EXISTS', bk) == 0 then return end -- expired
  if how ~= 'completed' and how ~= 'dead' then how = 'canceled' end
  redis.call('HINCRBY', bk, how, n)
  fireBatch(prefix, bk, now)
end

-- ended settles what depends on job id of queue base, which ended as how ('completed',
-- 'dead', 'canceled' or 'deleted'): when ch is set, its waiting children (released when
-- this was their last parent, or canceled with the reason, and their own children in turn),
-- and when bid is set, its batch. A work list, not recursion, follows long chains.
local function ended(base, id, how, now, ch, bid)
  local prefix = prefixOf(base)
  local work = {{base, id, how, ch, bid}}
  local i = 1
  while i <= #work do
    local w = work[i]
    i = i + 1
    if w[4] then
      local ck = w[1] .. 'children:' .. w[2]
      for _, m in ipairs(redis.call('SMEMBERS', ck)) do
        local cq, cid = string.match(m, '^(.-)/(.*)$')
        local cb = queueBase(prefix, cq)
        local cjk = cb .. 'job:' .. cid
        local v = redis.call('HMGET', cjk, 's', 'ra', 'u', 't', 'd', 'ch', 'b')
        if v[1] == 'waiting' then
          if w[3] == 'completed' or v[2] then
            if redis.call('HINCRBY', cjk, 'wn', -1) <= 0 then
              redis.call('HDEL', cjk, 'wn')
              redis.call('ZREM', cb .. 'waiting', cid)
              place(cb, cid, now)
            end
          else
            redis.call('ZREM', cb .. 'waiting', cid)
            redis.call('HDEL', cjk, 'wn')
            local n = redis.call('HINCRBY', cjk, 'n', 1)
            redis.call('HSET', cjk, 'e' .. n, cjson.encode({a = 0, e = 'parent job ' .. w[2] .. ' is ' .. w[3], t = now}))
            cancelOne(cb, cid, now, tonumber(v[4]) or ttlOf(v[5]), v[3])
            work[#work + 1] = {cb, cid, 'canceled', v[6], v[7]}
          end
        end
      end
      redis.call('DEL', ck)
    end
    if w[5] then batchCount(prefix, w[5], w[3], 1, now) end
  end
end

-- settle calls ended for job id of base if it has children or a batch.
local function settle(base, id, how, now)
  local v = redis.call('HMGET', base .. 'job:' .. id, 'ch', 'b')
  if v[1] or v[2] then ended(base, id, how, now, v[1], v[2]) end
end

-- cancelNow cancels a job that is not active, as cancelOne does, and settles its dependents
-- and batch.
local function cancelNow(base, id, now, ttl, uk)
  cancelOne(base, id, now, ttl, uk)
  settle(base, id, 'canceled', now)
end

-- revive puts a dead, canceled, retry or scheduled job (state s) back at the end of pending
-- (of its priority) as a new job: attempt 0, no finish time, result, cancel flag or worker
-- (errors are kept). A job of a batch that was dead or canceled is counted so no more.
local function revive(base, id, s, now)
  local jk = base .. 'job:' .. id
  local bid = redis.call('HGET', jk, 'b')
  if bid and (s == 'dead' or s == 'canceled') then batchCount(prefixOf(base), bid, s, -1, now) end
  redis.call('ZREM', base .. s, id)
  redis.call('HSET', jk, 's', 'pending', 'a', 0, 'rv', now)
  redis.call('HDEL', jk, 'f', 'c', 'r', 'w', 'st', 'res')
  pushPending(base, prio(redis.call('HGET', jk, 'pr')), {id})
  emit(base, id, 'retried')
end

-- HELD is the score, in the scheduled zset, of a job held back by its key's concurrency
-- limit: it waits there, without a run-at, until unrun releases it.
local HELD = 4503599627370496

-- unrun gives back the running slot of key (a job's kc field) that a job leaving the active
-- state held, and makes the first job held back for that key pending again.
local function unrun(base, jk, key)
  if not key then return end
  redis.call('HDEL', jk, 'kc')
  local running = base .. 'running'
  if redis.call('HINCRBY', running, key, -1) <= 0 then redis.call('HDEL', running, key) end
  local held = base .. 'held:' .. key
  while true do
    local id = redis.call('LPOP', held)
    if not id then return end
    if tonumber(redis.call('ZSCORE', base .. 'scheduled', id)) == HELD then
      local jk = base .. 'job:' .. id
      redis.call('ZREM', base .. 'scheduled', id)
      redis.call('HSET', jk, 's', 'pending')
      pushPending(base, prio(redis.call('HGET', jk, 'pr')), {id}, true)
      wake(base)
      return
    end
  end
end

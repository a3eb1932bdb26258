-- openbatch: store a new open batch.
-- KEYS[1]  the batch's key (<prefix>:{<queue>}:batch:<id>)
-- ARGV     created at (Unix ms), keep (ms, how long it is kept once finished), the callback
--          on completion and on success ("" for none; "<queue>\n<id>\n<priority>\n<packed>"),
--          created at in Unix ns (kept as field cn: it tells this call's batch), the key
--          prefix, the batch ID, and "1" to look for the ID on this queue only (Redis
--          Cluster: other queues are other slots) or "" to look on every queue too
-- Returns 0, or 1 when a batch with that ID exists — unless this very call made it (the same
-- cn): sent again after its reply was lost, the call opened it. On one server the look at
-- every queue is part of the script, so two opens of one ID on two queues never both succeed.
local bk = KEYS[1]
if redis.call('EXISTS', bk) == 1 then
  if redis.call('HGET', bk, 'cn') == ARGV[5] then return 0 end
  return 1
end
if ARGV[8] ~= '1' then
  local prefix, id = ARGV[6], ARGV[7]
  if redis.call('EXISTS', prefix .. ':batch:' .. id) == 1 then return 1 end -- a version before
  for _, name in ipairs(redis.call('SMEMBERS', prefix .. ':queues')) do
    if redis.call('EXISTS', queueBase(prefix, name) .. 'batch:' .. id) == 1 then return 1 end
  end
end
redis.call('HSET', bk, 'created', ARGV[1], 'keep', ARGV[2], 'total', 0, 'completed', 0, 'dead', 0, 'canceled', 0, 'cn', ARGV[5])
if ARGV[3] ~= '' then redis.call('HSET', bk, 'oc', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', bk, 'os', ARGV[4]) end
return 0

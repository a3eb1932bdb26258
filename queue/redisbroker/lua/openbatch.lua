-- openbatch: store a new open batch.
-- KEYS[1]  the batch's key (<prefix>:batch:<id>)
-- ARGV     created at (Unix ms), keep (ms, how long it is kept once finished), the callback
--          on completion and on success ("" for none; "<queue>\n<id>\n<priority>\n<packed>"),
--          created at in Unix ns (kept as field cn: it tells this call's batch)
-- Returns 0, or 1 when a batch with that ID exists — unless this very call made it (the same
-- cn): sent again after its reply was lost, the call opened it.
local bk = KEYS[1]
if redis.call('EXISTS', bk) == 1 then
  if redis.call('HGET', bk, 'cn') == ARGV[5] then return 0 end
  return 1
end
redis.call('HSET', bk, 'created', ARGV[1], 'keep', ARGV[2], 'total', 0, 'completed', 0, 'dead', 0, 'canceled', 0, 'cn', ARGV[5])
if ARGV[3] ~= '' then redis.call('HSET', bk, 'oc', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', bk, 'os', ARGV[4]) end
return 0

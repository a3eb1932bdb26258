-- worker: store a worker's record (part of its heartbeat), unless the worker was removed after
-- it started.
-- KEYS[1]  the worker's record
-- ARGV     the record (JSON), its TTL in ms, when the worker started (Unix ms)
-- Returns 1 when the record was stored, 0 when a tombstone refused it.
--
-- When a heartbeat may still be on its way (heartbeats.go), RemoveWorker leaves a tombstone in
-- place of the record, "gone:<Unix ms of the removal>": a heartbeat sent before the removal
-- that reaches Redis after it (one held up in a Redis hang while its worker stopped) must not
-- bring the worker back. A worker started at or after the removal (a fixed ID, restarted)
-- writes over the tombstone.
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 5) == 'gone:' and tonumber(ARGV[3]) < (tonumber(string.sub(v, 6)) or 0) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1

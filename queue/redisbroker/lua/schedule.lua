-- schedule: updates one schedule's state (queue.ScheduleStore) in one atomic step.
--
-- KEYS[1]  p:schedules (HASH schedule name → JSON {"enabled":bool, "last_run":"<ms>", "last_job_id":"<id>"})
-- ARGV[1]  schedule name
-- ARGV[2]  'enable' or 'run'
-- ARGV[3]  for enable: '1' or '0'; for run: the tick, in milliseconds since the epoch
-- ARGV[4]  for run: the tick's job ID
--
-- A run older than (or as old as) the recorded one changes nothing: the state keeps the
-- latest tick. Returns 1 when the state changed, 0 otherwise.

local raw = redis.call('HGET', KEYS[1], ARGV[1])
local st = {}
if raw then st = cjson.decode(raw) end
if ARGV[2] == 'enable' then
  st.enabled = (ARGV[3] == '1')
else
  local tick = tonumber(ARGV[3])
  if st.last_run and tonumber(st.last_run) >= tick then return 0 end
  st.last_run = ARGV[3]
  st.last_job_id = ARGV[4]
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(st))
return 1

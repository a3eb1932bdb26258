-- schedule: updates one schedule's state (queue.ScheduleStore) in one atomic step.
--
-- KEYS[1]  p:schedules (HASH schedule name → JSON {"enabled":bool, "last_run":"<ms>", "last_job_id":"<id>",
--          "manual_run":"<ms>", "manual_job_id":"<id>"})
-- ARGV[1]  schedule name
-- ARGV[2]  'enable', 'run' (a tick) or 'manual' (a manual run)
-- ARGV[3]  for enable: '1' or '0'; for run and manual: the tick or the manual run's time, in
--          milliseconds since the epoch
-- ARGV[4]  for run and manual: the job's ID
--
-- A run older than (or as old as) the recorded one of its kind changes nothing: the state
-- keeps the latest tick and the latest manual run. Returns 1 when the state changed, 0
-- otherwise.

local raw = redis.call('HGET', KEYS[1], ARGV[1])
local st = {}
if raw then st = cjson.decode(raw) end
if ARGV[2] == 'enable' then
  st.enabled = (ARGV[3] == '1')
elseif ARGV[2] == 'manual' then
  if st.manual_run and tonumber(st.manual_run) >= tonumber(ARGV[3]) then return 0 end
  st.manual_run = ARGV[3]
  st.manual_job_id = ARGV[4]
else
  local tick = tonumber(ARGV[3])
  if st.last_run and tonumber(st.last_run) >= tick then return 0 end
  st.last_run = ARGV[3]
  st.last_job_id = ARGV[4]
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(st))
return 1

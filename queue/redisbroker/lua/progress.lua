-- progress: record the progress of an active attempt (field pg) and emit its event.
-- KEYS[1]  the queue's key base
-- ARGV     job id, worker id, attempt, progress JSON
-- An update for a job no longer active under that worker and attempt is ignored.
-- Returns 1 when recorded, 0 when ignored.
local base = KEYS[1]
local id, worker, attempt, pg = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local jk = base .. 'job:' .. id
local v = redis.call('HMGET', jk, 's', 'w', 'a')
if v[1] ~= 'active' or v[2] ~= worker or v[3] ~= attempt then return 0 end
redis.call('HSET', jk, 'pg', pg)
emit(base, id, 'progress', nil, pg)
return 1

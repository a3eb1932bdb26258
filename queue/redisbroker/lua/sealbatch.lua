-- sealbatch: close a batch to new jobs, and enqueue its callbacks at once if every job of it
-- has finished.
-- KEYS[1]  the batch's key (<prefix>:batch:<id>)
-- ARGV[1]  the key prefix
-- Returns 0, or 1 when there is no such batch.
local bk = KEYS[1]
if redis.call('EXISTS', bk) == 0 then return 1 end
redis.call('HSET', bk, 'sealed', '1')
fireBatch(ARGV[1], bk, nowms())
return 0

-- pause: stop workers from fetching the queue's jobs.
-- KEYS[1]  the queue's key base
redis.call('SET', KEYS[1] .. 'paused', '1')
redis.call('DEL', KEYS[1] .. 'wake')
return 1

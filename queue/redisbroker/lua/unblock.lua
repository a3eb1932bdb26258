-- unblock: end the wait of the BLPOP that also waits on KEYS[1] (wait.go: a Fetch whose
-- caller gave up). The element pushed expires with the list if that BLPOP returned already.
-- Returns the list's length.
local n = redis.call('RPUSH', KEYS[1], '1')
redis.call('PEXPIRE', KEYS[1], 10000)
return n

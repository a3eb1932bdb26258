-- unblock: end the wait of the BLPOP that also waits on KEYS[1] (wait.go: a Fetch whose
-- caller gave up). Two elements: the BLPOP takes one, and the fetch script that follows it
-- finds the other, leases nothing and deletes the list. The elements expire with the list if
-- that BLPOP returned already. Returns the list's length.
local n = redis.call('RPUSH', KEYS[1], '1', '1')
redis.call('PEXPIRE', KEYS[1], 10000)
return n

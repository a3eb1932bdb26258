-- retry: move a dead, canceled, retry or scheduled job back to pending, attempt reset.
-- KEYS[1]  the queue's key base
-- ARGV[1]  job id; ARGV[2] the call's token ("" or absent: none)
-- Returns {code, state}: code 0 done, 1 no such job, 2 state does not allow it.
-- The job keeps the token (field ct), so that the call sent again after a lost reply finds its
-- own work done and answers as the first run did.
local base = KEYS[1]
local id, token = ARGV[1], ARGV[2] or ''
local jk = base .. 'job:' .. id
local v = redis.call('HMGET', jk, 's', 'ct')
local s = stateOf(jk, v[1])
if not s then return {1, ''} end
if s == 'pending' and token ~= '' and v[2] == token then return {0, 'pending'} end
if s ~= 'dead' and s ~= 'canceled' and s ~= 'retry' and s ~= 'scheduled' then return {2, s} end
revive(base, id, s, nowms())
if token ~= '' then redis.call('HSET', jk, 'ct', token) end
wake(base)
return {0, 'pending'}

-- wake: put back a wake-up token taken by a wait that was abandoned (its caller gave up).
-- KEYS[1]  the queue's key base
wake(KEYS[1])
return 1

// Package redisbroker is the Redis implementation of queue.Broker: the queue for many worker
// processes on many machines.
//
// # What it owns and promises
//
// The broker owns every key under its prefix (Options.Prefix, default "dominion") in its Redis
// database, and nothing else. Each state transition of a job (enqueue, fetch, complete, retry,
// dead-letter, lease recovery, cancel, retry, delete, requeue, pause, resume) is one call of a
// Lua script (lua/*.lua, embedded, run with EVALSHA and EVAL when the server does not know
// it), so a transition is atomic and counts never drift. Batches are cheap: an Enqueue of many
// jobs is one script call per chunk of 500 jobs, all pipelined; Finish is one call per queue.
// Small Enqueue calls made at the same time (an API server's requests) share one pipeline
// (gather.go): each gets its own answer, and a caller alone is sent at once.
// Each script carries only the definitions of lua/lib.lua it uses (scripts.go's withLib):
// Redis builds every definition of a script on each call, and all of lib.lua cost a single
// job's enqueue a third of its script time.
//
// Scripts use the Redis server's clock (TIME) for leases, promotion and expiry, so that the
// clocks of worker machines do not matter. Run-at times given by clients (delayed jobs, retry
// backoff) are absolute times of the client's clock, to the millisecond.
//
// Idle workers do not poll: an enqueue pushes a token on the queue's wake list, and Fetch
// blocks on the wake lists of its queues (BLPOP) until a token comes, or until the soonest
// scheduled job, retry or lease deadline of those queues, which the fetch script returns.
// A fetch that leaves jobs pending leaves a token, so that blocked workers wake in chain; a
// fetch that leases nothing deletes its queues' tokens, as it is about to wait itself.
// Redis times blocking commands out at its hz (100 ms by default), so a wait for a due job
// ends on a Go timer instead: delayed jobs start within a few milliseconds of their time.
// On one server each wait is a BLPOP of up to five seconds with the fetch script after it in
// one pipeline: Redis runs the script as soon as the BLPOP returns, so a job enqueued for an
// idle worker is leased without the worker's own round trip in between (wait.go). A Fetch
// whose context is canceled ends its BLPOP by pushing two elements to a list of its own that
// the BLPOP also waits on: the BLPOP takes one, and the script after it, finding the other,
// leases nothing (it gives back, as Requeue does, the jobs the script leased when a wake-up
// token came first). It returns within a second of its cancel, even while Redis hangs
// (connected but silent; TestCanceledWaitOnFrozenRedis): whatever the script leases once
// Redis answers is given back then. A wait timed on a due job, and a cluster's waits (one
// BLPOP per queue's slot), block at most a second per BLPOP and fetch after; canceled, they
// return at once, and their BLPOPs, left in the background, put back any token they take.
// Close waits for that background work before it closes the connections, so that a worker
// that stops while Redis is slow does not leave a job leased to no one
// (TestCloseGivesBackWhatACanceledWaitLeased).
//
// Events: each script that moves a job also appends its event to the queue's stream, in the
// same call, so that events follow the job's transitions in order and never report one that
// did not happen; when nobody subscribes (no p:{q}:subscribers set) this costs one EXISTS per
// queue and script call, and a subscription that ends takes itself out of the set, so that
// the events stop at once when it was the last. A subscriber reads the streams with XREAD (blocking up to a second), and
// a subscription to every queue looks for new queues once a second: the events of a queue's
// first jobs may be missed. Delivery is at most once (see queue.EventStore).
//
// Limits (queue.QueueLimits, SetLimits) live in the queue's limits hash, which the fetch
// script reads with one HGETALL per queue (an unlimited queue costs that one command and no
// round trip). A queue over its concurrency or rate starts nothing and its workers wait, on a
// Go timer, until the rate's next slot (the GCRA state is a string key per queue and per key,
// expiring with it), or until a finishing job frees a slot (finish wakes them). A job over its
// key's rate is scheduled at the slot reserved for it (state scheduled, run-at the slot); a
// job over its key's concurrency waits in the scheduled zset at score HELD, without a run-at,
// listed in held:<key>, until a job of its key leaves the active state (completes, fails,
// is requeued or loses its lease) and makes it pending again. So the jobs of a key over its
// limit never hold back those of other keys.
//
// Open takes the URL of one server (redis://, rediss://, unix://) or of the sentinels that
// name the master (redis-sentinel://host1:26379,host2:26379/master-name: the client follows
// the master they name through a failover) or of some nodes of a Redis Cluster
// (redis-cluster://host1:7000,host2:7001; url.go says the forms). New takes a go-redis client
// the caller made: plain, failover or cluster.
//
// A call whose reply is lost (the connection dropped after Redis ran it, or the reply came
// after the read timeout) is sent again by go-redis, which cannot tell it from a call that
// never ran; the scripts leave the same state when run twice with the same arguments
// (resend.go). An enqueue or batch opening sent again reports its jobs or batch stored, not
// duplicates of themselves; a fetch sent again returns the jobs the first run leased, from a
// record kept under the call's token for the lease, rather than leasing more jobs that would
// lose an attempt to an expired lease. A fetch whose every send failed so leaves its token to
// the worker's next fetch from the same queues, and Close gives back (as Requeue does) the
// jobs of those no next fetch took up (TestCloseGivesBackWhatALostFetchLeased).
//
// Redis replicates asynchronously, so a failover can lose the writes its master acknowledged
// last. With Options.WaitReplicas, Enqueue and Finish end their round trip with a counter
// bump and WAIT, and fail with ErrNotReplicated when fewer replicas confirm (replicas.go).
//
// Secrets: errors and logs show the server's URL with its passwords replaced by xxxxx
// (RedactURL).
//
// # Key layout
//
// With prefix p and queue q, every key of a queue shares the hash tag {q}, so that a queue
// lives in one Redis Cluster slot:
//
//	p:{q}:pending        LIST   IDs of the pending jobs of the default priority (0); RPUSH on
//	                            enqueue, promotion and retry, LPOP on fetch, LPUSH on requeue
//	                            and lease recovery (back to the front of their priority)
//	p:{q}:pending:<n>    LIST   the same for priority n ≠ 0 (queue.MinPriority…MaxPriority)
//	p:{q}:prios          ZSET   n → n for each priority n ≠ 0 whose list has jobs: a fetch pops
//	                            the highest first (one ZREVRANGE), FIFO within a priority;
//	                            shared code in lua/lib.lua (pushPending, removePending, …)
//	p:{q}:scheduled      ZSET   job ID → run-at (ms)
//	p:{q}:retry          ZSET   job ID → retry run-at (ms)
//	p:{q}:active         ZSET   job ID → lease deadline (ms)
//	p:{q}:completed      ZSET   job ID → expiry (finished + result TTL, ms)
//	p:{q}:canceled       ZSET   job ID → expiry (finished + result TTL, ms)
//	p:{q}:dead           ZSET   job ID → finished (ms); beyond Options.MaxDead the oldest go
//	p:{q}:job:<id>       HASH   the job: packed immutable fields (d, JSON made in Go) and short
//	                            mutable ones (s state, absent while new and pending; a attempt;
//	                            r run-at; st/f started/finished; w worker; t result TTL; res
//	                            result; c cancel flag; rv retried at; pr priority; dl
//	                            deadline; n and e1…en error history; ct the token of the
//	                            retry or cancel that moved it; codec.go).
//	                            Enqueueing a job is one HSETNX, leasing it one HMGET and one
//	                            HSET, finishing it one HMGET and one HSET (plus commands
//	                            shared by the whole batch)
//	p:{q}:unique:<key>   STRING the ID of the job holding the unique key, with PX = UniqueFor;
//	                            deleted when that job completes, dies, is canceled or deleted
//	p:{q}:paused         STRING present while the queue is paused
//	p:{q}:stats          HASH   processed, failed
//	p:{q}:wake           LIST   at most one wake-up token for blocked workers
//	p:{q}:subscribers    ZSET   the subscriptions to the queue's events, scored by when they
//	                            expire (Unix ms; the set too expires queue.SubscriberTTL after
//	                            its last renewal); p:{q}:subs, a STRING, is the same for the
//	                            subscribers of versions before it, which workers still honour
//	p:{q}:events         STREAM the queue's job events while p:{q}:subscribers exists (XADD with
//	                            MAXLEN ~ 10000; emit in lib.lua, events.go)
//	p:{q}:limits         HASH   json: the queue.QueueLimits; q, t:<type>, k:<prefix>: the
//	                            rules fetch.lua reads ("rate per-ms burst concurrency")
//	p:{q}:rl             STRING the queue's rate limiter state "tat starts late" (ms; queue.RateState), PX until it no longer matters
//	p:{q}:rl:<key>       STRING the same for one rate key (or "@" and a type: queue.CountKey)
//	p:{q}:running        HASH   count key → its jobs running now (keys with a concurrency limit)
//	p:{q}:held:<key>     LIST   IDs of the jobs waiting for a running slot of the count key
//	p:{q}:waiting        ZSET   job ID → enqueued (ms): jobs waiting for their parents
//	p:{q}:children:<id>  SET    "<queue>/<id>" of the waiting children of job id (any queue;
//	                            on a cluster, q), while it has some; deleted when it ends
//	                            (lib.lua's ended)
//	p:{q}:fetched:<tok>  LIST   key base, job ID, … of the jobs one fetch call leased, PX
//	                            the lease (resend.go, fetch.lua)
//	p:{q}:deleted:<tok>  STRING the state of the job one Delete call removed, PX one minute
//	                            (resend.go, delete.lua)
//	p:{q}:canceled:<tok> STRING the ID of the job one Cancel call canceled (or flagged, while
//	                            active), when its result TTL is under a minute, PX one
//	                            minute (resend.go, cancel.lua)
//	p:{q}:batch:<id>     HASH   a batch of queue q (queue.InBatch, BatchSpec.Queue): created,
//	                            keep, total, completed, dead, canceled, cn (created, ns: tells
//	                            the call that opened it), sealed, fin (finished,
//	                            ms), oc and os (the callbacks as "<queue>\n<id>\n<priority>\n
//	                            <packed>"); expires keep ms after it finished. Its jobs' field
//	                            b is "<q>/<id>"; a batch opened by a version before batches
//	                            belonged to a queue is p:batch:<id>, its jobs' b the bare ID,
//	                            and is still read, joined, sealed and counted
//	p:queues             SET    names of the queues that have had a job
//	p:workers            ZSET   worker ID → last heartbeat (ms)
//	p:worker:<id>        STRING the worker's record (JSON), expiring 3 leases after its
//	                            last heartbeat; removed while a heartbeat may still be on its
//	                            way, "gone:<ms>" for 10 minutes, so that it does not revive it
//	p:schedules          HASH   schedule name → state JSON (queue.ScheduleStore, schedules.go)
//	p:unblock:<tok>      LIST   pushed to by a canceled Fetch to end the BLPOP of its call (and
//	                            tell the fetch script after it to lease nothing)
//	                            tok (wait.go); the BLPOP pops it, else it expires in 10 s
//	p:replicated         STRING a counter bumped by every Enqueue and Finish when
//	                            Options.WaitReplicas is set (replicas.go)
//	p:history            ZSET   slot start (ms) → "<slot ms>:<totals>": one sample of the
//	                            queues' totals per slot, the last hour (queue.HistoryStore,
//	                            history.go); bounded by the script that adds to it
//
// Expired completed and canceled jobs are deleted by the fetch script (at most 100 per queue
// and call), which also promotes due scheduled and retry jobs and recovers the jobs whose
// lease ran out (back to pending, or dead after their last attempt, with an error recorded).
// A pending job whose deadline (queue.Deadline) has passed is not leased: the fetch that
// meets it makes it dead with the error "deadline exceeded" (at most 1000 per call).
//
// A job ID is unique within its queue; Get, Cancel, Retry and Delete, which take only an ID,
// look it up in the known queues (p:queues) in one pipelined round trip.
//
// # Dependencies and batches
//
// On one server a child may wait for parents on other queues, and a batch may span queues, so
// the step that records a job's outcome also touches the keys of its children's queues (their
// hash, their waiting zset, their pending list) and its batch's hash, which may lie outside
// the job's hash tag: the scripts build those keys from the prefix (lua/lib.lua's ended,
// fireBatch). This keeps the release of a child and the enqueue of a batch callback in the
// very script that records the last outcome, which is what makes them exactly once across
// crashes. Batch and SealBatch, which take only an ID, look the batch up in the known queues
// (and at its key of before) in one pipelined round trip, as Get does for a job. A job without children
// or batch pays for it with two more fields in the HMGET finish already makes. Enqueue looks
// a parent up by ID in the child's queue, then in every known queue; jobs with parents or a
// batch go through their own script (lua/enqueuegraph.lua), after the others in one more round
// trip, so that the plain enqueue script is unchanged.
//
// # Redis Cluster
//
// Each queue's keys share its slot and every script names its queue's key base, so a queue's
// transitions stay one atomic script on one master, and different queues spread over the
// masters. What spans queues is not one command on a cluster:
//
//   - a Fetch over several queues runs the fetch script once per queue, in the order the
//     worker chose, until it has its jobs (ARGV says how many the earlier queues gave, so
//     that only a fetch that leased nothing spends the wake-up tokens; one that spent some and
//     then leased from a later queue gives them back); a queue whose master is unreachable
//     is skipped meanwhile;
//   - its wait blocks in one BLPOP per queue (each list in its own slot), the first token
//     ending it (the others, abandoned, put back a token they take);
//   - an event stream reads each queue's stream with a reader of its own (events_cluster.go);
//   - the worker records, the queue set and the history are keys of their own, read with
//     single-key commands or pipelines (go-redis sends each command to its slot's master);
//   - WaitReplicas is refused (ErrClusterWait): a write's WAIT must reach the master that made
//     it, and one call may write to several;
//   - dependencies and batches work within one queue, whose slot holds the parent, its
//     children and the batch: enqueuegraph.lua looks for parents and batches on the job's
//     queue only, and OpenBatch refuses a callback on another queue than the batch's. A job
//     refused as "parent (batch) not found" is looked up on the other queues afterwards
//     (graph.go's acrossSlots): found there, its error wraps queue.ErrUnsupported and names
//     both queues.
//
// After a failed call the client reloads the slot map at once (and every clusterReload), so
// a promoted replica is used as soon as the cluster has promoted it.
package redisbroker

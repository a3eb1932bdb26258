// BullMQ's side of Dominion's bench module: bench/bullmq.go runs one step per process,
//
//	node bench.mjs <step> <host:port> <n> [<concurrency>]
//
// on a redis-server the Go side has flushed, and reads one JSON line from stdout. Steps, as
// the Go systems measure them: enqueue_seq (Queue.add, one at a time), enqueue_batch
// (Queue.addBulk, lists of 1,000, one after the other), enqueue_concurrent (Queue.add, the
// concurrency argument's calls on their way at once), process (n jobs added beforehand, one
// Worker with the given concurrency; the rate up to the n-th handler call), latency (n jobs
// added 2 ms apart, a worker of concurrency 10, the concurrency argument's jobs waiting in
// another queue; the 50th and 99th percentiles of add-to-handler time). Everything runs with
// BullMQ's defaults but the connection (ioredis requires maxRetriesPerRequest: null for a
// worker).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';

const [step, addr, nArg, cArg] = process.argv.slice(2);
const [host, port] = addr.split(':');
const connection = { host, port: Number(port), maxRetriesPerRequest: null };
const n = Number(nArg);
const now = () => performance.timeOrigin + performance.now(); // ms, sub-millisecond

async function fill(queue, count) {
  for (let done = 0; done < count; done += 1000) {
    const jobs = [];
    for (let i = 0; i < Math.min(1000, count - done); i++) jobs.push({ name: 'noop', data: {} });
    await queue.addBulk(jobs);
  }
}

async function enqueueSeq() {
  const q = new Queue('bench', { connection });
  await q.waitUntilReady();
  const start = now();
  for (let i = 0; i < n; i++) await q.add('noop', {});
  const perSec = n / ((now() - start) / 1000);
  await q.close();
  return { value: perSec };
}

async function enqueueBatch() {
  const q = new Queue('bench', { connection });
  await q.waitUntilReady();
  const start = now();
  await fill(q, n);
  const perSec = n / ((now() - start) / 1000);
  await q.close();
  return { value: perSec };
}

// enqueueConcurrent adds n jobs with Queue.add, c calls on their way at once.
async function enqueueConcurrent(c) {
  const q = new Queue('bench', { connection });
  await q.waitUntilReady();
  let next = 0;
  const start = now();
  await Promise.all(Array.from({ length: c }, async () => {
    while (next++ < n) await q.add('noop', {});
  }));
  const perSec = n / ((now() - start) / 1000);
  await q.close();
  return { value: perSec };
}

// untilCount returns a handler that resolves done at its count-th call.
function untilCount(count, onCall) {
  let calls = 0, resolve;
  const done = new Promise((r) => { resolve = r; });
  const handler = async (job) => {
    onCall?.(job);
    if (++calls === count) resolve();
  };
  return { handler, done };
}

async function processJobs(concurrency) {
  const q = new Queue('bench', { connection });
  await fill(q, n);
  const { handler, done } = untilCount(n);
  const start = now();
  const w = new Worker('bench', handler, { connection, concurrency });
  await done;
  const perSec = n / ((now() - start) / 1000);
  await w.close();
  await q.close();
  return { value: perSec };
}

async function latency(backlog) {
  const other = new Queue('backlog', { connection });
  await fill(other, backlog);
  const q = new Queue('bench', { connection });
  const lat = [];
  const { handler, done } = untilCount(n, (job) => lat.push(now() - job.data.sent));
  const w = new Worker('bench', handler, { connection, concurrency: 10 });
  await w.waitUntilReady();
  const start = now();
  for (let i = 0; i < n; i++) {
    const wait = start + 2 * (i + 1) - now();
    if (wait > 0) await sleep(wait);
    await q.add('ping', { sent: now() });
  }
  await done;
  await w.close();
  await Promise.all([q.close(), other.close()]);
  lat.sort((a, b) => a - b);
  return { p50_ms: lat[Math.floor(lat.length / 2)], p99_ms: lat[Math.floor(lat.length * 99 / 100)] };
}

const steps = {
  enqueue_seq: enqueueSeq,
  enqueue_batch: enqueueBatch,
  enqueue_concurrent: () => enqueueConcurrent(Number(cArg)),
  process: () => processJobs(Number(cArg)),
  latency: () => latency(Number(cArg)),
};
if (!steps[step] || !(Number(port) > 0) || !(n > 0)) {
  console.error('usage: node bench.mjs enqueue_seq|enqueue_batch|enqueue_concurrent|process|latency <host:port> <n> [<concurrency or backlog>]');
  process.exit(2);
}
console.log(JSON.stringify(await steps[step]()));

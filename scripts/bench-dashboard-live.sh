#!/usr/bin/env bash
# Measures what the dashboard's live view costs while jobs run at full speed, for two
# dominion binaries side by side (docs/BENCHMARKS.md, Dashboard):
#
#   scripts/bench-dashboard-live.sh OLD_BINARY NEW_BINARY [ROUNDS] [JOBS]
#   BROKER=sqlite scripts/bench-dashboard-live.sh ...   # the embedded broker instead
#
# On one private redis-server (no persistence), or with BROKER=sqlite on one embedded queue
# file shared by the dashboard and the bench (a fresh one per run), per round and per binary
# in turn (the dashboard under test), it starts `BINARY dashboard`, opens TABS (10) live streams of the
# overview (what 10 open overview tabs receive: curl reading /dashboard/events?charts), then
#   idle:  waits 20 s with no job running;
#   busy:  runs NEW_BINARY bench --phases process --jobs JOBS --concurrency 50 (fills a queue,
#          then one worker runs the no-op jobs as fast as it can) and times it;
# and prints, per phase, the dashboard process's CPU (percent of one core, from
# /proc/PID/stat), the bytes per second the tabs received together, and for busy the jobs/s
# the bench reported. The bench binary is NEW_BINARY for both dashboards, so that only the
# dashboard differs. Output: one line per binary, round and phase (tab-separated).
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") rounds=${3:-5} jobs=${4:-50000}
tabs=${TABS:-10}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
bytes() { cat "$work"/tab.* 2>/dev/null | wc -c; }
now() { date +%s.%N; }

export DOMINION_LOG_LEVEL=warn
if [ "${BROKER:-redis}" = redis ]; then
  rport=$(free_port)
  redis-server --port "$rport" --save '' --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
  pids+=($!)
  export REDIS_URL=redis://127.0.0.1:$rport/0
  for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
else
  unset REDIS_URL
fi

hz=$(getconf CLK_TCK)
printf 'binary\tround\tphase\tseconds\tcpu_pct\ttab_bytes_per_s\tjobs_per_s\n'
for round in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    port=$(free_port)
    export DOMINION_DATA_DIR=$work/data.$which.$round
    mkdir -p "$DOMINION_DATA_DIR"
    "$bin" dashboard --addr "127.0.0.1:$port" --no-workflows >"$work/dash.log" 2>&1 &
    dash=$!
    pids+=($dash)
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/dashboard/" && break; sleep 0.1; done
    rm -f "$work"/tab.*
    tabpids=()
    for t in $(seq "$tabs"); do
      curl -sN -H 'Accept: text/event-stream' "http://127.0.0.1:$port/dashboard/events?charts" >"$work/tab.$t" &
      tabpids+=($!)
    done
    sleep 3 # the streams are open and have their first frames
    for phase in idle busy; do
      b0=$(bytes) c0=$(ticks "$dash") t0=$(now)
      rate=""
      if [ "$phase" = idle ]; then
        sleep 20
      else
        rate=$("$new" bench --phases process --jobs "$jobs" --concurrency 50 --json 2>/dev/null |
          python3 -c 'import json,sys; print(round(next(r["value"] for r in map(json.loads, sys.stdin) if r["metric"].startswith("process"))))')
      fi
      b1=$(bytes) c1=$(ticks "$dash") t1=$(now)
      python3 - "$which" "$round" "$phase" "$t0" "$t1" "$c0" "$c1" "$hz" "$b0" "$b1" "$rate" <<'PY'
import sys
w, r, ph, t0, t1, c0, c1, hz, b0, b1, rate = sys.argv[1:]
dt = float(t1) - float(t0)
print(f"{w}\t{r}\t{ph}\t{dt:.1f}\t{(int(c1)-int(c0))/int(hz)/dt*100:.1f}\t{(int(b1)-int(b0))/dt:.0f}\t{rate}")
PY
    done
    kill "${tabpids[@]}" "$dash" 2>/dev/null || true
    wait "$dash" 2>/dev/null || true
  done
done

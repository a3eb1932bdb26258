#!/usr/bin/env bash
# Measures POST /api/chat of `dominion serve` (embedded: SQLite) as users run it, for two or
# more dominion binaries side by side, with wrk as an outside client (docs/BENCHMARKS.md,
# "Issue 14, session 11"):
#
#   scripts/bench-chat-wrk.sh ROUNDS DURATION BINARY...     e.g. 10 5s ./old ./new
#
# Per round and per binary in turn (the order reversed every other round), it starts
# `BINARY serve --no-worker --no-scheduler` on a fresh data directory (info-level log lines
# to a file), waits for /healthz, warms up with 1 s of wrk, then runs
# `wrk -t1 -c64 -dDURATION` with the seed's request body and reads the server's CPU
# (utime + stime, /proc/PID/stat) around it. Output: one line per run, tab-separated:
# round, binary, accepted/s (2xx answers; any other answer or socket error is printed as a
# failure), p99 ms, server CPU seconds. Needs wrk (Debian's package wrk) and Linux's /proc.
#
# BENCH_PATH and BENCH_BODY post another request instead (e.g. BENCH_PATH=/api/jobs
# BENCH_BODY='{"type":"noop","queue":"bench"}'); REDIS_URL, when set, reaches the server, whose
# queue is then on that Redis (docs/BENCHMARKS.md, "Issue 14, session 15").
#
# SERVER_CPUS and CLIENT_CPUS (taskset lists, e.g. 1 and 0) pin the server and wrk to CPUs of
# their own, so that the client never takes CPU the server would use: on a machine of two
# cores, wrk otherwise takes what a faster server gives back, and the accepted rate rises
# less than the server's CPU per request falls.
set -euo pipefail
rounds=$1 duration=$2
shift 2
bins=()
for b in "$@"; do bins+=("$(realpath "$b")"); done
command -v wrk >/dev/null || { echo "bench-chat-wrk: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
path=${BENCH_PATH:-/api/chat}
body=${BENCH_BODY:-'{"agent_id": "agent_jermaine_super_action", "mode": "execute", "context": {"workflow_type": "customer_followup", "calculator_inputs": {"tasks_per_week": 20, "time_per_task_minutes": 5, "hourly_wage": 25, "automation_percent": 80}}}'}
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[%s]]\n' "$body" >"$work/post.lua"
cat >>"$work/post.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.2f\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, summary.duration / 1e6, latency:percentile(99) / 1000))
end
EOF

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port

hz=$(getconf CLK_TCK)
cpu() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

server=() client=()
if [[ -n ${SERVER_CPUS:-} ]]; then server=(taskset -c "$SERVER_CPUS"); fi
if [[ -n ${CLIENT_CPUS:-} ]]; then client=(taskset -c "$CLIENT_CPUS"); fi

run() { # run ROUND BINARY
	local dir pid c0 c1 out
	dir=$(mktemp -d -p "$work")
	DOMINION_DATA_DIR=$dir "${server[@]}" "$2" serve --no-worker --no-scheduler --addr "127.0.0.1:$port" 2>"$dir/log" &
	pid=$!
	for _ in $(seq 100); do curl -fs -o /dev/null "$url/healthz" && break; sleep 0.1; done
	"${client[@]}" wrk -t1 -c64 -d1s -s "$work/post.lua" "$url$path" >/dev/null
	c0=$(cpu "$pid")
	out=$("${client[@]}" wrk -t1 -c64 -d"$duration" -s "$work/post.lua" "$url$path" | grep '^RESULT')
	c1=$(cpu "$pid")
	kill -TERM "$pid"
	wait "$pid" || true
	read -r _ requests failed seconds p99 <<<"$out"
	if ((failed > 0)); then echo "bench-chat-wrk: $2: $failed requests failed" >&2; fi
	awk -v r="$1" -v b="$(basename "$2")" -v n="$requests" -v f="$failed" -v s="$seconds" -v p="$p99" -v c0="$c0" -v c1="$c1" \
		'BEGIN { printf "%s\t%s\t%.0f\t%.1f\t%.2f\n", r, b, (n - f) / s, p, c1 - c0 }'
}

for r in $(seq "$rounds"); do
	order=("${bins[@]}")
	if ((r % 2 == 0)); then
		order=()
		for ((i = ${#bins[@]} - 1; i >= 0; i--)); do order+=("${bins[i]}"); done
	fi
	for b in "${order[@]}"; do run "$r" "$b"; done
done

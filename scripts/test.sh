#!/usr/bin/env bash
# The whole test suite, as a new user runs it: `make test` (CI's .ci/run calls the same).
#
# It needs redis-server and redis-sentinel, PostgreSQL's server binaries and Chromium on this machine, and on Linux
# a Docker engine and Docker Compose (the container image's tests); the tests start their own
# private servers on free ports and stop them afterwards, and dockerd is started here when it
# is not running. When one is missing and we are root on Debian/Ubuntu, it is installed with
# apt-get; otherwise the script says exactly what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel) # the Sentinel failover tests
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
# The Python client's and the Flask example's tests: a python3 with pytest and Flask.
python=""
for py in python3 /usr/bin/python3; do
	if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import pytest, flask' >/dev/null 2>&1; then
		python=$py; break
	fi
done
[ -n "$python" ] || missing+=(python3-pytest python3-flask)
if [ "$(uname -s)" = Linux ]; then # the container image's tests (deploy/) run on Linux
	command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
	command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
	command -v promtool >/dev/null 2>&1 || missing+=(prometheus) # deploy/prometheus checks
fi
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		step "installing ${missing[*]} with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		started=$SECONDS
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		echo "installed in $((SECONDS - started)) s"
	else
		echo "missing: ${missing[*]}" >&2
		echo "install them, e.g.: sudo apt-get install ${missing[*]}   (macOS: brew install redis postgresql chromium; pip install pytest flask)" >&2
		exit 1
	fi
fi

# The Docker engine, for the image's tests: started here (as root) when it is not running.
if [ "$(uname -s)" = Linux ] && ! docker info >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null 2>&1; then
		step "starting dockerd (log: /var/log/dockerd.log)"
		setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
		for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
		docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/dockerd.log" >&2; exit 1; }
	else
		echo "no Docker engine answers: start it (sudo systemctl start docker), or add yourself to the docker group" >&2
		exit 1
	fi
fi

if ! command -v go >/dev/null 2>&1; then
	echo "go not found: install Go $(sed -n 's/^go //p' go.mod) or newer from https://go.dev/dl/" >&2
	exit 1
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

step "go vet"
go vet ./...

step "the nosqlite build (the container image's binary: no embedded SQLite mode): go vet and go build"
go vet -tags nosqlite ./...
CGO_ENABLED=0 go build -tags nosqlite -o /dev/null ./cmd/dominion

step "cross-compile for windows and darwin (the binary, and go vet of every package and test)"
for os in windows darwin; do
	GOOS=$os GOARCH=amd64 go build -o /dev/null ./cmd/dominion
	GOOS=$os GOARCH=amd64 go vet ./...
	echo "  $os/amd64 ok"
done

step "go test -race"
set +e
go test -race -gcflags='modernc.org/...=-d=checkptr=0' -count=1 -timeout 12m ./... 2>&1 | tee .test-output.txt
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
	rm -f .test-output.txt
	echo "FAILED: see the failures above" >&2
	exit "$status"
fi

step "Python client, Flask example and docs/migrating-from-rq.md (pytest, against a real dominion serve)"
[ -n "$python" ] || python=/usr/bin/python3 # installed above
mkdir -p .tmp
go build -o .tmp/dominion ./cmd/dominion
set +e
DOMINION_BIN="$PWD/.tmp/dominion" "$python" -m pytest -q -p no:cacheprovider --rootdir="$PWD" \
	clients/python/tests examples/flask
status=$?
set -e
# pytest exits 5 when it collected no test: these directories always have some, so that fails too.
if [ "$status" -ne 0 ]; then
	echo "FAILED: Python tests (pytest exit $status)" >&2
	exit "$status"
fi

if [ -d bench ]; then
	step "bench module (builds and vets, also for windows; run it with: make bench-peers)"
	(cd bench && go vet ./... && go build ./... && GOOS=windows GOARCH=amd64 go vet ./...)
	if command -v node >/dev/null 2>&1; then node --check bench/bullmq/bench.mjs; fi # BullMQ's side
fi

passed=$(grep -cE '^ok ' .test-output.txt || true)
failed=$(grep -cE '^(FAIL|--- FAIL)' .test-output.txt || true)
rm -f .test-output.txt
echo
echo "packages: $passed passed, $failed failed"

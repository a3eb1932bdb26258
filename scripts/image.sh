#!/usr/bin/env bash
# Builds Dominion's container image (`make image`): a static binary on an empty (scratch) base,
# so no base image is pulled from a registry and the image is the same wherever it is built.
#
#   scripts/image.sh [TAG]        TAG defaults to dominion:latest (or $IMAGE)
#
# It builds the binary here with the host's Go (CGO_ENABLED=0, for Linux on the host's
# architecture; the Go build cache is reused) with -tags nosqlite (no embedded SQLite mode: the
# image runs against Redis and PostgreSQL, and is 4 MB smaller), puts it with the few files
# the image needs in build/image/ (the build context), and runs `docker build` with the
# Dockerfile at the root:
#   etc/passwd, etc/group                the non-root user dominion (uid and gid 65532)
#   etc/ssl/certs/ca-certificates.crt    the CA certificates, copied from this machine
#   tmp/                                 a scratch directory
# The time-zone database is in the binary (cmd/dominion imports time/tzdata).
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-${IMAGE:-dominion:latest}}
ctx=${IMAGE_CONTEXT:-build/image} # the build context, made anew
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}

# The CA bundle: Debian/Ubuntu/Alpine, Fedora/RHEL, macOS; or CA_BUNDLE=/path/to/bundle.
ca=${CA_BUNDLE:-}
if [ -z "$ca" ]; then
	for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
		if [ -s "$f" ]; then ca=$f; break; fi
	done
fi
if [ -z "$ca" ] || [ ! -s "$ca" ]; then
	echo "image: no CA certificate bundle found: install ca-certificates or set CA_BUNDLE=/path/to/bundle.crt" >&2
	exit 1
fi

rm -rf "$ctx"
mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp"

CGO_ENABLED=0 GOOS=linux GOARCH=${GOARCH:-$("${GO:-go}" env GOARCH)} \
	"${GO:-go}" build -trimpath -tags nosqlite -ldflags "-s -w -X main.version=$version" -o "$ctx/dominion" ./cmd/dominion

cp "$ca" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
cat >"$ctx/rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
dominion:x:65532:65532:Dominion:/nonexistent:/sbin/nologin
PASSWD
cat >"$ctx/rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
dominion:x:65532:
GROUP

docker build --quiet --build-arg "VERSION=$version" -f Dockerfile -t "$tag" "$ctx" >/dev/null
echo "built $tag ($version)"

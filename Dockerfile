# Dominion's container image: the static dominion binary on an empty base, run as a non-root
# user. Build it with `make image` (scripts/image.sh): it builds the binary and prepares the
# build context this file copies from (build/image/: the binary, /etc/passwd and /etc/group,
# the CA certificates, /tmp), then runs docker build. Nothing is pulled.
#
# The binary is built with -tags nosqlite: the image is for the distributed deployment, on
# Redis and PostgreSQL, and leaves out the embedded SQLite mode (docs/deploy.md says why).
#
#   docker run -p 8080:8080 -e DOMINION_API_TOKEN=… -e REDIS_URL=… -e DATABASE_URL=… dominion serve
#
# The entry point is the binary itself (PID 1), so SIGTERM from `docker stop` reaches it and
# it shuts down gracefully. See docs/deploy.md.
FROM scratch

ARG VERSION=devel
LABEL org.opencontainers.image.title="dominion" \
      org.opencontainers.image.description="Background jobs and workflows in one Go binary" \
      org.opencontainers.image.version="${VERSION}"

COPY rootfs/ /
COPY dominion /dominion

USER 65532:65532
# The API listens on every interface of the container: give it DOMINION_API_TOKEN.
ENV DOMINION_ADDR=:8080
EXPOSE 8080

# `dominion health` asks /healthz on DOMINION_ADDR; no shell needed. A worker serves no
# /healthz: turn the check off for it (compose: healthcheck: disable: true).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["/dominion", "health"]

ENTRYPOINT ["/dominion"]
CMD ["serve"]

// Package deploy holds what runs Dominion in production, and the tests that build and run it:
// the container image (the Dockerfile at the repository root, built by `make image` with
// scripts/image.sh), the Docker Compose deployment (compose.yaml and .env.example), the
// Prometheus scrape configuration (prometheus/), the Grafana provisioning (grafana/) and the
// systemd unit (systemd/). It has no Go API; docs/deploy.md is its manual.
//
// The tests (Linux only) build the image on the local Docker engine and run its containers
// with the host's network against a Redis and a PostgreSQL started by the test, since no
// image can be pulled from a registry here.
package deploy

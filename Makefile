# Dominion: the two commands a new machine needs are `make run` and `make test`.
.PHONY: run build image test bench bench-peers clean

GO ?= go

run: ## run Dominion embedded (SQLite, no configuration): API, worker, scheduler, dashboard on :8080
	$(GO) run ./cmd/dominion serve

build:
	$(GO) build -o dominion ./cmd/dominion

image: ## the container image (IMAGE=dominion:latest): a static binary on scratch, see docs/deploy.md
	GO=$(GO) ./scripts/image.sh $(IMAGE)

test: ## the whole suite: starts every server it needs, installs missing ones on Debian as root
	./scripts/test.sh

bench: ## dominion bench against the embedded broker (set REDIS_URL for Redis)
	$(GO) run ./cmd/dominion bench

bench-peers: ## side-by-side benchmark against Asynq on a private redis-server
	cd bench && $(GO) run . 

clean:
	rm -rf dominion data build

# Dominion: the two commands a new machine needs are `make run` and `make test`.
.PHONY: run build image test bench bench-peers clean

GO ?= go
# The version stamped into the binary (dominion version): the git description of the checkout.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)

run: build ## build ./dominion, then run it embedded (SQLite, no configuration): API, worker, scheduler, dashboard on 127.0.0.1:8080
	./dominion serve

# -v names each package as it compiles: the first build compiles the pure-Go SQLite driver
# (modernc.org/sqlite, about a third of the CPU time) and takes minutes on a cold cache; later
# builds take seconds.
build:
	@echo "Building ./dominion $(VERSION) with $$($(GO) env GOVERSION)."
	@echo "The first build compiles every dependency (the SQLite driver is a third of it) and"
	@echo "can take several minutes; later builds reuse Go's build cache and take seconds."
	$(GO) build -v -ldflags "$(LDFLAGS)" -o dominion ./cmd/dominion
	@echo "Built ./dominion ($$(./dominion version))."

image: ## the container image (IMAGE=dominion:latest): a static binary on scratch, see docs/deploy.md
	GO=$(GO) ./scripts/image.sh $(IMAGE)

test: ## the whole suite: starts every server it needs, installs missing ones on Debian as root
	./scripts/test.sh

bench: build ## dominion bench against the embedded broker (set REDIS_URL for Redis)
	./dominion bench

bench-peers: ## side-by-side benchmark against Asynq and BullMQ (Node.js) on a private redis-server
	cd bench && $(GO) run . 

clean:
	rm -rf dominion data build

# orch — make help lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

BIN      := $(CURDIR)/bin
TOOLS    := $(CURDIR)/.tools
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/orchd/orch/server.Version=$(VERSION) -X github.com/orchd/orch/cli.Version=$(VERSION)
RUN_DIR  := $(CURDIR)/.run
GO_TEST_FLAGS ?=
CHAOS_HISTORIES ?= 20
# The short set make e2e runs: each nemesis once.
CHAOS_CI_NEMESES := kill-leader,kill-follower,kill-all,pause-leader,partition-leader,partition-random,flap,membership,wipe-follower,wipe-quorum

BUF_VERSION          := v1.75.0
PROTOC_GEN_GO        := v1.36.12
PROTOC_GEN_CONNECT   := v1.21.1
# Debian packages: CNI plugins, the OCI registry and busybox for the e2e image, the
# tools the e2e harness uses to build worker hosts, libseccomp for seccomp filters, and
# tmux for the terminal tests.
APT_PACKAGES := containernetworking-plugins docker-registry busybox-static iproute2 util-linux nftables iptables curl libseccomp-dev pkg-config tmux
export PATH := $(TOOLS):$(BIN):$(PATH)

# libcontainer installs seccomp filters only when built with cgo, libseccomp and the
# `seccomp` tag: every go command here gets the tag where libseccomp is installed. Without
# it the build works but warns, and its nodes refuse every container that would get a
# seccomp profile (RuntimeDefault by default) rather than run it unconfined.
# Both are expanded when a recipe runs, not when the Makefile is read, so that a target
# that first installs libseccomp (system-deps) builds with it.
SECCOMP_TAG = $(shell pkg-config --exists libseccomp 2>/dev/null && echo seccomp)
ENV_GOFLAGS := $(GOFLAGS)
export GOFLAGS = $(strip $(ENV_GOFLAGS) $(if $(SECCOMP_TAG),-tags=$(SECCOMP_TAG)))
SECCOMP_WARNING := WARNING: libseccomp not found (make deps, or apt-get install libseccomp-dev pkg-config): building orchd WITHOUT seccomp support; its nodes refuse containers with a seccomp profile

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

.PHONY: deps
deps: system-deps ## Install the Debian packages and the pinned tools (buf, protoc plugins) into .tools/
	@mkdir -p $(TOOLS)
	@test -x $(TOOLS)/buf || GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@test -x $(TOOLS)/protoc-gen-go || GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	@test -x $(TOOLS)/protoc-gen-connect-go || GOBIN=$(TOOLS) go install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(PROTOC_GEN_CONNECT)

.PHONY: system-deps
system-deps:
	@hack/apt-deps.sh $(APT_PACKAGES)

.PHONY: build
build: ## Build bin/orchd and bin/orchctl
	@$(if $(SECCOMP_TAG),true,echo '$(SECCOMP_WARNING)' >&2)
	@go build -ldflags '$(LDFLAGS)' -o $(BIN)/orchd ./cmd/orchd
	@go build -ldflags '$(LDFLAGS)' -o $(BIN)/orchctl ./cmd/orchctl

.PHONY: run
run: system-deps build ## Start a dev cluster (master + worker) and a registry in the background, apply examples/ (stop: make stop)
	@hack/run.sh start

.PHONY: stop
stop: ## Stop the dev cluster started by make run
	@hack/run.sh stop

.PHONY: test
test: system-deps build ## Everything CI runs: unit and integration tests, short fuzz runs, then the e2e suite
	go test -race -count=1 -timeout 20m $(GO_TEST_FLAGS) $$(go list ./... | grep -v /e2e)
	go test -run '^$$' -fuzz FuzzDecodeManifest -fuzztime 20s ./cli/
	go test -run '^$$' -fuzz FuzzReadSnapshot -fuzztime 10s ./server/
	go test -run '^$$' -fuzz FuzzAdmitObject -fuzztime 15s ./server/
	$(MAKE) e2e

.PHONY: e2e
e2e: system-deps build ## The end-to-end suite alone: real orchd processes (root needed for the parts that run containers)
	ORCH_BIN=$(BIN) CHAOS_SHORT=1 CHAOS_NEMESIS=$(CHAOS_CI_NEMESES) go test -p 1 -count=1 -timeout 30m -v $(GO_TEST_FLAGS) ./e2e/...

# The e2e suite above runs the chaos tests' short set (each nemesis once, -p 1 so that it
# never shares the two cores with the other e2e packages); this runs many histories.
.PHONY: chaos
chaos: system-deps build ## Fault tests of the masters: CHAOS_HISTORIES histories (default 20), a JSON line each, then a summary
	@echo "chaos: $(CHAOS_HISTORIES) histories, full log in .chaos.log"
	@ORCH_BIN=$(BIN) CHAOS_HISTORIES=$(CHAOS_HISTORIES) go test -count=1 -timeout 12h -v -run '^TestChaos$$' ./e2e/chaos/ 2>&1 \
		| tee .chaos.log | { grep --line-buffered '^{' || true; } \
		|| { grep -E -- '--- FAIL' .chaos.log | tail -20; echo "chaos: FAILED, see .chaos.log"; exit 1; }

.PHONY: bench
bench: build ## Benchmarks; prints JSON lines (installs etcd-server, the Raft write peer)
	@hack/apt-deps.sh $(APT_PACKAGES) etcd-server
	@ORCH_BIN=$(BIN) go run ./hack/bench

.PHONY: proto
proto: deps ## Regenerate proto/gen and the per-kind code from proto/ and hack/protogen
	rm -rf proto/gen
	go run ./hack/protogen
	buf lint
	buf generate

.PHONY: lint
lint: deps ## gofmt, go vet, buf lint, generated code current, package boundaries
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	go vet ./...
	buf lint
	@$(MAKE) proto >/dev/null && git diff --exit-code --stat -- proto/gen api server cli || { echo 'generated code is stale: run make proto and commit'; exit 1; }
	@hack/check-imports.sh

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN) $(RUN_DIR) .e2e.log .chaos.log

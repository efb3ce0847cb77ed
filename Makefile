# KubeEdge (clean-room Go implementation) — build, test and run.
#
#   make run        local cloud for a demo, left running (see README)
#   make test       unit + end-to-end tests (installs what they need first)

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
OUT       ?= $(or $(KUBEEDGE_OUTPUT),$(CURDIR)/_output)
BIN       := $(OUT)/bin
IMAGES    := $(OUT)/images
E2E_CACHE ?= $(or $(KUBEEDGE_E2E_CACHE),$(HOME)/.cache/kubeedge-e2e)
RUN_DIR   ?= $(OUT)/local

VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
GIT_COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
TREE_STATE ?= $(shell if git diff --quiet HEAD 2>/dev/null; then echo clean; else echo dirty; fi)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VPKG       := github.com/cleanedge/kubeedge/components/version
LDFLAGS    := -s -w -X $(VPKG).gitVersion=$(VERSION) -X $(VPKG).gitCommit=$(GIT_COMMIT) \
              -X $(VPKG).gitTreeState=$(TREE_STATE) -X $(VPKG).buildDate=$(BUILD_DATE)
BINARIES   := keadm cloudcore edgecore

# E2E tests run one package at a time: they share the machine's containerd paths.
E2E_FLAGS ?= -count=1 -p 1 -timeout 45m

export KUBEEDGE_E2E_CACHE := $(E2E_CACHE)
export KUBEEDGE_OUTPUT := $(OUT)

.PHONY: build
build: ## Build keadm, cloudcore and edgecore (static, version-stamped) into _output/bin
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))

.PHONY: images
images: ## Build the OCI image tarballs (pause, app, mapper) from e2e/images into _output/images
	@mkdir -p $(IMAGES)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(IMAGES)/ ./e2e/images/pause ./e2e/images/app ./e2e/images/mapper
	$(GO) build -o $(IMAGES)/mkimage ./e2e/images/mkimage
	$(IMAGES)/mkimage -ref localhost/kubeedge/pause:3.9 -bin $(IMAGES)/pause -out $(IMAGES)/pause.tar
	$(IMAGES)/mkimage -ref localhost/kubeedge/app:v1 -bin $(IMAGES)/app -out $(IMAGES)/app.tar
	$(IMAGES)/mkimage -ref localhost/kubeedge/mapper:v1 -bin $(IMAGES)/mapper -out $(IMAGES)/mapper.tar

.PHONY: deps
deps: deps-packages deps-controlplane ## Install and cache every real part the tests use

# Debian's containerd, runc, CNI plugins, iptables and mosquitto. apt on these
# machines may delete downloaded .debs between dpkg batches, so a failed install
# is retried once.
APT_PKGS := containerd runc containernetworking-plugins iptables iproute2 mosquitto
.PHONY: deps-packages
deps-packages:
	@missing=""; \
	for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "packages: all installed ($(APT_PKGS))"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "packages missing:$$missing; run 'sudo make deps-packages'" >&2; exit 1; fi; \
	echo "packages: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq; \
	apt-get install -y -qq $$missing >/dev/null || apt-get install -y -qq $$missing >/dev/null; \
	for p in $$missing; do dpkg -s $$p >/dev/null 2>&1 || { echo "package $$p failed to install" >&2; exit 1; }; done

.PHONY: deps-controlplane
deps-controlplane: ## Build (once) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
	e2e/controlplane/build.sh $(E2E_CACHE)

.PHONY: test
test: lint test-unit test-e2e ## Unit and end-to-end tests: the README's test command

.PHONY: test-unit
test-unit: ## Unit tests (no real parts needed)
	$(GO) test -count=1 ./...

.PHONY: test-e2e
test-e2e: deps build images ## End-to-end tests against the real control plane and containerd
	$(GO) test -tags e2e $(E2E_FLAGS) -v ./e2e/...

.PHONY: lint
lint: ## go vet, gofmt, and the layout rules
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	@if grep -qE '^\s*k8s\.io/kubernetes ' go.mod; then echo "go.mod must not require k8s.io/kubernetes (keep it in e2e/controlplane/k8s)"; exit 1; fi
	@bad=$$(find . -path ./_output -prune -o -type d \( -name util -o -name utils -o -name common -o -name helpers \) -print); \
	if [ -n "$$bad" ]; then echo "packages named util/common/helpers:"; echo "$$bad"; exit 1; fi
	@# The lines of docs/architecture.md: edge and cloud never import each other;
	@# components/ and certs/ never import keadm or cobra.
	@bad=$$($(GO) list -f '{{.ImportPath}} {{join .Imports " "}}' ./components/edge/... | grep 'kubeedge/components/cloud' || true; \
	       $(GO) list -f '{{.ImportPath}} {{join .Imports " "}}' ./components/cloud/... | grep 'kubeedge/components/edge' || true; \
	       $(GO) list -f '{{.ImportPath}} {{join .Imports " "}}' ./components/... ./certs/... | grep -E 'kubeedge/keadm|spf13/cobra'; true); \
	if [ -n "$$bad" ]; then echo "imports across the architecture's lines:"; echo "$$bad" | cut -c1-200; exit 1; fi
	@# edgecore stays small: client-go is for the cloud and keadm only.
	@if $(GO) list -deps ./cmd/edgecore | grep -q '^k8s.io/client-go/'; then echo "edgecore must not import k8s.io/client-go"; exit 1; fi

.PHONY: bench
bench: ## Benchmarks (figures printed; no timed assertions)
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: fuzz
fuzz: ## Fuzz the wire decoder, the edge's cloud-message handling and DeviceTwin's MQTT input, a minute each
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./components/message/
	$(GO) test -run '^$$' -fuzz FuzzCloudMessages -fuzztime 60s ./components/edge/metamanager/
	$(GO) test -run '^$$' -fuzz FuzzHandleMQTT -fuzztime 60s ./components/edge/devicetwin/

.PHONY: run
run: deps build images ## Start the local cloud (control plane) and leave it running
	$(GO) run ./e2e/local up --dir $(RUN_DIR)

.PHONY: stop
stop: ## Stop what `make run` started
	$(GO) run ./e2e/local down --dir $(RUN_DIR)

.PHONY: clean
clean: ## Remove build outputs (not the control-plane cache)
	rm -rf $(OUT)

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

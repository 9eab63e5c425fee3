# Vigil — make targets. `make run` and `make test` are the two set-up
# commands; on a new machine they install what they need (Maven artifacts,
# Debian packages, Go tools) into the git-ignored .cache/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO       ?= go
BIN      := bin/vigil
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/vigil-dev/vigil/internal/build.Version=$(VERSION)
# Packages whose tests stop or kill shared servers; run last, one at a time.
E2E_PKGS  = $(shell $(GO) list -tags e2e ./... | grep '/e2e$$')
ENV       = eval "$$(scripts/env.sh)"

.PHONY: build
build: ## build bin/vigil (no -trimpath, so tests reuse the same compile cache; the Dockerfile trims)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/vigil

.PHONY: tools
tools: ## install kcat, telemetrygen and helm into .cache/bin (and Debian)
	scripts/tools.sh all

.PHONY: infra-up infra-down infra-status
infra-up: ## start real Kafka, OpenSearch (3.x) and Prometheus on loopback (installs them first)
	scripts/infra.sh up
infra-down: ## stop every server infra-up started
	scripts/infra.sh down
infra-status: ## one line per server; fails if one is down
	scripts/infra.sh status

# The OpenSearch-facing integration tests, run a second time against the 2.x
# pair (opensearch-2, opensearch-2-standby; VIGIL_OPENSEARCH2_VERSION): index
# templates and live mappings, bulk and item classification, ISM install,
# `vigil setup`, failover between two clusters, long values and span attribute
# overflow (flat_object), and (e2e) the Trace Analytics
# queries. The first pass runs everything on the default 3.x servers.
OS2_ENV   = VIGIL_TEST_OPENSEARCH=$$VIGIL_TEST_OPENSEARCH2 VIGIL_TEST_OPENSEARCH_STANDBY=$$VIGIL_TEST_OPENSEARCH2_STANDBY \
            VIGIL_TEST_OPENSEARCH_VERSION=$$VIGIL_TEST_OPENSEARCH2_VERSION
OS2_TESTS = ^(TestServerVersion|TestBulkMixedOutcomes|TestInstall|TestBulkAndMappingGolden|TestTemplate|TestFailover|TestSetupRunTwice|TestLongValuesIndexed|TestSpanAttributeKeysCannotFillTheMapping)
OS2_PKGS  = ./pipeline/opensearch/ ./pipeline/ ./cmd/vigil/
OS2_E2E   = ^TestTraceAnalyticsQueries$$

.PHONY: test
test: tools infra-up build ## vet, unit, integration and end-to-end tests on real servers
	# the failover tests and drill need the standby too; the 2.x pair and the
	# TLS + basic-auth proxy for the second pass and the secured tests
	scripts/infra.sh up opensearch-standby opensearch-2 opensearch-2-standby opensearch-proxy
	$(GO) vet ./...
	$(GO) vet -tags e2e $(E2E_PKGS)
	$(ENV); VIGIL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v ./...
	$(ENV); VIGIL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -p 1 -tags e2e -v -timeout 30m $(E2E_PKGS)
	$(ENV); $(OS2_ENV) VIGIL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -p 1 -v -run '$(OS2_TESTS)' $(OS2_PKGS)
	$(ENV); $(OS2_ENV) VIGIL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -p 1 -tags e2e -v -run '$(OS2_E2E)' ./pipeline/e2e/

.PHONY: run
run: tools build ## the whole appliance on this machine with sample data, and a report
	$(ENV); scripts/run.sh

.PHONY: bench
bench: tools infra-up build ## Go benchmarks and macro runs on real servers -> docs/benchmarks.md
	$(ENV); scripts/bench.sh

.PHONY: drill
drill: tools build ## the failover drill on real servers (Kafka, primary + standby OpenSearch, Prometheus): SIGKILL the primary, print the timeline
	$(ENV); scripts/infra.sh up kafka opensearch opensearch-standby prometheus
	$(ENV); report=$$(mktemp); trap 'rm -f "$$report"' EXIT; \
	  VIGIL_BIN=$(CURDIR)/$(BIN) VIGIL_DRILL_REPORT="$$report" CI=true \
	  $(GO) test -count=1 -tags e2e -run '^TestFailoverDrill$$' -v -timeout 20m ./e2e/ | grep -v '^        '; \
	  cat "$$report"

.PHONY: lint
lint: ## gofmt, go vet, shellcheck (when installed)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e $(E2E_PKGS)
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh .ci/run; else echo "shellcheck not installed; skipped"; fi

.PHONY: clean
clean: ## remove build output (not the server cache)
	rm -rf bin

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

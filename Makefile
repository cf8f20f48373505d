# ephemeral-storage-exporter. `make test` is the whole default test suite (README, .ci/run).
GO        ?= go
BIN       := bin/ephemeral-storage-exporter
EVENTS_BIN := bin/ephemeral-storage-events
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w \
	-X github.com/prometheus/common/version.Version=$(VERSION) \
	-X github.com/prometheus/common/version.Revision=$(REVISION) \
	-X github.com/prometheus/common/version.Branch=main

.PHONY: all build run-sample test test-unit vet fmt-check lint
all: build test

# Both binaries of the image: the agent, and the events role (its own binary so that the agent links
# no leader election nor generated clientset: cmd/ephemeral-storage-events/deps_test.go).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ephemeral-storage-exporter
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(EVENTS_BIN) ./cmd/ephemeral-storage-events

# The README's first command: the whole pipeline on the embedded sample node, no cluster needed.
run-sample:
	$(GO) run ./cmd/ephemeral-storage-exporter replay --once

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test-unit:
	$(GO) test -race -count=1 ./...

# Suites owned by other parts of the tree add themselves to TEST_TARGETS below.
TEST_TARGETS := fmt-check vet test-unit

# Each concern (alerts, deploy, e2e, ...) keeps its targets in hack/make/<concern>.mk and adds
# its default-suite target to TEST_TARGETS and its long suites to LONG_TARGETS.
LONG_TARGETS :=
include $(sort $(wildcard hack/make/*.mk))

# Every generated file, from its single source: alerts/config.yaml + mixin/ -> alerts/*.yaml,
# dashboards/*.json, docs/runbooks.md's alert table, the chart's files/ (rules, alert templates,
# dashboards); alerts/tests/gen_synthetic_oncall.py -> alerts/tests/synthetic-oncall.yaml;
# collector/ (family declarations + catalog.go) -> docs/metrics.md's storage tables.
# `make test` (test-generated) fails when a checked-in copy differs from a fresh generation.
.PHONY: generate generate-metrics-doc
generate: generate-mixin generate-metrics-doc

generate-metrics-doc:
	$(GO) test -count=1 -run '^TestMetricsDocGenerated$$' ./collector -generate

GENERATED += docs/metrics.md

.PHONY: test test-long
test: $(TEST_TARGETS)
test-long: $(LONG_TARGETS)

# Benchmarks of the hot path (bench/), summarised with benchstat; see docs/performance.md.
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da
BENCH_COUNT ?= 6

.PHONY: bench benchstat-install
benchstat-install:
	@command -v benchstat >/dev/null || $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

bench: benchstat-install
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./bench/ | tee bench.txt
	benchstat bench.txt

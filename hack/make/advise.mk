# `advise`: the Prometheus source queried against a real Prometheus server (Debian's prometheus
# package: promtool backfills recorded series, prometheus serves them). The unit and golden tests
# run in test-unit; this one needs the binaries, so it sits behind the promintegration build tag.
.PHONY: test-advise advise-golden-update
test-advise:
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then \
		if [ -x hack/install-prometheus.sh ]; then hack/install-prometheus.sh; \
		else apt-get install -y --no-install-recommends prometheus || \
			{ apt-get update && apt-get install -y --no-install-recommends prometheus; }; fi; \
	fi
	$(GO) test -count=1 -tags promintegration -run 'TestPrometheusSource' ./advise

# Rewrite advise/testdata/golden after a deliberate change to the advice or its formats.
advise-golden-update:
	$(GO) test ./advise -run TestGolden -update

TEST_TARGETS += test-advise

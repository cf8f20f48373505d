# Fuzzing: each target runs for FUZZTIME (make fuzz) or 15s (fuzz-short, in CI). Large seeds (the
# real recordings) make minimisation slow, so it is bounded too.
FUZZ_TARGETS ?= ./kubelet:FuzzSelectiveDecode ./collector:FuzzSummaryPipeline ./collector:FuzzLabelRendering ./label:FuzzValue ./detect:FuzzClassifyEviction ./detect:FuzzParseReadOnly ./detect:FuzzEventHandling
FUZZTIME ?= 2m

.PHONY: fuzz fuzz-short
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg; \
	done

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=15s

LONG_TARGETS += fuzz-short

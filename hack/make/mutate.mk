# The mutation check: every mutation in hack/mutate/mutations.yaml must be caught by the tests it
# names (go run ./hack/mutate prints caught/total and fails on any survivor or stale entry).
.PHONY: mutate
mutate:
	$(GO) run ./hack/mutate

LONG_TARGETS += mutate

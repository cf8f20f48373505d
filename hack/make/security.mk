# govulncheck, offline (hack/govulncheck.sh); findings must be listed and explained
# (hack/govulncheck-allow.txt, docs/security.md).
.PHONY: vulncheck
vulncheck:
	./hack/govulncheck.sh

LONG_TARGETS += vulncheck

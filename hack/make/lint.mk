# golangci-lint v2 over every Go module of the repository (.golangci.yml). The binary is built
# from the Go module proxy at a pinned version into bin/ on first use (a few minutes cold).
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(shell command -v golangci-lint 2>/dev/null || echo $(CURDIR)/bin/golangci-lint)
GO_MODULES := . mixin deploy/test test/e2e

.PHONY: lint install-golangci-lint
install-golangci-lint:
	@[ -x "$(GOLANGCI_LINT)" ] || GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: install-golangci-lint
	@set -e; for m in $(GO_MODULES); do echo "golangci-lint $$m"; (cd $$m && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...); done

LONG_TARGETS += lint

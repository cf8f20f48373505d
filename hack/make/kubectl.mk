# The kubectl plugin (`kubectl ephemeral-storage`, docs/kubectl-plugin.md): its own binary, so
# that the agent's stays free of CLI libraries. Put bin/kubectl-ephemeral_storage on the PATH.
PLUGIN_BIN := bin/kubectl-ephemeral_storage

.PHONY: build-kubectl-plugin check-plugin-deps kubectl-plugin-golden-update
build-kubectl-plugin:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(PLUGIN_BIN) ./cmd/kubectl-ephemeral_storage

# The agent must not link the plugin's CLI dependencies (also a test in cmd/kubectl-ephemeral_storage).
check-plugin-deps:
	@deps=$$($(GO) list -deps ./cmd/ephemeral-storage-exporter | grep -E 'k8s.io/cli-runtime|spf13/cobra|ephemeral-storage-exporter/inspect$$' || true); \
	if [ -n "$$deps" ]; then echo "the agent links plugin dependencies:"; echo "$$deps"; exit 1; fi

# Rewrite inspect/testdata/golden after a deliberate change to the plugin's output.
kubectl-plugin-golden-update:
	$(GO) test ./inspect -run TestGolden -update

TEST_TARGETS += check-plugin-deps

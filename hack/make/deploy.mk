# Deployment artifacts (issue 8): the Helm chart, the kustomize base, the rendered manifest and
# the Dockerfiles are checked by the separate Go module deploy/test (Helm and kustomize stay out of
# the agent's go.mod). Its first run compiles Helm: a few minutes on 2 cores.
DEPLOY_TEST_FLAGS ?=

.PHONY: test-deploy deploy-sync deploy-manifest
test-deploy:
	cd deploy/test && $(GO) test -count=1 $(DEPLOY_TEST_FLAGS) ./...

# Copy alerts/rules.yaml and dashboards/*.json into the chart's files/.
deploy-sync:
	deploy/sync.sh

# Rewrite deploy/manifests/ephemeral-storage-exporter.yaml from the chart's defaults.
deploy-manifest:
	cd deploy/test && $(GO) test -count=1 -run '^TestRenderedManifestUpToDate$$' ./... -update

TEST_TARGETS += test-deploy

# Build the image with buildah and check it (user, port, entrypoint, the binary runs): needs
# buildah, so it is in the long suite only.
.PHONY: test-image
test-image: build
	hack/image-test.sh

LONG_TARGETS += test-image

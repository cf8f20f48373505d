# The eviction ranking (accounting.RankDiskPressure) checked against the kubelet's own eviction
# manager (k8s.io/kubernetes, pkg/kubelet/eviction) on the shipped recordings, with synthetic
# requests and priorities. accounting/kubeletref is a module of its own, so that k8s.io/kubernetes
# stays a test-only dependency; compiling the kubelet packages takes minutes on a cold cache, hence
# the long suite.
.PHONY: test-kubeletref
test-kubeletref:
	cd accounting/kubeletref && $(GO) test -count=1 ./...

LONG_TARGETS += test-kubeletref

# End-to-end: a real kube-apiserver + etcd + containerd + kubelet on loopback (built/installed by
# hack/e2e, cached under ~/.cache/ese-e2e), the agent (DaemonSet args) with its RBAC, a real
# Prometheus evaluating the project's alert rules (short windows, test/e2e/testdata), real
# evictions (emptyDir, container limit), a read-only root failure, a memory emptyDir, every
# dashboard query. Needs root. Cold (apt + Kubernetes build) well under 30 min on 2 cores; warm ~2 min.
# docs/e2e.md says what it runs and where the artifacts go.
.PHONY: e2e e2e-up e2e-build
e2e:
	hack/e2e/run.sh

# The cluster alone, for poking at it (Ctrl-C tears it down).
e2e-up:
	hack/e2e/up.sh

# Only build (and cache) kube-apiserver and kubelet.
e2e-build:
	hack/e2e/build-k8s.sh

LONG_TARGETS += e2e

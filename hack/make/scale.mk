# Scale harness (docs/scale.md): a real etcd + kube-apiserver in a network namespace of its own,
# simulated nodes, pods and Events, real agents on fake kubelets, the kubectl plugin through the
# node proxy. Needs root. `scale` (the curves, before and after, plugin timings) is not part of
# `make test`; `scale-short` (the per-agent traffic guard) is in the long suite.
.PHONY: scale scale-short
scale:
	hack/scale/run.sh full

scale-short:
	hack/scale/run.sh short

LONG_TARGETS += scale-short

# The harness's own module is linted with the others.
GO_MODULES += test/scale

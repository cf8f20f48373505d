# The Prometheus side at scale (docs/scale-prometheus.md): series per node from the agent's real
# exposition at 110 and 250 pods, and the cost of the project's rules on a real Prometheus loaded
# with a backfilled 1,000-node cluster (PROM_SCALE_NODES, PROM_SCALE_SAMPLES). Long suite.
.PHONY: prom-scale
prom-scale:
	hack/prom-scale/run.sh

LONG_TARGETS += prom-scale

# The Prometheus side at scale (docs/scale-prometheus.md): series per node from the agent's real
# exposition at 110 and 250 pods, and the cost of the project's rules on a real Prometheus loaded
# with a backfilled cluster. `make prom-scale` is the 1,000-node run (PROM_SCALE_NODES,
# PROM_SCALE_SAMPLES; needs more than 2 cores to keep up with its rules); the long suite runs the
# 50-node form the docs' measured rows come from, so it finishes on a 2-core CI machine.
.PHONY: prom-scale prom-scale-short
prom-scale:
	hack/prom-scale/run.sh

prom-scale-short:
	PROM_SCALE_NODES=$${PROM_SCALE_NODES:-50} PROM_SCALE_HEAD_NODES=$${PROM_SCALE_HEAD_NODES:-50} PROM_SCALE_DEADLINE=$${PROM_SCALE_DEADLINE:-900} hack/prom-scale/run.sh

LONG_TARGETS += prom-scale-short

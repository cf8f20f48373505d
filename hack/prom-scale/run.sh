#!/usr/bin/env bash
# The Prometheus side at scale (`make prom-scale`, long suite; docs/scale-prometheus.md):
# 1. series per node from the real agent's exposition: the agent's `replay` serves a synthetic
#    node (testutil/synthetic) of 110 and of 250 pods on loopback; its /metrics is counted;
# 2. a cluster of PROM_SCALE_NODES (1000) such nodes at 110 pods, PROM_SCALE_SAMPLES (3) samples
#    30 s apart of the families the project's rules read, written as OpenMetrics and loaded with
#    `promtool tsdb create-blocks-from openmetrics`;
# 3. a real Prometheus (Debian `prometheus`, loopback) on those blocks evaluates alerts/rules.yaml
#    every 30 s (--query.lookback-delta covers the minutes since the last backfilled sample); after
#    PROM_SCALE_ROUNDS (3) evaluations of every group, its own metrics give the cost:
#    prometheus_rule_group_last_duration_seconds per group, samples, failures, missed
#    iterations, CPU and RSS; /api/v1/rules the most expensive rules.
# Everything on 127.0.0.1; every wait has a deadline. Results: $PROM_SCALE_OUT (default
# hack/prom-scale/_artifacts/<time>/results.txt).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
nodes=${PROM_SCALE_NODES:-1000}
samples=${PROM_SCALE_SAMPLES:-3}
rounds=${PROM_SCALE_ROUNDS:-3}
out=${PROM_SCALE_OUT:-$root/hack/prom-scale/_artifacts/$(date -u +%Y%m%dT%H%M%S)}
agent_port=19481
prom_port=19482
mkdir -p "$out"
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
command -v prometheus >/dev/null && command -v promtool >/dev/null || { echo "prometheus/promtool not installed (hack/install-prometheus.sh)"; exit 1; }
log() { echo "prom-scale [$SECONDS s] $*" | tee -a "$out/results.txt"; }
: >"$out/results.txt"
log "nodes=$nodes samples=$samples rounds=$rounds prometheus=$(prometheus --version 2>&1 | head -1)"

(cd "$root" && go build -p 1 -o "$tmp/ese" ./cmd/ephemeral-storage-exporter && go build -p 1 -o "$tmp/prom-scale" ./hack/prom-scale)

# scrape_agent PODS SEED FILE: the agent's /metrics for the synthetic node, once it lists every pod.
scrape_agent() {
	local pods=$1 seed=$2 file=$3 dir="$tmp/node-$1-$2"
	mkdir -p "$dir"
	"$tmp/prom-scale" dump -pods "$pods" -seed "$seed" -out "$dir"
	"$tmp/ese" replay --summary "$dir/summary.json" --pods "$dir/pods.json" --node "$dir/node.json" \
		--web.listen-address=127.0.0.1:$agent_port >"$dir/agent.log" 2>&1 &
	local pid=$!
	for _ in $(seq 60); do
		if curl -fsS --max-time 2 "http://127.0.0.1:$agent_port/metrics" -o "$file" 2>/dev/null &&
			[[ "$(grep -c '^ephemeral_storage_pod_info{' "$file")" == "$pods" ]]; then
			kill "$pid"
			wait "$pid" 2>/dev/null || true
			return 0
		fi
		sleep 0.5
	done
	kill "$pid"
	echo "the agent did not serve $pods pods within 30 s"
	exit 1
}

# 1. Series per node.
grep -o 'ephemeral_storage_[a-z_]*' "$root/alerts/rules.yaml" | sort -u >"$tmp/families"
for pods in 110 250; do
	scrape_agent "$pods" 1 "$tmp/metrics-$pods.txt"
	"$tmp/prom-scale" count <"$tmp/metrics-$pods.txt" >"$out/series-$pods.txt"
	read_by_rules=$(grep -v '^#' "$tmp/metrics-$pods.txt" | sed 's/[{ ].*//' | grep -cxFf "$tmp/families" || true)
	total=$(awk '$1=="total"{print $2}' "$out/series-$pods.txt")
	log "series per node at $pods pods: $total ($(tr '\n' ' ' <"$out/series-$pods.txt")); read by the rules: $read_by_rules; per cluster: $((total * 1000)) at 1,000 nodes, $((total * 5000)) at 5,000"
done

# 2. The cluster, backfilled.
for seed in $(seq 2 "$((samples < 4 ? samples : 4))"); do scrape_agent 110 "$seed" "$tmp/metrics-110-$seed.txt"; done
"$tmp/prom-scale" openmetrics -nodes "$nodes" -samples "$samples" -interval 30s -end "$(date +%s)" -families "$tmp/families" \
	-out "$tmp/cluster.om" "$tmp/metrics-110.txt" $(ls "$tmp"/metrics-110-*.txt 2>/dev/null) 2>&1 | tee -a "$out/results.txt"
log "openmetrics: $(du -h "$tmp/cluster.om" | cut -f1)"
mkdir -p "$tmp/data"
promtool tsdb create-blocks-from openmetrics "$tmp/cluster.om" "$tmp/data" >"$out/create-blocks.txt" 2>&1
rm -f "$tmp/cluster.om"
log "blocks: $(tail -n +2 "$out/create-blocks.txt" | awk '{s+=$7; n+=$5} END {print s" series, "n" samples"}'), $(du -sh "$tmp/data" | cut -f1)"

# m NAME [LABEL_REGEX]: "group value" lines of one of Prometheus's own metrics, from its /metrics
# (the Prometheus under test does not scrape itself).
m() {
	curl -fsS --max-time 20 "http://127.0.0.1:$prom_port/metrics" | python3 -c '
import re, sys
name, want = sys.argv[1], re.compile(sys.argv[2] if len(sys.argv) > 2 else "")
for line in sys.stdin:
    mt = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$", line.strip())
    if not mt or mt.group(1) != name or not want.search(mt.group(2) or ""):
        continue
    g = re.search(r"rule_group=\"[^\"]*;([^\"]*)\"", mt.group(2) or "")
    print(g.group(1) if g else "-", mt.group(3))' "$@"
}
sum_of() { awk '{s+=$2} END {printf "%g", s}'; }
groups=$(grep -c '^  - name:' "$root/alerts/rules.yaml")
deadline=$((SECONDS + ${PROM_SCALE_DEADLINE:-1800}))
alive() { ((SECONDS < deadline)) || { log "FAIL: deadline: $1"; tail -5 "$out/prometheus.log"; exit 1; }; }
# wait_rounds N: until every group has evaluated N times.
wait_rounds() {
	until [[ "$(m prometheus_rule_group_iterations_total 2>/dev/null | awk -v r="$1" '$2 >= r' | wc -l)" == "$groups" ]]; do
		alive "$groups groups evaluated $1 times"
		sleep 1
	done
}
cpu() { m process_cpu_seconds_total | awk '{print $2}'; }
# saturated: a note when a group missed iterations. prometheus_rule_group_iterations_total counts
# scheduled iterations, missed ones included: then a "round" is 30 s of a Prometheus that had less
# CPU than the rules need, and the CPU figures are lower bounds.
saturated() {
	local missed
	missed=$(m prometheus_rule_group_iterations_missed_total | sum_of)
	[[ "$missed" == 0 ]] || echo " (SATURATED: $missed missed iterations: lower bound)"
}
# report_rules: the rules' cost as Prometheus measured it, after the rounds.
report_rules() {
	log "rule groups (prometheus_rule_group_last_duration_seconds, _last_evaluation_samples):"
	m prometheus_rule_group_last_duration_seconds | sort -k2 -g -r | while read -r g v; do
		s=$(m prometheus_rule_group_last_evaluation_samples "rule_group=\"[^\"]*;$g\"" | awk '{print $2}')
		log "  $(printf '%-44s %8.3f s %9s samples' "$g" "$v" "$s")"
	done
	log "total last duration: $(m prometheus_rule_group_last_duration_seconds | sum_of) s per 30 s interval (wall clock)"
	log "evaluation failures: $(m prometheus_rule_evaluation_failures_total | sum_of); missed iterations: $(m prometheus_rule_group_iterations_missed_total | sum_of)"
	log "head series: $(m prometheus_tsdb_head_series | awk '{print $2}'); RSS: $(m process_resident_memory_bytes | awk '{printf "%.0f MiB", $2/1048576}')"
	log "most expensive rules (/api/v1/rules evaluationTime, wall clock):"
	curl -fsS --max-time 20 "http://127.0.0.1:$prom_port/api/v1/rules" | python3 -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
for r in sorted(rules, key=lambda r: -r["evaluationTime"])[:6]:
    print("  %-66s %.3f s" % (r["name"], r["evaluationTime"]))' | tee -a "$out/results.txt"
}

# 3. Prometheus evaluating the rules on the backfilled blocks. Prometheus scrapes nothing here, so
# its CPU is the rule evaluation's: measured over the rounds after the first (which also opens the
# blocks). Wall-clock durations also hold the time the process waited for a CPU on a shared
# machine: the load average is logged with them.
cat >"$tmp/prometheus.yml" <<CFG
global:
  evaluation_interval: 30s
rule_files: ['$root/alerts/rules.yaml']
CFG
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" --query.lookback-delta=30m \
	--web.listen-address=127.0.0.1:$prom_port >"$out/prometheus.log" 2>&1 &
prom_pid=$!
pids+=($prom_pid)
wait_rounds 1
cpu0=$(cpu) t0=$SECONDS
wait_rounds $((rounds + 1))
cpu1=$(cpu)
log "== backfilled blocks, $nodes nodes: CPU per evaluation round $(python3 -c "print(round(($cpu1 - $cpu0) / $rounds, 2))") CPU-s (process_cpu_seconds_total over $rounds rounds, $((SECONDS - t0)) s); load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs$(saturated)"
report_rules
kill "$prom_pid"
wait "$prom_pid" 2>/dev/null || true

# 4. The same rules on data in the head, as in production: Prometheus scrapes PROM_SCALE_HEAD_NODES
# (default: the same) copies of the node from one loopback server every 30 s. CPU per 30 s is
# measured first without rules (scraping alone), then with them; the difference is the rules'.
head_nodes=${PROM_SCALE_HEAD_NODES:-$nodes}
if ((head_nodes > 0)); then
	serve_port=19486
	"$tmp/prom-scale" serve -nodes "$head_nodes" -listen 127.0.0.1:$serve_port -families "$tmp/families" "$tmp/metrics-110.txt" >"$out/serve.log" 2>&1 &
	pids+=($!)
	{
		printf 'global:\n  scrape_interval: 30s\n  scrape_timeout: 25s\n  evaluation_interval: 30s\n'
		echo "RULES"
		printf 'scrape_configs:\n  - job_name: ephemeral-storage-exporter\n    honor_labels: true\n    static_configs:\n'
		for n in $(seq 0 $((head_nodes - 1))); do
			printf "      - targets: ['127.0.0.1:%s']\n        labels: {__metrics_path__: /metrics/%s, cluster: scale, instance: 'node-%s'}\n" "$serve_port" "$n" "$n"
		done
	} >"$tmp/head.tmpl"
	sed 's/^RULES$//' "$tmp/head.tmpl" >"$tmp/head.yml"
	prometheus --config.file="$tmp/head.yml" --storage.tsdb.path="$tmp/head-data" \
		--web.listen-address=127.0.0.1:$prom_port >"$out/prometheus-head.log" 2>&1 &
	prom_pid=$!
	pids+=($prom_pid)
	want=$((head_nodes * $(grep -v '^#' "$tmp/metrics-110.txt" | sed 's/[{ ].*//' | grep -cxFf "$tmp/families")))
	until [[ "$(m prometheus_tsdb_head_series 2>/dev/null | awk '{print $2}')" -ge "$want" ]]; do alive "head series $want"; sleep 1; done
	# per30 FROM_CPU FROM_T: CPU-seconds per 30 s since then
	per30() { python3 -c "print(round(($(cpu) - $1) * 30 / max(1, $SECONDS - $2), 2))"; }
	c=$(cpu) t=$SECONDS
	until ((SECONDS - t >= 90)); do alive "scrape-only window"; sleep 1; done
	scrape=$(per30 "$c" "$t")
	log "== head, $head_nodes nodes scraped every 30 s ($want series): scraping alone $scrape CPU-s per 30 s"
	sed "s|^RULES$|rule_files: ['$root/alerts/rules.yaml']|" "$tmp/head.tmpl" >"$tmp/head.yml"
	kill -HUP "$prom_pid"
	wait_rounds 1
	c=$(cpu) t=$SECONDS
	wait_rounds $((rounds + 1))
	both=$(per30 "$c" "$t")
	log "== head, $head_nodes nodes: scraping + rules $both CPU-s per 30 s over $rounds rounds: the rules $(python3 -c "print(round($both - $scrape, 2))") CPU-s per 30 s; load average $(cut -d' ' -f1-3 /proc/loadavg)$(saturated)"
	report_rules
fi
echo "results: $out/results.txt"

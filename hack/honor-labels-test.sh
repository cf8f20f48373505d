#!/usr/bin/env bash
# A real Prometheus (the Debian `prometheus`, on loopback) scrapes a loopback replay of the agent
# with honor_labels: true and the target labels the Prometheus Operator attaches (namespace, pod,
# container of the agent), followed by the chart's monitor relabelings (labeldrop of those).
# Checks: node-level series carry no agent namespace/pod/container; pod-level series keep the
# measured pod's own; and, without the chart's labeldrop, node series would carry the agent's
# (the check detects the bug it guards). `make test-honor-labels` (in make test-long).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
command -v prometheus >/dev/null || { echo "prometheus not installed (apt-get install prometheus)"; exit 1; }
(cd "$root" && go build -o "$tmp/ese" ./cmd/ephemeral-storage-exporter)

agent_port=19391
"$tmp/ese" replay --web.listen-address=127.0.0.1:$agent_port >"$tmp/agent.log" 2>&1 &
pids+=($!)

run_prometheus() { # $1 port, $2 "drop" or "keep"
	local port=$1 mode=$2 dir="$tmp/prom-$1"
	mkdir -p "$dir"
	local drop=""
	if [[ $mode == drop ]]; then
		drop=$'      - action: labeldrop\n        regex: (namespace|pod|container)'
	fi
	cat >"$dir/prometheus.yml" <<CFG
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: operator-style
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$agent_port']
    relabel_configs:
      # what the Operator's ServiceMonitor attaches: the agent's own pod
      - target_label: namespace
        replacement: monitoring
      - target_label: pod
        replacement: ephemeral-storage-exporter-x7k2p
      - target_label: container
        replacement: agent
      - target_label: job
        replacement: ephemeral-storage-exporter
$drop
CFG
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address=127.0.0.1:$port >"$dir/log" 2>&1 &
	pids+=($!)
}

query() { # $1 port, $2 PromQL -> number of series
	curl -fsS --max-time 2 "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))'
}

wait_for() { # $1 port, $2 PromQL: until it returns a series, at most 60 s
	for _ in $(seq 60); do
		if [[ "$(query "$1" "$2" 2>/dev/null || echo 0)" -gt 0 ]]; then return 0; fi
		sleep 1
	done
	echo "timeout waiting for $2 on :$1"; exit 1
}

run_prometheus 19390 drop
run_prometheus 19392 keep
j='job="ephemeral-storage-exporter"'
node="ephemeral_storage_node_fs_capacity_bytes{$j}"
wait_for 19390 "$node"
wait_for 19392 "$node"

fail=0
check() { # $1 description, $2 got, $3 want
	if [[ "$2" == "$3" ]]; then echo "ok   $1"; else echo "FAIL $1: got $2, want $3"; fail=1; fi
}
check "chart relabelings: node series with the agent's namespace/pod/container" \
	"$(query 19390 "$node"' and ({namespace!=""} or {pod!=""} or {container!=""})')" 0
check "chart relabelings: node series present" "$( [[ $(query 19390 "$node") -gt 0 ]] && echo yes)" yes
check "chart relabelings: pod series keep their own namespace (not monitoring)" \
	"$(query 19390 "ephemeral_storage_pod_usage_bytes{$j, namespace=\"monitoring\", pod=\"ephemeral-storage-exporter-x7k2p\"}")" 0
check "chart relabelings: pod series present with a namespace" "$( [[ $(query 19390 "ephemeral_storage_pod_usage_bytes{$j, namespace!=\"\"}") -gt 0 ]] && echo yes)" yes
check "without labeldrop: node series take the agent's namespace (the bug guarded)" \
	"$( [[ $(query 19392 "ephemeral_storage_node_fs_capacity_bytes{$j, namespace=\"monitoring\"}") -gt 0 ]] && echo yes)" yes
exit $fail

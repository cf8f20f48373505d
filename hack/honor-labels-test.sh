#!/usr/bin/env bash
# A real Prometheus (the Debian `prometheus`, on loopback) scrapes a loopback replay of the agent
# with honor_labels: true and the target labels the Prometheus Operator attaches (namespace, pod,
# container of the agent), followed by the chart's monitor relabelings (labeldrop of those).
# Checks: node-level series carry no agent namespace/pod/container; pod-level series keep the
# measured pod's own; and, without the chart's labeldrop, node series would carry the agent's
# (the check detects the bug it guards).
# Then an agent restart mid-alert, as an Operator rollout makes it: the project's rules (rendered
# from test/e2e/testdata/alerts-config.yaml, windows in seconds) fire
# EphemeralStorageVolumeNearSizeLimit on the replayed sample (shop web-*, cache at 84% > 75%);
# the agent is killed, its target leaves, the storage series go stale (checked), and a new agent
# comes up as a new target (new pod and instance labels). The alert must not resolve: the ALERTS
# series has a sample at every step from firing to after the restart, and activeAt is unchanged.
# HONOR_LABELS_BREAK=keep_firing_for (drop it from the rules) or =by (add instance to the alert's
# identity) shows the check red. `make test-honor-labels` (in make test-long).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
command -v prometheus >/dev/null || { echo "prometheus not installed (apt-get install prometheus)"; exit 1; }
(cd "$root" && go build -o "$tmp/ese" ./cmd/ephemeral-storage-exporter)
(cd "$root/mixin" && go run . -config ../test/e2e/testdata/alerts-config.yaml -out "$tmp/mixin" >/dev/null)
rules="$tmp/mixin/alerts/rules.yaml"
case "${HONOR_LABELS_BREAK:-}" in
"") ;;
keep_firing_for) sed -i '/keep_firing_for:/d' "$rules" ;;
by) sed -i 's/max by (cluster, node, namespace, pod, volume) (ephemeral_storage_volume_/max by (cluster, node, namespace, pod, volume, instance) (ephemeral_storage_volume_/' "$rules" ;;
*) echo "HONOR_LABELS_BREAK: keep_firing_for or by"; exit 2 ;;
esac

start_agent() { # $1 port; prints the pid
	"$tmp/ese" replay --web.listen-address=127.0.0.1:"$1" >>"$tmp/agent-$1.log" 2>&1 &
	echo $!
}
targets() { # $1 port, $2 agent pod name: the target as the Operator's ServiceMonitor sees it
	cat >"$tmp/targets.json.new" <<JSON
[{"targets": ["127.0.0.1:$1"], "labels": {"namespace": "monitoring", "pod": "$2", "container": "agent"}}]
JSON
	mv "$tmp/targets.json.new" "$tmp/targets.json"
}
agent_port=19391
agent_pid=$(start_agent $agent_port)
pids+=("$agent_pid")
targets $agent_port ephemeral-storage-exporter-x7k2p

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
  evaluation_interval: 1s
rule_files: ['$rules']
scrape_configs:
  - job_name: operator-style
    honor_labels: true
    # the agent's own pod: namespace, pod, container, as the Operator's ServiceMonitor attaches them
    file_sd_configs:
      - files: ['$tmp/targets.json']
        refresh_interval: 1s
    relabel_configs:
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

# --- agent restart mid-alert (on the Prometheus with the chart's relabelings) ---
api() { # $1 path, $2.. curl args -> JSON on stdout
	local path=$1
	shift
	curl -fsS --max-time 2 "http://127.0.0.1:19390$path" "$@"
}
alert='alertname="EphemeralStorageVolumeNearSizeLimit", namespace="shop", volume="cache"'
active_at() { # activeAt of the firing alert(s), one line each
	api /api/v1/alerts | python3 -c '
import json, sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    l = a["labels"]
    if l["alertname"] == "EphemeralStorageVolumeNearSizeLimit" and l.get("volume") == "cache" and a["state"] == "firing":
        print(a["activeAt"])'
}
wait_until() { # $1 description, $2 deadline in s, $3.. command that succeeds when done
	local what=$1 deadline=$2
	shift 2
	for _ in $(seq "$deadline"); do
		if "$@"; then return 0; fi
		sleep 1
	done
	echo "FAIL timeout ($deadline s) waiting for $what"
	exit 1
}
firing() { [[ "$(query 19390 "ALERTS{$alert, alertstate=\"firing\"}" 2>/dev/null || echo 0)" -ge 1 ]]; }
storage_gone() { [[ "$(query 19390 "ephemeral_storage_volume_size_limit_ratio{$j}" 2>/dev/null || echo 1)" == 0 ]]; }
new_agent_scraped() { [[ "$(query 19390 "ephemeral_storage_volume_size_limit_ratio{$j, instance=\"127.0.0.1:19393\"}" 2>/dev/null || echo 0)" -gt 0 ]]; }

wait_until "the alert to fire" 60 firing
before=$(active_at)
# The first whole second after the alert was seen firing: `date +%s` floors, and the alert may
# have turned firing inside that second, after its start (a step with no sample yet).
fired=$(($(date +%s) + 1))
check "restart: one firing alert before the restart" "$(echo "$before" | grep -c .)" 1

kill "$agent_pid"
: >"$tmp/targets.json.new" && echo '[]' >"$tmp/targets.json.new" && mv "$tmp/targets.json.new" "$tmp/targets.json"
wait_until "the storage series to go stale" 30 storage_gone
gap=$(date +%s)
pids+=("$(start_agent 19393)")
targets 19393 ephemeral-storage-exporter-b9q4z
wait_until "the new agent's series" 30 new_agent_scraped
# For longer than the alert's for: (3s): a resolved alert would be firing again by now.
wait_until "5 s past the new agent's first scrape" 10 bash -c "(( \$(date +%s) >= $(date +%s) + 5 ))"
after=$(active_at)
end=$(date +%s)

check "restart: the storage series were gone for a while (the gap is real)" "$( (( gap >= fired )) && echo yes)" yes
check "restart: one firing alert after the restart" "$(echo "$after" | grep -c .)" 1
check "restart: activeAt unchanged" "$after" "$before"
# ALERTS continuous: a firing sample at every 1 s step from firing to the end (a resolved alert
# leaves steps empty: its series gets a stale marker, and the next one waits out for: as pending).
steps=$(api /api/v1/query_range --data-urlencode "query=ALERTS{$alert, alertstate=\"firing\"}" \
	--data-urlencode "start=$fired" --data-urlencode "end=$end" --data-urlencode "step=1" |
	python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(len(r), sum(len(s["values"]) for s in r))')
check "restart: ALERTS one series, a sample at every step ($((end - fired + 1)) steps)" "$steps" "1 $((end - fired + 1))"
check "restart: the alert carries no agent pod or instance" \
	"$(query 19390 "ALERTS{$alert} and ({instance!=\"\"} or {pod=~\"ephemeral-storage-exporter.*\"} or {container!=\"\"})")" 0
exit $fail

#!/usr/bin/env bash
# Copies the alert rules and the Grafana dashboards into the Helm chart, which cannot read files
# outside its own directory: alerts/rules.yaml -> files/rules.yaml, dashboards/*.json ->
# files/dashboards/. Copies of dashboards that no longer exist are removed. deploy/test
# (TestChartFilesInSync) fails when the copies are stale. Run from anywhere: make deploy-sync.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
files="$root/deploy/helm/ephemeral-storage-exporter/files"
mkdir -p "$files/dashboards"

if [[ -f "$root/alerts/rules.yaml" ]]; then
	cp "$root/alerts/rules.yaml" "$files/rules.yaml"
	echo "synced alerts/rules.yaml"
else
	rm -f "$files/rules.yaml"
	echo "skipped alerts/rules.yaml: it does not exist (prometheusRule.enabled will fail to render)"
fi

shopt -s nullglob
n=0
for f in "$files"/dashboards/*.json; do
	[[ -f "$root/dashboards/$(basename "$f")" ]] || { rm -f "$f"; echo "removed stale $(basename "$f")"; }
done
for f in "$root"/dashboards/*.json; do
	cp "$f" "$files/dashboards/"
	n=$((n + 1))
done
if ((n == 0)); then
	echo "skipped dashboards: dashboards/*.json does not exist (dashboards.enabled will fail to render)"
else
	echo "synced $n dashboard(s)"
fi

#!/usr/bin/env bash
# Builds the Prometheus Operator (github.com/prometheus-operator/prometheus-operator, cmd/operator)
# at the version pinned below from the Go module proxy and caches it, with the module's CRDs
# (example/prometheus-operator-crd/), under ${E2E_CACHE:-~/.cache/ese-e2e}/prometheus-operator-<v>/.
# Prints that directory on stdout. Not prometheus-config-reloader: the suite runs the Prometheus
# the operator configures as a process (hack/e2e/operator.sh). `--helm` and `--prometheus` build
# (or reuse) helm and that Prometheus, and print their paths.
#
# The module's go.mod replaces its own pkg/apis/monitoring and pkg/client with ./pkg/..., which are
# separate modules and so not in the module's zip: the build uses a copy of the module with those
# two replace directives dropped, i.e. the published pkg/apis/monitoring and pkg/client of the same
# version (what `go get github.com/prometheus-operator/prometheus-operator@<v>` users get).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GO=${GO:-go}
# `go list -m -versions github.com/prometheus-operator/prometheus-operator` (2026-12-01): v0.85.0.
VERSION=${E2E_OPERATOR_VERSION:-v0.85.0}
MOD=github.com/prometheus-operator/prometheus-operator
CACHE_ROOT="${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ese-e2e}"
cache="$CACHE_ROOT/prometheus-operator-$VERSION"

# --helm: the helm CLI at the helm.sh/helm/v3 version deploy/test/go.mod pins (the chart's tests
# render with that library), cached in <cache>/helm-<version>/helm (the path build-k8s.sh --helm
# uses too); prints the binary's path.
if [[ "${1:-}" == "--helm" ]]; then
  hv=$(awk '$1=="helm.sh/helm/v3" {print $2}' "$ROOT/deploy/test/go.mod")
  [[ -n "$hv" ]] || { echo "build-operator: no helm.sh/helm/v3 in deploy/test/go.mod" >&2; exit 1; }
  dir="$CACHE_ROOT/helm-$hv"
  if [[ ! -x "$dir/helm" ]]; then
    echo "build-operator: building helm $hv (go install -p ${E2E_GO_P:-1}; cold: a few minutes)" >&2
    tmp=$(mktemp -d "$CACHE_ROOT/helm-build.XXXXXX")
    (cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp" "$GO" install -p "${E2E_GO_P:-1}" -trimpath -ldflags '-s -w' "helm.sh/helm/v3/cmd/helm@$hv")
    mkdir -p "$dir" && mv "$tmp/helm" "$dir/helm" && rm -rf "$tmp"
  fi
  echo "$dir/helm"
  exit 0
fi

# --prometheus: the Prometheus the operator's configuration runs on. Debian's prometheus (2.42.0+ds)
# is built without kubernetes_sd ("field kubernetes_sd_configs not found in type
# config.ScrapeConfig"), which every configuration the operator generates uses. So
# github.com/prometheus/prometheus/cmd/prometheus at the pinned module version (v0.316.0 is
# Prometheus 3.16.0), with only the kubernetes service discovery (build tags remove_all_sd,
# enable_kubernetes_sd; file and http discovery are always in), no web UI assets (the API only).
# Cached in <cache>/prometheus-<version>/prometheus; prints the binary's path.
PROM_MODULE_VERSION=${E2E_PROMETHEUS_MODULE_VERSION:-v0.316.0}
if [[ "${1:-}" == "--prometheus" ]]; then
  dir="$CACHE_ROOT/prometheus-$PROM_MODULE_VERSION"
  if [[ ! -x "$dir/prometheus" ]]; then
    # Module v0.3MM.P is Prometheus 3.MM.P (v0.316.0: 3.16.0, the module's VERSION file).
    pv=$(awk -F. '{printf "%d.%d.%s", int($2 / 100), $2 % 100, $3}' <<<"${PROM_MODULE_VERSION#v}")
    echo "build-operator: building prometheus $pv (module $PROM_MODULE_VERSION, go install -p ${E2E_GO_P:-1}; cold: many minutes)" >&2
    tmp=$(mktemp -d "$CACHE_ROOT/prometheus-build.XXXXXX")
    (cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp" "$GO" install -p "${E2E_GO_P:-1}" -trimpath -tags remove_all_sd,enable_kubernetes_sd \
      -ldflags "-X github.com/prometheus/common/version.Version=$pv -X github.com/prometheus/common/version.Branch=module-$PROM_MODULE_VERSION" \
      "github.com/prometheus/prometheus/cmd/prometheus@$PROM_MODULE_VERSION")
    mkdir -p "$dir" && mv "$tmp/prometheus" "$dir/prometheus" && rm -rf "$tmp"
  fi
  echo "$dir/prometheus"
  exit 0
fi

if [[ -x "$cache/operator" && -d "$cache/crds" && -d "$cache/rbac" ]]; then
  echo "build-operator: prometheus-operator $VERSION cached at $cache" >&2
  echo "$cache"
  exit 0
fi
mkdir -p "$cache"
start=$(date +%s)
src=$(cd "$ROOT" && "$GO" mod download -json "$MOD@$VERSION" | awk -F'"' '$2=="Dir" {print $4}')
[[ -d "$src/cmd/operator" ]] || { echo "build-operator: $MOD@$VERSION has no cmd/operator ($src)" >&2; exit 1; }
work=$(mktemp -d /tmp/ese-operator-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
(
  cd "$work/src"
  "$GO" mod edit -dropreplace "$MOD/pkg/apis/monitoring" -dropreplace "$MOD/pkg/client"
  echo "build-operator: building $MOD/cmd/operator $VERSION (go build -p ${E2E_GO_P:-1}; cold: several minutes)" >&2
  GOFLAGS=-mod=mod CGO_ENABLED=0 "$GO" build -p "${E2E_GO_P:-1}" -trimpath \
    -ldflags "-X github.com/prometheus/common/version.Version=${VERSION#v}" -o "$cache/operator.tmp" ./cmd/operator
)
# The CRDs and the example RBAC of the operator and of Prometheus, as the module ships them.
rm -rf "$cache/crds" "$cache/rbac" && mkdir -p "$cache/rbac"
cp -r "$src/example/prometheus-operator-crd" "$cache/crds"
cp -r "$src/example/rbac/prometheus-operator" "$src/example/rbac/prometheus" "$cache/rbac/"
chmod -R u+w "$cache/crds" "$cache/rbac"
mv "$cache/operator.tmp" "$cache/operator"
echo "build-operator: built in $(( $(date +%s) - start ))s" >&2
echo "$cache"

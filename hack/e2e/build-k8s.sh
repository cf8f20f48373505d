#!/usr/bin/env bash
# Builds kube-apiserver, kubelet, kube-controller-manager, kube-scheduler and kubectl from the k8s.io/kubernetes Go module pinned in
# test/e2e/k8sbin/go.mod and caches them under ${E2E_CACHE:-~/.cache/ese-e2e}/<version>/, so warm
# runs skip the build. Prints the cache directory on stdout.
#   hack/e2e/build-k8s.sh                 build (or reuse) the pinned version
#   hack/e2e/build-k8s.sh --helm          build (or reuse) helm, print its path
#   hack/e2e/build-k8s.sh --regen-gomod V rewrite test/e2e/k8sbin/go.mod for Kubernetes V
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MOD="$ROOT/test/e2e/k8sbin"
GO=${GO:-go}
GOBUILD_P=${E2E_GO_P:-1}   # keep CPU use modest on shared 2-core machines

if [[ "${1:-}" == "--regen-gomod" ]]; then
  v=${2:?version, e.g. v1.34.2}
  staging="v0.${v#v1.}"
  modfile=$(cd "$MOD" && GOFLAGS=-mod=mod "$GO" mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    printf 'module github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/test/e2e/k8sbin\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$v"
    grep '=> ./staging' "$modfile" | awk -v s="$staging" '{print "\t"$1" => "$1" "s}'
    printf ')\n'
  } > "$MOD/go.mod"
  rm -f "$MOD/go.sum"
  echo "wrote $MOD/go.mod; run $0 to build and refresh go.sum" >&2
  exit 0
fi

# --helm: the helm CLI at the helm.sh/helm/v3 version deploy/test/go.mod pins (the chart's own tests
# render with that library), cached in <cache>/helm-<version>/helm; prints the binary's path.
if [[ "${1:-}" == "--helm" ]]; then
  hv=$(awk '$1=="helm.sh/helm/v3" {print $2}' "$ROOT/deploy/test/go.mod")
  [[ -n "$hv" ]] || { echo "build-k8s: no helm.sh/helm/v3 in deploy/test/go.mod" >&2; exit 1; }
  dir="${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ese-e2e}/helm-$hv"
  if [[ -x "$dir/helm" ]]; then
    echo "build-k8s: helm $hv cached at $dir/helm" >&2
  else
    echo "build-k8s: building helm $hv (go install -p $GOBUILD_P; cold: a few minutes)" >&2
    start=$(date +%s)
    mkdir -p "$dir/tmp"
    (cd "$dir" && CGO_ENABLED=0 GOBIN="$dir/tmp" "$GO" install -p "$GOBUILD_P" -trimpath -ldflags '-s -w' "helm.sh/helm/v3/cmd/helm@$hv")
    mv "$dir/tmp/helm" "$dir/helm" && rmdir "$dir/tmp"
    echo "build-k8s: built helm in $(( $(date +%s) - start ))s" >&2
  fi
  echo "$dir/helm"
  exit 0
fi

version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$MOD/go.mod")
cache="${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ese-e2e}/$version"
mkdir -p "$cache"
# The version the binaries report (/version, the node's kubeletVersion, --version), as a release
# build stamps it: helm checks the chart's kubeVersion against it, the agent reads the kubelet's.
minor=${version#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
# kubectl (the suite's `kubectl apply -k`, the kustomize install) is built like the others, from the
# same module: its kustomize is the one kubectl $version embeds.
binversion() { # binversion BIN: what BIN says its version is
  if [[ $1 == */kubectl ]]; then
    "$1" version --client 2>/dev/null | sed -n 's/^Client Version: /Kubernetes /p'
  else
    "$1" --version 2>/dev/null
  fi
}
for bin in kube-apiserver kubelet kube-controller-manager kube-scheduler kubectl; do
  # A binary that does not print the pinned version (e.g. built before the stamp) is relinked.
  if [[ -x "$cache/$bin" ]] && [[ "$(binversion "$cache/$bin")" == "Kubernetes $version" ]]; then
    echo "build-k8s: $bin $version cached at $cache/$bin" >&2
    continue
  fi
  echo "build-k8s: building $bin $version (go build -p $GOBUILD_P; cold: several minutes)" >&2
  start=$(date +%s)
  (cd "$MOD" && CGO_ENABLED=0 GOFLAGS=-mod=mod "$GO" build -p "$GOBUILD_P" -trimpath -ldflags "$ldflags" \
      -o "$cache/$bin.tmp" "k8s.io/kubernetes/cmd/$bin")
  mv "$cache/$bin.tmp" "$cache/$bin"
  echo "build-k8s: built $bin in $(( $(date +%s) - start ))s" >&2
done
echo "$cache"

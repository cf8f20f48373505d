#!/usr/bin/env bash
# Builds kube-apiserver and kubelet from the k8s.io/kubernetes Go module pinned in
# test/e2e/k8sbin/go.mod and caches them under ${E2E_CACHE:-~/.cache/ese-e2e}/<version>/, so warm
# runs skip the build. Prints the cache directory on stdout.
#   hack/e2e/build-k8s.sh                 build (or reuse) the pinned version
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

version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$MOD/go.mod")
cache="${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ese-e2e}/$version"
mkdir -p "$cache"
for bin in kube-apiserver kubelet; do
  if [[ -x "$cache/$bin" ]]; then
    echo "build-k8s: $bin $version cached at $cache/$bin" >&2
    continue
  fi
  echo "build-k8s: building $bin $version (go build -p $GOBUILD_P; cold: several minutes)" >&2
  start=$(date +%s)
  (cd "$MOD" && CGO_ENABLED=0 GOFLAGS=-mod=mod "$GO" build -p "$GOBUILD_P" -trimpath -ldflags '-s -w' \
      -o "$cache/$bin.tmp" "k8s.io/kubernetes/cmd/$bin")
  mv "$cache/$bin.tmp" "$cache/$bin"
  echo "build-k8s: built $bin in $(( $(date +%s) - start ))s" >&2
done
echo "$cache"

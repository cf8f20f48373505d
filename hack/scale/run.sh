#!/usr/bin/env bash
# The scale harness (docs/scale.md): a real etcd + kube-apiserver (hack/scale/cluster.sh) inside a
# network namespace of its own, the Go scenarios of test/scale against it (simulated nodes, pods and
# Events; real agent processes on fake kubelets; the kubectl plugin through the node proxy).
#
#   hack/scale/run.sh short   the long suite's form: the per-agent traffic test (a few minutes)
#   hack/scale/run.sh full    the curves at N = 10, 100, 1000 nodes, before and after, plugin timings
#
# Knobs: SCALE_RUN (go test -run), SCALE_AGENT_BIN (an agent binary to measure instead of the work
# tree's, e.g. main's for "before"), SCALE_ARTIFACTS, SCALE_LOCK (default /work/apiserver.lock when
# /work exists; empty: no lock), SCALE_TIMEOUT. Needs root (network namespace) and the Go toolchain.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GO=${GO:-go}
MODE=${1:-short}
# Each scenario gets a fresh cluster (they name nodes alike); the lock is taken per cluster.
case $MODE in
  short) RUNS=('^TestAgentWatchTrafficIndependentOfOtherNodes$') TIMEOUT=${SCALE_TIMEOUT:-5m} ;;
  full) RUNS=('^TestAgentWatchTrafficIndependentOfOtherNodes$' '^TestKubectlTopTimings$' '^TestScaleCurves$') TIMEOUT=${SCALE_TIMEOUT:-14m} ;;
  *) echo "usage: $0 short|full" >&2; exit 2 ;;
esac
[[ -n "${SCALE_RUN:-}" ]] && RUNS=("$SCALE_RUN")
[[ $(id -u) == 0 ]] || { echo "scale: must run as root (network namespace)" >&2; exit 1; }
export SCALE_ARTIFACTS=${SCALE_ARTIFACTS:-$ROOT/test/scale/_artifacts/$(date +%Y%m%dT%H%M%S)-$MODE}
mkdir -p "$SCALE_ARTIFACTS/logs"
SCALE_ARTIFACTS=$(cd "$SCALE_ARTIFACTS" && pwd)
W=$(mktemp -d /tmp/ese-scale.XXXXXX)
NS=ese-scale-$$
cleanup() { local rc=$?; ip netns delete "$NS" 2>/dev/null || true; rm -rf "$W"; exit "$rc"; }
trap cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM

export SCALE_K8S_BIN=$("$ROOT/hack/e2e/build-k8s.sh")
mkdir -p "$W/bin"
AGENT_FROM="given (SCALE_AGENT_BIN)"
if [[ -z "${SCALE_AGENT_BIN:-}" ]]; then
  (cd "$ROOT" && CGO_ENABLED=0 "$GO" build -p 1 -trimpath -o "$W/bin/ephemeral-storage-exporter" ./cmd/ephemeral-storage-exporter)
  (cd "$ROOT" && CGO_ENABLED=0 "$GO" build -p 1 -trimpath -o "$W/bin/ephemeral-storage-events" ./cmd/ephemeral-storage-events)
  SCALE_AGENT_BIN=$W/bin/ephemeral-storage-exporter
  AGENT_FROM="built from $ROOT at $(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
fi
(cd "$ROOT" && CGO_ENABLED=0 "$GO" build -p 1 -trimpath -o "$W/bin/kubectl-ephemeral_storage" ./cmd/kubectl-ephemeral_storage)
(cd "$ROOT/test/scale" && "$GO" test -p 1 -c -o "$W/bin/scale.test" .)
export SCALE_AGENT_BIN SCALE_PLUGIN_BIN=$W/bin/kubectl-ephemeral_storage SCALE_WORKDIR=$W SCALE_MODE=$MODE
{
  echo "kube-apiserver: $(basename "$SCALE_K8S_BIN") ($("$SCALE_K8S_BIN/kube-apiserver" --version 2>&1 | head -1))"
  echo "etcd: $(etcd --version 2>&1 | head -1)"
  echo "agent: $SCALE_AGENT_BIN, $AGENT_FROM"
  echo "agent args: ${SCALE_AGENT_ARGS:-(none)}"
  echo "agent knows --events.cluster-watch: $("$SCALE_AGENT_BIN" serve --help 2>&1 | grep -q -- '--\[no-\]events.cluster-watch\|--events.cluster-watch' && echo yes || echo no)"
  echo "go: $("$GO" version)"; echo "cpus: $(nproc)"
} >"$SCALE_ARTIFACTS/versions.txt"

# The namespace: loopback for the API server, agents and the harness; one 10.x address (a veth
# pair, both ends inside) for the fake kubelets the node proxy dials. Nothing touches the host's
# interfaces.
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add scale0 type veth peer name scale1
ip -n "$NS" addr add 10.123.0.1/24 dev scale0
ip -n "$NS" link set scale0 up
ip -n "$NS" link set scale1 up
export SCALE_NODE_IP=10.123.0.1

LOCK=${SCALE_LOCK-/work/apiserver.lock}
[[ -d $(dirname "${LOCK:-/nonexistent/x}") ]] || LOCK=
rc=0
for RUN in "${RUNS[@]}"; do
  rm -rf "$W/etcd" "$W/pki" "$W/apiserver-certs"
  run=(ip netns exec "$NS" "$ROOT/hack/scale/cluster.sh" -- bash -c \
    'cd "$0/test/scale" && "$SCALE_WORKDIR/bin/scale.test" -test.v -test.count=1 -test.timeout="$1" -test.run "$2" 2>&1 | tee -a "$SCALE_ARTIFACTS/go-test.log"; exit "${PIPESTATUS[0]}"' \
    "$ROOT" "$TIMEOUT" "$RUN")
  set +e
  if [[ -n $LOCK ]]; then flock -o "$LOCK" "${run[@]}"; else "${run[@]}"; fi
  r=$?
  set -e
  echo "scale: $RUN exit $r" >&2
  (( r == 0 )) || rc=$r
done
echo "scale: exit $rc; artifacts in $SCALE_ARTIFACTS" >&2
exit "$rc"

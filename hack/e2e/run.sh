#!/usr/bin/env bash
# The e2e suite (make e2e): brings a real single-node cluster up (up.sh), runs the Go scenarios of
# test/e2e against it (the agent with its ServiceAccount + RBAC, a real Prometheus, a real kubelet
# evicting a pod), tears everything down. Artifacts: $E2E_ARTIFACTS (default test/e2e/_artifacts/<time>).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GO=${GO:-go}
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-$ROOT/test/e2e/_artifacts/$(date +%Y%m%dT%H%M%S)}
mkdir -p "$E2E_ARTIFACTS"
# The alert rules the e2e Prometheus loads: rendered by the project's generator (mixin/) from
# the suite's copy of alerts/config.yaml with short windows; never edited by hand.
(cd "$ROOT/mixin" && "$GO" run . -config "$ROOT/test/e2e/testdata/alerts-config.yaml" -out "$E2E_ARTIFACTS/mixin") \
  >"$E2E_ARTIFACTS/mixin.log" 2>&1 || { cat "$E2E_ARTIFACTS/mixin.log" >&2; exit 1; }
export E2E_RULES=$E2E_ARTIFACTS/mixin/alerts/rules.yaml
# Compile the test binary before the cluster is up, so the cluster does not idle during it.
(cd "$ROOT/test/e2e" && "$GO" test -p "${E2E_GO_P:-1}" -c -o "$E2E_ARTIFACTS/e2e.test" .)
TEST_CMD='cd "$E2E_ROOT/test/e2e" && "$E2E_TEST_BIN" -test.v -test.count=1 -test.timeout=15m ${E2E_RUN:+-test.run "$E2E_RUN"} 2>&1 | tee "$E2E_ARTIFACTS/go-test.log"; exit "${PIPESTATUS[0]}"'
export E2E_TEST_BIN=$E2E_ARTIFACTS/e2e.test
# The agent, plugin and test-image binaries and the agent's image, built by the first cluster's
# up.sh and reused by the second (same work tree, same make e2e); removed on exit.
if [[ -z "${E2E_BUILD_CACHE:-}" ]]; then
  E2E_BUILD_CACHE=$(mktemp -d /tmp/ese-e2e-build.XXXXXX)
  export E2E_BUILD_CACHE
  trap 'rm -rf "$E2E_BUILD_CACHE"' EXIT
fi
# E2E_SCENARIOS picks the cluster runs (default both): "main" is the cluster every scenario but
# TestDiskPressure runs on; "diskpressure" a second cluster whose kubelet root dir (nodefs) and
# containerd root (dedicated imagefs) are loop-mounted ext4 images (up.sh E2E_LOOP_*), for
# TestDiskPressure only. E2E_RECORD=1 also writes that run's recordings to testdata/kubelet/e2e-v1.34.
rc=0
if [[ ",${E2E_SCENARIOS:-main,diskpressure}," == *,main,* ]]; then
  "$ROOT/hack/e2e/up.sh" -- bash -c "$TEST_CMD" || rc=$?
fi
if [[ ",${E2E_SCENARIOS:-main,diskpressure}," == *,diskpressure,* ]]; then
  dp=$E2E_ARTIFACTS/diskpressure
  mkdir -p "$dp"
  record=()
  [[ -z "${E2E_RECORD:-}" ]] || record=(E2E_RECORD_DIR="$ROOT/testdata/kubelet/e2e-v1.34")
  env E2E_ARTIFACTS="$dp" E2E_OPERATOR=0 E2E_LOOP_NODEFS=1 E2E_LOOP_IMAGEFS=1 E2E_NODEFS_AVAILABLE=30% E2E_RUN='^TestDiskPressure$' "${record[@]}" \
    "$ROOT/hack/e2e/up.sh" -- bash -c "$TEST_CMD" || rc=$?
  # Teardown unmounted the images (mount -o loop detaches on unmount) and removed them.
  if losetup -l -n -O BACK-FILE 2>/dev/null | grep -E '/ese-e2e\.[^/]+/loop/'; then
    echo "e2e: FAILED: loop devices of the DiskPressure run still attached (above)" >&2
    rc=1
  fi
fi
exit "$rc"

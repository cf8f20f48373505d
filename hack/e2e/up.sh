#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster, from a fresh machine, inside a network namespace
# of its own (ese-e2e-<pid>: lo, and an interface with the node address $E2E_NODE_IP and the
# kubernetes Service's ClusterIP; nothing is added to the machine's own interfaces):
#   etcd (Debian etcd-server) -> kube-apiserver, kube-controller-manager, kube-scheduler (built from
#   k8s.io/kubernetes, see build-k8s.sh) -> containerd + runc + CNI bridge/host-local (Debian)
#   -> the suite's test image and the agent's image (buildah, from the repo's Dockerfile), imported
#   -> kubelet (same build) registered as node $E2E_NODE, webhook authn/authz on.
# The script runs twice: outside the namespace (packages, builds, images, the namespace itself),
# then again inside it (E2E_NETNS set) for everything that runs; the outer one deletes the
# namespace when the inner one ends.
# Everything lives in a temp dir and is torn down on exit (EXIT/INT/TERM); every process log and a
# dump of the cluster's state are kept under $E2E_ARTIFACTS.
#
#   hack/e2e/up.sh              bring the cluster up and wait (Ctrl-C tears it down)
#   hack/e2e/up.sh -- CMD ...   bring it up, run CMD with the cluster's env (see $E2E_ARTIFACTS/env),
#                               tear down, exit with CMD's status
# Needs root (kubelet, containerd) and the Go toolchain. Knobs: E2E_ARTIFACTS, E2E_NODE,
# E2E_KEEP_WORKDIR=1, E2E_SKIP_APT=1, E2E_GO_P (go build -p, default 1), E2E_CACHE.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GO=${GO:-go}
export E2E_NODE=${E2E_NODE:-e2e-node}
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-$ROOT/test/e2e/_artifacts/$(date +%Y%m%dT%H%M%S)}
LOGS=$E2E_ARTIFACTS/logs
mkdir -p "$LOGS"
E2E_ARTIFACTS=$(cd "$E2E_ARTIFACTS" && pwd)
LOGS=$E2E_ARTIFACTS/logs
T0=${E2E_T0:-$(date +%s)}
export E2E_T0=$T0   # the test's timing lines count from here too (timings.txt, report.txt)
export E2E_NODE_IP=${E2E_NODE_IP:-10.201.0.10}   # the node's InternalIP, inside the namespace
step() { echo "e2e [$(( $(date +%s) - T0 ))s] $*" | tee -a "$E2E_ARTIFACTS/timings.txt" >&2; }
die() { echo "e2e: FAILED: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (kubelet and containerd need it)"

# ---------------------------------------------------------------------------------------------
# The report (report.txt, also on stderr): written by whichever run of this script ends last.
report() { # report RC: versions, phase durations, where the logs are -> report.txt, and stderr
  local f=$E2E_ARTIFACTS/report.txt
  {
    echo "# e2e report ($(date -u +%Y-%m-%dT%H:%M:%SZ)), exit status $1"
    echo
    echo "## components (version, how started)"
    cat "$E2E_ARTIFACTS/versions.txt" 2>/dev/null || echo "(versions not collected: failed before the binaries were built)"
    echo
    echo "## phases (start offset, duration until the next step, step)"
    awk 'match($0, /^e2e \[[0-9]+s\] /) { t = substr($0, 6, RLENGTH - 8) + 0; n++; ts[n] = t; what[n] = substr($0, RLENGTH + 1) }
         END { for (i = 1; i <= n; i++) printf "%5ds %5s  %s\n", ts[i], (i < n ? ts[i+1] - ts[i] "s" : ""), what[i] }' \
      "$E2E_ARTIFACTS/timings.txt" 2>/dev/null
    echo
    echo "## results"
    if [[ -f "$E2E_ARTIFACTS/go-test.log" ]]; then
      grep -E '^\s*--- (PASS|FAIL|SKIP)|^(PASS|FAIL|ok)' "$E2E_ARTIFACTS/go-test.log" || true
    else
      echo "(no go-test.log)"
    fi
    if [[ -s "$E2E_ARTIFACTS/install-errors.txt" ]]; then
      echo
      echo "## install errors (the components' own messages)"
      cat "$E2E_ARTIFACTS/install-errors.txt"
    fi
    echo
    echo "## logs and artifacts (under $E2E_ARTIFACTS)"
    (cd "$E2E_ARTIFACTS" && find . -maxdepth 2 -type f ! -name e2e.test ! -path './mixin/*' | sort | while read -r x; do
      printf '  %-36s %8s bytes\n' "${x#./}" "$(stat -c %s "$x")"; done)
  } >"$f"
  echo >&2; cat "$f" >&2
}

if [[ -z "${E2E_NETNS:-}" ]]; then
# ---------------------------------------------------------------------------------------------
# 1. Packages (idempotent: apt only when something is missing).
need_pkgs=()
for pair in etcd:etcd-server containerd:containerd runc:runc ctr:containerd prometheus:prometheus \
            openssl:openssl curl:curl ss:iproute2 buildah:buildah nsenter:util-linux \
            /usr/lib/cni/bridge:containernetworking-plugins; do
  command -v "${pair%%:*}" >/dev/null || [[ -x "${pair%%:*}" ]] || need_pkgs+=("${pair#*:}")
done
if (( ${#need_pkgs[@]} )); then
  [[ -z "${E2E_SKIP_APT:-}" ]] || die "missing ${need_pkgs[*]} and E2E_SKIP_APT is set"
  step "apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$LOGS/apt.log" 2>&1
  apt-get install -y --no-install-recommends "${need_pkgs[@]}" >>"$LOGS/apt.log" 2>&1 || {
    tail -20 "$LOGS/apt.log" >&2; die "apt-get install"; }
fi
# Debian starts a system containerd and etcd on install; ours run on their own sockets/ports.
step "packages ok: $(etcd --version | head -1), $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), $(prometheus --version 2>&1 | head -1)"

# ---------------------------------------------------------------------------------------------
# 2. Binaries: the kube components + helm (cached per version), the agent, the test image's binary.
step "kube binaries + helm (build-k8s.sh)"
K8S_BIN=$("$ROOT/hack/e2e/build-k8s.sh" 2> >(tee "$LOGS/build-k8s.log" >&2))
HELM_BIN=$("$ROOT/hack/e2e/build-k8s.sh" --helm 2> >(tee -a "$LOGS/build-k8s.log" >&2))
export E2E_K8S_BIN=$K8S_BIN E2E_HELM_BIN=$HELM_BIN E2E_KUBECTL_BIN=$K8S_BIN/kubectl
# The Prometheus Operator path's binaries (operator.sh, inside the namespace, only reads the cache):
# built here, where the module proxy is reachable; a cold build inside the namespace fails.
if [[ "${E2E_OPERATOR:-1}" != 0 ]]; then
  step "prometheus operator + prometheus (build-operator.sh; cached)"
  "$ROOT/hack/e2e/build-operator.sh" >/dev/null 2> >(tee "$LOGS/build-operator.log" >&2)
  "$ROOT/hack/e2e/build-operator.sh" --prometheus >/dev/null 2> >(tee -a "$LOGS/build-operator.log" >&2)
fi
W=$(mktemp -d /tmp/ese-e2e.XXXXXX)
export E2E_WORKDIR=$W
NS=ese-e2e-$$
outer_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  ip netns delete "$NS" 2>/dev/null || true
  if [[ -d "$W" && -z "${E2E_KEEP_WORKDIR:-}" ]]; then
    awk -v w="$W" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$W" 2>/dev/null || true
  fi
  # The inner run reports; only a failure before it started is reported here.
  [[ -f "$W.inner-started" ]] || report "$rc" || true
  rm -f "$W.inner-started"
  exit "$rc"
}
trap outer_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export E2E_AGENT_IMAGE=e2e.local/ephemeral-storage-exporter:e2e
mkdir -p "$W/bin" "$W/image-ctx/bin"
# E2E_BUILD_CACHE (set by run.sh for one `make e2e`): the second cluster (the DiskPressure run)
# reuses the binaries and the image the first one built from the same work tree.
if [[ -n "${E2E_BUILD_CACHE:-}" && -f "${E2E_BUILD_CACHE}/done" ]]; then
  step "agent, kubectl plugin, test image binaries and the agent's image: reused from this make e2e's first cluster ($E2E_BUILD_CACHE)"
  cp -a "$E2E_BUILD_CACHE/bin/." "$W/bin/"
  cp "$E2E_BUILD_CACHE/agent-image.tar" "$W/agent-image.tar"
  AGENT_IMAGE_ID=$(cat "$E2E_BUILD_CACHE/agent-image.id")
else
  step "agent (make build, in the image), kubectl plugin + test image binaries (go build -p ${E2E_GO_P:-1})"
  # Both binaries of the image (the agent and the events role), as `make build` makes them.
  (cd "$ROOT" && GOFLAGS=-p=${E2E_GO_P:-1} make --no-print-directory build GO="$GO" BIN="$W/image-ctx/bin/ephemeral-storage-exporter" \
    EVENTS_BIN="$W/image-ctx/bin/ephemeral-storage-events" >/dev/null)
  cp "$W/image-ctx/bin/ephemeral-storage-exporter" "$W/image-ctx/bin/ephemeral-storage-events" "$W/bin/"
  (cd "$ROOT" && CGO_ENABLED=0 "$GO" build -p "${E2E_GO_P:-1}" -trimpath -o "$W/bin/kubectl-ephemeral_storage" ./cmd/kubectl-ephemeral_storage)
  (cd "$ROOT/test/e2e" && CGO_ENABLED=0 "$GO" build -p "${E2E_GO_P:-1}" -trimpath -ldflags '-s -w' -o "$W/bin/e2e-image" ./image)

  # The agent's image: the repo's Dockerfile on that binary, built with buildah (vfs storage in the
  # work dir, chroot isolation: no daemon), saved as a docker archive that containerd imports.
  step "agent image (buildah bud -f Dockerfile)"
  B=(buildah --storage-driver vfs --root "$W/buildah/store" --runroot "$W/buildah/run")
  "${B[@]}" bud --quiet --isolation chroot -f "$ROOT/Dockerfile" -t "$E2E_AGENT_IMAGE" "$W/image-ctx" >"$LOGS/buildah.log" 2>&1 || {
    tail -20 "$LOGS/buildah.log" >&2; die "buildah bud"; }
  "${B[@]}" push "$E2E_AGENT_IMAGE" "docker-archive:$W/agent-image.tar:$E2E_AGENT_IMAGE" >>"$LOGS/buildah.log" 2>&1 || {
    tail -20 "$LOGS/buildah.log" >&2; die "buildah push"; }
  AGENT_IMAGE_ID=$("${B[@]}" inspect --type image --format '{{.FromImageID}}' "$E2E_AGENT_IMAGE" 2>/dev/null || true)
  "${B[@]}" rmi -af >/dev/null 2>&1 || true
  rm -rf "$W/buildah"
  if [[ -n "${E2E_BUILD_CACHE:-}" ]]; then
    mkdir -p "$E2E_BUILD_CACHE/bin"
    cp -a "$W/bin/." "$E2E_BUILD_CACHE/bin/"
    cp "$W/agent-image.tar" "$E2E_BUILD_CACHE/agent-image.tar"
    echo "$AGENT_IMAGE_ID" >"$E2E_BUILD_CACHE/agent-image.id"
    touch "$E2E_BUILD_CACHE/done"
  fi
fi
export E2E_AGENT_BIN=$W/bin/ephemeral-storage-exporter E2E_PLUGIN_BIN=$W/bin/kubectl-ephemeral_storage
{
  echo "etcd: $(etcd --version 2>&1 | head -1) (Debian etcd-server; started by up.sh in the netns)"
  # The module version pinned in test/e2e/k8sbin/go.mod, stamped at link time (build-k8s.sh).
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    echo "$b: k8s.io/kubernetes $(basename "$K8S_BIN") (built by build-k8s.sh, $K8S_BIN/$b; --version: $("$K8S_BIN/$b" --version 2>&1 | head -1); started by up.sh in the netns)"
  done
  echo "kubectl: k8s.io/kubernetes $(basename "$K8S_BIN") (built by build-k8s.sh, $K8S_BIN/kubectl; $("$K8S_BIN/kubectl" version --client 2>&1 | tr '\n' ' '); run by the test: kubectl apply -k, the kustomize install)"
  echo "containerd: $(containerd --version 2>&1 | head -1) (Debian; started by up.sh in the netns)"
  echo "runc: $(runc --version 2>&1 | head -1) (Debian)"
  echo "cni: Debian containernetworking-plugins $(dpkg-query -W -f '${Version}' containernetworking-plugins 2>/dev/null) (bridge + host-local, /usr/lib/cni; run by containerd)"
  echo "prometheus: $(prometheus --version 2>&1 | head -1) (Debian; started by the test in the netns, scrapes the agent's pod IP)"
  echo "helm: helm.sh/helm/v3 $(basename "$(dirname "$HELM_BIN")" | sed 's/^helm-//') (the version deploy/test/go.mod pins; built by build-k8s.sh --helm, $HELM_BIN; run by the test: helm install/upgrade)"
  echo "buildah: $(buildah --version 2>&1 | head -1) (Debian; built the agent's image from Dockerfile)"
  echo "agent: $("$E2E_AGENT_BIN" --version 2>&1 | head -1) (built from $ROOT, $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no git')); image $E2E_AGENT_IMAGE ${AGENT_IMAGE_ID:+id $AGENT_IMAGE_ID }installed by the test as a DaemonSet: helm install (main run), kubectl apply -k (DiskPressure run)"
  echo "go: $("$GO" version)"
} >"$E2E_ARTIFACTS/versions.txt"

# The network namespace: lo, and an interface holding the node's address and the kubernetes
# Service's ClusterIP (no kube-proxy runs: pods reach the API server at 10.96.0.1:443 because that
# address is local to the node's namespace, where the API server listens on :443).
step "network namespace $NS (node $E2E_NODE_IP, ClusterIP 10.96.0.1)"
ip netns add "$NS"
ip -n "$NS" link set lo up
# A veth pair with both ends inside (the dummy driver is not available on every machine): e2e0
# holds the addresses and the default route; e2e1 only gives it a carrier.
ip -n "$NS" link add e2e0 type veth peer name e2e1
ip -n "$NS" addr add "$E2E_NODE_IP/24" dev e2e0
ip -n "$NS" addr add 10.96.0.1/32 dev e2e0
ip -n "$NS" link set e2e1 up
ip -n "$NS" link set e2e0 up
ip -n "$NS" route add default dev e2e0
# nsenter --net (not `ip netns exec`, which also remounts /sys in a mount namespace of its own
# and so hides /sys/fs/cgroup from the kubelet and containerd): only the network is private.
touch "$W.inner-started"
# In the background, so that INT/TERM reach the inner run (a background job ignores SIGINT) and
# its teardown ends before the namespace goes.
nsenter --net="/run/netns/$NS" -- env E2E_NETNS="$NS" "$0" "$@" &
inner=$!
trap 'kill -TERM "$inner" 2>/dev/null || true' INT TERM
rc=0
wait "$inner" || rc=$?
while kill -0 "$inner" 2>/dev/null; do rc=0; wait "$inner" || rc=$?; done
exit "$rc"
fi

# =============================================================================================
# Inside the network namespace from here on.
K8S_BIN=$E2E_K8S_BIN W=$E2E_WORKDIR
# ---------------------------------------------------------------------------------------------
# Process bookkeeping and teardown.
PIDS=() NAMES=()
start() { # start NAME CMD...: background process, log in $LOGS/NAME.log
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  PIDS+=($!) NAMES+=("$name")
  echo "$!" >"$W/$name.pid"
}
alive() { kill -0 "$(cat "$W/$1.pid")" 2>/dev/null || { tail -30 "$LOGS/$1.log" >&2; die "$1 exited (log: $LOGS/$1.log)"; }; }
stop_pid() { # stop_pid PID: TERM, up to 10s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}
CTR() { ctr --address "$W/containerd/containerd.sock" -n k8s.io "$@"; }
dump_state() {
  [[ -n "${ADMIN_TOKEN:-}" && -n "${APISERVER:-}" ]] || return 0
  local d=$E2E_ARTIFACTS/state; mkdir -p "$d"
  for p in api/v1/nodes api/v1/pods api/v1/events api/v1/namespaces/default/events \
           apis/rbac.authorization.k8s.io/v1/clusterroles apis/rbac.authorization.k8s.io/v1/clusterrolebindings \
           api/v1/serviceaccounts apis/apps/v1/daemonsets api/v1/configmaps; do
    curl -sS --max-time 5 --cacert "$W/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
      "$APISERVER/$p" >"$d/$(echo "$p" | tr / _).json" 2>&1 || true
  done
  [[ -n "${KUBELET_URL:-}" ]] && curl -sS --max-time 5 --cacert "$W/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
      "$KUBELET_URL/stats/summary" >"$d/kubelet-stats-summary.json" 2>&1 || true
  [[ -d "$W/pod-logs" ]] && cp -r "$W/pod-logs" "$d/pod-logs" 2>/dev/null || true
  [[ -S "$W/containerd/containerd.sock" ]] && { CTR images ls >"$d/ctr-images.txt" 2>&1; CTR containers ls >"$d/ctr-containers.txt" 2>&1; } || true
}
teardown() {
  local rc=$?
  trap - EXIT INT TERM
  step "teardown (exit status $rc)"
  dump_state || true
  local i
  # kubelet first (so it stops restarting containers), then every container task, then the rest.
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do
    [[ ${NAMES[i]} == kubelet ]] && stop_pid "${PIDS[i]}"
  done
  if [[ -S "$W/containerd/containerd.sock" ]]; then
    for c in $(CTR tasks ls -q 2>/dev/null); do CTR tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
    sleep 1
    for c in $(CTR tasks ls -q 2>/dev/null); do CTR tasks delete -f "$c" >/dev/null 2>&1 || true; done
    for c in $(CTR containers ls -q 2>/dev/null); do CTR containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do
    stop_pid "${PIDS[i]}"
    # A process restarted by the test (TestAPIServerRestart) wrote its pid to the same file.
    local cur; cur=$(cat "$W/${NAMES[i]}.pid" 2>/dev/null || true)
    [[ -z "$cur" || "$cur" == "${PIDS[i]}" ]] || stop_pid "$cur"
  done
  # Shims outlive containerd: end the ones started for this work dir (matched by our socket path).
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$W/containerd/containerd.sock"; then
      stop_pid "${p#/proc/}"
    fi
  done
  # Unmount what the kubelet and containerd mounted under the work dir (deepest first).
  awk -v w="$W" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  if [[ -n "${E2E_KEEP_WORKDIR:-}" ]]; then
    echo "e2e: work dir kept: $W" >&2
  else
    rm -rf "$W" 2>/dev/null || echo "e2e: could not fully remove $W" >&2
  fi
  step "down; artifacts in $E2E_ARTIFACTS"
  report "$rc" || true
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { # a free TCP port on loopback, not handed out before in this run
  local p
  while :; do
    p=$(( 20000 + RANDOM % 20000 ))
    grep -qx "$p" "$W/ports" 2>/dev/null && continue
    [[ -z $(ss -Htln "sport = :$p") ]] || continue
    echo "$p" >>"$W/ports"; echo "$p"; return
  done
}
wait_for() { # wait_for SECONDS WHAT CMD...
  local secs=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || die "timed out after ${secs}s waiting for $what"
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# 3. PKI: one CA signs the API server's and the kubelet's serving certs (127.0.0.1, the node's
#    address, the kubernetes Service's ClusterIP) and the API server's client cert for kubelets. The
#    controller-manager publishes that CA to every namespace (kube-root-ca.crt), so a pod's
#    ServiceAccount ca.crt verifies the kubelet as in a cluster whose kubelet serving certificates
#    the cluster CA signs. An RSA key signs ServiceAccount tokens; static tokens for admin and node.
step "pki"
mkdir -p "$W/pki"
(
  cd "$W/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=ese-e2e-ca" 2>/dev/null
  for who in apiserver kubelet; do
    openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "/CN=$who" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:10.96.0.1,DNS:localhost,DNS:%s,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' "$E2E_NODE_IP" "$E2E_NODE" >"$who.ext"
    openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$who.crt" -days 2 -extfile "$who.ext" 2>/dev/null
  done
  # The API server's identity towards kubelets (node proxy, logs, exec): system:masters.
  openssl req -newkey rsa:2048 -nodes -keyout apiserver-kubelet-client.key -out apiserver-kubelet-client.csr \
    -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl x509 -req -in apiserver-kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out apiserver-kubelet-client.crt -days 2 -extfile client.ext 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)
ADMIN_TOKEN=$(openssl rand -hex 16)
NODE_TOKEN=$(openssl rand -hex 16)
cat >"$W/pki/tokens.csv" <<EOF
$ADMIN_TOKEN,e2e-admin,e2e-admin,"system:masters"
$NODE_TOKEN,system:node:$E2E_NODE,system:node:$E2E_NODE,"system:nodes"
EOF

# ---------------------------------------------------------------------------------------------
# 4. etcd + kube-apiserver.
step "etcd"
ETCD_PORT=$(free_port) ETCD_PEER=$(free_port)
start etcd etcd --name e2e --data-dir "$W/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER"
wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

step "kube-apiserver"
# :443 on every address of the namespace: the kubernetes Service (10.96.0.1:443, an address of the
# node's namespace) then reaches it without kube-proxy.
API_PORT=443
APISERVER=https://127.0.0.1:$API_PORT
# The API server's audit log records only the installed agent's pod lists and watches (the test of
# an API-server restart reads its re-list there) and its nodes/proxy gets (apiserver-proxy mode).
cat >"$W/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: ["system:serviceaccount:ephemeral-storage-exporter:ephemeral-storage-exporter"]
  verbs: [list, watch]
  resources: [{group: "", resources: [pods]}]
- level: Metadata
  users: ["system:serviceaccount:ephemeral-storage-exporter:ephemeral-storage-exporter"]
  verbs: [get]
  resources: [{group: "", resources: [nodes/proxy]}]
- level: None
EOF
APISERVER_ARGS=(
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 0.0.0.0 --advertise-address "$E2E_NODE_IP" --secure-port "$API_PORT" \
  --tls-cert-file "$W/pki/apiserver.crt" --tls-private-key-file "$W/pki/apiserver.key" \
  --client-ca-file "$W/pki/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$W/pki/sa.pub" --service-account-signing-key-file "$W/pki/sa.key" \
  --token-auth-file "$W/pki/tokens.csv" \
  --authorization-mode Node,RBAC \
  --service-cluster-ip-range 10.96.0.0/24 \
  --kubelet-preferred-address-types InternalIP \
  --kubelet-certificate-authority "$W/pki/ca.crt" \
  --kubelet-client-certificate "$W/pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$W/pki/apiserver-kubelet-client.key" \
  --audit-policy-file "$W/audit-policy.yaml" --audit-log-path "$LOGS/kube-apiserver-audit.log" \
  --cert-dir "$W/apiserver-certs"
)
start kube-apiserver "$K8S_BIN/kube-apiserver" "${APISERVER_ARGS[@]}"
# How to start it again (TestAPIServerRestart stops it and runs this, then writes the new pid to
# $W/kube-apiserver.pid, which teardown stops): one argument per line.
printf '%s\n' "$K8S_BIN/kube-apiserver" "${APISERVER_ARGS[@]}" >"$W/kube-apiserver.cmdline"
api() { curl -sSf --max-time 10 --cacert "$W/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" "$@"; }
wait_for 90 "kube-apiserver /readyz" api "$APISERVER/readyz"
alive kube-apiserver
write_kubeconfig() { # write_kubeconfig FILE TOKEN
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "$APISERVER", certificate-authority: "$W/pki/ca.crt"}
users:
- name: u
  user: {token: "$2"}
contexts:
- name: e2e
  context: {cluster: e2e, user: u}
current-context: e2e
EOF
}
write_kubeconfig "$W/admin.kubeconfig" "$ADMIN_TOKEN"
write_kubeconfig "$W/kubelet.kubeconfig" "$NODE_TOKEN"

# ---------------------------------------------------------------------------------------------
# 4b. kube-controller-manager (ServiceAccounts, tokens' kube-root-ca.crt, DaemonSets, garbage
#     collection, node lifecycle) and kube-scheduler. Not run: the Deployment and ReplicaSet
#     controllers, because the read-only loop scenario plays them itself (readonly_loop_test.go
#     creates the ReplicaSet and its pod with restartPolicy Never, see docs/e2e.md).
step "kube-controller-manager + kube-scheduler"
start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig "$W/admin.kubeconfig" --leader-elect=false --secure-port 0 \
  --root-ca-file "$W/pki/ca.crt" --service-account-private-key-file "$W/pki/sa.key" \
  --use-service-account-credentials=false \
  --controllers '*,-deployment-controller,-replicaset-controller' \
  --node-monitor-grace-period 40s
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig "$W/admin.kubeconfig" --leader-elect=false --secure-port 0
wait_for 60 "the default ServiceAccount (controller-manager)" api "$APISERVER/api/v1/namespaces/default/serviceaccounts/default"
wait_for 60 "kube-root-ca.crt in default (controller-manager)" api "$APISERVER/api/v1/namespaces/default/configmaps/kube-root-ca.crt"
alive kube-controller-manager
alive kube-scheduler

# --- loop filesystems (E2E_LOOP_NODEFS=1, E2E_LOOP_IMAGEFS=1; the DiskPressure run of run.sh) ---
# The kubelet's root dir (nodefs) and containerd's root (a dedicated imagefs) on ext4 images of
# their own, so that node pressure is real and never touches the host. The images live in the
# work dir: teardown unmounts everything under it (mount -o loop detaches the device on unmount)
# and removes it. Sizes differ on purpose: the summary has no device numbers, and the agent tells
# two filesystems apart by capacity. E2E_NODEFS_AVAILABLE is the kubelet's nodefs.available.
loop_fs() { # loop_fs NAME SIZE DIR
  mkdir -p "$W/loop" "$3"
  truncate -s "$2" "$W/loop/$1.img"
  mkfs.ext4 -q -F -m 0 "$W/loop/$1.img"
  mount -o loop "$W/loop/$1.img" "$3" || die "mount -o loop $1 on $3"
  step "loop fs $1 ($2) on $3: $(df -B1 --output=size,avail "$3" | tail -1)"
}
[[ -z "${E2E_LOOP_NODEFS:-}" ]] || loop_fs nodefs 300M "$W/kubelet"
[[ -z "${E2E_LOOP_IMAGEFS:-}" ]] || loop_fs imagefs 400M "$W/containerd/root"
E2E_NODEFS_AVAILABLE=${E2E_NODEFS_AVAILABLE:-1%}
export E2E_LOOP_NODEFS E2E_LOOP_IMAGEFS
# --- end loop filesystems ---

# ---------------------------------------------------------------------------------------------
# 5. containerd + runc.
step "containerd"
mkdir -p "$W/containerd"
containerd config default >"$W/containerd/config.toml"
SANDBOX_IMAGE=$(sed -n 's/^ *sandbox_image = "\(.*\)"/\1/p' "$W/containerd/config.toml")
sed -i \
  -e "s#^root = .*#root = \"$W/containerd/root\"#" \
  -e "s#^state = .*#state = \"$W/containerd/state\"#" \
  -e "s#^  address = \"/run/containerd/containerd.sock\"#  address = \"$W/containerd/containerd.sock\"#" \
  -e "s#restrict_oom_score_adj = false#restrict_oom_score_adj = true#" \
  -e "s#path = \"/opt/containerd\"#path = \"$W/containerd/opt\"#" \
  -e "s#bin_dir = \"/opt/cni/bin\"#bin_dir = \"/usr/lib/cni\"#" \
  -e "s#conf_dir = \"/etc/cni/net.d\"#conf_dir = \"$W/cni/net.d\"#" \
  -e "s#netns_mounts_under_state_dir = false#netns_mounts_under_state_dir = true#" \
  "$W/containerd/config.toml"
grep -q "address = \"$W/containerd/containerd.sock\"" "$W/containerd/config.toml" || die "could not set containerd's socket in its config"
grep -q "conf_dir = \"$W/cni/net.d\"" "$W/containerd/config.toml" || die "could not set containerd's CNI conf_dir in its config"
# CNI: a bridge in the node's namespace, pod addresses from host-local (its state in the work dir).
mkdir -p "$W/cni/net.d" "$W/cni/ipam"
cat >"$W/cni/net.d/10-e2e.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "e2e", "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true,
  "ipMasq": false, "hairpinMode": true, "ipam": {"type": "host-local", "dataDir": "$W/cni/ipam",
  "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
start containerd containerd --config "$W/containerd/config.toml"
wait_for 30 containerd ctr --address "$W/containerd/containerd.sock" version
alive containerd

# ---------------------------------------------------------------------------------------------
# 6. The test image (hand-written OCI layout), imported and tagged as the sandbox image.
step "test image -> containerd (also as sandbox image $SANDBOX_IMAGE)"
export E2E_IMAGE=e2e.local/ese-e2e-image:v1
"$ROOT/hack/e2e/image.sh" "$W/bin/e2e-image" "$E2E_IMAGE" "$W/image.tar" >"$LOGS/image.log" 2>&1
CTR images import "$W/image.tar" >>"$LOGS/image.log" 2>&1 || { cat "$LOGS/image.log" >&2; die "ctr images import"; }
CTR images tag --force "$E2E_IMAGE" "$SANDBOX_IMAGE" >>"$LOGS/image.log" 2>&1
CTR images import "$W/agent-image.tar" >>"$LOGS/image.log" 2>&1 || { cat "$LOGS/image.log" >&2; die "ctr images import (agent image)"; }
CTR images ls >>"$LOGS/image.log" 2>&1
images=$(CTR images ls -q)   # not piped into grep -q: under pipefail, ctr's SIGPIPE would fail the check
grep -qx "$E2E_AGENT_IMAGE" <<<"$images" || { cat "$LOGS/image.log" >&2; die "agent image $E2E_AGENT_IMAGE not in containerd after import"; }

# ---------------------------------------------------------------------------------------------
# 7. kubelet.
step "kubelet"
# The kubelet's usual port on the node's address: the agent's default direct URL,
# https://$NODE_IP:10250, is right as the chart renders it.
KUBELET_PORT=10250 KUBELET_HEALTHZ=$(free_port)
KUBELET_URL=https://$E2E_NODE_IP:$KUBELET_PORT
mkdir -p "$W/kubelet" "$W/pod-logs"
cat >"$W/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $E2E_NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ
tlsCertFile: $W/pki/kubelet.crt
tlsPrivateKeyFile: $W/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 10s}
  x509: {clientCAFile: $W/pki/ca.crt}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 10s, cacheUnauthorizedTTL: 1s}
containerRuntimeEndpoint: unix://$W/containerd/containerd.sock
podLogsDir: $W/pod-logs
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: true
volumeStatsAggPeriod: 10s
evictionPressureTransitionPeriod: 10s
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
  imagefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 10s
EOF
export E2E_EVICTION_HARD="nodefs.available<1%,nodefs.inodesFree<1%,imagefs.available<1%,imagefs.inodesFree<1%"
# --- loop filesystems: the nodefs.available threshold of the DiskPressure run ---
sed -i "s#^  nodefs.available: 1%\$#  nodefs.available: $E2E_NODEFS_AVAILABLE#" "$W/kubelet/config.yaml"
E2E_EVICTION_HARD=${E2E_EVICTION_HARD/nodefs.available<1%/nodefs.available<$E2E_NODEFS_AVAILABLE}
# --- end loop filesystems ---
start kubelet "$K8S_BIN/kubelet" --config "$W/kubelet/config.yaml" --kubeconfig "$W/kubelet.kubeconfig" \
  --hostname-override "$E2E_NODE" --node-ip "$E2E_NODE_IP" --root-dir "$W/kubelet" --cert-dir "$W/kubelet/pki" --v 2
wait_for 120 "node $E2E_NODE registered" api "$APISERVER/api/v1/nodes/$E2E_NODE"
alive kubelet
# The kubelet's API, with webhook authn/authz: the admin (system:masters) may read it.
wait_for 120 "kubelet /stats/summary" api "$KUBELET_URL/stats/summary"
alive kubelet
node_ready() { api "$APISERVER/api/v1/nodes/$E2E_NODE" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'; }
wait_for 120 "node $E2E_NODE Ready (CNI configured)" node_ready

# ---------------------------------------------------------------------------------------------
# The Prometheus Operator path (issue 18; owned by hack/e2e/operator.sh; E2E_OPERATOR=0 skips it).
source "$ROOT/hack/e2e/operator.sh"

# ---------------------------------------------------------------------------------------------
export E2E_APISERVER=$APISERVER E2E_CA=$W/pki/ca.crt E2E_NODE_IP E2E_AGENT_IMAGE E2E_HELM_BIN E2E_KUBECTL_BIN E2E_ADMIN_KUBECONFIG=$W/admin.kubeconfig \
       E2E_KUBELET_URL=$KUBELET_URL E2E_PROMETHEUS_BIN=$(command -v prometheus) E2E_ROOT=$ROOT
{
  for v in E2E_NODE E2E_NODE_IP E2E_AGENT_IMAGE E2E_HELM_BIN E2E_ARTIFACTS E2E_WORKDIR E2E_K8S_BIN E2E_AGENT_BIN E2E_PLUGIN_BIN E2E_IMAGE E2E_APISERVER E2E_CA \
           E2E_KUBECTL_BIN E2E_ADMIN_KUBECONFIG E2E_KUBELET_URL E2E_PROMETHEUS_BIN E2E_EVICTION_HARD E2E_ROOT E2E_RULES E2E_T0 \
           E2E_OPERATOR_PROM_URL E2E_OPERATOR_CONFIG E2E_OPERATOR_SM_CONFIG E2E_OPERATOR_VERSION \
           E2E_OPERATOR_RELEASE E2E_OPERATOR_RELEASE_NS E2E_OPERATOR_POD_LABELS; do
    printf 'export %s=%q\n' "$v" "${!v:-}"
  done
} >"$E2E_ARTIFACTS/env"
step "cluster up: apiserver $APISERVER, kubelet $KUBELET_URL, node $E2E_NODE (env: $E2E_ARTIFACTS/env)"

if [[ "${1:-}" == "--" ]]; then
  shift
  step "run: $*"
  set +e
  "$@"
  rc=$?
  set -e
  step "command exited $rc"
  exit "$rc"
fi
echo "e2e: cluster is up; source $E2E_ARTIFACTS/env to use it. Ctrl-C tears it down." >&2
while :; do
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet; do alive "$n"; done
  sleep 5
done

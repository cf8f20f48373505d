#!/usr/bin/env bash
# The API side of a cluster, for the scale harness: etcd + the real kube-apiserver that the e2e
# suite builds (hack/e2e/build-k8s.sh), no kubelet, no containerd. Run INSIDE the network namespace
# that hack/scale/run.sh creates: the API server listens on the namespace's loopback, and fake
# kubelets listen on $SCALE_NODE_IP (a dummy interface in the namespace), which the API server's node
# proxy accepts (it refuses loopback node addresses).
#
#   hack/scale/cluster.sh -- CMD ...   bring it up, run CMD with SCALE_* in the environment, tear down
#
# Same PKI shape as hack/e2e/up.sh (one CA; static tokens), plus a serving certificate for the fake
# kubelets (IP $SCALE_NODE_IP, 127.0.0.1) that the API server verifies (--kubelet-certificate-authority).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${SCALE_WORKDIR:?set by hack/scale/run.sh}" "${SCALE_NODE_IP:?set by hack/scale/run.sh}" "${SCALE_ARTIFACTS:?}"
K8S_BIN=${SCALE_K8S_BIN:?}
W=$SCALE_WORKDIR LOGS=$SCALE_ARTIFACTS/logs
mkdir -p "$LOGS" "$W/pki"
die() { echo "scale: FAILED: $*" >&2; exit 1; }

PIDS=()
stop_pid() { local pid=$1 i; kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done; kill -KILL "$pid" 2>/dev/null || true; }
teardown() { local rc=$? i; trap - EXIT INT TERM
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do stop_pid "${PIDS[i]}"; done; exit "$rc"; }
trap teardown EXIT; trap 'exit 130' INT; trap 'exit 143' TERM
wait_for() { local secs=$1 what=$2; shift 2; local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do (( $(date +%s) < deadline )) || die "timed out after ${secs}s waiting for $what"; sleep 0.5; done; }

(
  cd "$W/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=ese-scale-ca" 2>/dev/null
  for who in apiserver kubelet; do
    openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "/CN=$who" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$SCALE_NODE_IP" >"$who.ext"
    openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$who.crt" -days 2 -extfile "$who.ext" 2>/dev/null
  done
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)
ADMIN_TOKEN=$(openssl rand -hex 16)
printf '%s,scale-admin,scale-admin,"system:masters"\n' "$ADMIN_TOKEN" >"$W/pki/tokens.csv"

# Fixed ports: the namespace is ours alone.
ETCD_PORT=2379 ETCD_PEER=2380 API_PORT=6443
etcd --name scale --data-dir "$W/etcd" --quota-backend-bytes 4294967296 \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "scale=http://127.0.0.1:$ETCD_PEER" >"$LOGS/etcd.log" 2>&1 &
PIDS+=($!)
wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

# ServiceAccount admission off: no controller-manager creates the default ServiceAccounts, and the
# pods here are API objects only. The node proxy dials InternalIP, verified against our CA.
"$K8S_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
  --tls-cert-file "$W/pki/apiserver.crt" --tls-private-key-file "$W/pki/apiserver.key" \
  --client-ca-file "$W/pki/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$W/pki/sa.pub" --service-account-signing-key-file "$W/pki/sa.key" \
  --token-auth-file "$W/pki/tokens.csv" \
  --authorization-mode RBAC \
  --disable-admission-plugins ServiceAccount \
  --kubelet-preferred-address-types InternalIP \
  --kubelet-certificate-authority "$W/pki/ca.crt" \
  --service-cluster-ip-range 10.96.0.0/24 \
  --cert-dir "$W/apiserver-certs" >"$LOGS/kube-apiserver.log" 2>&1 &
PIDS+=($!)
API_PID=$!
APISERVER=https://127.0.0.1:$API_PORT
wait_for 90 "kube-apiserver /readyz" curl -sSf --max-time 5 --cacert "$W/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" "$APISERVER/readyz"

cat >"$W/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: scale
  cluster: {server: "$APISERVER", certificate-authority: "$W/pki/ca.crt"}
users:
- name: u
  user: {token: "$ADMIN_TOKEN"}
contexts:
- name: scale
  context: {cluster: scale, user: u}
current-context: scale
KC
export SCALE_APISERVER=$APISERVER SCALE_APISERVER_PID=$API_PID SCALE_CA=$W/pki/ca.crt SCALE_TOKEN=$ADMIN_TOKEN \
  SCALE_ADMIN_KUBECONFIG=$W/admin.kubeconfig SCALE_KUBELET_CERT=$W/pki/kubelet.crt SCALE_KUBELET_KEY=$W/pki/kubelet.key
echo "scale: apiserver $APISERVER up; running: $*" >&2
[[ "${1:-}" == "--" ]] && shift
set +e
"$@"
rc=$?
set -e
exit "$rc"

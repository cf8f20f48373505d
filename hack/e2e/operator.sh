# shellcheck shell=bash
# The Prometheus Operator path of the e2e suite (issue 18), SOURCED by hack/e2e/up.sh once the API
# server is up (it uses up.sh's step, die, start, alive, wait_for, free_port, api, $W, $LOGS,
# $APISERVER, $ROOT, $E2E_ARTIFACTS). E2E_OPERATOR=0 skips it.
#
#  1. build-operator.sh: the operator at a pinned version, with its CRDs; the CRDs are applied.
#  2. The operator's and Prometheus' ServiceAccounts and ClusterRoles as the operator's module ships
#     them (example/rbac/prometheus-operator, example/rbac/prometheus), applied unchanged.
#  3. The operator runs as a process with in-cluster config: a private mount namespace (unshare -m)
#     where its ServiceAccount token (TokenRequest) and the cluster CA sit in
#     /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT = the API server.
#  4. `helm template` of deploy/helm with the values that enable the PodMonitor, ServiceMonitor and
#     PrometheusRule (documented values only: intervals and alertOverrides); those three objects are
#     applied. Two Prometheus CRs: `ese` selects the PodMonitor and the PrometheusRule and is run;
#     `ese-sm` selects the ServiceMonitor, only so that its generated configuration is checked.
#  5. The configuration the operator generated for `ese` (Secret prometheus-ese, prometheus.yaml.gz)
#     and its rule ConfigMaps, used unchanged by a Prometheus built from the module proxy
#     (build-operator.sh --prometheus: Debian's has no kubernetes_sd), run as a process in a private
#     mount namespace like the operator's, with Prometheus' ServiceAccount, the rule files where the
#     generated configuration names them (/etc/prometheus/rules/<configmap>/).
# Not real (docs/e2e.md): the StatefulSet the operator creates is not run (replicas: 0; no image
# can be pulled), so neither is prometheus-config-reloader: the suite does its one step (expanding
# $(SHARD) and $(POD_NAME)) once; the configuration is read once.

[[ "${E2E_OPERATOR:-1}" != 0 ]] || return 0
step "prometheus operator (build-operator.sh)"
OP_BIN_DIR=$("$ROOT/hack/e2e/build-operator.sh" 2> >(tee -a "$LOGS/build-operator.log" >&2))
OP_VERSION=${OP_BIN_DIR##*/prometheus-operator-}
OPW=$W/operator
mkdir -p "$OPW/manifests" "$E2E_ARTIFACTS/operator"
export E2E_OPERATOR_RELEASE=${E2E_OPERATOR_RELEASE:-ephemeral-storage-exporter}
export E2E_OPERATOR_RELEASE_NS=${E2E_OPERATOR_RELEASE_NS:-ephemeral-storage-exporter}
OP_NS=default # the namespace of the module's example RBAC (its ClusterRoleBindings name it)

# kube_apply FILE: server-side apply of every document of a YAML file (admin), by kind.
kube_apply() {
  local doc
  rm -rf "$OPW/split" && mkdir -p "$OPW/split"
  awk -v d="$OPW/split" 'BEGIN{n=0; f=d"/0.yaml"} /^---/{n++; f=d"/"n".yaml"; next} {print > f}' "$1"
  for doc in "$OPW"/split/*.yaml; do
    local kind name ns path
    kind=$(awk '/^kind:/{print $2; exit}' "$doc")
    [[ -n "$kind" ]] || continue
    name=$(awk '/^metadata:/{m=1; next} m && /^[^ ]/{m=0} m && /^  name:/{print $2; exit}' "$doc")
    ns=$(awk '/^metadata:/{m=1; next} m && /^[^ ]/{m=0} m && /^  namespace:/{print $2; exit}' "$doc")
    ns=${ns:-$OP_NS}
    case $kind in
      CustomResourceDefinition) path=apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name ;;
      ClusterRole) path=apis/rbac.authorization.k8s.io/v1/clusterroles/$name ;;
      ClusterRoleBinding) path=apis/rbac.authorization.k8s.io/v1/clusterrolebindings/$name ;;
      Namespace) path=api/v1/namespaces/$name ;;
      ServiceAccount) path=api/v1/namespaces/$ns/serviceaccounts/$name ;;
      PodMonitor|ServiceMonitor|PrometheusRule|Prometheus)
        path=apis/monitoring.coreos.com/v1/namespaces/$ns/$(tr '[:upper:]' '[:lower:]' <<<"$kind")s/$name
        [[ $kind != Prometheus ]] || path=${path%s/$name}es/$name ;;
      *) die "operator.sh: no API path for kind $kind ($1)" ;;
    esac
    api -X PATCH -H 'Content-Type: application/apply-patch+yaml' --data-binary "@$doc" \
      "$APISERVER/$path?fieldManager=ese-e2e&force=true" >"$OPW/apply.out" 2>&1 ||
      { cat "$OPW/apply.out" >&2; die "apply $kind $ns/$name from $1"; }
    echo "applied $kind $ns/$name ($1)" >>"$E2E_ARTIFACTS/operator/applied.txt"
  done
}

# sa_dir NAME DIR: what the kubelet mounts for ServiceAccount NAME (token from the TokenRequest API,
# the cluster CA, the namespace) written to DIR.
sa_dir() {
  mkdir -p "$2"
  api -X POST -H 'Content-Type: application/json' -d '{"spec":{"expirationSeconds":7200}}' \
    "$APISERVER/api/v1/namespaces/$OP_NS/serviceaccounts/$1/token" |
    python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["status"]["token"])' >"$2/token"
  cp "$W/pki/ca.crt" "$2/ca.crt"
  printf %s "$OP_NS" >"$2/namespace"
}

# in_pod_fs NAME SA_DIR BIND_ETC CMD...: start CMD in a private mount namespace with SA_DIR at the
# in-cluster config's path (a tmpfs over /run, visible to CMD only) and, if BIND_ETC is not "-",
# that directory over /etc/prometheus. KUBERNETES_SERVICE_HOST/PORT name the API server.
API_HOSTPORT=${APISERVER#https://}
in_pod_fs() {
  local name=$1 sa=$2 etc=$3; shift 3
  start "$name" env KUBERNETES_SERVICE_HOST="${API_HOSTPORT%:*}" KUBERNETES_SERVICE_PORT="${API_HOSTPORT##*:}" \
    unshare -m --propagation private -- sh -ec '
      sa=$1 etc=$2; shift 2
      mount -t tmpfs -o mode=0755,size=1m ese-e2e-run /run
      mkdir -p /run/secrets/kubernetes.io/serviceaccount
      mount --bind -o ro "$sa" /run/secrets/kubernetes.io/serviceaccount
      [ "$etc" = - ] || mount --bind -o ro "$etc" /etc/prometheus
      exec "$@"' sh "$sa" "$etc" "$@"
}

step "prometheus operator $OP_VERSION: CRDs, RBAC"
for f in "$OP_BIN_DIR"/crds/*.yaml; do kube_apply "$f"; done
wait_for 60 "monitoring.coreos.com/v1 served" api "$APISERVER/apis/monitoring.coreos.com/v1/prometheuses"
for f in "$OP_BIN_DIR"/rbac/prometheus-operator/prometheus-operator-{service-account,cluster-role,cluster-role-binding}.yaml \
         "$OP_BIN_DIR"/rbac/prometheus/prometheus-{service-account,cluster-role,cluster-role-binding}.yaml; do
  kube_apply "$f"
done

step "prometheus operator $OP_VERSION: started (in-cluster config, ServiceAccount prometheus-operator)"
sa_dir prometheus-operator "$OPW/sa-operator"
OP_PORT=$(free_port)
in_pod_fs prometheus-operator "$OPW/sa-operator" - "$OP_BIN_DIR/operator" \
  --web.listen-address="127.0.0.1:$OP_PORT" --log-level=info --log-format=logfmt
wait_for 60 "prometheus-operator /healthz" curl -sf "http://127.0.0.1:$OP_PORT/healthz"
alive prometheus-operator

step "helm template deploy/helm (podMonitor, serviceMonitor, prometheusRule) -> applied"
HELM=$("$ROOT/hack/e2e/build-operator.sh" --helm 2>>"$LOGS/build-operator.log")
cat >"$OPW/values.yaml" <<'EOF'
# Documented values only (deploy/helm/ephemeral-storage-exporter/values.yaml).
podMonitor: {enabled: true, interval: 1s, scrapeTimeout: 1s}
serviceMonitor: {enabled: true, interval: 1s, scrapeTimeout: 1s}
# The events role's own monitors are left out: in this suite the role runs as a host process
# (events_role_test.go; no Deployment controller runs), so they would select no pod. deploy/test
# checks what the chart renders for them.
eventsRole: {enabled: false}
prometheusRule:
  enabled: true
  # As test/e2e/testdata/alerts-config.yaml, for the alerts the chart lets one tune; the recording
  # rules' windows (time to limit: 30m of history) are not values, so the *FillingUp alerts cannot
  # fire within this run (docs/e2e.md).
  alertOverrides:
    EphemeralStorageVolumeNearSizeLimit: {critical: 0.75, critical_for: 3s, keep_firing_for: 1m}
    EphemeralStorageContainerNearLimit: {critical: 0.75, critical_for: 3s, keep_firing_for: 1m}
    EphemeralStoragePodEvicted: {window: 1m}
    EphemeralStorageReadOnlyWriteFailures: {window: 1m}
EOF
"$HELM" template "$E2E_OPERATOR_RELEASE" "$ROOT/deploy/helm/ephemeral-storage-exporter" \
  --namespace "$E2E_OPERATOR_RELEASE_NS" --kube-version "${K8S_BIN##*/}" -f "$OPW/values.yaml" >"$OPW/chart.yaml" 2>"$LOGS/helm-template.log" ||
  { cat "$LOGS/helm-template.log" >&2; die "helm template"; }
# (--kube-version: the cluster's; the helm build has no version ldflags and would assume v1.20.)
# Only the monitoring objects: the agent itself is started by the suite.
awk 'BEGIN{RS="\n---\n"; ORS="\n---\n"} /\nkind: (PodMonitor|ServiceMonitor|PrometheusRule)\n/' "$OPW/chart.yaml" >"$OPW/monitors.yaml"
grep -c '^kind: ' "$OPW/monitors.yaml" | grep -qx 3 || die "helm template: want a PodMonitor, a ServiceMonitor and a PrometheusRule, got: $(grep '^kind: ' "$OPW/monitors.yaml" | tr '\n' ' ')"
cp "$OPW/values.yaml" "$E2E_ARTIFACTS/operator/values.yaml"
cp "$OPW/monitors.yaml" "$E2E_ARTIFACTS/operator/monitors.yaml"
api -X POST -H 'Content-Type: application/json' "$APISERVER/api/v1/namespaces" \
  -d "{\"metadata\":{\"name\":\"$E2E_OPERATOR_RELEASE_NS\"}}" >/dev/null 2>&1 || true
kube_apply "$OPW/monitors.yaml"
# The chart's selector labels (its DaemonSet's), which the PodMonitor selects the agent's pod by.
E2E_OPERATOR_POD_LABELS=$(awk 'BEGIN{RS="\n---\n"} /\nkind: DaemonSet\n/' "$OPW/chart.yaml" |
  awk '/^  selector:/{s=1; next} s && /matchLabels:/{m=1; next} m && /^      [a-z]/{gsub(/ /,""); sub(/:/,"="); printf "%s%s", sep, $0; sep=","; next} m{exit}')
[[ -n "$E2E_OPERATOR_POD_LABELS" ]] || die "no selector labels in the chart's DaemonSet"
export E2E_OPERATOR_POD_LABELS

OP_PROM_BIN=$("$ROOT/hack/e2e/build-operator.sh" --prometheus 2> >(tee -a "$LOGS/build-operator.log" >&2))
PROM_VERSION=v$("$OP_PROM_BIN" --version 2>&1 | awk 'NR==1{print $3}')
sel="app.kubernetes.io/name: $(sed -n 's/.*app.kubernetes.io\/name=\([^,]*\).*/\1/p' <<<"$E2E_OPERATOR_POD_LABELS")"
cat >"$OPW/prometheus-cr.yaml" <<EOF
# replicas 0: the StatefulSet the operator writes is not run (its images cannot be pulled); the
# configuration it generates is run by hack/e2e/operator.sh. The version is that binary's, so the
# operator generates configuration it accepts.
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: ese
  namespace: $OP_NS
spec:
  version: $PROM_VERSION
  replicas: 0
  serviceAccountName: prometheus
  scrapeInterval: 1s
  evaluationInterval: 1s
  # No \$(POD_NAME) external label (prometheus-config-reloader substitutes it; it does not run).
  replicaExternalLabelName: ""
  podMonitorSelector: {matchLabels: {$sel}}
  podMonitorNamespaceSelector: {}
  ruleSelector: {matchLabels: {$sel}}
  ruleNamespaceSelector: {}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: ese-sm
  namespace: $OP_NS
spec:
  version: $PROM_VERSION
  replicas: 0
  serviceAccountName: prometheus
  replicaExternalLabelName: ""
  serviceMonitorSelector: {matchLabels: {$sel}}
  serviceMonitorNamespaceSelector: {}
EOF
cp "$OPW/prometheus-cr.yaml" "$E2E_ARTIFACTS/operator/prometheus-cr.yaml"
kube_apply "$OPW/prometheus-cr.yaml"

# generated_config NAME OUT: the operator's configuration for Prometheus NAME, once it names the
# chart's monitor (the operator may write it before its informers saw the monitors).
generated_config() {
  api "$APISERVER/api/v1/namespaces/$OP_NS/secrets/prometheus-$1" |
    python3 -c 'import json,sys,base64,gzip; sys.stdout.buffer.write(gzip.decompress(base64.b64decode(json.load(sys.stdin)["data"]["prometheus.yaml.gz"])))' >"$2.tmp" &&
    grep -q "job_name: $3/$E2E_OPERATOR_RELEASE_NS/" "$2.tmp" && mv "$2.tmp" "$2"
}
wait_for 60 "the operator's configuration for Prometheus ese (with the PodMonitor)" generated_config ese "$OPW/prometheus.yaml.raw" podMonitor
wait_for 30 "the operator's configuration for Prometheus ese-sm (with the ServiceMonitor)" generated_config ese-sm "$OPW/prometheus-sm.yaml" serviceMonitor
# What prometheus-config-reloader writes for the StatefulSet's pod 0: the Secret gunzipped and its
# $(VAR) references expanded from the pod's env (--config-envsubst-file): SHARD (the sharding keep
# rule, `regex: $(SHARD);|.+;.+`) and POD_NAME. Nothing else is changed.
sed -e 's/\$(SHARD)/0/g' -e 's/\$(POD_NAME)/prometheus-ese-0/g' "$OPW/prometheus.yaml.raw" >"$OPW/prometheus.yaml"
! grep -n '\$([A-Za-z_0-9]*)' "$OPW/prometheus.yaml" || die "the operator's configuration references env vars the suite does not expand"
cp "$OPW/prometheus.yaml.raw" "$E2E_ARTIFACTS/operator/prometheus-ese.generated.yaml"
cp "$OPW/prometheus.yaml" "$E2E_ARTIFACTS/operator/prometheus-ese.yaml"
cp "$OPW/prometheus-sm.yaml" "$E2E_ARTIFACTS/operator/prometheus-ese-sm.yaml"
# The rule files, as the StatefulSet would mount each rule ConfigMap: /etc/prometheus/rules/<name>/.
rule_files() {
  api "$APISERVER/api/v1/namespaces/$OP_NS/configmaps?labelSelector=prometheus-name%3Dese" |
    python3 -c '
import json, os, sys
items = json.load(sys.stdin)["items"]
for cm in items:
    d = os.path.join(sys.argv[1], cm["metadata"]["name"])
    os.makedirs(d, exist_ok=True)
    for k, v in (cm.get("data") or {}).items():
        open(os.path.join(d, k), "w").write(v)
sys.exit(0 if any(cm.get("data") for cm in items) else 1)' "$OPW/etc/rules"
}
wait_for 30 "the operator's rule ConfigMaps for Prometheus ese" rule_files
cp -r "$OPW/etc/rules" "$E2E_ARTIFACTS/operator/rules"
# The rest of what the Debian package puts in /etc/prometheus (consoles), so the bind mount hides nothing it uses.
cp -r /etc/prometheus/console_libraries /etc/prometheus/consoles "$OPW/etc/" 2>/dev/null || true

step "prometheus $PROM_VERSION (build-operator.sh --prometheus) with the operator's configuration, ServiceAccount prometheus"
sa_dir prometheus "$OPW/sa-prometheus"
OP_PROM_PORT=$(free_port)
in_pod_fs prometheus-operated "$OPW/sa-prometheus" "$OPW/etc" "$OP_PROM_BIN" \
  --config.file="$OPW/prometheus.yaml" --storage.tsdb.path="$OPW/data" \
  --web.listen-address="127.0.0.1:$OP_PROM_PORT"
wait_for 60 "prometheus (operator's configuration) ready" curl -sf "http://127.0.0.1:$OP_PROM_PORT/-/ready"
alive prometheus-operated
export E2E_OPERATOR_PROM_URL=http://127.0.0.1:$OP_PROM_PORT E2E_OPERATOR_CONFIG=$OPW/prometheus.yaml \
  E2E_OPERATOR_SM_CONFIG=$OPW/prometheus-sm.yaml E2E_OPERATOR_VERSION=$OP_VERSION
echo "prometheus-operator: $OP_VERSION ($OP_BIN_DIR/operator: process, in-cluster config in a private mount namespace; --version: $("$OP_BIN_DIR/operator" --version 2>&1 | head -1))" >>"$E2E_ARTIFACTS/versions.txt"
echo "prometheus (operator path): $PROM_VERSION ($OP_PROM_BIN, github.com/prometheus/prometheus built with only kubernetes_sd; --version: $("$OP_PROM_BIN" --version 2>&1 | head -1)), the operator's generated configuration unchanged, process in a private mount namespace" >>"$E2E_ARTIFACTS/versions.txt"

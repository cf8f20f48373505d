package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

const (
	metricsPort = 9847
	probesPort  = 9848
	uid         = int64(65532)
)

// rule is one ClusterRole rule, flattened for comparison.
type rule struct{ resource, verbs string }

// wantRules is every rule the agent needs; nodes/proxy is added only when asked for.
var wantRules = []rule{
	{"nodes/stats", "get"},
	{"nodes", "get,list,watch"},
	{"pods", "list,watch"},
	hintEvents,
}

// hintEvents is the read-only hint Event (readOnlyHints.enabled, on by default).
var hintEvents = rule{"events", "create,patch"}

var nodesProxy = rule{"nodes/proxy", "get"}

func flatten(t testing.TB, rules []rbacv1.PolicyRule) []rule {
	t.Helper()
	var out []rule
	for _, r := range rules {
		require.Equal(t, []string{""}, r.APIGroups, "core group only: %+v", r)
		require.Empty(t, r.ResourceNames)
		require.Empty(t, r.NonResourceURLs)
		for _, res := range r.Resources {
			out = append(out, rule{res, strings.Join(r.Verbs, ",")})
		}
	}
	return out
}

func TestChartRender(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]any
		// what the rendering must show
		proxy      bool
		noHints    bool
		logScan    bool
		kinds      []string
		wantArgs   []string
		absentArgs []string
	}{
		{
			name:  "defaults",
			kinds: []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "Service", "ServiceAccount"},
			wantArgs: []string{
				"--web.listen-address=:9847", "--kubelet.mode=direct",
				"--kubelet.ca-file=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
				"--eviction.hard=nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%",
			},
			absentArgs: []string{"--kubelet.insecure-skip-tls-verify", "--logscan.enabled", "--eviction.from-configz", "--no-readonly.hint-events"},
		},
		{
			name:       "apiserver-proxy",
			values:     map[string]any{"kubelet": map[string]any{"mode": "apiserver-proxy"}},
			proxy:      true,
			kinds:      []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "Service", "ServiceAccount"},
			wantArgs:   []string{"--kubelet.mode=apiserver-proxy"},
			absentArgs: []string{"--kubelet.ca-file=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "--kubelet.insecure-skip-tls-verify"},
		},
		{
			name:       "eviction from configz",
			values:     map[string]any{"eviction": map[string]any{"fromConfigz": true}},
			proxy:      true,
			kinds:      []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "Service", "ServiceAccount"},
			wantArgs:   []string{"--kubelet.mode=direct", "--eviction.from-configz"},
			absentArgs: []string{"--kubelet.insecure-skip-tls-verify"},
		},
		{
			name:       "insecure kubelet TLS",
			values:     map[string]any{"kubelet": map[string]any{"insecureSkipTLSVerify": true}},
			kinds:      []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "Service", "ServiceAccount"},
			wantArgs:   []string{"--kubelet.mode=direct", "--kubelet.insecure-skip-tls-verify"},
			absentArgs: []string{"--kubelet.ca-file=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"},
		},
		{
			name:       "read-only hints off",
			values:     map[string]any{"readOnlyHints": map[string]any{"enabled": false}},
			noHints:    true,
			kinds:      []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "Service", "ServiceAccount"},
			wantArgs:   []string{"--no-readonly.hint-events"},
			absentArgs: []string{"--logscan.enabled"},
		},
		{
			name:     "logScan",
			values:   map[string]any{"logScan": map[string]any{"enabled": true}},
			logScan:  true,
			kinds:    []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "Service", "ServiceAccount"},
			wantArgs: []string{"--logscan.enabled", "--logscan.root=/var/log/pods"},
		},
		{
			name: "monitors, priority, extras",
			values: map[string]any{
				"serviceMonitor":    map[string]any{"enabled": true, "labels": map[string]any{"release": "kps"}},
				"podMonitor":        map[string]any{"enabled": true},
				"priorityClassName": "system-node-critical",
				"extraArgs":         []any{"--kube.resync=30m"},
				"tolerations":       []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}},
			},
			kinds:    []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "PodMonitor", "Service", "ServiceAccount", "ServiceMonitor"},
			wantArgs: []string{"--kube.resync=30m", "--kubelet.mode=direct"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			docs, _ := splitRoles(chartDocs(t, tc.values)) // the events role: events_test.go
			require.Equal(t, tc.kinds, kinds(docs))

			ds := only[*appsv1.DaemonSet](t, docs)
			checkPodSpec(t, &ds.Spec.Template.Spec, tc.logScan)
			c := ds.Spec.Template.Spec.Containers[0]
			for _, a := range tc.wantArgs {
				assert.Contains(t, c.Args, a)
			}
			for _, a := range tc.absentArgs {
				assert.NotContains(t, c.Args, a)
			}
			known := binaryFlags(t, "ephemeral-storage-exporter")
			require.True(t, known["kubelet.mode"], "flags not found in cmd/: %v", known)
			for _, a := range c.Args {
				assert.True(t, strings.HasPrefix(a, "--"), "argument %q", a)
				name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				if negated, ok := strings.CutPrefix(name, "no-"); ok && !strings.Contains(a, "=") {
					name = negated // kingpin's negation of a boolean flag
				}
				assert.True(t, known[name], "--%s is not a flag of the agent (cmd/ephemeral-storage-exporter)", name)
			}
			assert.Equal(t, ds.Spec.Selector.MatchLabels, subset(ds.Spec.Template.Labels, ds.Spec.Selector.MatchLabels))

			role := only[*rbacv1.ClusterRole](t, docs)
			want := append([]rule(nil), wantRules...)
			if tc.noHints {
				want = slices.DeleteFunc(want, func(r rule) bool { return r == hintEvents })
			}
			if tc.proxy {
				want = append(want, nodesProxy)
			}
			assert.ElementsMatch(t, want, flatten(t, role.Rules))

			crb := only[*rbacv1.ClusterRoleBinding](t, docs)
			sa := only[*corev1.ServiceAccount](t, docs)
			assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name}, crb.RoleRef)
			assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: namespace}}, crb.Subjects)
			assert.Equal(t, sa.Name, ds.Spec.Template.Spec.ServiceAccountName)

			svc := only[*corev1.Service](t, docs)
			require.Len(t, svc.Spec.Ports, 1)
			assert.Equal(t, "metrics", svc.Spec.Ports[0].Name)
			assert.EqualValues(t, metricsPort, svc.Spec.Ports[0].Port)
			assert.Equal(t, intstr.FromString("metrics"), svc.Spec.Ports[0].TargetPort)
			assert.Equal(t, ds.Spec.Selector.MatchLabels, svc.Spec.Selector)

			for _, d := range docs {
				if u, ok := d.obj.(*unstructured.Unstructured); ok {
					checkMonitor(t, u, ds.Spec.Selector.MatchLabels)
				}
			}
		})
	}
}

// binaryFlags are the flag names a binary defines: those declared in cmd/<binary> and internal/cli (kingpin's
// Flag("name", ...)) and those the exporter-toolkit and promslog add.
func binaryFlags(t *testing.T, binary string) map[string]bool {
	t.Helper()
	known := map[string]bool{"web.listen-address": true, "web.config.file": true, "web.systemd-socket": true,
		"log.level": true, "log.format": true}
	srcs, err := filepath.Glob(filepath.Join(repoRoot, "cmd", binary, "*.go"))
	require.NoError(t, err)
	shared, err := filepath.Glob(filepath.Join(repoRoot, "internal", "cli", "*.go")) // the serving flags
	require.NoError(t, err)
	srcs = append(srcs, shared...)
	re := regexp.MustCompile(`\.Flag\("([a-z0-9.-]+)"`)
	for _, f := range srcs {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			known[m[1]] = true
		}
	}
	return known
}

func subset(all, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

// checkPodSpec asserts the hardening of issue 8 on a pod spec from either the chart or kustomize.
func checkPodSpec(t *testing.T, spec *corev1.PodSpec, logScan bool) {
	t.Helper()
	require.NotNil(t, spec.AutomountServiceAccountToken)
	assert.True(t, *spec.AutomountServiceAccountToken, "the agent needs its token")
	assert.False(t, spec.HostNetwork)
	assert.False(t, spec.HostPID)
	assert.False(t, spec.HostIPC)
	require.NotNil(t, spec.SecurityContext)
	require.NotNil(t, spec.SecurityContext.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, spec.SecurityContext.SeccompProfile.Type)
	assert.Equal(t, ptrOf(true), spec.SecurityContext.RunAsNonRoot)

	require.Len(t, spec.Containers, 1)
	assert.Empty(t, spec.InitContainers)
	c := spec.Containers[0]
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptrOf(true), sc.ReadOnlyRootFilesystem)
	assert.Equal(t, ptrOf(true), sc.RunAsNonRoot)
	assert.Equal(t, ptrOf(uid), sc.RunAsUser)
	assert.Equal(t, ptrOf(uid), sc.RunAsGroup)
	assert.Equal(t, ptrOf(false), sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	if sc.Privileged != nil {
		assert.False(t, *sc.Privileged)
	}

	// Requests and limits, ephemeral-storage included: the agent is bounded like the pods it watches.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		q, ok := c.Resources.Requests[r]
		assert.True(t, ok && !q.IsZero(), "request %s", r)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		q, ok := c.Resources.Limits[r]
		assert.True(t, ok && !q.IsZero(), "limit %s", r)
		assert.True(t, q.Cmp(c.Resources.Requests[r]) >= 0, "limit %s below request", r)
	}
	assert.True(t, c.Resources.Requests[corev1.ResourceEphemeralStorage].Equal(resource.MustParse("16Mi")))
	assert.True(t, c.Resources.Limits[corev1.ResourceEphemeralStorage].Equal(resource.MustParse("64Mi")))

	// The ports, and the probes on the probe listener (no TLS, no auth), at the paths server/ serves.
	require.Len(t, c.Ports, 2)
	assert.Equal(t, corev1.ContainerPort{Name: "metrics", ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP}, c.Ports[0])
	assert.Equal(t, corev1.ContainerPort{Name: "probes", ContainerPort: probesPort, Protocol: corev1.ProtocolTCP}, c.Ports[1])
	assert.Contains(t, c.Args, fmt.Sprintf("--web.probe-address=:%d", probesPort))
	for path, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		require.NotNil(t, p, path)
		require.NotNil(t, p.HTTPGet, path)
		assert.Equal(t, path, p.HTTPGet.Path)
		assert.Equal(t, intstr.FromString("probes"), p.HTTPGet.Port)
		assert.Empty(t, p.HTTPGet.Scheme, "plain HTTP")
	}
	assert.Contains(t, c.Args, fmt.Sprintf("--web.listen-address=:%d", metricsPort))

	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	assert.Equal(t, "spec.nodeName", env["NODE_NAME"])
	assert.Equal(t, "status.hostIP", env["NODE_IP"])
	assert.Equal(t, "metadata.uid", env["POD_UID"], "the log scanner skips the agent's own log by its pod UID")

	// Every node: tolerating every taint unless told otherwise.
	assert.NotEmpty(t, spec.Tolerations)

	// No host path and no writable volume, except the read-only pod logs of logScan.
	var hostPaths []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths = append(hostPaths, v.HostPath.Path)
		}
	}
	for _, m := range c.VolumeMounts {
		assert.True(t, m.ReadOnly, "mount %s is writable", m.MountPath)
	}
	if !logScan {
		assert.Empty(t, spec.Volumes)
		assert.Empty(t, c.VolumeMounts)
		// Then the pod meets the restricted Pod Security Standard.
		eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
		require.NoError(t, err)
		res := policy.AggregateCheckResults(eval.EvaluatePod(
			psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &metav1.ObjectMeta{}, spec))
		assert.True(t, res.Allowed, "restricted PSS: %s", res.ForbiddenDetail())
		return
	}
	assert.Equal(t, []string{"/var/log/pods"}, hostPaths)
	require.Len(t, c.VolumeMounts, 1)
	assert.Equal(t, corev1.VolumeMount{Name: "pod-logs", MountPath: "/var/log/pods", ReadOnly: true}, c.VolumeMounts[0])
}

func ptrOf[T any](v T) *T { return &v }

func checkMonitor(t *testing.T, u *unstructured.Unstructured, selector map[string]string) {
	t.Helper()
	assert.Equal(t, "monitoring.coreos.com/v1", u.GetAPIVersion())
	switch u.GetKind() {
	case "ServiceMonitor", "PodMonitor":
		sel, found, err := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, selector, sel)
		field := "endpoints"
		if u.GetKind() == "PodMonitor" {
			field = "podMetricsEndpoints"
		}
		eps, found, err := unstructured.NestedSlice(u.Object, "spec", field)
		require.NoError(t, err)
		require.True(t, found)
		require.Len(t, eps, 1)
		ep := eps[0].(map[string]any)
		assert.Equal(t, "metrics", ep["port"])
		assert.Equal(t, "/metrics", ep["path"])
		assert.Equal(t, true, ep["honorLabels"], "the measured pods' namespace/pod labels win over the agent's")
		// The job the alerts select on (job="ephemeral-storage-exporter"), whatever the release name.
		assert.Contains(t, ep["relabelings"], map[string]any{"targetLabel": "job", "replacement": "ephemeral-storage-exporter"})
		// With honorLabels, node-level series (no namespace/pod/container of their own) would
		// take the agent's target labels: the monitors drop them from the target.
		assert.Contains(t, ep["relabelings"], map[string]any{"action": "labeldrop", "regex": "(namespace|pod|container)"})
	case "PrometheusRule":
		groups, found, err := unstructured.NestedSlice(u.Object, "spec", "groups")
		require.NoError(t, err)
		require.True(t, found)
		require.NotEmpty(t, groups)
	default:
		t.Errorf("unexpected %s", u.GetKind())
	}
}

// Basic auth (a --web.config.file with basic_auth_users, mounted from a Secret) covers every path
// of the metrics port; the probes keep working because they go to the probe listener, which that
// file does not configure (server.TestProbesWithBasicAuth serves both over real HTTP).
func TestProbesWithBasicAuthConfig(t *testing.T) {
	values := map[string]any{
		"extraArgs":         []any{"--web.config.file=/etc/ese-web/web.yml"},
		"extraVolumes":      []any{map[string]any{"name": "web", "secret": map[string]any{"secretName": "ese-web"}}},
		"extraVolumeMounts": []any{map[string]any{"name": "web", "mountPath": "/etc/ese-web", "readOnly": true}},
		"probes":            map[string]any{"port": 9900},
	}
	ds := only[*appsv1.DaemonSet](t, chartDocs(t, values))
	c := ds.Spec.Template.Spec.Containers[0]
	assert.Contains(t, c.Args, "--web.config.file=/etc/ese-web/web.yml")
	assert.Contains(t, c.Args, "--web.probe-address=:9900", "the probe listener follows probes.port")
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	assert.Equal(t, map[string]int32{"metrics": metricsPort, "probes": 9900}, ports)
	for path, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		require.NotNil(t, p.HTTPGet, path)
		assert.Equal(t, intstr.FromString("probes"), p.HTTPGet.Port, "%s avoids the authenticated port", path)
		assert.Empty(t, p.HTTPGet.HTTPHeaders, "%s carries no credentials", path)
	}
}

// The probes' paths are the ones server/ registers.
func TestProbePathsServed(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "server", "server.go"))
	require.NoError(t, err)
	for _, p := range []string{"/healthz", "/readyz"} {
		assert.Regexp(t, regexp.MustCompile(`HandleFunc\("`+regexp.QuoteMeta(p)+`"`), string(src), "server/server.go serves %s", p)
	}
}

func TestChartLint(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults":        nil,
		"apiserver-proxy": {"kubelet": map[string]any{"mode": "apiserver-proxy"}, "logScan": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true}},
	} {
		t.Run(name, func(t *testing.T) {
			l := lint.All(chartDir, values, namespace, false)
			for _, m := range l.Messages {
				t.Log(m)
				assert.Less(t, m.Severity, support.WarningSev, "%s", m)
			}
		})
	}
}

func TestChartRejectsUnknownMode(t *testing.T) {
	chrtValues := map[string]any{"kubelet": map[string]any{"mode": "ssh"}}
	_, err := renderChartErr(chrtValues)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kubelet.mode must be direct or apiserver-proxy")
}

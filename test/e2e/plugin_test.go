package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestKubectlPluginRBAC runs the kubectl plugin (cmd/kubectl-ephemeral_storage) against the real
// API server as users missing its RBAC (docs/kubectl-plugin.md "RBAC") and checks that each gets
// one error naming the permission it lacks, as the API server's own message backs it.
// The forbidden cases are decided by the API server's authorizer before the proxy dials anything;
// the numbers through the real node proxy are checked in TestEmptyDirEviction
// (kubectl-plugin-numbers, checkPluginNumbers below).
func TestKubectlPluginRBAC(t *testing.T) {
	e := loadEnv(t)
	if e.PluginBin == "" {
		t.Fatal("E2E_PLUGIN_BIN unset: hack/e2e/up.sh builds the plugin")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	ensureNamespace(ctx, t, cs, scenarioNS)

	// plugin-nobody: no binding at all. plugin-noproxy: everything the docs list but nodes/proxy.
	for _, name := range []string{"plugin-nobody", "plugin-noproxy"} {
		if _, err := cs.CoreV1().ServiceAccounts(scenarioNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-plugin-noproxy"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
		},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-plugin-noproxy"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "plugin-noproxy", Namespace: scenarioNS}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	user := func(sa string) string { return "system:serviceaccount:" + scenarioNS + ":" + sa }
	cases := []struct {
		name, sa   string
		args       []string
		wantStderr string
	}{
		{
			name: "top without any RBAC", sa: "plugin-nobody", args: []string{"top", "-n", scenarioNS},
			wantStderr: `error: forbidden: the plugin needs "list nodes" (nodes are cluster-scoped): nodes is forbidden: User "` + user("plugin-nobody") +
				`" cannot list resource "nodes" in API group "" at the cluster scope` + "\n",
		},
		{
			name: "du without any RBAC", sa: "plugin-nobody", args: []string{"du", "-n", scenarioNS, "idle"},
			wantStderr: `error: forbidden: the plugin needs "get pods" in namespace ` + scenarioNS + `: pods "idle" is forbidden: User "` + user("plugin-nobody") +
				`" cannot get resource "pods" in API group "" in the namespace "` + scenarioNS + `"` + "\n",
		},
		{
			name: "top without nodes/proxy", sa: "plugin-noproxy", args: []string{"top", "-n", scenarioNS},
			wantStderr: "Partial results: 1 node(s) could not be read:\n" +
				`  ` + e.Node + `: forbidden: the plugin needs "get nodes/proxy" on node ` + e.Node + ` (nodes "` + e.Node + `" is forbidden: User "` + user("plugin-noproxy") +
				`" cannot get resource "nodes/proxy" in API group "" at the cluster scope)` + "\n" +
				"error: no node could be read (1 failed)\n",
		},
	}
	var report strings.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := saToken(ctx, t, cs, scenarioNS, tc.sa)
			args := append([]string{"--server", e.APIServer, "--certificate-authority", e.CA, "--token", token}, tc.args...)
			cmd := exec.CommandContext(ctx, e.PluginBin, args...)
			cmd.Env = []string{"HOME=" + t.TempDir()} // no user kubeconfig, no KUBECONFIG
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&report, "$ kubectl ephemeral-storage %s   # as %s\nexit %d\nstdout: %q\nstderr:\n%s\n", strings.Join(tc.args, " "), user(tc.sa), code, stdout.String(), stderr.String())
			if code != 1 || stderr.String() != tc.wantStderr || stdout.Len() != 0 {
				t.Errorf("want exit 1, no stdout and stderr\n%s\ngot exit %d, stdout %q, stderr\n%s", tc.wantStderr, code, stdout.String(), stderr.String())
			}
		})
	}
	_ = os.WriteFile(filepath.Join(e.Artifacts, "kubectl-plugin.txt"), []byte(report.String()), 0o644)
}

// pluginRow is a row of `kubectl ephemeral-storage top -o json` (inspect.Row's JSON).
type pluginRow struct {
	Node, Namespace, Pod, Kind, Name string
	Ratio                            float64
}

func (r pluginRow) key() string {
	return strings.Join([]string{r.Node, r.Namespace, r.Pod, r.Kind, r.Name}, "/")
}

// agentRatioFamilies maps the agent's ratio families to the plugin's row kinds (inspect.Kind*).
var agentRatioFamilies = map[string]string{
	"ephemeral_storage_pod_limit_ratio":               "pod",
	"ephemeral_storage_container_limit_ratio":         "container",
	"ephemeral_storage_volume_size_limit_ratio":       "emptyDir",
	"ephemeral_storage_node_eviction_threshold_ratio": "signal",
}

// agentRatios reads the agent's /metrics (through its pod IP) and keys its ratio series as the
// plugin keys its rows.
func agentRatios(hc *http.Client, agentURL string) (map[string]float64, error) {
	code, body, err := get(hc, agentURL+"/metrics", "")
	if err != nil {
		return nil, fmt.Errorf("agent /metrics: %w", err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("agent /metrics: HTTP %d", code)
	}
	out := map[string]float64{}
	for _, smp := range parseExposition(body) {
		if agentRatioFamilies[smp.name] == "" {
			continue
		}
		l := smp.labels
		r := pluginRow{Node: l["node"], Namespace: l["namespace"], Pod: l["pod"], Kind: agentRatioFamilies[smp.name]}
		switch r.Kind {
		case "container":
			r.Name = l["container"]
		case "emptyDir":
			if l["volume_type"] != "empty_dir" {
				continue
			}
			r.Name = l["volume"]
		case "signal":
			r.Name = l["signal"]
		}
		out[r.key()] = smp.value
	}
	return out, nil
}

// checkPluginNumbers (issue 21): `kubectl ephemeral-storage top -A -o json`, run as a
// ServiceAccount bound to exactly the ClusterRole of docs/kubectl-plugin.md ("RBAC"), reads the
// kubelet through the API server's real node proxy; every ratio it prints equals the agent's
// /metrics series for the same moment. "Same moment": the agent's value read just before the
// plugin and again >1 s after it (a fresh kubelet read, --kubelet.min-interval=1s) is the same,
// so the kubelet's number did not change in between; keys whose value moved are not compared in
// that attempt (the node signals move with any write to the host's disk). Up to 5 attempts.
func (sc *scenario) checkPluginNumbers(t *testing.T) {
	e := sc.e
	role := docsPluginRole(t, e)
	role.Name = "e2e-plugin-docs"
	if _, err := sc.cs.RbacV1().ClusterRoles().Create(sc.ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.cs.CoreV1().ServiceAccounts(scenarioNS).Create(sc.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "plugin-docs"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.cs.RbacV1().ClusterRoleBindings().Create(sc.ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "plugin-docs", Namespace: scenarioNS}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := saToken(sc.ctx, t, sc.cs, scenarioNS, "plugin-docs")
	var report strings.Builder
	defer func() {
		_ = os.WriteFile(filepath.Join(e.Artifacts, "kubectl-plugin-numbers.txt"), []byte(report.String()), 0o644)
	}()
	for attempt := 1; attempt <= 5; attempt++ {
		before, err := agentRatios(sc.hc, sc.agentURL)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"--server", e.APIServer, "--certificate-authority", e.CA, "--token", token,
			"top", "-A", "-o", "json", "--eviction-hard", e.EvictionHard}
		cmd := exec.CommandContext(sc.ctx, e.PluginBin, args...)
		cmd.Env = []string{"HOME=" + t.TempDir()}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl ephemeral-storage top -A -o json: %v\nstderr: %s", err, stderr.String())
		}
		time.Sleep(1100 * time.Millisecond) // past the agent's min interval: the next /metrics is a fresh kubelet read
		after, err := agentRatios(sc.hc, sc.agentURL)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Rows        []pluginRow `json:"rows"`
			FailedNodes []any       `json:"failedNodes"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
			t.Fatalf("plugin output: %v: %.300s", err, stdout.String())
		}
		if len(doc.FailedNodes) > 0 {
			t.Fatalf("plugin: failed nodes %v; stderr %s", doc.FailedNodes, stderr.String())
		}
		rows := map[string]float64{}
		for _, r := range doc.Rows {
			rows[r.key()] = r.Ratio
		}
		var compared, moved []string
		var mismatched []string
		keys := map[string]bool{}
		for k := range before {
			keys[k] = true
		}
		for k := range rows {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		fmt.Fprintf(&report, "# attempt %d: key, agent before, plugin, agent after\n", attempt)
		for _, k := range sorted {
			b, inBefore := before[k]
			a, inAfter := after[k]
			p, inPlugin := rows[k]
			fmt.Fprintf(&report, "%s %s %s %s\n", k, fmtOpt(b, inBefore), fmtOpt(p, inPlugin), fmtOpt(a, inAfter))
			if inBefore != inAfter || b != a {
				moved = append(moved, k)
				continue
			}
			compared = append(compared, k)
			if inBefore != inPlugin || b != p {
				mismatched = append(mismatched, fmt.Sprintf("%s: agent %s, plugin %s", k, fmtOpt(b, inBefore), fmtOpt(p, inPlugin)))
			}
		}
		t.Logf("attempt %d: %d keys compared, %d moved between the agent's reads, %d mismatched", attempt, len(compared), len(moved), len(mismatched))
		if len(mismatched) == 0 && len(compared) > 0 {
			hasPodRow := false
			for _, k := range compared {
				hasPodRow = hasPodRow || strings.Contains(k, "/"+scenarioNS+"/")
			}
			if !hasPodRow {
				t.Fatalf("no row of namespace %s compared: %v", scenarioNS, compared)
			}
			fmt.Fprintf(&report, "# equal: %d rows (%v); moved, not compared: %v\n", len(compared), compared, moved)
			sc.timing(fmt.Sprintf("kubectl plugin numbers equal the agent's (%d rows)", len(compared)))
			return
		}
		fmt.Fprintf(&report, "# mismatched: %v\n", mismatched)
		if attempt == 5 {
			t.Fatalf("after 5 attempts the plugin's ratios differ from the agent's for keys whose value did not move: %v", mismatched)
		}
	}
}

func fmtOpt(v float64, ok bool) string {
	if !ok {
		return "absent"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// docsPluginRole is the ClusterRole of docs/kubectl-plugin.md's "RBAC" section, as published.
func docsPluginRole(t *testing.T, e env) *rbacv1.ClusterRole {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.Root, "docs", "kubectl-plugin.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "## RBAC")
	if !ok {
		t.Fatal("docs/kubectl-plugin.md: no RBAC section")
	}
	_, block, ok := strings.Cut(after, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("docs/kubectl-plugin.md: no yaml block in the RBAC section")
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict([]byte(block), &role); err != nil || role.Kind != "ClusterRole" {
		t.Fatalf("docs/kubectl-plugin.md RBAC block: %v (kind %q)", err, role.Kind)
	}
	return &role
}

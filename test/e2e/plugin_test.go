package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubectlPluginRBAC runs the kubectl plugin (cmd/kubectl-ephemeral_storage) against the real
// API server as users missing its RBAC (docs/kubectl-plugin.md "RBAC") and checks that each gets
// one error naming the permission it lacks, as the API server's own message backs it.
//
// Not checked here: that its numbers match the agent's /metrics. The plugin reads summaries
// through the API server's node proxy, which dials the node's address: it prefers the Hostname
// ("e2e-node", a DNS lookup through the host's resolver, off loopback), then the InternalIP the
// kubelet picked (not loopback either), and it refuses loopback addresses outright; this suite
// sends traffic only to loopback. The forbidden cases below are decided by the API server's
// authorizer before the proxy dials anything.
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

package test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// splitRoles separates the events role's objects (app.kubernetes.io/component: events) from the
// agent's; the agent's tests read only the agent's.
func splitRoles(docs []doc) (agent, events []doc) {
	for _, d := range docs {
		l, ok := d.obj.(interface{ GetLabels() map[string]string })
		if ok && l.GetLabels()["app.kubernetes.io/component"] == "events" {
			events = append(events, d)
			continue
		}
		agent = append(agent, d)
	}
	return agent, events
}

// eventsRules is everything the events role may do cluster-wide (and, in its namespace, its Lease).
var (
	eventsRules = []rule{{"events", "list,watch"}, {"pods", "get"}, {"nodes", "get"}}
)

// TestEventsRoleRender: the chart installs the events role by default with least-privilege RBAC
// (no write but its Lease, no list of pods or nodes), a Deployment running `events` whose args
// are flags of that subcommand, and its own Service and monitors that select only its pods.
func TestEventsRoleRender(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		kinds  []string
	}{
		{name: "defaults", kinds: []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"}},
		{name: "monitors", values: map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "podMonitor": map[string]any{"enabled": true}},
			kinds: []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "PodMonitor", "Role", "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor"}},
		{name: "disabled", values: map[string]any{"eventsRole": map[string]any{"enabled": false}}},
		{name: "agents watch Events instead", values: map[string]any{"eventsRole": map[string]any{"enabled": false}, "events": map[string]any{"clusterWatch": true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agent, events := splitRoles(chartDocs(t, tc.values))
			assert.Equal(t, tc.kinds, sortedKinds(events))
			agentRole := only[*rbacv1.ClusterRole](t, agent)
			ds := only[*appsv1.DaemonSet](t, agent)
			clusterWatch := tc.name == "agents watch Events instead"
			assert.Equal(t, clusterWatch, hasRule(t, agentRole.Rules, rule{"events", "list,watch"}), "the agent lists Events only with events.clusterWatch")
			assert.Equal(t, clusterWatch, contains(ds.Spec.Template.Spec.Containers[0].Args, "--events.cluster-watch"))
			if len(tc.kinds) == 0 {
				return
			}
			cr := only[*rbacv1.ClusterRole](t, events)
			assert.ElementsMatch(t, eventsRules, flatten(t, cr.Rules))
			role := only[*rbacv1.Role](t, events)
			assert.Equal(t, namespace, role.Namespace)
			assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}}}, role.Rules)
			sa := only[*corev1.ServiceAccount](t, events)
			for _, s := range [][]rbacv1.Subject{only[*rbacv1.ClusterRoleBinding](t, events).Subjects, only[*rbacv1.RoleBinding](t, events).Subjects} {
				assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: namespace}}, s)
			}
			assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: cr.Name}, only[*rbacv1.ClusterRoleBinding](t, events).RoleRef)
			assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name}, only[*rbacv1.RoleBinding](t, events).RoleRef)

			dep := only[*appsv1.Deployment](t, events)
			require.NotNil(t, dep.Spec.Replicas)
			assert.EqualValues(t, 1, *dep.Spec.Replicas)
			spec := dep.Spec.Template.Spec
			assert.Equal(t, sa.Name, spec.ServiceAccountName)
			require.Len(t, spec.Containers, 1)
			c := spec.Containers[0]
			// The image's second binary, which alone links leader election.
			assert.Equal(t, []string{"/bin/ephemeral-storage-events"}, c.Command)
			require.NotEmpty(t, c.Args)
			known := binaryFlags(t, "ephemeral-storage-events")
			require.True(t, known["leader-election.lease-name"], "flags not found in cmd/ephemeral-storage-events: %v", known)
			for _, a := range c.Args {
				name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				assert.True(t, known[name], "--%s is not a flag of the binary", name)
			}
			assert.Contains(t, c.Args, "--leader-election.lease-name="+dep.Name)
			env := map[string]string{}
			for _, e := range c.Env {
				require.NotNil(t, e.ValueFrom)
				env[e.Name] = e.ValueFrom.FieldRef.FieldPath
			}
			assert.Equal(t, map[string]string{"POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}, env)
			require.NotNil(t, c.SecurityContext)
			assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
			assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
			assert.Empty(t, spec.Volumes, "no hostPath or any volume")

			// Its selector picks its pods and not the agent's, and the agent's not its.
			assert.NotEqual(t, ds.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels)
			assert.NotEqual(t, ds.Spec.Selector.MatchLabels, subset(dep.Spec.Template.Labels, ds.Spec.Selector.MatchLabels), "the agent's selector matches the events pods")
			assert.Equal(t, dep.Spec.Selector.MatchLabels, subset(dep.Spec.Template.Labels, dep.Spec.Selector.MatchLabels))
			svc := only[*corev1.Service](t, events)
			assert.Equal(t, dep.Spec.Selector.MatchLabels, svc.Spec.Selector)
			require.Len(t, svc.Spec.Ports, 1)
			assert.Equal(t, intstr.FromString("metrics"), svc.Spec.Ports[0].TargetPort)
		})
	}
}

// TestEventsRoleExclusiveWithClusterWatch: both would count the same Events.
func TestEventsRoleExclusiveWithClusterWatch(t *testing.T) {
	_, err := renderChartErr(map[string]any{"events": map[string]any{"clusterWatch": true}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "eventsRole.enabled and events.clusterWatch count the same Events twice")
}

func sortedKinds(docs []doc) []string {
	k := kinds(docs)
	for i := 1; i < len(k); i++ {
		for j := i; j > 0 && k[j] < k[j-1]; j-- {
			k[j], k[j-1] = k[j-1], k[j]
		}
	}
	return k
}

func hasRule(t *testing.T, rules []rbacv1.PolicyRule, r rule) bool {
	for _, have := range flatten(t, rules) {
		if have == r {
			return true
		}
	}
	return false
}

func contains(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

// TestEventsRoleKustomize: deploy/kustomize/events builds the chart's events role: the same pod
// spec, RBAC, bindings and Service, with the chart's labels less Helm's own.
func TestEventsRoleKustomize(t *testing.T) {
	kz := kustomizeDocs(t, "../kustomize/events")
	_, hm := splitRoles(chartDocs(t, nil))
	_, kzEvents := splitRoles(kz)
	assert.Equal(t, len(kz), len(kzEvents), "every object is labelled component: events")
	assert.Equal(t, sortedKinds(hm), sortedKinds(kz))
	kd, hd := only[*appsv1.Deployment](t, kz), only[*appsv1.Deployment](t, hm)
	assert.Equal(t, hd.Spec, kd.Spec, "Deployment spec: kustomize vs helm")
	assert.Equal(t, only[*rbacv1.ClusterRole](t, hm).Rules, only[*rbacv1.ClusterRole](t, kz).Rules)
	assert.Equal(t, only[*rbacv1.Role](t, hm).Rules, only[*rbacv1.Role](t, kz).Rules)
	assert.Equal(t, only[*rbacv1.ClusterRoleBinding](t, hm).Subjects, only[*rbacv1.ClusterRoleBinding](t, kz).Subjects)
	assert.Equal(t, only[*rbacv1.RoleBinding](t, hm).Subjects, only[*rbacv1.RoleBinding](t, kz).Subjects)
	assert.Equal(t, only[*corev1.Service](t, hm).Spec, only[*corev1.Service](t, kz).Spec)
	for _, d := range kz {
		labels := d.obj.(interface{ GetLabels() map[string]string }).GetLabels()
		for k, v := range hd.Labels {
			if k == "helm.sh/chart" || k == "app.kubernetes.io/managed-by" {
				continue
			}
			assert.Equal(t, v, labels[k], "%s label %s", d.kind(), k)
		}
	}
}

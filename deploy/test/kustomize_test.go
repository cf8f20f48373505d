package test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// The kustomize base and overlay build the same agent as the chart: identical pod spec, RBAC
// rules, binding, service ports and selectors.
func TestKustomizeMatchesChart(t *testing.T) {
	cases := []struct {
		name   string
		dir    string
		values map[string]any
		proxy  bool
	}{
		{name: "base", dir: kustomizeBase},
		{name: "apiserver-proxy overlay", dir: "../kustomize/overlays/apiserver-proxy",
			values: map[string]any{"kubelet": map[string]any{"mode": "apiserver-proxy"}}, proxy: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kz := kustomizeDocs(t, tc.dir)
			hm, _ := splitRoles(chartDocs(t, tc.values)) // the events role: TestEventsRoleKustomize
			assert.Equal(t, []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "Namespace", "Service", "ServiceAccount"}, kinds(kz))
			ns := only[*corev1.Namespace](t, kz)
			assert.Equal(t, namespace, ns.Name)
			assert.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/enforce"])

			kds, hds := only[*appsv1.DaemonSet](t, kz), only[*appsv1.DaemonSet](t, hm)
			checkPodSpec(t, &kds.Spec.Template.Spec, false)
			assert.Equal(t, namespace, kds.Namespace)
			assert.Equal(t, hds.Spec.Template.Spec, kds.Spec.Template.Spec, "pod spec: kustomize vs helm")
			assert.Equal(t, hds.Spec.Selector, kds.Spec.Selector)
			assert.Equal(t, hds.Spec.UpdateStrategy, kds.Spec.UpdateStrategy)
			assert.Equal(t, hds.Spec.Template.Labels, kds.Spec.Template.Labels)

			kr, hr := only[*rbacv1.ClusterRole](t, kz), only[*rbacv1.ClusterRole](t, hm)
			assert.Equal(t, hr.Rules, kr.Rules, "ClusterRole rules: kustomize vs helm")
			want := append([]rule(nil), wantRules...)
			if tc.proxy {
				want = append(want, nodesProxy)
			}
			assert.ElementsMatch(t, want, flatten(t, kr.Rules))

			kb, hb := only[*rbacv1.ClusterRoleBinding](t, kz), only[*rbacv1.ClusterRoleBinding](t, hm)
			assert.Equal(t, hb.RoleRef, kb.RoleRef)
			assert.Equal(t, hb.Subjects, kb.Subjects)

			ks, hs := only[*corev1.Service](t, kz), only[*corev1.Service](t, hm)
			assert.Equal(t, hs.Spec, ks.Spec)
			assert.Equal(t, namespace, ks.Namespace)

			ksa, hsa := only[*corev1.ServiceAccount](t, kz), only[*corev1.ServiceAccount](t, hm)
			assert.Equal(t, hsa.Name, ksa.Name)
			assert.Equal(t, namespace, ksa.Namespace)

			// The chart's labels, less Helm's own, are on every kustomize object.
			for _, d := range kz {
				if d.kind() == "Namespace" {
					continue
				}
				labels := d.obj.(interface{ GetLabels() map[string]string }).GetLabels()
				for k, v := range hds.Labels {
					if k == "helm.sh/chart" || k == "app.kubernetes.io/managed-by" {
						continue
					}
					assert.Equal(t, v, labels[k], "%s label %s", d.kind(), k)
				}
			}
		})
	}
	require.NotNil(t, t)
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
)

// TestAdviseFromEvents: `advise --from-events -o patch` lists the hint Events (field selector,
// pages) and writes the patch, without Prometheus.
func TestAdviseFromEvents(t *testing.T) {
	hint := func(ns, pod, container, path string) corev1.Event {
		return corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod + ".1",
			Annotations: map[string]string{detect.HintAnnotationContainer: container, detect.HintAnnotationPath: path,
				detect.HintAnnotationWorkloadKind: "Deployment", detect.HintAnnotationWorkload: "web"}},
			Reason: detect.ReadOnlyHintReason, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod}}
	}
	pages := []corev1.EventList{
		{ListMeta: metav1.ListMeta{Continue: "page2"}, Items: []corev1.Event{hint("shop", "web-1", "nginx", "/var/cache/nginx/client_temp")}},
		{Items: []corev1.Event{hint("shop", "web-2", "nginx", "/var/cache/nginx/proxy_temp"), hint("other", "web-3", "app", "/tmp/x")}},
	}
	var selectors []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/events" {
			http.NotFound(w, r)
			return
		}
		selectors = append(selectors, r.URL.Query().Get("fieldSelector"))
		page := pages[0]
		if r.URL.Query().Get("continue") == "page2" {
			page = pages[1]
		}
		page.Kind, page.APIVersion = "EventList", "v1"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	}))
	t.Cleanup(srv.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: fake, context: {cluster: fake, user: u}}]
current-context: fake
`, srv.URL)), 0o600))

	o := adviseDefaults()
	o.fromEvents, o.kubeconfig, o.namespace, o.output = true, kubeconfig, "shop", "patch"
	var out bytes.Buffer
	require.NoError(t, runAdvise(o, &out))
	assert.Equal(t, []string{"reason=ReadOnlyWriteFailed", "reason=ReadOnlyWriteFailed"}, selectors)
	assert.Equal(t, `# Writable directories for read-only root filesystems, as strategic-merge patches.
---
# nginx: failed to write /var/cache/nginx/client_temp, /var/cache/nginx/proxy_temp
# warning: an emptyDir at /var/cache/nginx hides what the image has under that directory
# kubectl -n shop patch deployment web --type strategic --patch-file FILE
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
      - name: nginx
        volumeMounts:
        - name: writable-var-cache-nginx
          mountPath: "/var/cache/nginx"
      volumes:
      - name: writable-var-cache-nginx
        emptyDir:
          sizeLimit: 1Gi
`, out.String())

	o.output, o.namespace = "table", ""
	out.Reset()
	require.NoError(t, runAdvise(o, &out))
	assert.Equal(t, 2, strings.Count(out.String(), " Deployment/web"), out.String())
	assert.Contains(t, out.String(), "/tmp/x")
}

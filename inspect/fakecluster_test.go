package inspect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
)

// fakeCluster is a loopback API server in the style of testutil/fakeapi: it lists nodes and pods
// and answers the node proxy's /stats/summary from recorded dumps. A node can be forbidden (403,
// as the authorizer answers a user without nodes/proxy) or hang until the client gives up.
type fakeCluster struct {
	*httptest.Server
	mu        sync.Mutex
	nodes     []corev1.Node
	pods      []corev1.Pod
	summaries map[string][]byte
	forbidden map[string]bool
	hang      map[string]bool
	// release ends every hanging request: the test closes it so the server can shut down.
	release  chan struct{}
	requests atomic.Int64
	// inflight and maxInflight count concurrent summary requests.
	inflight, maxInflight atomic.Int64
	// latency is the simulated kubelet's answer time, so that concurrent reads overlap.
	latency time.Duration
	// forbidList makes pod and node lists answer 403.
	forbidList bool
	paths      sync.Map // path -> count
}

func newFakeCluster(t testing.TB) *fakeCluster {
	f := &fakeCluster{summaries: map[string][]byte{}, forbidden: map[string]bool{}, hang: map[string]bool{}, release: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.release)
		f.Close()
	})
	return f
}

// addDump adds a recorded node: its node object (or a bare one), pods and summary.
func (f *fakeCluster) addDump(t testing.TB, d *dump.Dump) string {
	t.Helper()
	summary, err := d.Summary(context.Background())
	require.NoError(t, err)
	raw, err := json.Marshal(summary)
	require.NoError(t, err)
	name := summary.Node.NodeName
	node := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if d.Node != nil {
		node = *d.Node
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes = append(f.nodes, node)
	f.summaries[name] = raw
	for _, p := range d.Pods {
		pod := *p
		pod.Spec.NodeName = name
		f.pods = append(f.pods, pod)
	}
	return name
}

// addNode adds a node with one pod, whose summary fails as the flags say.
func (f *fakeCluster) addNode(name string, forbidden, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes = append(f.nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	f.pods = append(f.pods, corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "on-" + name, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: name},
	})
	f.forbidden[name], f.hang[name] = forbidden, hang
}

func (f *fakeCluster) client(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{Host: f.URL, QPS: -1}) // as the plugin configures it
	require.NoError(t, err)
	return c
}

func (f *fakeCluster) count(path string) int64 {
	if v, ok := f.paths.Load(path); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (f *fakeCluster) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	v, _ := f.paths.LoadOrStore(r.URL.Path, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case len(parts) == 7 && parts[2] == "nodes" && parts[4] == "proxy" && parts[5] == "stats" && parts[6] == "summary":
		f.serveSummary(w, r, parts[3])
	case f.forbidList && len(parts) == 3 && parts[2] == "nodes":
		writeStatus(w, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "",
			errFake(`User "viewer" cannot list resource "nodes" in API group "" at the cluster scope`)))
	case f.forbidList && parts[len(parts)-1] == "pods":
		writeStatus(w, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "",
			errFake(`User "viewer" cannot list resource "pods" in API group ""`)))
	case len(parts) == 3 && parts[2] == "nodes":
		list := &corev1.NodeList{}
		list.Items, list.Continue = page(f.nodes, r)
		writeJSON(w, list)
	case len(parts) == 4 && parts[2] == "nodes":
		for i := range f.nodes {
			if f.nodes[i].Name == parts[3] {
				writeJSON(w, &f.nodes[i])
				return
			}
		}
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, parts[3]))
	case len(parts) == 3 && parts[2] == "pods":
		f.servePods(w, r, "")
	case len(parts) == 5 && parts[2] == "namespaces" && parts[4] == "pods":
		f.servePods(w, r, parts[3])
	case len(parts) == 6 && parts[2] == "namespaces" && parts[4] == "pods":
		for i := range f.pods {
			if f.pods[i].Namespace == parts[3] && f.pods[i].Name == parts[5] {
				writeJSON(w, &f.pods[i])
				return
			}
		}
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, parts[5]))
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeCluster) serveSummary(w http.ResponseWriter, r *http.Request, node string) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxInflight.Load()
		if n <= m || f.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	switch {
	case f.forbidden[node]:
		writeStatus(w, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes", Group: ""}, node,
			errFake(`User "viewer" cannot get resource "nodes/proxy" in API group "" at the cluster scope`)))
	case f.hang[node]:
		f.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-f.release:
		case <-time.After(30 * time.Second):
		}
		f.mu.Lock()
	case f.summaries[node] != nil:
		if f.latency > 0 {
			f.mu.Unlock()
			select {
			case <-r.Context().Done():
			case <-time.After(f.latency):
			}
			f.mu.Lock()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.summaries[node])
	default:
		writeStatus(w, apierrors.NewServiceUnavailable("no kubelet"))
	}
}

func (f *fakeCluster) servePods(w http.ResponseWriter, r *http.Request, namespace string) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	var pods []corev1.Pod
	for _, p := range f.pods {
		if (namespace == "" || p.Namespace == namespace) && sel.Matches(labels.Set(p.Labels)) {
			pods = append(pods, p)
		}
	}
	list := &corev1.PodList{}
	list.Items, list.Continue = page(pods, r)
	writeJSON(w, list)
}

// page serves a list in pages of ?limit= items, as the API server does; the continue token is
// the offset of the next page.
func page[T any](items []T, r *http.Request) ([]T, string) {
	from, _ := strconv.Atoi(r.URL.Query().Get("continue"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	from = min(max(from, 0), len(items))
	if limit <= 0 || from+limit >= len(items) {
		return items[from:], ""
	}
	return items[from : from+limit], strconv.Itoa(from + limit)
}

type errFake string

func (e errFake) Error() string { return string(e) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	status := err.Status()
	status.Kind, status.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	_ = json.NewEncoder(w).Encode(&status)
}

// Package fakeapi is a minimal Kubernetes API server and kubelet for process-level tests of the
// agent: it serves pod and node lists and watches (honouring the field selectors the agent sends),
// /stats/summary, and can be told to fail, so that a real agent binary can be run against it
// without a cluster.
package fakeapi

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Server is a fake API server.
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	pods []corev1.Pod
	node *corev1.Node
	// Down makes every request fail with 503, as an unreachable or restarting API server would.
	Down atomic.Bool
	// GoneOnce makes the next watch answer 410 Gone, forcing a re-list.
	GoneOnce atomic.Bool
	Watches  atomic.Int64
	// Selectors records every field selector asked for.
	Selectors sync.Map
	// kick is closed to end every open watch.
	kick chan struct{}
}

// NewServer starts a fake API server holding pods and node.
func NewServer(pods []*corev1.Pod, node *corev1.Node) *Server {
	s := &Server{node: node, kick: make(chan struct{})}
	for _, p := range pods {
		s.pods = append(s.pods, *p)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// CloseWatches ends every open watch, as an API server restart or a load balancer would; clients
// watch again from their last resource version.
func (s *Server) CloseWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.kick)
	s.kick = make(chan struct{})
}

// SetPods replaces the pods.
func (s *Server) SetPods(pods []*corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods = s.pods[:0]
	for _, p := range pods {
		s.pods = append(s.pods, *p)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.Down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if sel := r.URL.Query().Get("fieldSelector"); sel != "" {
		s.Selectors.Store(r.URL.Path+"?"+sel, true)
	}
	if r.URL.Query().Get("watch") == "true" {
		s.watch(w, r)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/api/v1/pods":
		writeJSON(w, &corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
			ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: s.pods})
	case "/api/v1/nodes":
		list := &corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
		if s.node != nil {
			list.Items = append(list.Items, *s.node)
		}
		writeJSON(w, list)
	case "/api/v1/events":
		writeJSON(w, &corev1.EventList{TypeMeta: metav1.TypeMeta{Kind: "EventList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "1"}})
	default:
		http.NotFound(w, r)
	}
}

// watch holds the stream open without events until the client leaves or the timeout it asked for
// passes; with GoneOnce it answers 410, as an API server whose watch cache expired does.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	s.Watches.Add(1)
	if s.GoneOnce.CompareAndSwap(true, false) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "ERROR", "object": metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
			Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: "too old resource version"}})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if r.URL.Query().Get("sendInitialEvents") == "true" {
		s.sendInitialEvents(w, r.URL.Path)
	}
	w.(http.Flusher).Flush()
	timeout := 30 * time.Second
	if ts := r.URL.Query().Get("timeoutSeconds"); ts != "" {
		if d, err := time.ParseDuration(ts + "s"); err == nil {
			timeout = d
		}
	}
	s.mu.Lock()
	kick := s.kick
	s.mu.Unlock()
	select {
	case <-r.Context().Done():
	case <-kick:
	case <-time.After(timeout):
	}
}

// sendInitialEvents streams the current objects as ADDED events and ends them with the bookmark
// that streaming-list clients (client-go's WatchListClient) wait for.
func (s *Server) sendInitialEvents(w http.ResponseWriter, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	enc := json.NewEncoder(w)
	var objects []any
	var bookmark any
	end := map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	switch path {
	case "/api/v1/pods":
		for i := range s.pods {
			p := s.pods[i].DeepCopy()
			p.APIVersion, p.Kind = "v1", "Pod"
			objects = append(objects, p)
		}
		bookmark = &corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1", Annotations: end}}
	case "/api/v1/nodes":
		if s.node != nil {
			n := s.node.DeepCopy()
			n.APIVersion, n.Kind = "v1", "Node"
			objects = append(objects, n)
		}
		bookmark = &corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1", Annotations: end}}
	case "/api/v1/events":
		bookmark = &corev1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1", Annotations: end}}
	default:
		return
	}
	for _, o := range objects {
		_ = enc.Encode(map[string]any{"type": "ADDED", "object": o})
	}
	_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": bookmark})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Kubeconfig writes a kubeconfig for the server into dir and returns its path.
func (s *Server) Kubeconfig(dir string) (string, error) {
	path := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: agent, user: {token: fake-token}}]
contexts: [{name: fake, context: {cluster: fake, user: agent}}]
current-context: fake
`, s.URL)
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// Kubelet is a fake kubelet serving /stats/summary over TLS.
type Kubelet struct {
	*httptest.Server
	mu       sync.Mutex
	summary  []byte
	Requests atomic.Int64
	// Status, when not 0, is answered instead of the summary.
	Status atomic.Int32
	// Tokens records the bearer tokens presented.
	Tokens sync.Map
	// Delay, in nanoseconds, is how long the summary takes to come (a slow kubelet); bounded by
	// the request's own context.
	Delay atomic.Int64
}

// NewKubelet starts a fake kubelet serving summary.
func NewKubelet(summary *statsv1alpha1.Summary) (*Kubelet, error) {
	k := &Kubelet{}
	if err := k.SetSummary(summary); err != nil {
		return nil, err
	}
	k.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.Requests.Add(1)
		k.Tokens.Store(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), true)
		if code := k.Status.Load(); code != 0 {
			http.Error(w, "failing on purpose", int(code))
			return
		}
		if r.URL.Path != "/stats/summary" {
			http.NotFound(w, r)
			return
		}
		if d := time.Duration(k.Delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		k.mu.Lock()
		body := k.summary
		k.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	return k, nil
}

// SetSummary replaces the summary served.
func (k *Kubelet) SetSummary(summary *statsv1alpha1.Summary) error {
	body, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.summary = body
	k.mu.Unlock()
	return nil
}

// CAFile writes the kubelet's serving certificate (self-signed, so its own CA) into dir.
func (k *Kubelet) CAFile(dir string) (string, error) {
	path := filepath.Join(dir, "kubelet-ca.crt")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Certificate().Raw})
	return path, os.WriteFile(path, block, 0o600)
}

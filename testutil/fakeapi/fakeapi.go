// Package fakeapi is a minimal Kubernetes API server and kubelet for process-level tests of the
// agent: it serves pod, node and Event lists and watches (honouring the field selectors the agent
// sends for Events), in protobuf when the client accepts it as real API servers do (so that bytes
// JSON could not carry, such as invalid UTF-8, reach the agent raw), /stats/summary, and can be
// told to fail, so that a real agent binary can be run against it without a cluster.
package fakeapi

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"
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
	// Selectors records every field selector asked for; Paths every path, selector or not.
	Selectors sync.Map
	Paths     sync.Map
	// kick is closed to end every open watch.
	kick chan struct{}
	// events are the stored Events, resource versions from 2 on; added wakes the Event watches.
	events []corev1.Event
	added  chan struct{}
	// Protobuf counts the responses answered in protobuf.
	Protobuf atomic.Int64
}

const protobufType = "application/vnd.kubernetes.protobuf"

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func init() {
	metav1.AddToGroupVersion(scheme, corev1.SchemeGroupVersion)
	if err := corev1.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

// AddEvents stores Events and delivers them to the open Event watches that select them.
func (s *Server) AddEvents(events ...*corev1.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range events {
		e := *ev.DeepCopy()
		e.ResourceVersion = strconv.Itoa(len(s.events) + 2)
		s.events = append(s.events, e)
	}
	close(s.added)
	s.added = make(chan struct{})
}

// eventsAfter returns the stored Events newer than resource version rv that selector selects.
func (s *Server) eventsAfter(rv int, selector fields.Selector) []runtime.Object {
	var out []runtime.Object
	for i := max(rv-1, 0); i < len(s.events); i++ {
		e := &s.events[i]
		set := fields.Set{"involvedObject.kind": e.InvolvedObject.Kind, "involvedObject.name": e.InvolvedObject.Name,
			"involvedObject.namespace": e.InvolvedObject.Namespace, "reason": e.Reason, "metadata.namespace": e.Namespace}
		if selector.Matches(set) {
			c := e.DeepCopy()
			c.APIVersion, c.Kind = "v1", "Event"
			out = append(out, c)
		}
	}
	return out
}

func selectorOf(r *http.Request) fields.Selector {
	sel, err := fields.ParseSelector(r.URL.Query().Get("fieldSelector"))
	if err != nil {
		return fields.Nothing()
	}
	return sel
}

// NewServer starts a fake API server holding pods and node.
func NewServer(pods []*corev1.Pod, node *corev1.Node) *Server {
	s := &Server{node: node, kick: make(chan struct{}), added: make(chan struct{})}
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
	s.Paths.Store(r.URL.Path, true)
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
		s.write(w, r, &corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
			ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: s.pods})
	case "/api/v1/nodes":
		list := &corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
		if s.node != nil {
			list.Items = append(list.Items, *s.node)
		}
		s.write(w, r, list)
	case "/api/v1/events":
		list := &corev1.EventList{TypeMeta: metav1.TypeMeta{Kind: "EventList", APIVersion: "v1"},
			ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(len(s.events) + 1)}}
		for _, o := range s.eventsAfter(0, selectorOf(r)) {
			list.Items = append(list.Items, *o.(*corev1.Event))
		}
		s.write(w, r, list)
	default:
		s.get(w, r)
	}
}

// get answers a GET of one pod (/api/v1/namespaces/NS/pods/NAME) or the node (/api/v1/nodes/NAME),
// 404 for anything else, as the API server does for a missing object.
func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
	switch {
	case len(parts) == 4 && parts[0] == "namespaces" && parts[2] == "pods":
		for i := range s.pods {
			if p := s.pods[i].DeepCopy(); p.Namespace == parts[1] && p.Name == parts[3] {
				p.APIVersion, p.Kind = "v1", "Pod"
				s.write(w, r, p)
				return
			}
		}
	case len(parts) == 2 && parts[0] == "nodes" && s.node != nil && s.node.Name == parts[1]:
		n := s.node.DeepCopy()
		n.APIVersion, n.Kind = "v1", "Node"
		s.write(w, r, n)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound, Message: "not found"})
}

// wantsProtobuf: the client accepts protobuf, as the agent's client does.
func wantsProtobuf(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), protobufType)
}

// write answers obj in protobuf or JSON, as negotiated.
func (s *Server) write(w http.ResponseWriter, r *http.Request, obj runtime.Object) {
	if !wantsProtobuf(r) {
		writeJSON(w, obj)
		return
	}
	s.Protobuf.Add(1)
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), protobufType)
	var buf bytes.Buffer
	if err := codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion).Encode(obj, &buf); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", protobufType)
	_, _ = w.Write(buf.Bytes())
}

// watchEncoder writes watch events in the negotiated format: JSON lines, or length-delimited
// protobuf frames of metav1.WatchEvent whose object is the protobuf-encoded object, as the API
// server's watch handler does.
func (s *Server) watchEncoder(w http.ResponseWriter, r *http.Request) func(watch.EventType, runtime.Object) error {
	if !wantsProtobuf(r) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		return func(t watch.EventType, obj runtime.Object) error {
			return enc.Encode(map[string]any{"type": t, "object": obj})
		}
	}
	s.Protobuf.Add(1)
	w.Header().Set("Content-Type", protobufType+";stream=watch")
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), protobufType)
	embedded := codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion)
	stream := streaming.NewEncoder(info.StreamSerializer.NewFrameWriter(w), info.StreamSerializer.Serializer)
	return func(t watch.EventType, obj runtime.Object) error {
		var raw bytes.Buffer
		if err := embedded.Encode(obj, &raw); err != nil {
			return err
		}
		return stream.Encode(&metav1.WatchEvent{Type: string(t), Object: runtime.RawExtension{Raw: raw.Bytes()}})
	}
}

// watch holds the stream open without events until the client leaves or the timeout it asked for
// passes; with GoneOnce it answers 410, as an API server whose watch cache expired does.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	s.Watches.Add(1)
	send := s.watchEncoder(w, r)
	if s.GoneOnce.CompareAndSwap(true, false) {
		w.WriteHeader(http.StatusOK)
		_ = send(watch.Error, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
			Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
		return
	}
	w.WriteHeader(http.StatusOK)
	rv := 1
	if r.URL.Query().Get("sendInitialEvents") == "true" {
		s.sendInitialEvents(send, r)
		s.mu.Lock()
		rv = len(s.events) + 1
		s.mu.Unlock()
	} else if v, err := strconv.Atoi(r.URL.Query().Get("resourceVersion")); err == nil {
		rv = v
	}
	w.(http.Flusher).Flush()
	timeout := 30 * time.Second
	if ts := r.URL.Query().Get("timeoutSeconds"); ts != "" {
		if d, err := time.ParseDuration(ts + "s"); err == nil {
			timeout = d
		}
	}
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		kick, added := s.kick, s.added
		var news []runtime.Object
		if r.URL.Path == "/api/v1/events" {
			news = s.eventsAfter(rv, selectorOf(r))
			rv = len(s.events) + 1
		}
		s.mu.Unlock()
		for _, o := range news {
			if send(watch.Added, o) != nil {
				return
			}
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-kick:
			return
		case <-deadline:
			return
		case <-added:
		}
	}
}

// sendInitialEvents streams the current objects as ADDED events and ends them with the bookmark
// that streaming-list clients (client-go's WatchListClient) wait for.
func (s *Server) sendInitialEvents(send func(watch.EventType, runtime.Object) error, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var objects []runtime.Object
	var bookmark runtime.Object
	end := map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	switch r.URL.Path {
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
		objects = s.eventsAfter(0, selectorOf(r))
		bookmark = &corev1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: strconv.Itoa(len(s.events) + 1), Annotations: end}}
	default:
		return
	}
	for _, o := range objects {
		_ = send(watch.Added, o)
	}
	_ = send(watch.Bookmark, bookmark)
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

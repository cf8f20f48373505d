package scale

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/rest"
)

// Traffic is what one client asked of the API server and what it was sent, counted on the wire
// between the two (a proxy in front of the API server): the API server's own /metrics cannot
// tell one watcher from another.
type Traffic struct {
	Requests map[string]int64 // "VERB resource", VERB one of LIST, WATCH, GET, other methods
	Bytes    map[string]int64 // response body bytes by "VERB resource"
	// Watch events received by resource and whose node they concern: "own" (the client's node),
	// "other" (another node's object), plus BOOKMARK and ERROR (no object of a node).
	WatchEvents map[string]map[string]int64
}

// WatchEventsOf is WatchEvents[resource][class], summed over every resource when resource is "".
func (t Traffic) WatchEventsOf(resource, class string) int64 {
	var n int64
	for r, m := range t.WatchEvents {
		if resource == "" || r == resource {
			n += m[class]
		}
	}
	return n
}

// Sum of m's values whose key starts with prefix ("" for all).
func Sum(m map[string]int64, prefix string) int64 {
	var n int64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// CountingProxy forwards plain HTTP on loopback to the API server and counts Traffic, classifying
// each watch event by the node of its object (pods: spec.nodeName; Events: the node of the
// involved object's name, see NodeOfObject).
type CountingProxy struct {
	Node string
	URL  string
	l    net.Listener
	srv  *http.Server
	mu   sync.Mutex
	t    Traffic
}

// NewCountingProxy listens on 127.0.0.1 and forwards to the API server of cfg.
func NewCountingProxy(cfg *rest.Config, node string) (*CountingProxy, error) {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	// The proxy authenticates as cfg's user: client-go does not send a bearer token to a
	// plain-HTTP server, so the agent's own credentials would not arrive.
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &CountingProxy{Node: node, URL: "http://" + l.Addr().String(), l: l}
	p.Reset()
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		Transport:     rt,
		FlushInterval: -1, // watch streams go through as they come
		ModifyResponse: func(resp *http.Response) error {
			key := requestKey(resp.Request)
			p.add(func(t *Traffic) { t.Requests[key]++ })
			resp.Body = p.count(resp, key)
			return nil
		},
	}
	p.srv = &http.Server{Handler: rp}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// Close stops the proxy (and every stream through it).
func (p *CountingProxy) Close() error { return p.srv.Close() }

// Reset zeroes the counters.
func (p *CountingProxy) Reset() {
	p.mu.Lock()
	p.t = Traffic{Requests: map[string]int64{}, Bytes: map[string]int64{}, WatchEvents: map[string]map[string]int64{}}
	p.mu.Unlock()
}

// Snapshot is a copy of the counters.
func (p *CountingProxy) Snapshot() Traffic {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Traffic{Requests: map[string]int64{}, Bytes: map[string]int64{}, WatchEvents: map[string]map[string]int64{}}
	for k, v := range p.t.Requests {
		out.Requests[k] = v
	}
	for k, v := range p.t.Bytes {
		out.Bytes[k] = v
	}
	for r, m := range p.t.WatchEvents {
		out.WatchEvents[r] = map[string]int64{}
		for k, v := range m {
			out.WatchEvents[r][k] = v
		}
	}
	return out
}

func (p *CountingProxy) add(f func(*Traffic)) {
	p.mu.Lock()
	f(&p.t)
	p.mu.Unlock()
}

// requestKey is "VERB resource" in the API server's own terms (apiserver_request_total).
func requestKey(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]]
	if len(parts) >= 2 && parts[0] == "api" {
		parts = parts[2:]
	} else if len(parts) >= 3 && parts[0] == "apis" {
		parts = parts[3:]
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	resource, named := "", false
	if len(parts) > 0 {
		resource, named = parts[0], len(parts) > 1
	}
	verb := r.Method
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("watch") != "" && r.URL.Query().Get("watch") != "false":
		verb = "WATCH"
	case r.Method == http.MethodGet && !named:
		verb = "LIST"
	}
	return verb + " " + resource
}

var watchScheme = runtime.NewScheme()

func init() {
	metav1.AddToGroupVersion(watchScheme, corev1.SchemeGroupVersion)
	if err := corev1.AddToScheme(watchScheme); err != nil {
		panic(err)
	}
}

// count wraps a response body: bytes are counted as the client reads them, and a watch stream is
// decoded on the side (a pipe) to count and classify its events.
func (p *CountingProxy) count(resp *http.Response, key string) io.ReadCloser {
	cb := &countingBody{rc: resp.Body, p: p, key: key}
	if strings.HasPrefix(key, "WATCH ") && resp.StatusCode == http.StatusOK {
		pr, pw := io.Pipe()
		cb.pw = pw
		resource := strings.TrimPrefix(key, "WATCH ")
		proto := strings.Contains(resp.Header.Get("Content-Type"), "protobuf")
		go func() {
			err := p.decodeWatch(pr, resource, proto)
			_, _ = io.Copy(io.Discard, pr) // never block the client's stream
			pr.CloseWithError(err)
		}()
	}
	return cb
}

type countingBody struct {
	rc  io.ReadCloser
	pw  *io.PipeWriter
	p   *CountingProxy
	key string
}

func (b *countingBody) Read(buf []byte) (int, error) {
	n, err := b.rc.Read(buf)
	if n > 0 {
		b.p.add(func(t *Traffic) { t.Bytes[b.key] += int64(n) })
		if b.pw != nil {
			_, _ = b.pw.Write(buf[:n])
		}
	}
	if err != nil && b.pw != nil {
		b.pw.Close()
	}
	return n, err
}

func (b *countingBody) Close() error {
	if b.pw != nil {
		b.pw.Close()
	}
	return b.rc.Close()
}

// decodeWatch reads watch events: protobuf frames are a 4-byte big-endian length and a
// metav1.WatchEvent (k8s.io/apimachinery/pkg/runtime/serializer/protobuf, LengthDelimitedFramer);
// JSON ones are one object per event.
func (p *CountingProxy) decodeWatch(r io.Reader, resource string, proto bool) error {
	ser := protobuf.NewSerializer(watchScheme, watchScheme)
	br := bufio.NewReaderSize(r, 64<<10)
	dec := json.NewDecoder(br)
	for {
		var typ string
		var obj runtime.Object
		if proto {
			var size uint32
			if err := binary.Read(br, binary.BigEndian, &size); err != nil {
				return ignoreEOF(err)
			}
			if size > 64<<20 {
				return fmt.Errorf("watch frame of %d bytes", size)
			}
			frame := make([]byte, size)
			if _, err := io.ReadFull(br, frame); err != nil {
				return ignoreEOF(err)
			}
			// The frame itself is a raw (unenveloped) WatchEvent; its object is enveloped.
			var ev metav1.WatchEvent
			if err := ev.Unmarshal(frame); err != nil {
				return err
			}
			typ = ev.Type
			obj, _, _ = ser.Decode(ev.Object.Raw, nil, nil)
		} else {
			var ev struct {
				Type   string          `json:"type"`
				Object json.RawMessage `json:"object"`
			}
			if err := dec.Decode(&ev); err != nil {
				return ignoreEOF(err)
			}
			typ = ev.Type
			var pod corev1.Pod
			if json.Unmarshal(ev.Object, &pod) == nil && pod.Kind == "Pod" {
				obj = &pod
			} else {
				var e corev1.Event
				if json.Unmarshal(ev.Object, &e) == nil && e.Kind == "Event" {
					obj = &e
				}
			}
		}
		class := typ
		if typ != "BOOKMARK" && typ != "ERROR" {
			class = p.classify(obj)
		}
		p.add(func(t *Traffic) {
			if t.WatchEvents[resource] == nil {
				t.WatchEvents[resource] = map[string]int64{}
			}
			t.WatchEvents[resource][class]++
		})
	}
}

func (p *CountingProxy) classify(obj runtime.Object) string {
	node := ""
	switch o := obj.(type) {
	case *corev1.Pod:
		node = o.Spec.NodeName
	case *corev1.Event:
		node = NodeOfObject(o.InvolvedObject.Name)
	case *corev1.Node:
		node = o.Name
	}
	if node == p.Node {
		return "own"
	}
	return "other"
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}

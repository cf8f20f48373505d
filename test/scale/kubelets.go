package scale

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Kubelets is one process serving the /stats/summary of many simulated nodes, one TLS listener
// (port) per node on the same IP: the node proxy dials status.addresses + daemonEndpoints, and
// the port is what tells the nodes apart.
type Kubelets struct {
	ip       string
	tls      *tls.Config
	srv      *http.Server
	mu       sync.Mutex
	byPort   map[int][]byte
	ports    map[string]int
	listener []net.Listener
	Requests atomic.Int64
}

// NewKubelets serves on ip with the certificate in certFile/keyFile (signed by the cluster's CA).
func NewKubelets(ip, certFile, keyFile string) (*Kubelets, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	k := &Kubelets{ip: ip, tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		byPort: map[int][]byte{}, ports: map[string]int{}}
	k.srv = &http.Server{Handler: http.HandlerFunc(k.serve), ReadHeaderTimeout: 10 * time.Second}
	return k, nil
}

// Add starts serving node on a new port (404 until Set) and returns the port.
func (k *Kubelets) Add(node string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(k.ip, "0"))
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	k.mu.Lock()
	k.ports[node] = port
	k.listener = append(k.listener, l)
	k.mu.Unlock()
	go func() { _ = k.srv.Serve(tls.NewListener(l, k.tls)) }()
	return port, nil
}

// Set the summary node's kubelet serves.
func (k *Kubelets) Set(node string, summary *statsv1alpha1.Summary) error {
	body, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	port, ok := k.ports[node]
	if !ok {
		return fmt.Errorf("no fake kubelet for %s", node)
	}
	k.byPort[port] = body
	return nil
}

// URL of node's kubelet.
func (k *Kubelets) URL(node string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return fmt.Sprintf("https://%s", net.JoinHostPort(k.ip, fmt.Sprint(k.ports[node])))
}

func (k *Kubelets) serve(w http.ResponseWriter, r *http.Request) {
	k.Requests.Add(1)
	addr, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	tcp, _ := addr.(*net.TCPAddr)
	if r.URL.Path != "/stats/summary" || tcp == nil {
		http.NotFound(w, r)
		return
	}
	k.mu.Lock()
	body, ok := k.byPort[tcp.Port]
	k.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// Close stops every listener.
func (k *Kubelets) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := k.srv.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

package kubelet

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

const validSummary = `{"node":{"nodeName":"node-a","fs":{"availableBytes":10,"capacityBytes":20}},"pods":[]}`

// fakeKubelet is a TLS kubelet whose answer each test chooses.
type fakeKubelet struct {
	*httptest.Server
	mu      sync.Mutex
	handler http.HandlerFunc
	tokens  []string
	paths   []string
}

func newFakeKubelet(t *testing.T, h http.HandlerFunc) *fakeKubelet {
	t.Helper()
	k := &fakeKubelet{handler: h}
	k.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.tokens = append(k.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		k.paths = append(k.paths, r.URL.Path)
		h := k.handler
		k.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(k.Close)
	return k
}

func (k *fakeKubelet) caFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Certificate().Raw}), 0o600))
	return path
}

func writeToken(t *testing.T, path, token string) {
	t.Helper()
	// Write then rename, as the kubelet's atomic writer does for projected volumes.
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(token+"\n"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func jsonBody(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

func directOptions(t *testing.T, k *fakeKubelet) Options {
	t.Helper()
	token := filepath.Join(t.TempDir(), "token")
	writeToken(t, token, "secret-token-1")
	return Options{Mode: ModeDirect, URL: k.URL, CAFile: k.caFile(t), TokenFile: token, Timeout: 2 * time.Second, MaxResponseBytes: 1 << 20}
}

func TestSummaryFaults(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		tweak       func(*Options)
		wantKind    ErrorKind
		wantStatus  int
		wantExcerpt string
	}{
		{name: "ok", handler: jsonBody(validSummary)},
		{name: "unauthorized", handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "Unauthorized", http.StatusUnauthorized) },
			wantKind: ErrorAuth, wantStatus: 401, wantExcerpt: "Unauthorized"},
		{name: "forbidden", handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `Forbidden (user=system:serviceaccount:x:y, verb=get, resource=nodes, subresource=stats)`, http.StatusForbidden)
		}, wantKind: ErrorAuth, wantStatus: 403, wantExcerpt: "subresource=stats"},
		{name: "server error", handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "internal error", http.StatusInternalServerError)
		},
			wantKind: ErrorHTTPStatus, wantStatus: 500, wantExcerpt: "internal error"},
		{name: "truncated json", handler: jsonBody(validSummary[:40]), wantKind: ErrorDecode},
		{name: "not a summary", handler: jsonBody(`{"kind":"Status"}`), wantKind: ErrorDecode},
		{name: "wrong content type", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>login</html>"))
		}, wantKind: ErrorDecode, wantExcerpt: "<html>login</html>"},
		{name: "larger than the cap", handler: jsonBody(validSummary),
			tweak: func(o *Options) { o.MaxResponseBytes = 32 }, wantKind: ErrorTooLarge},
		{name: "slower than the timeout", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, tweak: func(o *Options) { o.Timeout = 100 * time.Millisecond }, wantKind: ErrorTimeout},
		{name: "body stalls after the headers", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(validSummary[:20]))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, tweak: func(o *Options) { o.Timeout = 100 * time.Millisecond }, wantKind: ErrorTimeout},
		{name: "certificate not signed by the CA", handler: jsonBody(validSummary),
			tweak: func(o *Options) { o.CAFile = "" }, wantKind: ErrorTLS},
		{name: "insecure skip verify accepts it", handler: jsonBody(validSummary),
			tweak: func(o *Options) { o.CAFile, o.InsecureSkipTLSVerify = "", true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKubelet(t, tt.handler)
			o := directOptions(t, k)
			if tt.tweak != nil {
				tt.tweak(&o)
			}
			c, err := NewClient(o, nil)
			require.NoError(t, err)
			start := time.Now()
			summary, err := c.Summary(context.Background())
			assert.Less(t, time.Since(start), o.Timeout+time.Second, "every request ends at --kubelet.timeout")
			if tt.wantKind == "" {
				require.NoError(t, err)
				assert.Equal(t, "node-a", summary.Node.NodeName)
				return
			}
			require.Error(t, err)
			assert.Nil(t, summary)
			assert.Equal(t, tt.wantKind, KindOf(err), "error: %v", err)
			var kerr *Error
			require.ErrorAs(t, err, &kerr)
			assert.Equal(t, tt.wantStatus, kerr.Status)
			assert.Contains(t, err.Error(), tt.wantExcerpt)
			assert.NotContains(t, err.Error(), "secret-token", "tokens never reach errors or logs")
		})
	}
}

func TestSummaryConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	token := filepath.Join(t.TempDir(), "token")
	writeToken(t, token, "t")
	c, err := NewClient(Options{Mode: ModeDirect, URL: "https://" + addr, TokenFile: token, Timeout: time.Second, MaxResponseBytes: 1 << 20}, nil)
	require.NoError(t, err)
	_, err = c.Summary(context.Background())
	assert.Equal(t, ErrorConnection, KindOf(err), "error: %v", err)
}

func TestTokenRotation(t *testing.T) {
	k := newFakeKubelet(t, jsonBody(validSummary))
	o := directOptions(t, k)
	c, err := NewClient(o, nil)
	require.NoError(t, err)
	_, err = c.Summary(context.Background())
	require.NoError(t, err)

	writeToken(t, o.TokenFile, "secret-token-2-rotated") // a different size, so the change shows even on coarse mtimes
	_, err = c.Summary(context.Background())
	require.NoError(t, err)

	require.NoError(t, os.Remove(o.TokenFile)) // mid-rotation: keep presenting the last token
	_, err = c.Summary(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"secret-token-1", "secret-token-2-rotated", "secret-token-2-rotated"}, k.tokens)
}

func TestMissingTokenFileFailsAtStart(t *testing.T) {
	_, err := NewClient(Options{Mode: ModeDirect, NodeIP: "10.0.0.1", TokenFile: "/nonexistent/token", Timeout: time.Second, MaxResponseBytes: 1}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--kubelet.token-file")
}

func TestAPIServerProxyMode(t *testing.T) {
	var gotAuth string
	apiserver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		if r.URL.Path != "/api/v1/nodes/node-a/proxy/stats/summary" {
			http.NotFound(w, r)
			return
		}
		jsonBody(validSummary)(w, r)
	}))
	defer apiserver.Close()
	c, err := NewClient(Options{Mode: ModeAPIServerProxy, NodeName: "node-a", Timeout: time.Second, MaxResponseBytes: 1 << 20},
		&rest.Config{Host: apiserver.URL, BearerToken: "apiserver-token"})
	require.NoError(t, err)
	summary, err := c.Summary(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "node-a", summary.Node.NodeName)
	assert.Equal(t, "Bearer apiserver-token", gotAuth, "the API server credentials are used as they are")
}

func TestEvictionHardFromConfigz(t *testing.T) {
	k := newFakeKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/configz" {
			http.NotFound(w, r)
			return
		}
		jsonBody(`{"kubeletconfig":{"evictionHard":{"nodefs.available":"15%","imagefs.available":"20%"},"maxPods":110}}`)(w, r)
	})
	c, err := NewClient(directOptions(t, k), nil)
	require.NoError(t, err)
	hard, err := c.EvictionHard(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"nodefs.available": "15%", "imagefs.available": "20%"}, hard)

	k.mu.Lock()
	k.handler = func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Forbidden (subresource=proxy)", http.StatusForbidden)
	}
	k.mu.Unlock()
	_, err = c.EvictionHard(context.Background())
	assert.Equal(t, ErrorAuth, KindOf(err), "default RBAC has no nodes/proxy")
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Mode: ModeDirect, NodeIP: "10.0.0.1", Timeout: time.Second, MaxResponseBytes: 1}
	tests := []struct {
		name    string
		tweak   func(*Options)
		wantErr string
	}{
		{name: "direct with node ip"},
		{name: "unknown mode", tweak: func(o *Options) { o.Mode = "ssh" }, wantErr: `--kubelet.mode "ssh"`},
		{name: "direct without address", tweak: func(o *Options) { o.NodeIP = "" }, wantErr: "--node.ip"},
		{name: "bad url", tweak: func(o *Options) { o.URL = "10.0.0.1:10250" }, wantErr: "--kubelet.url"},
		{name: "missing ca file", tweak: func(o *Options) { o.CAFile = "/nonexistent/ca.crt" }, wantErr: "--kubelet.ca-file"},
		{name: "missing ca file ignored when not verifying", tweak: func(o *Options) { o.CAFile, o.InsecureSkipTLSVerify = "/nonexistent/ca.crt", true }},
		{name: "proxy needs node name", tweak: func(o *Options) { o.Mode = ModeAPIServerProxy }, wantErr: "--node.name"},
		{name: "zero timeout", tweak: func(o *Options) { o.Timeout = 0 }, wantErr: "--kubelet.timeout"},
		{name: "zero cap", tweak: func(o *Options) { o.MaxResponseBytes = 0 }, wantErr: "--kubelet.max-response-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			if tt.tweak != nil {
				tt.tweak(&o)
			}
			err := o.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// A redirecting kubelet: the client neither follows the redirect nor sends anything to its
// target, whatever the target (another host over plain HTTP, or the same host), and says why.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhereHits atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereHits.Add(1)
		jsonBody(validSummary)(w, r)
	}))
	defer elsewhere.Close()
	tests := []struct {
		name, location string
		status         int
	}{
		{name: "302 to another host over http", location: elsewhere.URL + "/stats/summary", status: http.StatusFound},
		{name: "307 to another host", location: elsewhere.URL + "/stats/summary", status: http.StatusTemporaryRedirect},
		{name: "301 to the same host", location: "/other/summary", status: http.StatusMovedPermanently},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKubelet(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/stats/summary" {
					jsonBody(validSummary)(w, r)
					return
				}
				http.Redirect(w, r, tt.location, tt.status)
			})
			c, err := NewClient(directOptions(t, k), nil)
			require.NoError(t, err)
			summary, err := c.Summary(context.Background())
			require.Error(t, err)
			assert.Nil(t, summary)
			var kerr *Error
			require.ErrorAs(t, err, &kerr)
			assert.Equal(t, ErrorHTTPStatus, kerr.Kind)
			assert.Equal(t, tt.status, kerr.Status)
			assert.Contains(t, err.Error(), "not followed")
			k.mu.Lock()
			assert.Equal(t, []string{"/stats/summary"}, k.paths, "one request, to the configured kubelet only")
			k.mu.Unlock()
		})
	}
	assert.Zero(t, elsewhereHits.Load(), "the redirect target never sees a request, so never the token")
}

// Error bodies are echoed into errors and logs: none may carry the token, in any form.
func TestErrorExcerptsAreRedacted(t *testing.T) {
	const token = "secret-token-1"
	jwt := "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJl"
	tests := []struct {
		name, body  string
		wantExcerpt string
		wantGone    []string
	}{
		{name: "header echo", body: "request headers:\nAuthorization: Bearer " + token + "\nAccept: application/json",
			wantExcerpt: "Accept: application/json", wantGone: []string{token}},
		{name: "json header echo", body: `{"headers":{"Authorization":["Bearer ` + token + `"]},"path":"/stats/summary"}`,
			wantGone: []string{token}},
		{name: "basic credentials echo", body: "authorization=Basic dXNlcjpwYXNz\nok",
			wantExcerpt: "ok", wantGone: []string{"dXNlcjpwYXNz"}},
		{name: "bare token", body: "token " + token + " rejected", wantExcerpt: "rejected", wantGone: []string{token}},
		{name: "bearer with another token", body: "got bearer " + jwt + " instead", wantExcerpt: "instead", wantGone: []string{jwt[:20]}},
		{name: "bare jwt", body: "who is " + jwt, wantGone: []string{jwt[:20]}},
		{name: "token straddling the excerpt bound", body: strings.Repeat("x", excerptBytes-5) + token,
			wantGone: []string{token[:5]}},
		{name: "invalid utf-8", body: "bad \xff\xfe bytes", wantExcerpt: "bad \ufffd bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKubelet(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(tt.body))
			})
			c, err := NewClient(directOptions(t, k), nil)
			require.NoError(t, err)
			_, err = c.Summary(context.Background())
			require.Error(t, err)
			var kerr *Error
			require.ErrorAs(t, err, &kerr)
			assert.Contains(t, kerr.Excerpt, tt.wantExcerpt)
			assert.LessOrEqual(t, len(kerr.Excerpt), excerptBytes)
			for _, gone := range tt.wantGone {
				assert.NotContains(t, err.Error(), gone)
			}
			if tt.wantGone != nil {
				assert.Contains(t, kerr.Excerpt, redacted[:5], "the redaction is there, whole or cut by the bound")
			}
		})
	}
}

// The cap applies to the decompressed body: a small gzip body that inflates past it is refused
// as too large, after reading no more than the cap.
func TestDecompressedCap(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"node":{"nodeName":"node-a"},"pods":[` + strings.Repeat(" ", 4<<20) + `]}`))
	require.NoError(t, zw.Close())
	k := newFakeKubelet(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gz.Bytes())
	})
	o := directOptions(t, k)
	o.MaxResponseBytes = 1 << 20
	c, err := NewClient(o, nil)
	require.NoError(t, err)
	_, err = c.Summary(context.Background())
	assert.Equal(t, ErrorTooLarge, KindOf(err), "error: %v", err)
	assert.Less(t, gz.Len(), 1<<20, "the compressed body alone is under the cap")
}

package kubelet

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// tokenFile serves the bearer token of a file that the kubelet rotates (projected service-account
// tokens are rewritten well before they expire). A stat per request is the whole cost of noticing a
// rotation at once; the contents are read only when the modification time or size changes.
type tokenFile struct {
	path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

func newTokenFile(path string) (*tokenFile, error) {
	t := &tokenFile{path: path}
	if _, err := t.get(); err != nil {
		return nil, err
	}
	return t, nil
}

// get returns the current token; when the file cannot be read any more it keeps serving the last
// token, which the kubelet accepts until it expires.
func (t *tokenFile) get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	info, err := os.Stat(t.path)
	if err != nil {
		return t.token, t.readErr(err)
	}
	if t.token != "" && info.ModTime().Equal(t.modTime) && info.Size() == t.size {
		return t.token, nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return t.token, t.readErr(err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return t.token, t.readErr(errors.New("empty file"))
	}
	t.token, t.modTime, t.size = token, info.ModTime(), info.Size()
	return token, nil
}

// current returns the last token read, without touching the file; "" before the first read.
func (t *tokenFile) current() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.token
}

// readErr never includes the token, only the path.
func (t *tokenFile) readErr(err error) error {
	if t.token != "" {
		return nil // keep using the previous token
	}
	return &Error{Kind: ErrorAuth, Err: fmt.Errorf("reading --kubelet.token-file %s: %w", t.path, err)}
}

type bearerRoundTripper struct {
	tokens *tokenFile
	next   http.RoundTripper
}

func (b *bearerRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := b.tokens.get()
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+token)
	return b.next.RoundTrip(req)
}

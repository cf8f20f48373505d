package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Mode says how the kubelet is reached.
type Mode string

const (
	// ModeDirect talks to https://$NODE_IP:10250 and needs RBAC nodes/stats only.
	ModeDirect Mode = "direct"
	// ModeAPIServerProxy goes through the API server's node proxy, for clusters where port 10250
	// is closed to pods; it needs nodes/proxy, which also allows exec-like kubelet calls.
	ModeAPIServerProxy Mode = "apiserver-proxy"
)

// DefaultPort is the kubelet's authenticated port.
const DefaultPort = "10250"

// excerptBytes bounds how much of an unexpected body is kept for the error and the log;
// excerptReadBytes is how much is read to find secrets that straddle that bound.
const (
	excerptBytes     = 256
	excerptReadBytes = 16 << 10
)

// Options configure the client.
type Options struct {
	Mode     Mode
	URL      string // direct mode; default https://NodeIP:10250
	NodeName string
	NodeIP   string
	// CAFile signs the kubelet's serving certificate; empty uses the system roots.
	CAFile                string
	InsecureSkipTLSVerify bool
	// TokenFile is re-read whenever it changes, so rotated projected tokens are picked up.
	TokenFile        string
	Timeout          time.Duration
	MaxResponseBytes int64
}

// Validate checks the options with errors a user can act on.
func (o *Options) Validate() error {
	var errs []error
	switch o.Mode {
	case ModeDirect:
		if o.URL == "" && o.NodeIP == "" {
			errs = append(errs, errors.New("--kubelet.mode=direct needs --node.ip (or NODE_IP) or --kubelet.url"))
		}
		if o.URL != "" {
			if u, err := url.Parse(o.URL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
				errs = append(errs, fmt.Errorf("--kubelet.url %q is not an http(s) URL", o.URL))
			}
		}
		if o.CAFile != "" && !o.InsecureSkipTLSVerify {
			if _, err := os.Stat(o.CAFile); err != nil {
				errs = append(errs, fmt.Errorf("--kubelet.ca-file: %w (or pass --kubelet.insecure-skip-tls-verify for self-signed kubelet certificates)", err))
			}
		}
	case ModeAPIServerProxy:
		if o.NodeName == "" {
			errs = append(errs, errors.New("--kubelet.mode=apiserver-proxy needs --node.name"))
		}
	default:
		errs = append(errs, fmt.Errorf("--kubelet.mode %q: want %s or %s", o.Mode, ModeDirect, ModeAPIServerProxy))
	}
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("--kubelet.timeout must be positive"))
	}
	if o.MaxResponseBytes <= 0 {
		errs = append(errs, errors.New("--kubelet.max-response-size must be positive"))
	}
	return errors.Join(errs...)
}

// Client reads one kubelet.
type Client struct {
	http     *http.Client
	tokens   *tokenFile // nil without a token file; its token is redacted from excerpts
	base     string     // URL the kubelet paths are appended to
	timeout  time.Duration
	maxBytes int64
}

// NewClient builds a client. apiserver is needed in apiserver-proxy mode only; its credentials
// and TLS settings are used as they are.
func NewClient(o Options, apiserver *rest.Config) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var (
		cfg  *rest.Config
		base string
	)
	switch o.Mode {
	case ModeAPIServerProxy:
		if apiserver == nil {
			return nil, errors.New("apiserver-proxy mode needs an API server configuration")
		}
		cfg = rest.CopyConfig(apiserver)
		base = strings.TrimRight(cfg.Host, "/") + "/api/v1/nodes/" + url.PathEscape(o.NodeName) + "/proxy"
	default:
		base = o.URL
		if base == "" {
			base = "https://" + net.JoinHostPort(o.NodeIP, DefaultPort)
		}
		cfg = &rest.Config{TLSClientConfig: rest.TLSClientConfig{Insecure: o.InsecureSkipTLSVerify}}
		if !o.InsecureSkipTLSVerify {
			cfg.CAFile = o.CAFile
		}
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubelet transport: %w", err)
	}
	var tokens *tokenFile
	if o.Mode == ModeDirect && o.TokenFile != "" {
		if tokens, err = newTokenFile(o.TokenFile); err != nil {
			return nil, err
		}
		rt = &bearerRoundTripper{tokens: tokens, next: rt}
	}
	return &Client{
		// The token is added by a RoundTripper, below the layer where Go strips credentials on a
		// cross-host redirect: a followed redirect would carry it anywhere. The kubelet and the
		// API server's node proxy never redirect these paths, so no redirect is followed at all.
		http:     &http.Client{Transport: rt, CheckRedirect: refuseRedirect},
		tokens:   tokens,
		base:     strings.TrimRight(base, "/"),
		timeout:  o.Timeout,
		maxBytes: o.MaxResponseBytes,
	}, nil
}

// Summary fetches and decodes /stats/summary (only_cpu_and_memory is false by default, which is
// what carries the filesystem stats).
func (c *Client) Summary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := c.get(ctx, "/stats/summary")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	summary, err := DecodeSummarySelective(body, c.maxBytes)
	if err != nil && ctx.Err() != nil {
		return nil, &Error{Kind: ErrorTimeout, Err: fmt.Errorf("reading the summary: %w", ctx.Err())}
	}
	return summary, err
}

// Release hands back the memory of a summary from Summary that the caller will not read again;
// the next Summary decodes into it (ReleaseSummary).
func (c *Client) Release(s *statsv1alpha1.Summary) { ReleaseSummary(s) }

// EvictionHard reads the kubelet's evictionHard map from /configz. The kubelet authorizes
// /configz as nodes/proxy, so this fails under the default least-privilege RBAC.
func (c *Client) EvictionHard(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := c.get(ctx, "/configz")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var configz struct {
		KubeletConfig struct {
			EvictionHard map[string]string `json:"evictionHard"`
		} `json:"kubeletconfig"`
	}
	if err := json.NewDecoder(io.LimitReader(body, c.maxBytes)).Decode(&configz); err != nil {
		return nil, &Error{Kind: ErrorDecode, Err: fmt.Errorf("decoding /configz: %w", err)}
	}
	if configz.KubeletConfig.EvictionHard == nil {
		return nil, &Error{Kind: ErrorDecode, Err: errors.New("/configz has no kubeletconfig.evictionHard")}
	}
	return configz.KubeletConfig.EvictionHard, nil
}

// get returns the body of a 200 JSON response, or a classified error.
func (c *Client) get(ctx context.Context, path string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, &Error{Kind: ErrorConnection, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &Error{Kind: classifyTransportError(ctx, err), Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		kind := ErrorHTTPStatus
		var cause error
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			kind = ErrorAuth
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			// The target is untrusted text too: only its host is named, redacted like the body.
			cause = fmt.Errorf("redirect to host %q not followed", c.redact(redirectHost(resp)))
		}
		return nil, &Error{Kind: kind, Status: resp.StatusCode, Err: cause, Excerpt: c.excerpt(resp.Body)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		defer resp.Body.Close()
		return nil, &Error{Kind: ErrorDecode,
			Err: fmt.Errorf("unexpected content type %q", c.redact(ct)), Excerpt: c.excerpt(resp.Body)}
	}
	return resp.Body, nil
}

// refuseRedirect makes the client return a 3xx response as it is instead of following it.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func redirectHost(resp *http.Response) string {
	loc, err := resp.Location()
	if err != nil {
		return ""
	}
	return loc.Host
}

// excerpt keeps the start of a body for the error and the log, with credentials removed. It
// redacts before it truncates, so a secret cut by the bound cannot leak its first bytes.
func (c *Client) excerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, excerptReadBytes))
	s := c.redact(string(b))
	if len(s) > excerptBytes {
		s = s[:excerptBytes]
	}
	return strings.TrimSpace(strings.ToValidUTF8(s, "\ufffd"))
}

func (c *Client) redact(s string) string {
	var token string
	if c.tokens != nil {
		token = c.tokens.current()
	}
	return redact(s, token)
}

func classifyTransportError(ctx context.Context, err error) ErrorKind {
	var (
		netErr      net.Error
		unknownAuth x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalid     x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		record      tls.RecordHeaderError
	)
	if kind := KindOf(err); kind != "" {
		return kind
	}
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return ErrorTimeout
	case errors.As(err, &verify), errors.As(err, &unknownAuth), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &record):
		return ErrorTLS
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return ErrorConnection
	case errors.As(err, &netErr) && netErr.Timeout():
		return ErrorTimeout
	}
	return ErrorConnection
}

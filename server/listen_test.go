package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agent"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// --web.config.file with TLS and basic auth, exercised by a real HTTPS client: no credentials and
// wrong credentials are refused, the right ones accepted, plain HTTP gets no metrics.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	configFile := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(configFile, []byte(fmt.Sprintf(
		"tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n", certFile, keyFile, hash)), 0o600))

	handler, err := Handler(Options{TelemetryPath: "/metrics", Ready: func() error { return nil }}, prometheus.NewRegistry(),
		rendered([]byte(storageText)), &countingRefresher{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	addr := testutil.FreeAddr(t)
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &configFile}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, handler, flags, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() { cancel(); assert.NoError(t, <-done) }()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	get := func(scheme, user, password string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, scheme+"://"+addr+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	require.Eventually(t, func() bool { _, err := get("https", "", ""); return err == nil }, 5*time.Second, 20*time.Millisecond)

	code, err := get("https", "", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code, "no credentials")
	code, err = get("https", "prometheus", "wrong")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code, "wrong password")
	code, err = get("https", "prometheus", "s3cret")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "right credentials")
	code, err = get("http", "prometheus", "s3cret")
	if err == nil {
		assert.Equal(t, http.StatusBadRequest, code, "plain HTTP on the TLS port")
	}
}

// With basic auth on the main listener every path needs credentials, /healthz included; the
// probe listener answers the kubelet's credential-less probes and serves nothing else.
func TestProbesWithBasicAuth(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	configFile := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(configFile, []byte(fmt.Sprintf("basic_auth_users:\n  prometheus: %s\n", hash)), 0o600))
	var ready atomic.Bool
	readyFn := func() error {
		if !ready.Load() {
			return errors.New("no kubelet summary read yet")
		}
		return nil
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	handler, err := Handler(Options{TelemetryPath: "/metrics", Ready: readyFn}, prometheus.NewRegistry(),
		rendered([]byte(storageText)), &countingRefresher{}, logger)
	require.NoError(t, err)
	addr := testutil.FreeAddr(t)
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &configFile}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, handler, flags, logger) }()
	defer func() { cancel(); assert.NoError(t, <-done) }()
	probeAddr, err := StartProbes(ctx, "127.0.0.1:0", ProbeHandler(readyFn), logger)
	require.NoError(t, err)

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(base, path string) int {
		resp, err := client.Get("http://" + base + path)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get(addr, "/healthz") != 0 }, 5*time.Second, 20*time.Millisecond)
	tests := []struct {
		name, base, path string
		ready            bool
		want             int
	}{
		{name: "main listener healthz needs credentials", base: addr, path: "/healthz", want: http.StatusUnauthorized},
		{name: "main listener metrics needs credentials", base: addr, path: "/metrics", want: http.StatusUnauthorized},
		{name: "probe healthz", base: probeAddr.String(), path: "/healthz", want: http.StatusOK},
		{name: "probe readyz before the first summary", base: probeAddr.String(), path: "/readyz", want: http.StatusServiceUnavailable},
		{name: "probe readyz once ready", base: probeAddr.String(), path: "/readyz", ready: true, want: http.StatusOK},
		{name: "no metrics on the probe listener", base: probeAddr.String(), path: "/metrics", ready: true, want: http.StatusNotFound},
		{name: "no landing page on the probe listener", base: probeAddr.String(), path: "/", ready: true, want: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready.Store(tt.ready)
			assert.Equal(t, tt.want, get(tt.base, tt.path))
		})
	}
	_, err = StartProbes(ctx, probeAddr.String(), ProbeHandler(readyFn), logger)
	assert.ErrorContains(t, err, "--web.probe-address", "an address in use fails at start")
}

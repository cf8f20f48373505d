package main

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/internal/cli/flagdoc"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/server"
)

// Validate refuses what would fail later, naming the flag; the agent's flags are not accepted.
func TestValidate(t *testing.T) {
	base := []string{"--leader-election.namespace=monitoring", "--leader-election.identity=a"}
	for _, tc := range []struct {
		name string
		args []string
		err  string // empty: valid
	}{
		{"defaults", base, ""},
		{"no namespace", []string{"--leader-election.identity=a"}, "--leader-election.namespace (or POD_NAMESPACE) is required"},
		{"duration not above deadline", append(base, "--leader-election.lease-duration=10s"), "--leader-election.lease-duration 10s must be greater than --leader-election.renew-deadline 10s"},
		{"deadline within jittered retry", append(base, "--leader-election.renew-deadline=2s", "--leader-election.retry-period=2s"), "--leader-election.renew-deadline 2s must be greater than 1.2 x --leader-election.retry-period 2s"},
		{"zero retry", append(base, "--leader-election.retry-period=0s"), "--leader-election.* durations must be positive"},
		{"negative resync", append(base, "--kube.resync=-1s"), "--kube.resync -1s: must be 0 (no resync) or more"},
		{"relative telemetry path", append(base, "--web.telemetry-path=metrics"), `--web.telemetry-path "metrics": must start with /`},
		{"an agent flag", append(base, "--node.name=n"), "unknown long flag '--node.name'"},
		{"the old subcommand", append([]string{"events"}, base...), "unexpected events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", "")
			t.Setenv("POD_NAME", "")
			o, _, err := parse(tc.args)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "monitoring", o.leaseNamespace)
			assert.Equal(t, "ephemeral-storage-exporter-events", o.leaseName)
			assert.Equal(t, []time.Duration{15 * time.Second, 10 * time.Second, 2 * time.Second}, []time.Duration{o.leaseDuration, o.renewDeadline, o.retryPeriod})
			assert.Equal(t, []string{":9847"}, *o.web.Toolkit.WebListenAddresses)
		})
	}
}

// The role has no storage part: a gzip scrape is still gzip, one member holding the live part.
func TestGzipScrapeWithoutStorage(t *testing.T) {
	reg := prometheus.NewRegistry()
	leader := detect.NewLeaderGauge()
	leader.Set(1)
	reg.MustRegister(leader)
	handler, err := server.Handler(server.Options{TelemetryPath: "/metrics", Timeout: time.Second}, reg, noStorage{}, noRefresh{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	r, err := gzip.NewReader(rec.Body)
	require.NoError(t, err)
	r.Multistream(false)
	text, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Contains(t, string(text), "\nephemeral_storage_events_leader 1\n")
}

// Every flag is documented in docs/architecture.md with its default, and every documented one exists.
func TestFlagsDocumented(t *testing.T) {
	app, _, _ := newApp()
	model := app.Model()
	require.Empty(t, model.Commands, "no subcommand: the binary is the role")
	flags := flagdoc.Registered(model.Flags)
	const section = "ephemeral-storage-events"
	rows := flagdoc.Tables(t, "../../docs/architecture.md")[section]
	require.NotEmpty(t, rows, "docs/architecture.md has no flag table under %q", section)
	documented := map[string]bool{}
	for _, row := range rows {
		for _, name := range row.Flags {
			assert.Contains(t, flags, name, "docs/architecture.md documents --%s, which %s does not accept", name, program)
			documented[name] = true
		}
		flagdoc.CheckDefaults(t, "docs/architecture.md "+section, row, flags)
	}
	for name := range flags {
		assert.True(t, documented[name], "--%s is not in docs/architecture.md", name)
	}
}

package agent

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
)

type fakeKubelet struct {
	node  string // the summary's node name; "n1" when empty
	calls atomic.Int64
	delay time.Duration
	mu    sync.Mutex
	err   error
}

func (f *fakeKubelet) Summary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	f.calls.Add(1)
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, &kubelet.Error{Kind: kubelet.ErrorTimeout, Err: ctx.Err()}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	node := f.node
	if node == "" {
		node = "n1"
	}
	return &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: node}}, nil
}

// Issue 12 (low): a summary of another node is refused, not exported as this node's.
func TestSummaryOfAnotherNodeIsRefused(t *testing.T) {
	k := &fakeKubelet{node: "n2"}
	c := &clock{now: time.Unix(1000, 0)}
	var logs bytes.Buffer
	a, _ := newAgent(t, k, c, &logs)
	a.Refresh(context.Background())
	assert.Nil(t, a.Snapshot())
	assert.Equal(t, float64(1), testutil.ToFloat64(a.metrics.errors.WithLabelValues("decode")))
	assert.Contains(t, logs.String(), `the kubelet summary is of node \"n2\", not \"n1\"`)
}

func (f *fakeKubelet) setErr(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

type noPods struct{}

func (noPods) Pods() []*corev1.Pod { return nil }
func (noPods) Node() *corev1.Node  { return nil }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newAgent(t *testing.T, k *fakeKubelet, c *clock, logs *bytes.Buffer) (*Agent, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	opts := Options{NodeName: "n1", MinInterval: 10 * time.Second, Timeout: time.Second, MaxStaleness: time.Minute, Now: c.Now}
	require.NoError(t, opts.Validate())
	return New(opts, k, noPods{}, slog.New(slog.NewTextHandler(logs, nil)), reg), reg
}

func TestConcurrentScrapesShareOneFetch(t *testing.T) {
	k := &fakeKubelet{delay: 50 * time.Millisecond}
	c := &clock{now: time.Unix(1000, 0)}
	a, _ := newAgent(t, k, c, &bytes.Buffer{})
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() { defer wg.Done(); a.Refresh(context.Background()) }()
	}
	wg.Wait()
	assert.Equal(t, int64(1), k.calls.Load(), "100 concurrent scrapes, one kubelet request")
	require.NotNil(t, a.Snapshot())

	c.Advance(9 * time.Second)
	a.Refresh(context.Background())
	assert.Equal(t, int64(1), k.calls.Load(), "within min-interval: no request")
	c.Advance(time.Second)
	a.Refresh(context.Background())
	assert.Equal(t, int64(2), k.calls.Load(), "min-interval passed: one more")
}

func TestFailureKeepsLastGoodDataUntilStale(t *testing.T) {
	k := &fakeKubelet{}
	c := &clock{now: time.Unix(1000, 0)}
	var logs bytes.Buffer
	a, reg := newAgent(t, k, c, &logs)
	a.Refresh(context.Background())
	require.NotNil(t, a.Snapshot())

	k.setErr(&kubelet.Error{Kind: kubelet.ErrorHTTPStatus, Status: 500})
	for range 5 {
		c.Advance(10 * time.Second)
		a.Refresh(context.Background())
	}
	require.NotNil(t, a.Snapshot(), "50 s old: still within max-staleness")
	assert.Equal(t, 1, strings.Count(logs.String(), "reading the kubelet summary failed"), "one log line for a run of the same failure")
	assert.Equal(t, float64(5), testutil.ToFloat64(a.metrics.errors.WithLabelValues("http_status")))
	assert.Equal(t, float64(0), testutil.ToFloat64(a.metrics.up))
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ephemeral_storage_exporter_data_age_seconds Age of the summary the storage series come from; they are dropped past --kubelet.max-staleness.
# TYPE ephemeral_storage_exporter_data_age_seconds gauge
ephemeral_storage_exporter_data_age_seconds{node="n1"} 50
`), "ephemeral_storage_exporter_data_age_seconds"))

	c.Advance(11 * time.Second)
	assert.Nil(t, a.Snapshot(), "past max-staleness the storage series are dropped, not shown as fresh")

	k.setErr(&kubelet.Error{Kind: kubelet.ErrorTimeout})
	a.Refresh(context.Background())
	assert.Equal(t, 2, strings.Count(logs.String(), "reading the kubelet summary failed"), "a new kind of failure is logged")

	k.setErr(nil)
	c.Advance(10 * time.Second)
	a.Refresh(context.Background())
	require.NotNil(t, a.Snapshot())
	assert.Contains(t, logs.String(), "readable again")
	assert.Equal(t, float64(1), testutil.ToFloat64(a.metrics.up))
}

func TestSlowKubeletTimesOutAndCallerCanLeave(t *testing.T) {
	k := &fakeKubelet{delay: time.Hour}
	c := &clock{now: time.Unix(1000, 0)}
	a, _ := newAgent(t, k, c, &bytes.Buffer{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	a.Refresh(ctx)
	assert.Less(t, time.Since(start), 500*time.Millisecond, "the scraper's own deadline is honoured")
	assert.Eventually(t, func() bool { return testutil.ToFloat64(a.metrics.errors.WithLabelValues("timeout")) == 1 },
		3*time.Second, 10*time.Millisecond, "the fetch itself ends at --kubelet.timeout")
	assert.Nil(t, a.Snapshot())
	assert.False(t, a.Ready())
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		opts    Options
		wantErr string
	}{
		{Options{MinInterval: time.Second, Timeout: time.Second, MaxStaleness: time.Minute}, ""},
		{Options{MinInterval: -1, Timeout: time.Second, MaxStaleness: time.Minute}, "min-interval"},
		{Options{Timeout: 0, MaxStaleness: time.Minute}, "timeout"},
		{Options{MinInterval: time.Minute, Timeout: time.Second, MaxStaleness: time.Second}, "max-staleness"},
	} {
		err := tt.opts.Validate()
		if tt.wantErr == "" {
			assert.NoError(t, err)
		} else {
			assert.ErrorContains(t, err, tt.wantErr)
		}
	}
}

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

	c.Advance(10 * time.Second)
	require.NotNil(t, a.Snapshot(), "exactly max-staleness old: still served")
	c.Advance(time.Nanosecond)
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

func newBackgroundAgent(t *testing.T, k *fakeKubelet, interval time.Duration, now func() time.Time, onSnapshot ...func()) *Agent {
	t.Helper()
	opts := Options{NodeName: "n1", MinInterval: interval, Timeout: 5 * time.Second, MaxStaleness: time.Hour, Now: now}
	if len(onSnapshot) > 0 {
		opts.OnSnapshot = onSnapshot[0]
	}
	require.NoError(t, opts.Validate())
	a := New(opts, k, noPods{}, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), prometheus.NewPedanticRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a.Start(ctx, func(context.Context) {})
	return a
}

// In background mode a scrape returns at once even while the kubelet takes seconds, and the
// kubelet sees one request per interval however many scrapers there are.
func TestBackgroundScrapesNeverWait(t *testing.T) {
	k := &fakeKubelet{delay: 2 * time.Second}
	const interval = 100 * time.Millisecond
	a := newBackgroundAgent(t, k, interval, time.Now)
	started := time.Now()
	require.Eventually(t, func() bool { return k.calls.Load() >= 1 }, 5*time.Second, 5*time.Millisecond)

	var wg sync.WaitGroup
	var slowest atomic.Int64
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Past several intervals, so that a scrape that fetched itself would wait for the kubelet.
			for i := 0; i < 20 || time.Since(started) < 3*interval; i++ {
				start := time.Now()
				a.Refresh(context.Background())
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
				if time.Duration(slowest.Load()) >= time.Second {
					return // already failed: do not wait for the kubelet 20 times over
				}
				a.Snapshot()
			}
		}()
	}
	wg.Wait()
	assert.Less(t, time.Duration(slowest.Load()), time.Second, "a scrape never waits for the 2 s kubelet (1 s: room for a loaded machine)")
	require.Eventually(t, func() bool { return a.Snapshot() != nil }, 10*time.Second, 10*time.Millisecond)
	// Fetches run one after another, each followed by a wait of at least 0.9 interval.
	elapsed := time.Since(started)
	assert.LessOrEqual(t, k.calls.Load(), int64(1+elapsed/(2*time.Second)), "at most one request in flight, the next only after it")
}

func TestBackgroundOneRequestPerInterval(t *testing.T) {
	k := &fakeKubelet{}
	const interval = 50 * time.Millisecond
	a := newBackgroundAgent(t, k, interval, time.Now)
	started := time.Now()
	require.Eventually(t, func() bool { return k.calls.Load() >= 6 }, 10*time.Second, 5*time.Millisecond)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				a.Refresh(context.Background())
			}
		}()
	}
	wg.Wait()
	calls, elapsed := k.calls.Load(), time.Since(started)
	assert.LessOrEqual(t, calls, 1+int64(elapsed/(interval*9/10)), "no more than one request per 0.9 interval (%d in %s)", calls, elapsed)
}

// Nobody scraping for max-staleness stops the fetches; the next scrape wakes the loop.
func TestBackgroundStopsWhenUnscraped(t *testing.T) {
	k := &fakeKubelet{}
	c := &clock{now: time.Unix(1000, 0)}
	a := newBackgroundAgent(t, k, 10*time.Millisecond, c.Now)
	require.Eventually(t, func() bool { return k.calls.Load() >= 2 }, 5*time.Second, 5*time.Millisecond)

	c.Advance(2 * time.Hour) // no scrape for longer than max-staleness
	require.Eventually(t, a.idle.Load, 5*time.Second, 5*time.Millisecond)
	calls := k.calls.Load()
	require.Never(t, func() bool { return k.calls.Load() != calls }, 200*time.Millisecond, 10*time.Millisecond,
		"idle: twenty intervals without a request")

	a.Refresh(context.Background())
	require.Eventually(t, func() bool { return k.calls.Load() > calls }, 5*time.Second, 5*time.Millisecond, "a scrape wakes the loop")
	// The request is counted before its snapshot is stored: wait for the fresh snapshot.
	require.Eventually(t, func() bool { return a.Snapshot() != nil }, 5*time.Second, 5*time.Millisecond, "the woken fetch serves fresh data")
}

func TestNextWaitIsJitteredAroundTheInterval(t *testing.T) {
	a := New(Options{NodeName: "n1", MinInterval: 10 * time.Second, Timeout: time.Second, MaxStaleness: time.Minute},
		&fakeKubelet{}, noPods{}, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), prometheus.NewPedanticRegistry())
	for _, tt := range []struct {
		jitter float64
		want   time.Duration
	}{{0, 9 * time.Second}, {0.5, 10 * time.Second}, {0.999, 10998 * time.Millisecond}} {
		a.jitter = func() float64 { return tt.jitter }
		assert.Equal(t, tt.want, a.nextWait().Round(time.Millisecond), "jitter %v", tt.jitter)
	}
	a.opts.MinInterval = 0
	a.jitter = func() float64 { return 0.5 }
	assert.Equal(t, minBackgroundInterval, a.nextWait(), "a zero interval does not spin")
}

// OnSnapshot runs after each successful background fetch, not after failures.
func TestBackgroundOnSnapshotAfterEachSnapshot(t *testing.T) {
	k := &fakeKubelet{}
	var snapshots atomic.Int64
	a := newBackgroundAgent(t, k, 10*time.Millisecond, time.Now, func() { snapshots.Add(1) })
	require.Eventually(t, func() bool { return snapshots.Load() >= 3 }, 5*time.Second, 5*time.Millisecond)
	require.NotNil(t, a.Snapshot())

	k.setErr(&kubelet.Error{Kind: kubelet.ErrorHTTPStatus, Status: 500})
	calls := k.calls.Load()
	require.Eventually(t, func() bool { return k.calls.Load() >= calls+2 }, 5*time.Second, 5*time.Millisecond)
	after := snapshots.Load()
	require.Eventually(t, func() bool { return k.calls.Load() >= calls+5 }, 5*time.Second, 5*time.Millisecond)
	assert.LessOrEqual(t, snapshots.Load(), after+1, "failed fetches make no snapshot") // +1: a fetch in flight when the error was set
}

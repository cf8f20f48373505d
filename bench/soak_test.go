package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/agent"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/collector"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

// churn is a node whose pods come and go: a stable base plus, each cycle, a different window of
// short-lived pods, some of which also lose a volume.
type churn struct {
	base, pool *synthetic.Node
	cycle      int
	stable     bool
}

func (c *churn) window() (stats []statsv1alpha1.PodStats, pods []*corev1.Pod) {
	stats = append(stats, c.base.Summary.Pods...)
	pods = append(pods, c.base.Pods...)
	if c.stable {
		return stats, pods
	}
	for i := range 20 {
		k := (c.cycle*7 + i) % len(c.pool.Pods)
		s := c.pool.Summary.Pods[k]
		if c.cycle%3 == 0 && len(s.VolumeStats) > 1 {
			s.VolumeStats = s.VolumeStats[:len(s.VolumeStats)-1] // a volume disappears
		}
		stats = append(stats, s)
		pods = append(pods, c.pool.Pods[k])
	}
	return stats, pods
}

func (c *churn) Summary(context.Context) (*statsv1alpha1.Summary, error) {
	stats, _ := c.window()
	s := *c.base.Summary
	s.Pods = stats
	return &s, nil
}

func (c *churn) Pods() []*corev1.Pod { _, pods := c.window(); return pods }
func (c *churn) Node() *corev1.Node  { return c.base.Node }

func series(text []byte) int {
	return bytes.Count(text, []byte("\n")) - 2*bytes.Count(text, []byte("# TYPE "))
}

// TestChurnSoak runs thousands of cycles with pods and volumes coming and going: the series count
// must return to the baseline once the churn stops, and the heap must not grow with the cycles.
// SOAK_CYCLES sets the length (default 500; make soak runs 20000).
func TestChurnSoak(t *testing.T) {
	cycles := 500
	if v, err := strconv.Atoi(os.Getenv("SOAK_CYCLES")); err == nil {
		cycles = v
	}
	pool := synthetic.Generate(400, 2)
	for i, p := range pool.Pods { // distinct identities from the base
		p.Name = fmt.Sprintf("churn-%d", i)
		p.UID = "churn-" + p.UID
		pool.Summary.Pods[i].PodRef.Name, pool.Summary.Pods[i].PodRef.UID = p.Name, string(p.UID)
	}
	c := &churn{base: synthetic.Generate(30, 1), pool: pool, stable: true}
	now := time.Unix(0, 0)
	opts := agent.Options{NodeName: synthetic.NodeName, MinInterval: time.Second, Timeout: time.Minute, MaxStaleness: time.Hour,
		Model: modelOptions(t), Now: func() time.Time { return now }}
	a := agent.New(opts, c, c, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	exp := collector.NewExposition(a)
	cycle := func() int {
		now = now.Add(time.Second)
		a.Refresh(context.Background())
		text, _, err := exp.Render()
		require.NoError(t, err)
		return series(text)
	}
	baseline := cycle()
	c.stable = false
	var heapAfterWarmup uint64
	for i := range cycles {
		c.cycle = i
		cycle()
		if i == cycles/10 {
			heapAfterWarmup = heapInUse()
		}
	}
	heapAtEnd := heapInUse()
	c.stable = true
	assert.Equal(t, baseline, cycle(), "series return to the baseline when the churn stops")
	t.Logf("%d cycles, baseline %d series, heap in use after warm-up %d KiB, at end %d KiB", cycles, baseline, heapAfterWarmup>>10, heapAtEnd>>10)
	assert.Less(t, heapAtEnd, heapAfterWarmup+8<<20, "heap grows with cycles")
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

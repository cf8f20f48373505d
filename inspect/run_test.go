package inspect

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// sequence is a Source that hands out one prepared snapshot set per call.
type sequence struct {
	calls int
	snaps [][]*model.Snapshot
}

func (s *sequence) Snapshots(context.Context, Scope) ([]*model.Snapshot, []NodeError, error) {
	if s.calls >= len(s.snaps) {
		return nil, nil, errors.New("no more samples")
	}
	s.calls++
	return s.snaps[s.calls-1], nil, nil
}

func (s *sequence) Pod(context.Context, string, string) (*model.Snapshot, *model.Pod, error) {
	return nil, nil, errors.New("not used")
}

// TestWatch: --watch takes exactly two samples and prints growth and time to limit from them.
func TestWatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := &sequence{snaps: [][]*model.Snapshot{
		{snapWithPod(t0, 100, false)},
		{snapWithPod(t0.Add(time.Minute), 400, false)},
	}}
	var out, errOut bytes.Buffer
	o := TopOptions{Selection: Selection{Pods: true}, Watch: true, Interval: time.Millisecond}
	require.NoError(t, RunTop(context.Background(), src, o, &out, &errOut))
	assert.Equal(t, 2, src.calls)
	// pod: 300 bytes in 60s = 5/s, 600 bytes left = 2m; container: 150 in 60s, 300 left.
	assert.Equal(t, ""+
		"NAMESPACE  POD  BOUNDED        USAGE  BOUND  RATIO  GROWTH  TO LIMIT  EVICTED WHEN\n"+
		"ns         p    container app  200    500    40.0%  +2/s    2m        logs + writable layer > limit\n"+
		"ns         p    pod            400    1000   40.0%  +5/s    2m        pod total > pod limit\n", out.String())
	assert.Equal(t, "Sampling again in 1ms for growth rates...\n", errOut.String())
}

func TestWatchCancelled(t *testing.T) {
	src := &sequence{snaps: [][]*model.Snapshot{{snapWithPod(time.Now(), 1, false)}, {snapWithPod(time.Now(), 1, false)}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := TopOptions{Selection: Selection{Pods: true}, Watch: true, Interval: time.Hour}
	err := RunTop(ctx, src, o, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, src.calls)
}

// TestControlCharactersDropped: names are untrusted; a table line is one line, without escapes.
func TestControlCharactersDropped(t *testing.T) {
	snap := snapWithPod(time.Time{}, 100, false)
	snap.Pods[0].Containers[0].Name = "app\x1b[2J\nevil\ttab"
	var out bytes.Buffer
	require.NoError(t, WriteTop(&out, &bytes.Buffer{}, &TopReport{Rows: Rows(snap, Selection{Pods: true})}, OutputTable))
	assert.Equal(t, 3, strings.Count(out.String(), "\n"))
	assert.Contains(t, out.String(), "container app[2Jeviltab")
	assert.NotContains(t, out.String(), "\x1b")
}

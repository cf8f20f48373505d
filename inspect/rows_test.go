package inspect

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

func f64(v float64) *float64 { return &v }

// snapWithPod is a synthetic node with one pod whose pod limit is 1000 bytes.
func snapWithPod(at time.Time, usage float64, dedicated bool) *model.Snapshot {
	return &model.Snapshot{
		NodeName: "n1", Time: at,
		Node: model.Node{ImageFsDedicated: dedicated},
		Pods: []model.Pod{{
			Namespace: "ns", Name: "p", UID: "u",
			Usage: model.Some(usage), Limit: model.Some(int64(1000)), Ratio: model.Some(usage / 1000),
			Containers: []model.Container{
				{Name: "app", Usage: model.Some(usage / 2), Limit: model.Some(int64(500)), Ratio: model.Some(usage / 1000)},
				{Name: "unbounded", Usage: model.Some(usage / 2)},
			},
			Volumes: []model.Volume{
				{Name: "cache", Type: model.VolumeEmptyDir, Medium: model.MediumDisk, Used: model.Some(usage / 4)},
				{Name: "cfg", Type: model.VolumeConfigMap, Used: model.Some(4096.0)},
			},
		}},
	}
}

func TestGrowth(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name              string
		before, after     float64
		elapsed           time.Duration
		wantRate, wantETA *float64
		wantCells         []string
	}{
		{"growing", 100, 200, 10 * time.Second, f64(10), f64(80), []string{"+10/s", "1m"}},
		{"shrinking", 300, 200, 10 * time.Second, f64(-10), nil, []string{"-10/s", "-"}},
		{"flat", 200, 200, 10 * time.Second, f64(0), nil, []string{"+0/s", "-"}},
		{"over the limit", 900, 1100, 10 * time.Second, f64(20), f64(0), []string{"+20/s", "now"}},
		{"same time: no rate", 100, 200, 0, nil, nil, []string{"-", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := []*model.Snapshot{snapWithPod(t0, tt.before, false)}
			cur := []*model.Snapshot{snapWithPod(t0.Add(tt.elapsed), tt.after, false)}
			rows := TopRows(cur, prev, Selection{Pods: true})
			require.Len(t, rows, 2, "the pod and its bounded container; no row for unbounded ones")
			pod := rows[0]
			require.Equal(t, KindPod, pod.Kind)
			assert.Equal(t, tt.wantRate, pod.GrowthPerSecond)
			assert.Equal(t, tt.wantETA, pod.SecondsToLimit)
			cells := tableCells(&pod, false, true)
			assert.Equal(t, tt.wantCells, cells[6:8])
		})
	}
}

func TestNoGrowthForNewRows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := snapWithPod(t0, 100, false)
	prev.Pods = nil
	rows := TopRows([]*model.Snapshot{snapWithPod(t0.Add(time.Minute), 200, false)}, []*model.Snapshot{prev}, Selection{Pods: true})
	require.Len(t, rows, 2)
	assert.Nil(t, rows[0].GrowthPerSecond)
	assert.Nil(t, rows[0].SecondsToLimit)
}

// TestContainerWords: on a dedicated imagefs the writable layer does not count against the
// container limit (accounting.ContainerUsage), and the row says so.
func TestContainerWords(t *testing.T) {
	for _, tt := range []struct {
		dedicated bool
		want      string
	}{
		{false, "logs + writable layer > limit"},
		{true, "logs > limit (writable layer on imagefs)"},
	} {
		rows := Rows(snapWithPod(time.Time{}, 100, tt.dedicated), Selection{Pods: true})
		require.Len(t, rows, 2)
		assert.Equal(t, KindContainer, rows[1].Kind)
		assert.Equal(t, tt.want, rows[1].EvictedWhen)
	}
}

func TestSortRows(t *testing.T) {
	rows := []Row{
		{Node: "n", Kind: KindSignal, Name: "nodefs.inodesFree", Inodes: true, Usage: 5e6, Bound: 6e6, Ratio: 0.8},
		{Node: "n", Namespace: "b", Pod: "p", Kind: KindPod, Usage: 100, Bound: 1000, Ratio: 0.1},
		{Node: "n", Namespace: "a", Pod: "p", Kind: KindPod, Usage: 900, Bound: 950, Ratio: 0.95},
		{Node: "n", Kind: KindSignal, Name: "nodefs.available", Usage: 4e9, Bound: 9e9, Ratio: 0.44},
	}
	tests := []struct {
		by   string
		want []string
	}{
		{SortRatio, []string{"n/a/p/pod/", "n///signal/nodefs.inodesFree", "n///signal/nodefs.available", "n/b/p/pod/"}},
		{SortUsage, []string{"n///signal/nodefs.available", "n/a/p/pod/", "n/b/p/pod/", "n///signal/nodefs.inodesFree"}},
		{SortLimit, []string{"n///signal/nodefs.available", "n/b/p/pod/", "n/a/p/pod/", "n///signal/nodefs.inodesFree"}},
		{SortName, []string{"n///signal/nodefs.available", "n///signal/nodefs.inodesFree", "n/a/p/pod/", "n/b/p/pod/"}},
	}
	for _, tt := range tests {
		t.Run(tt.by, func(t *testing.T) {
			sorted := append([]Row(nil), rows...)
			require.NoError(t, SortRows(sorted, tt.by))
			var keys []string
			for i := range sorted {
				keys = append(keys, sorted[i].Key())
			}
			assert.Equal(t, tt.want, keys)
		})
	}
	assert.EqualError(t, SortRows(rows, "cpu"), `--sort-by="cpu": want one of ratio, usage, limit, name`)
}

func TestEmptyTable(t *testing.T) {
	var out, errOut bytes.Buffer
	require.NoError(t, WriteTop(&out, &errOut, &TopReport{}, OutputTable))
	assert.Equal(t, "No bounded ephemeral storage found: no selected pod, container or emptyDir has a limit.\n", out.String())
	out.Reset()
	require.NoError(t, WriteTop(&out, &errOut, &TopReport{}, OutputJSON))
	assert.Equal(t, "{\n  \"rows\": []\n}\n", out.String())
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{formatBytes(0), "0"},
		{formatBytes(1023), "1023"},
		{formatBytes(1536), "1.5Ki"},
		{formatBytes(2 << 30), "2.0Gi"},
		{formatCount(327680), "327.7k"},
		{formatRatio(0.84), "84.0%"},
		{formatETA(45), "45s"},
		{formatETA(12*60 + 5), "12m"},
		{formatETA(3*3600 + 20*60), "3h20m"},
		{formatETA(5 * 86400), "5d"},
	} {
		assert.Equal(t, tt.want, tt.got)
	}
}

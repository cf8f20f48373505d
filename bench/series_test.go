package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/collector"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

// Series bounds documented in docs/performance.md: at most this many series per pod, per
// container and per volume, plus a constant per node.
const (
	maxSeriesPerPod       = 10 // usage, request, limit, ratio, evictable, info, eviction rank x 4 (nodefs and imagefs signals)
	maxSeriesPerContainer = 7  // rootfs, logs, usage, request, limit, ratio, info
	maxSeriesPerVolume    = 9  // used, capacity, available, 3 inode gauges, size limit, ratio, age
	maxSeriesPerNode      = 61 // 5 per filesystem x 3, 7 per signal x 6, imagefs_dedicated, allocatable, disk_pressure, local_storage_capacity_isolation
	// For the synthetic node, whose pod mix is documented in docs/performance.md.
	maxSeriesPer250PodNode = 9000
)

// TestSeriesBound fails when the number of series for the synthetic node exceeds the documented
// bound, or any object exceeds its per-object bound.
func TestSeriesBound(t *testing.T) {
	for _, n := range sizes {
		t.Run(fmt.Sprintf("pods=%d", n), func(t *testing.T) {
			node := synthetic.Generate(n, 1)
			body, err := json.Marshal(node.Summary)
			require.NoError(t, err)
			summary, err := bodyProvider{body: body}.Summary(context.Background())
			require.NoError(t, err)
			thresholds, err := accounting.ParseThresholds(accounting.DefaultEvictionHard + ",containerfs.available<10%,containerfs.inodesFree<5%")
			require.NoError(t, err)
			snap := model.Build(model.Inputs{Summary: summary, Pods: node.Pods, Node: node.Node, Now: time.Unix(100, 0)},
				model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds})
			text, _, err := collector.NewExposition(collector.SnapshotFunc(func() *model.Snapshot { return snap })).Render()
			require.NoError(t, err)
			series := bytes.Count(text, []byte("\n")) - 2*bytes.Count(text, []byte("# TYPE "))

			var containers, volumes int
			for _, p := range snap.Pods {
				containers += len(p.Containers)
				volumes += len(p.Volumes)
			}
			bound := maxSeriesPerNode + n*maxSeriesPerPod + containers*maxSeriesPerContainer + volumes*maxSeriesPerVolume
			assert.LessOrEqual(t, series, bound)
			t.Logf("pods=%d containers=%d volumes=%d summary=%d bytes series=%d (%.1f per pod), bound %d", n, containers, volumes, len(body), series, float64(series)/float64(n), bound)
			if n == 250 {
				assert.LessOrEqual(t, series, maxSeriesPer250PodNode)
			}
		})
	}
}

package collector

import (
	"bytes"
	"compress/gzip"
	"sync"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// Exposition renders the storage series of a snapshot once, in the text format and gzipped, and
// hands the same bytes to every scrape until the snapshot changes: a scrape is a copy, however
// many Prometheus replicas ask, and rendering is paid once per kubelet fetch.
//
// It writes the text itself, as kube-state-metrics does, rather than through const metrics and a
// registry: at 250 pods that path cost more than decoding the summary (docs/performance.md). It is
// the only rendering of the storage families outside tests: reference_test.go renders the same
// declarations as const metrics, and assertSameSeries requires both to expose the same series.
type Exposition struct {
	source  SnapshotSource
	metrics *metrics

	mu       sync.Mutex
	rendered *model.Snapshot
	text, gz []byte
}

// NewExposition renders what source hands out.
func NewExposition(source SnapshotSource) *Exposition {
	return &Exposition{source: source, metrics: newMetrics()}
}

// Render returns the exposition of the current snapshot, rendering it if it is new. The slices
// are shared: do not modify them.
func (e *Exposition) Render() (text, gz []byte, err error) {
	snap := e.source.Snapshot()
	e.mu.Lock()
	defer e.mu.Unlock()
	if snap == e.rendered && e.text != nil {
		return e.text, e.gz, nil
	}
	text = []byte{}
	if snap != nil {
		text = e.metrics.appendText(make([]byte, 0, max(len(e.text), 4096)), snap)
	}
	var zbuf bytes.Buffer
	zbuf.Grow(len(text) / 8)
	zw, _ := gzip.NewWriterLevel(&zbuf, gzip.BestSpeed)
	if _, err := zw.Write(text); err != nil {
		return nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	e.rendered, e.text, e.gz = snap, text, zbuf.Bytes()
	return e.text, e.gz, nil
}

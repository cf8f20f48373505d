package collector

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"sync"

	kgzip "github.com/klauspost/compress/gzip"

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
	done     bool
	// The gzip member is kept, the text (several times larger) only once a scrape has asked for
	// it: Prometheus always accepts gzip, so the text is usually never held.
	gz   []byte
	size int    // of the text
	text []byte // inflated from gz on request, for this snapshot

	textBuf []byte        // the text on its way to the compressor, kept across renders
	zw      *kgzip.Writer // kept across renders
}

// NewExposition renders what source hands out.
func NewExposition(source SnapshotSource) *Exposition {
	return &Exposition{source: source, metrics: newMetrics()}
}

// flushAt is how much text is written into the compressor at a time while rendering.
const flushAt = 64 << 10

// Compressed returns the exposition of the current snapshot as one gzip member and the length of
// its text, rendering it if the snapshot is new. The slice is shared: do not modify it.
func (e *Exposition) Compressed() (gz []byte, size int, err error) {
	snap := e.source.Snapshot()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.compressedLocked(snap)
}

func (e *Exposition) compressedLocked(snap *model.Snapshot) (gz []byte, size int, err error) {
	if snap == e.rendered && e.done {
		return e.gz, e.size, nil
	}
	var zbuf bytes.Buffer
	zbuf.Grow(max(len(e.gz)+len(e.gz)/8, 4096)) // the last member's size, and room to grow
	// One klauspost level-1 compressor, kept: compress/gzip allocated ~1.2 MiB of state per
	// member even at BestSpeed and took about twice the time; klauspost's stateless mode keeps
	// nothing but took 1.4x the time of a kept level-1 writer (~0.8 MiB) on the same 250-pod
	// text (docs/performance.md).
	if e.zw == nil {
		e.zw, _ = kgzip.NewWriterLevel(&zbuf, kgzip.BestSpeed)
	}
	zw := e.zw
	zw.Reset(&zbuf)
	size, werr := 0, error(nil)
	write := func(b []byte) []byte {
		if werr == nil && len(b) > 0 {
			_, werr = zw.Write(b)
			size += len(b)
		}
		return b[:0]
	}
	if snap != nil {
		// The text goes to the compressor a family (or flushAt) at a time.
		if e.textBuf == nil {
			e.textBuf = make([]byte, 0, flushAt+flushAt/4)
		}
		e.textBuf = write(e.metrics.appendText(e.textBuf[:0], snap, func(b []byte) []byte {
			if len(b) < flushAt {
				return b
			}
			return write(b)
		}))
	}
	if werr != nil {
		return nil, 0, werr
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	e.rendered, e.done, e.gz, e.size, e.text = snap, true, zbuf.Bytes(), size, nil
	return e.gz, e.size, nil
}

// Text returns the text of the current snapshot's exposition, inflated from its member once per
// snapshot and then shared: do not modify it.
func (e *Exposition) Text() ([]byte, error) {
	snap := e.source.Snapshot()
	e.mu.Lock()
	defer e.mu.Unlock()
	gz, size, err := e.compressedLocked(snap)
	if err != nil {
		return nil, err
	}
	if e.text == nil {
		if e.text, err = inflate(gz, size); err != nil {
			return nil, err
		}
	}
	return e.text, nil
}

// Render returns the exposition of the current snapshot as text and as its gzip member (replay,
// tests); both are shared.
func (e *Exposition) Render() (text, gz []byte, err error) {
	if text, err = e.Text(); err != nil {
		return nil, nil, err
	}
	gz, _, err = e.Compressed()
	return text, gz, err
}

// inflate returns the text of a gzip member whose text is size bytes long.
func inflate(gz []byte, size int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	text := make([]byte, 0, size)
	buf := bytes.NewBuffer(text)
	if _, err := buf.ReadFrom(zr); err != nil {
		return nil, err
	}
	if buf.Len() != size {
		return nil, fmt.Errorf("exposition: inflated %d bytes, want %d", buf.Len(), size)
	}
	return buf.Bytes(), nil
}

package collector

import (
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// SnapshotFunc adapts a function to a SnapshotSource.
type SnapshotFunc func() *model.Snapshot

// Snapshot implements SnapshotSource.
func (f SnapshotFunc) Snapshot() *model.Snapshot { return f() }

// WriteText writes everything g gathers in the Prometheus text format, as /metrics would: used by
// `replay --once` and by the golden tests.
func WriteText(w io.Writer, g prometheus.Gatherer) error {
	families, err := g.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

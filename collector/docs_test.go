package collector_test

import (
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/agent"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/collector"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect/logscan"
)

// documented is one row of docs/metrics.md.
type documented struct {
	kind   string
	labels []string
}

var docRow = regexp.MustCompile("^\\| `([a-z_]+)` \\| ([a-z]+) \\| [^|]+ \\|\\s*([^|]*?)\\s*\\| (stable|alpha) \\|")

func readDocs(t *testing.T) map[string]documented {
	t.Helper()
	raw, err := os.ReadFile("../docs/metrics.md")
	require.NoError(t, err)
	docs := map[string]documented{}
	for _, line := range strings.Split(string(raw), "\n") {
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		docs[m[1]] = documented{kind: m[2], labels: labels}
	}
	require.NotEmpty(t, docs, "no metric rows parsed from docs/metrics.md")
	return docs
}

// descRecorder is a Registerer that keeps the collectors it is given, to read their descriptors.
type descRecorder struct{ collectors []prometheus.Collector }

func (r *descRecorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}
func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}
func (r *descRecorder) Unregister(prometheus.Collector) bool { return false }

var descFields = regexp.MustCompile(`fqName: "([^"]+)".*constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}`)

// exported lists every metric the agent's collectors describe, with its labels.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	rec := &descRecorder{}
	agent.New(agent.Options{NodeName: "n1", Timeout: time.Second, MaxStaleness: time.Minute}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), rec)
	rec.MustRegister(
		collector.NewStorage(collector.SnapshotFunc(nil)),
		collector.NewInformerSynced("n1", nil),
		versioncollector.NewCollector("ephemeral_storage_exporter"),
	)
	rec.MustRegister(extraCollectors()...)
	out := map[string][]string{}
	ch := make(chan *prometheus.Desc, 1000)
	for _, c := range rec.collectors {
		c.Describe(ch)
	}
	close(ch)
	for d := range ch {
		m := descFields.FindStringSubmatch(d.String())
		require.NotNil(t, m, d.String())
		var labels []string
		for _, part := range []string{m[2], m[3]} {
			for _, l := range strings.Split(part, ",") {
				if l = strings.TrimSpace(strings.SplitN(l, "=", 2)[0]); l != "" {
					labels = append(labels, l)
				}
			}
		}
		sort.Strings(labels)
		out[m[1]] = labels
	}
	return out
}

// TestDocsMatchCode fails when docs/metrics.md and the exported names or labels drift apart.
func TestDocsMatchCode(t *testing.T) {
	docs := readDocs(t)
	code := exported(t)
	for name, labels := range code {
		doc, ok := docs[name]
		if !assert.True(t, ok, "%s is exported but not documented in docs/metrics.md", name) {
			continue
		}
		assert.Equal(t, doc.labels, labels, "labels of %s", name)
	}
	for name := range docs {
		_, ok := code[name]
		assert.True(t, ok, "%s is documented in docs/metrics.md but not exported", name)
	}
}

// extraCollectors are the collectors of other packages that the agent registers.
func extraCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		detect.NewDetector(detect.Options{NodeName: "n1"}).Collector(),
		detect.NewClusterCounter(detect.ClusterOptions{}).Collector(), // the events role's
		detect.NewLeaderGauge(),
		logscan.New(logscan.Options{}, nil),
	}
}

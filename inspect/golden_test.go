package inspect

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

var (
	dumpsOnce   sync.Once
	loadedDumps map[string]*dump.Dump
)

// dumps are the real kubelet recordings and the embedded sample, decoded once per test binary:
// the tests only read them.
func dumps(t testing.TB) map[string]*dump.Dump {
	t.Helper()
	dumpsOnce.Do(func() {
		sample, err := dump.Sample()
		require.NoError(t, err)
		loadedDumps = map[string]*dump.Dump{"sample": sample}
		for _, v := range fixtures.Versions {
			loadedDumps["kubelet-"+v] = fixtures.Load(t, v)
		}
	})
	require.NotNil(t, loadedDumps, "the dumps failed to load in an earlier test")
	return loadedDumps
}

func defaultModel(t testing.TB) model.Options {
	t.Helper()
	thresholds, err := accounting.ParseThresholds(accounting.DefaultEvictionHard)
	require.NoError(t, err)
	return model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds}
}

// TestGolden prints `top -A -o wide` and `du` of every pod for each recording and the sample,
// and compares them byte for byte with testdata/golden. After a deliberate change run
// `go test ./inspect -run TestGolden -update` and read the diff.
func TestGolden(t *testing.T) {
	for name, d := range dumps(t) {
		t.Run(name, func(t *testing.T) {
			src := &Sample{Dump: d, Model: defaultModel(t)}
			var out, errOut bytes.Buffer
			all := TopOptions{Scope: Scope{Pods: true, AllNodes: true}, Selection: Selection{Pods: true, Signals: true}, Output: OutputWide}
			require.NoError(t, RunTop(context.Background(), src, all, &out, &errOut))
			require.Empty(t, errOut.String())
			pods := append([]string(nil), podNames(d)...)
			sort.Strings(pods)
			for _, p := range pods {
				ns, name := splitName(p)
				fmt.Fprintf(&out, "\n$ du -n %s %s\n", ns, name)
				if err := RunDu(context.Background(), src, ns, name, OutputTable, &out); err != nil {
					fmt.Fprintf(&out, "error: %v\n", err)
				}
			}
			path := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./inspect -run TestGolden -update to create it")
			require.Equal(t, string(want), out.String())
		})
	}
}

func podNames(d *dump.Dump) []string {
	names := make([]string, 0, len(d.Pods))
	for _, p := range d.Pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	return names
}

func splitName(s string) (string, string) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:]
		}
	}
	return "", s
}

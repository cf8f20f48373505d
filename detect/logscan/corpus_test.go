package logscan

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
)

// TestScannerCorpus: the recorded outputs of real programs (testdata/readonly, made by
// hack/readonly-corpus/record.sh) written as a container's stderr, with an unrelated stdout line
// between every two of its lines, reach the sink once per failure, with the path printed.
func TestScannerCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "readonly")
	raw, err := os.ReadFile(filepath.Join(dir, "cases.tsv"))
	require.NoError(t, err)
	n := 0
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 5)
		require.Len(t, f, 5, line)
		n++
		t.Run(f[0]+"."+f[1], func(t *testing.T) {
			failures, err := strconv.Atoi(f[2])
			require.NoError(t, err)
			var want []string
			if f[3] != "" {
				for _, p := range strings.Split(f[3], "|") {
					want = append(want, strings.TrimPrefix(p, "-")) // "-": names no path
				}
			}
			out, err := os.ReadFile(filepath.Join(dir, f[0]+"."+f[1]+".log"))
			require.NoError(t, err)

			root := t.TempDir()
			log := containerLog(t, root, "ns", "p", "uid-1", "app")
			appendFile(t, log, "")
			c := &collect{}
			s := newTestScanner(root, c)
			_, err = s.ScanOnce() // primes at the end of the empty file
			require.NoError(t, err)
			var b strings.Builder
			for l := range strings.Lines(string(out)) {
				b.WriteString(criLine("stderr", "F", strings.TrimRight(l, "\n")))
				b.WriteString(criLine("stdout", "F", "GET /healthz 200"))
			}
			appendFile(t, log, b.String())
			_, err = s.ScanOnce()
			require.NoError(t, err)

			lines := c.texts()
			require.Len(t, lines, failures, "%q", lines)
			var paths []string
			for _, l := range lines {
				path, ok := detect.ParseReadOnly(l)
				require.True(t, ok, l)
				paths = append(paths, path)
			}
			assert.Equal(t, want, paths)
		})
	}
	require.GreaterOrEqual(t, n, 80)
}

// TestScannerGroupsPerStream: a failure's lines are joined within their stream only; a failure on
// stdout between the lines of npm's block on stderr is a failure of its own.
func TestScannerGroupsPerStream(t *testing.T) {
	root := t.TempDir()
	log := containerLog(t, root, "ns", "p", "uid-1", "app")
	appendFile(t, log, "")
	c := &collect{}
	s := newTestScanner(root, c)
	_, err := s.ScanOnce()
	require.NoError(t, err)
	appendFile(t, log, criLine("stderr", "F", "npm error code EROFS")+
		criLine("stdout", "F", "worker 2: write error: EROFS")+
		criLine("stderr", "F", "npm error rofs EROFS: read-only file system, open '/app/package.json'"))
	_, err = s.ScanOnce()
	require.NoError(t, err)
	assert.Equal(t, []string{"worker 2: write error: EROFS", "npm error rofs EROFS: read-only file system, open '/app/package.json'"}, c.texts())
}

package logscan

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
)

type seenLine struct{ namespace, pod, uid, container, line string }

type collect struct {
	mu    sync.Mutex
	lines []seenLine
}

func (c *collect) sink(namespace, pod string, uid types.UID, container, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, seenLine{namespace, pod, string(uid), container, line})
}

func (c *collect) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.lines {
		out = append(out, l.line)
	}
	return out
}

func criLine(stream, tag, msg string) string {
	return "2026-11-25T10:00:00.123456789Z " + stream + " " + tag + " " + msg + "\n"
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func containerLog(t *testing.T, root, ns, pod, uid, container string) string {
	t.Helper()
	dir := filepath.Join(root, ns+"_"+pod+"_"+uid, container)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return filepath.Join(dir, "0.log")
}

func newTestScanner(root string, c *collect) *Scanner {
	return New(Options{Root: root, MaxBytesPerRun: 1 << 20, MaxLineBytes: 4096}, c.sink)
}

func TestScannerFollowsNewBytesOnly(t *testing.T) {
	root := t.TempDir()
	log := containerLog(t, root, "shop", "web-5d8f7-abcde", "uid-1", "nginx")
	appendFile(t, log, criLine("stderr", "F", `open /old: read-only file system`)) // before the agent started
	c := &collect{}
	s := newTestScanner(root, c)
	_, err := s.ScanOnce()
	require.NoError(t, err)
	assert.Empty(t, c.texts(), "history is not counted")

	appendFile(t, log, criLine("stdout", "F", "GET / 200")+
		criLine("stderr", "P", `2026/11/25 [emerg] mkdir() "/var/cache/nginx/client_temp" failed `)+
		criLine("stderr", "F", `(30: Read-only file system)`)+
		criLine("stderr", "F", "half a line wit")[:40]) // not finished yet
	_, err = s.ScanOnce()
	require.NoError(t, err)
	require.Len(t, c.lines, 1)
	assert.Equal(t, seenLine{"shop", "web-5d8f7-abcde", "uid-1", "nginx",
		`2026/11/25 [emerg] mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)`}, c.lines[0])

	_, err = s.ScanOnce()
	require.NoError(t, err)
	assert.Len(t, c.lines, 1, "nothing new, nothing read twice")
}

func TestScannerRotationAndCompression(t *testing.T) {
	root := t.TempDir()
	log := containerLog(t, root, "shop", "api-0", "uid-2", "app")
	appendFile(t, log, "")
	c := &collect{}
	s := newTestScanner(root, c)
	_, err := s.ScanOnce()
	require.NoError(t, err)

	// Written, then rotated by the kubelet before the next run: the tail of the old file is read.
	appendFile(t, log, criLine("stderr", "F", "open /a: read-only file system"))
	require.NoError(t, os.Rename(log, log+".20261125-100000"))
	appendFile(t, log, criLine("stderr", "F", "open /b: read-only file system"))
	_, err = s.ScanOnce()
	require.NoError(t, err)
	assert.Equal(t, []string{"open /a: read-only file system", "open /b: read-only file system"}, c.texts())

	// Rotated again and the previous one compressed: nothing is read twice.
	appendFile(t, log, criLine("stderr", "F", "open /c: read-only file system"))
	require.NoError(t, os.Rename(log, log+".20261125-110000"))
	gzipFile(t, log+".20261125-100000")
	appendFile(t, log, criLine("stderr", "F", "open /d: read-only file system"))
	_, err = s.ScanOnce()
	require.NoError(t, err)
	assert.Equal(t, []string{"open /a: read-only file system", "open /b: read-only file system",
		"open /c: read-only file system", "open /d: read-only file system"}, c.texts())

	// Ours compressed before we finished it: read from the .gz.
	appendFile(t, log, criLine("stderr", "F", "open /e: read-only file system"))
	require.NoError(t, os.Rename(log, log+".20261125-120000"))
	appendFile(t, log, "")
	gzipFile(t, log+".20261125-120000")
	_, err = s.ScanOnce()
	require.NoError(t, err)
	assert.Equal(t, "open /e: read-only file system", c.texts()[len(c.texts())-1])
	assert.Len(t, c.texts(), 5)
}

func gzipFile(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := os.Create(path + ".gz")
	require.NoError(t, err)
	w := gzip.NewWriter(f)
	_, err = w.Write(raw)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
	require.NoError(t, os.Remove(path))
}

func TestScannerTruncationAndLongLines(t *testing.T) {
	root := t.TempDir()
	log := containerLog(t, root, "ns", "p", "uid-3", "c")
	appendFile(t, log, criLine("stdout", "F", strings.Repeat("x", 100)))
	c := &collect{}
	s := New(Options{Root: root, MaxBytesPerRun: 1 << 20, MaxLineBytes: 256}, c.sink)
	_, err := s.ScanOnce()
	require.NoError(t, err)

	require.NoError(t, os.Truncate(log, 0)) // copytruncate-style: seen as the file shrinking
	_, err = s.ScanOnce()
	require.NoError(t, err)
	appendFile(t, log, criLine("stderr", "F", "open /t: read-only file system"))
	// A line far beyond both the line budget and the reader's buffer, with the error at its start
	// and another at its end that is past the budget.
	appendFile(t, log, criLine("stderr", "F", "open /long: read-only file system "+strings.Repeat("y", 200<<10)+" open /late: read-only file system"))
	appendFile(t, log, criLine("stderr", "F", "open /after: read-only file system"))
	_, err = s.ScanOnce()
	require.NoError(t, err)
	texts := c.texts()
	require.Len(t, texts, 3)
	assert.Equal(t, "open /t: read-only file system", texts[0])
	assert.Contains(t, texts[1], "open /long: read-only file system")
	assert.LessOrEqual(t, len(texts[1]), 256)
	assert.Equal(t, "open /after: read-only file system", texts[2])
}

func TestScannerBudgetIsShared(t *testing.T) {
	root := t.TempDir()
	var logs []string
	for i := range 1000 {
		logs = append(logs, containerLog(t, root, "ns", fmt.Sprintf("pod-%d", i), fmt.Sprintf("uid-%d", i), "app"))
		appendFile(t, logs[i], "")
	}
	c := &collect{}
	s := New(Options{Root: root, MaxBytesPerRun: 64 << 10, MaxLineBytes: 4096}, c.sink)
	_, err := s.ScanOnce()
	require.NoError(t, err)
	line := criLine("stderr", "F", "open /x: read-only file system")
	for _, l := range logs {
		appendFile(t, l, line)
	}
	total := int64(len(line) * len(logs))
	var read int64
	for runs := 1; read < total; runs++ {
		n, err := s.ScanOnce()
		require.NoError(t, err)
		assert.LessOrEqual(t, n, int64(64<<10), "one run stays within its budget")
		read += n
		require.Less(t, runs, 100)
	}
	assert.Len(t, c.texts(), 1000, "every container is reached, each line once")
}

func BenchmarkScanner(b *testing.B) {
	root := b.TempDir()
	log := filepath.Join(root, "ns_p_uid", "c", "0.log")
	require.NoError(b, os.MkdirAll(filepath.Dir(log), 0o755))
	var sb strings.Builder
	for i := 0; sb.Len() < 8<<20; i++ {
		if i%1000 == 0 {
			sb.WriteString(criLine("stderr", "F", "open /var/cache/x: read-only file system"))
		} else {
			sb.WriteString(criLine("stdout", "F", fmt.Sprintf("10.0.0.%d - - [25/Nov/2026:10:00:00 +0000] \"GET /api/v1/items/%d HTTP/1.1\" 200 512 \"-\" \"curl/8.0\"", i%255, i)))
		}
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		require.NoError(b, os.WriteFile(log, nil, 0o644))
		s := New(Options{Root: root, MaxBytesPerRun: 1 << 30, MaxLineBytes: 16 << 10}, func(string, string, types.UID, string, string) {})
		_, _ = s.ScanOnce()
		require.NoError(b, os.WriteFile(log, []byte(data), 0o644))
		b.StartTimer()
		_, err := s.ScanOnce()
		require.NoError(b, err)
	}
}

// A container that writes more than a run's budget between runs must not starve the others: the
// run after the budget ran out starts with the next file.
func TestScannerChattyFileDoesNotStarveOthers(t *testing.T) {
	root := t.TempDir()
	chatty := containerLog(t, root, "a", "chatty", "uid-a", "app")
	quiet := containerLog(t, root, "b", "quiet", "uid-b", "app")
	appendFile(t, chatty, "")
	appendFile(t, quiet, "")
	c := &collect{}
	const budget = readerSize // the smallest budget New allows
	s := New(Options{Root: root, MaxBytesPerRun: budget, MaxLineBytes: 4096}, c.sink)
	_, err := s.ScanOnce()
	require.NoError(t, err)
	appendFile(t, quiet, criLine("stderr", "F", "open /quiet: read-only file system"))
	// 64-byte lines: a run ends exactly at its budget, inside the chatty file.
	line := criLine("stdout", "F", strings.Repeat("x", 64-len(criLine("stdout", "F", ""))))
	require.Len(t, line, 64)
	noise := strings.Repeat(line, 2*budget/len(line))
	for range 3 {
		appendFile(t, chatty, noise) // always more than one run can read
		_, err := s.ScanOnce()
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"open /quiet: read-only file system"}, c.texts())
}

// The agent's own log quotes the failures it reports: read, each would count again as a failure
// of the agent, and that one too, every run. With its pod UID known, it is never read.
func TestScannerSkipsTheAgentsOwnLog(t *testing.T) {
	root := t.TempDir()
	own := containerLog(t, root, "ephemeral-storage-exporter", "ephemeral-storage-exporter-x7k2p", "uid-agent", "ephemeral-storage-exporter")
	app := containerLog(t, root, "shop", "web-5d8f7-abcde", "uid-1", "nginx")
	c := &collect{}
	s := New(Options{Root: root, MaxBytesPerRun: 1 << 20, MaxLineBytes: 4096, OwnPodUID: "uid-agent"}, c.sink)
	_, err := s.ScanOnce()
	require.NoError(t, err)
	appendFile(t, own, criLine("stderr", "F", `{"level":"WARN","msg":"write failed on a read-only filesystem","line":"open /x: read-only file system"}`))
	appendFile(t, app, criLine("stderr", "F", `open /x: read-only file system`))
	_, err = s.ScanOnce()
	require.NoError(t, err)
	assert.Equal(t, []seenLine{{"shop", "web-5d8f7-abcde", "uid-1", "nginx", `open /x: read-only file system`}}, c.lines)
	assert.Equal(t, 1.0, testutil.ToFloat64(s.tracked), "the agent's own log is not even followed")
}

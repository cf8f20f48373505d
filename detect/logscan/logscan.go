package logscan

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
)

// Options configure the container-log scanner.
type Options struct {
	// Root is the node's pod log directory, /var/log/pods, mounted read-only.
	Root string
	// MaxBytesPerRun bounds the CPU of one run: files are read round robin, so a chatty container
	// delays the others by at most a run instead of starving them.
	MaxBytesPerRun int64
	// MaxLineBytes bounds one log line (partial CRI lines joined): beyond it the rest of the line is
	// skipped, not buffered.
	MaxLineBytes int
	Interval     time.Duration
	Logger       *slog.Logger
	// OwnPodUID is the agent's own pod, whose logs are not read: they quote the failures the
	// agent reports, and reading them would count each one again as a failure of the agent, then
	// that one, every run.
	OwnPodUID types.UID
}

// readerSize is the read buffer: lines longer than it are searched in their first bytes only.
const readerSize = 64 << 10

// LineSink receives one line per read-only failure (the one naming the path, when a failure
// prints several), attributed from the path /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log.
type LineSink func(namespace, pod string, uid types.UID, container, line string)

// Scanner reads only the bytes appended to container logs since its last run: an application's
// own failed write produces no Kubernetes event, only a log line.
type Scanner struct {
	opts    Options
	sink    LineSink
	files   map[string]*logFile
	primed  bool
	cursor  int
	bytes   prometheus.Counter
	tracked prometheus.Gauge
}

type logFile struct {
	ino       uint64
	offset    int64
	partial   []byte // CRI partial (P) lines waiting for their final (F) part
	skipping  bool   // inside a line longer than MaxLineBytes
	namespace string
	pod       string
	uid       types.UID
	container string
	// groups gather the lines of one failure, per stream: a program's stdout and stderr
	// interleave in the file.
	groups map[string]*detect.ReadOnlyGrouper
}

// New returns a scanner feeding sink.
func New(o Options, sink LineSink) *Scanner {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// A run must be able to take in one reader buffer, or a line longer than the budget but
	// shorter than the buffer would be retried forever.
	o.MaxBytesPerRun = max(o.MaxBytesPerRun, readerSize)
	return &Scanner{
		opts: o, sink: sink, files: map[string]*logFile{},
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "ephemeral_storage_exporter_logscan_bytes_total",
			Help: "Container log bytes read by the read-only failure scanner."}),
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ephemeral_storage_exporter_logscan_files",
			Help: "Container log files followed by the read-only failure scanner."}),
	}
}

// Describe and Collect export the scanner's own cost.
func (s *Scanner) Describe(ch chan<- *prometheus.Desc) { s.bytes.Describe(ch); s.tracked.Describe(ch) }

// Collect: see Describe.
func (s *Scanner) Collect(ch chan<- prometheus.Metric) { s.bytes.Collect(ch); s.tracked.Collect(ch) }

// Run scans every Interval until ctx is done. The first run only notes where each log ends:
// what was written before the agent started was counted by its predecessor, or never will be.
func (s *Scanner) Run(ctx context.Context) {
	if _, err := os.Stat(s.opts.Root); err != nil {
		s.opts.Logger.Warn("container log scanner: root not readable; is /var/log/pods mounted?", "root", s.opts.Root, "err", err)
	}
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		if _, err := s.ScanOnce(); err != nil {
			s.opts.Logger.Warn("scanning container logs", "root", s.opts.Root, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ScanOnce reads new log bytes, up to the budget, and returns how many it read.
func (s *Scanner) ScanOnce() (int64, error) {
	paths, err := filepath.Glob(filepath.Join(s.opts.Root, "*_*_*", "*", "*.log"))
	if err != nil {
		return 0, err
	}
	if s.opts.OwnPodUID != "" {
		paths = slices.DeleteFunc(paths, s.isOwnLog)
	}
	sort.Strings(paths)
	s.forgetMissing(paths)
	if !s.primed {
		s.primed = true
		for _, p := range paths {
			if info, err := os.Stat(p); err == nil {
				f := s.track(p, info)
				f.offset = info.Size()
			}
		}
		s.tracked.Set(float64(len(s.files)))
		return 0, nil
	}
	budget := s.opts.MaxBytesPerRun
	var read int64
	var errs []error
	for i := range paths {
		if budget <= 0 {
			break
		}
		p := paths[(s.cursor+i)%len(paths)]
		n, err := s.scanFile(p, budget)
		read += n
		budget -= n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
		if budget <= 0 {
			s.cursor = (s.cursor + i + 1) % len(paths) // the next run starts with the next file: a file growing faster than the budget must not starve the others
		}
	}
	s.bytes.Add(float64(read))
	s.tracked.Set(float64(len(s.files)))
	return read, errors.Join(errs...)
}

// isOwnLog reports whether path is a log of the agent's own pod.
func (s *Scanner) isOwnLog(path string) bool {
	_, _, uid := podOf(path)
	return uid == s.opts.OwnPodUID
}

// podOf returns the pod of a log path, <root>/<namespace>_<pod>_<uid>/<container>/<n>.log; all
// empty when the directory is not of that form.
func podOf(path string) (namespace, pod string, uid types.UID) {
	dir := filepath.Base(filepath.Dir(filepath.Dir(path)))
	// Namespaces and pod names cannot contain '_', so the directory splits unambiguously.
	parts := strings.SplitN(dir, "_", 3)
	if len(parts) != 3 {
		return "", "", ""
	}
	return parts[0], parts[1], types.UID(parts[2])
}

func (s *Scanner) forgetMissing(paths []string) {
	present := make(map[string]bool, len(paths))
	for _, p := range paths {
		present[p] = true
	}
	for p := range s.files {
		if !present[p] {
			delete(s.files, p)
		}
	}
}

// track returns the state of a log file, new ones starting at offset 0.
func (s *Scanner) track(path string, info os.FileInfo) *logFile {
	if f := s.files[path]; f != nil {
		return f
	}
	f := &logFile{ino: inode(info), container: filepath.Base(filepath.Dir(path))}
	f.namespace, f.pod, f.uid = podOf(path)
	s.files[path] = f
	return f
}

func inode(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func (s *Scanner) scanFile(path string, budget int64) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, nil // rotated or removed between the glob and now: next run
	}
	f := s.track(path, info)
	var read int64
	if ino := inode(info); ino != f.ino {
		// Rotated: the kubelet renamed the file to <n>.log.<timestamp> (gzipped later). Finish
		// the old file from where we were, then follow the new one from its start.
		n, err := s.finishRotated(path, f, budget)
		read += n
		if err != nil {
			s.opts.Logger.Debug("finishing a rotated log", "path", path, "err", err)
		}
		*f = logFile{ino: ino, namespace: f.namespace, pod: f.pod, uid: f.uid, container: f.container}
	}
	if info.Size() < f.offset { // truncated in place
		f.offset, f.partial, f.skipping = 0, nil, false
	}
	if info.Size() == f.offset || budget-read <= 0 {
		return read, nil
	}
	file, err := os.Open(path)
	if err != nil {
		return read, err
	}
	defer file.Close()
	if _, err := file.Seek(f.offset, io.SeekStart); err != nil {
		return read, err
	}
	n, err := s.consume(f, io.LimitReader(file, budget-read))
	f.offset += n
	return read + n, err
}

// finishRotated reads what was appended to the old file after our offset and before rotation.
func (s *Scanner) finishRotated(path string, f *logFile, budget int64) (int64, error) {
	rotated, _ := filepath.Glob(path + ".*")
	for _, r := range rotated {
		info, err := os.Stat(r)
		if err != nil {
			continue
		}
		if strings.HasSuffix(r, ".gz") {
			continue // compressed ones are matched below, when no plain one is left
		}
		if inode(info) != f.ino {
			continue
		}
		file, err := os.Open(r)
		if err != nil {
			return 0, err
		}
		defer file.Close()
		if _, err := file.Seek(f.offset, io.SeekStart); err != nil {
			return 0, err
		}
		return s.consume(f, io.LimitReader(file, budget))
	}
	// Already compressed: the newest .gz is the one we were reading.
	var newest string
	for _, r := range rotated {
		if strings.HasSuffix(r, ".gz") && r > newest {
			newest = r
		}
	}
	if newest == "" {
		return 0, nil
	}
	file, err := os.Open(newest)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	gz, err := gzip.NewReader(file)
	if err != nil {
		return 0, err
	}
	if _, err := io.CopyN(io.Discard, gz, f.offset); err != nil {
		return 0, err
	}
	return s.consume(f, io.LimitReader(gz, budget))
}

// consume reads whole lines from r, returning the bytes consumed; a trailing line without its
// newline yet is left for the next run.
func (s *Scanner) consume(f *logFile, r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, readerSize)
	var consumed int64
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			consumed += int64(len(line))
			s.handleLine(f, line[:len(line)-1], true)
		case errors.Is(err, bufio.ErrBufferFull):
			// Longer than the reader's buffer: keep its start only, skip to its end.
			consumed += int64(len(line))
			s.handleLine(f, line, false)
		case errors.Is(err, io.EOF):
			// What a program prints about one failure it prints at once: what is open now is whole.
			s.flush(f)
			return consumed, nil
		default:
			return consumed, err
		}
	}
}

// handleLine takes one physical line, or a piece of one when complete is false.
func (s *Scanner) handleLine(f *logFile, raw []byte, complete bool) {
	if f.skipping {
		f.skipping = !complete
		return
	}
	// CRI format: <RFC3339Nano time> <stdout|stderr> <P|F> <message>
	fields := bytes.SplitN(raw, []byte{' '}, 4)
	if !complete {
		f.skipping = true
		stream := ""
		if len(fields) == 4 {
			stream = string(fields[1])
		}
		s.emit(f, stream, raw)
		return
	}
	if len(fields) < 4 {
		s.emit(f, "", raw) // not CRI: docker json-file or foreign, scan it whole
		return
	}
	msg := fields[3]
	if string(fields[2]) == "P" {
		if room := s.opts.MaxLineBytes - len(f.partial); room > 0 {
			f.partial = append(f.partial, msg[:min(len(msg), room)]...)
		}
		return
	}
	if len(f.partial) > 0 {
		msg = append(f.partial, msg...)
		f.partial = f.partial[:0]
	}
	s.emit(f, string(fields[1]), msg)
}

// emit passes one line of stream to its failure grouper, and a failure it closes to the sink.
func (s *Scanner) emit(f *logFile, stream string, msg []byte) {
	if len(msg) > s.opts.MaxLineBytes {
		msg = msg[:s.opts.MaxLineBytes]
	}
	g := f.groups[stream]
	if g == nil {
		if f.groups == nil {
			f.groups = map[string]*detect.ReadOnlyGrouper{}
		}
		if len(f.groups) >= maxStreams {
			return // stdout, stderr and "" (not CRI) are all there is
		}
		g = &detect.ReadOnlyGrouper{}
		f.groups[stream] = g
	}
	var failure detect.ReadOnlyFailure
	var ok bool
	if detect.MayBeReadOnly(msg) {
		failure, ok = g.Line(string(msg))
	} else {
		failure, ok = g.Other()
	}
	if ok {
		s.sink(f.namespace, f.pod, f.uid, f.container, failure.Message)
	}
}

// maxStreams bounds the groupers of a file whatever its stream field says.
const maxStreams = 3

// flush passes the failures still open to the sink, in a fixed order.
func (s *Scanner) flush(f *logFile) {
	for _, stream := range []string{"stdout", "stderr", ""} {
		if g := f.groups[stream]; g != nil {
			if failure, ok := g.Flush(); ok {
				s.sink(f.namespace, f.pod, f.uid, f.container, failure.Message)
			}
		}
	}
}

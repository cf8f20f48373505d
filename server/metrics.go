package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Rendered is a pre-rendered part of the exposition: the storage series of the latest snapshot,
// as one gzip member of their text (spliced into gzip scrapes, gzip.go) and the text's length, and
// the text itself for scrapes without gzip. Both are shared by every scrape of a snapshot; the
// text need only be held once a scrape has asked for it.
type Rendered interface {
	Compressed() (gz []byte, size int, err error)
	Text() ([]byte, error)
}

// metricsHandler serves the live registry (self-metrics, build info, counters: small, gathered per
// scrape) followed by the pre-rendered storage series (large, rendered and compressed once per
// snapshot), both in the text format. Gzip responses are one member (see gzip.go).
//
// The in-flight slot bounds the CPU work of a scrape (refresh, gather, compressing the live part)
// and is released before the response is written: writing only copies shared, immutable bytes,
// so a client that never reads holds a goroutine, its connection and its few kilobytes of live
// part, never a slot. Each chunk must be accepted within writeStall, and the whole response
// within writeTimeout, after which the connection is closed.
type metricsHandler struct {
	live       prometheus.Gatherer
	storage    Rendered
	refresher  Refresher
	inFlight   chan struct{}
	timeout    time.Duration
	writeStall time.Duration
	logger     *slog.Logger
	// writing counts responses being written, for the slow-reader tests.
	writing atomic.Int64
}

var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// writeChunk is how much is handed to the connection per write deadline.
const writeChunk = 256 << 10

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	parts, gzipped, ok := h.gather(r)
	if !ok {
		http.Error(w, "too many concurrent scrapes", http.StatusServiceUnavailable)
		return
	}
	h.writing.Add(1)
	defer h.writing.Add(-1)
	w.Header().Set("Content-Type", string(textFormat))
	if gzipped {
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Vary", "Accept-Encoding")
	length := 0
	for _, p := range parts {
		length += len(p)
	}
	w.Header().Set("Content-Length", strconv.Itoa(length))
	rc := http.NewResponseController(w)
	end := start.Add(writeTimeout)
	for _, p := range parts {
		for len(p) > 0 {
			n := min(len(p), writeChunk)
			// Not supported by every ResponseWriter (test recorders): then only the server's
			// WriteTimeout applies.
			_ = rc.SetWriteDeadline(earliest(time.Now().Add(h.writeStall), end))
			if _, err := w.Write(p[:n]); err != nil {
				return
			}
			p = p[n:]
		}
	}
}

// gather does the work a slot bounds and returns the response body in parts; ok is false when
// every slot is taken.
func (h *metricsHandler) gather(r *http.Request) (parts [][]byte, gzipped, ok bool) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			return nil, false, false
		}
	}
	ctx := r.Context()
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	h.refresher.Refresh(ctx)
	var live bytes.Buffer
	families, err := h.live.Gather()
	if err != nil {
		h.logger.Error("gathering self-metrics", "err", err) // serve what was gathered
	}
	enc := expfmt.NewEncoder(&live, textFormat)
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			h.logger.Error("encoding self-metrics", "err", err)
		}
	}
	gz, size, err := h.storage.Compressed()
	if err != nil {
		h.logger.Error("rendering storage metrics", "err", err)
	}
	deflate, crc, ok := memberBody(gz, size)
	if acceptsGzip(r) && ok {
		return [][]byte{gzipHeader, liveBlocks(live.Bytes()), deflate, gzipTrailer(live.Bytes(), crc, size)}, true, true
	}
	text, err := h.storage.Text() // no usable member for gzip: uncompressed is still a correct answer
	if err != nil {
		h.logger.Error("rendering storage metrics", "err", err)
	}
	return [][]byte{live.Bytes(), text}, false, true
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(part, ";", 2)[0]) == "gzip" {
			return true
		}
	}
	return false
}

package server

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"sync"
	"unsafe"
)

// A gzip /metrics response is ONE gzip member (RFC 1952), because readers that stop after the
// first member (curl --compressed, zcat of some builds, Go's reader with Multistream(false)) would
// otherwise drop everything after it. The member's deflate stream is the cached storage part,
// compressed once per snapshot and ended by a sync flush (non-final, byte-aligned), followed by
// the live part compressed fresh and ended by the final block; the trailer's CRC-32 extends the
// cached part's CRC over the live bytes only, so a scrape hashes and compresses kilobytes.

// gzipHeader is a member header without name, comment or time: ID1 ID2 CM=deflate FLG=0
// MTIME=0 XFL=0 OS=unknown.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// deflatedPart is a text compressed as the non-final start of a deflate stream.
type deflatedPart struct {
	text    []byte // the exact slice it was made from, to recognise it again
	deflate []byte
	crc     uint32
	size    uint32 // ISIZE counts modulo 2^32
}

// storageDeflater caches the deflated storage part of the latest rendering.
type storageDeflater struct {
	mu   sync.Mutex
	last *deflatedPart
	fw   *flate.Writer
}

// part returns the deflated form of text, compressing it only when text is a new rendering.
// Renderings are fresh slices that the cache keeps alive, so the same start and length mean the
// same bytes.
func (d *storageDeflater) part(text []byte) *deflatedPart {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last != nil && sameSlice(d.last.text, text) {
		return d.last
	}
	var buf bytes.Buffer
	buf.Grow(len(text)/8 + 64)
	if d.fw == nil {
		d.fw, _ = flate.NewWriter(&buf, flate.BestSpeed)
	} else {
		d.fw.Reset(&buf)
	}
	_, _ = d.fw.Write(text) // writes to a bytes.Buffer do not fail
	_ = d.fw.Flush()        // sync flush: byte-aligned, and no final block yet
	d.last = &deflatedPart{text: text, deflate: buf.Bytes(), crc: crc32.ChecksumIEEE(text), size: uint32(len(text))}
	return d.last
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// liveWriters are reused: a flate compressor is about 1 MiB of state.
var liveWriters = sync.Pool{New: func() any {
	fw, _ := flate.NewWriter(nil, flate.BestSpeed)
	return fw
}}

// gzipTail compresses live as the end of the stream that storage starts and appends the member
// trailer, so that header + storage.deflate + tail is one gzip member of storage.text + live.
func gzipTail(storage *deflatedPart, live []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(live)/4 + 64)
	fw := liveWriters.Get().(*flate.Writer)
	fw.Reset(&buf)
	_, _ = fw.Write(live)
	_ = fw.Close() // the final block
	liveWriters.Put(fw)
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc32.Update(storage.crc, crc32.IEEETable, live))
	binary.LittleEndian.PutUint32(trailer[4:], storage.size+uint32(len(live)))
	buf.Write(trailer[:])
	return buf.Bytes()
}

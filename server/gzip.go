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

// maxStoredBlock is the most a stored deflate block holds (RFC 1951, 3.2.4).
const maxStoredBlock = 65535

// gzipTail appends live to the stream that storage starts, as stored (uncompressed) deflate
// blocks, the last one final, then the member trailer, so that header + storage.deflate + tail
// is one gzip member of storage.text + live. The live part is a few kilobytes: storing it costs
// less than the megabyte of state a compressor would take per scrape. Stored blocks start on a
// byte boundary, which the sync flush that ends storage.deflate guarantees.
func gzipTail(storage *deflatedPart, live []byte) []byte {
	blocks := max(1, (len(live)+maxStoredBlock-1)/maxStoredBlock)
	out := make([]byte, 0, len(live)+5*blocks+8)
	for i := 0; i < blocks; i++ {
		chunk := live[min(i*maxStoredBlock, len(live)):min((i+1)*maxStoredBlock, len(live))]
		final := byte(0)
		if i == blocks-1 {
			final = 1 // BFINAL, BTYPE=00 (stored)
		}
		out = append(out, final)
		out = binary.LittleEndian.AppendUint16(out, uint16(len(chunk)))
		out = binary.LittleEndian.AppendUint16(out, ^uint16(len(chunk)))
		out = append(out, chunk...)
	}
	out = binary.LittleEndian.AppendUint32(out, crc32.Update(storage.crc, crc32.IEEETable, live))
	return binary.LittleEndian.AppendUint32(out, storage.size+uint32(len(live)))
}

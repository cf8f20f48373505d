package server

import (
	"encoding/binary"
	"hash/crc32"
)

// A gzip /metrics response is ONE gzip member (RFC 1952): readers that stop after the first
// member (curl --compressed, Go's reader with Multistream(false)) would otherwise drop everything
// after it. The member is spliced, not recompressed: a header, the live part in stored deflate
// blocks (a few kilobytes; storing costs less than a compressor's megabyte of state), then the
// deflate stream of the storage part's cached member, which Rendered compressed once per snapshot
// and which ends with the final block, and a trailer whose CRC-32 combines the live part's with
// the cached member's.

// gzipHeader is a member header without name, comment or time: ID1 ID2 CM=deflate FLG=0
// MTIME=0 XFL=0 OS=unknown.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// maxStoredBlock is the most a stored deflate block holds (RFC 1951, 3.2.4).
const maxStoredBlock = 65535

// memberBody returns the deflate stream and the CRC-32 of a single gzip member whose content is
// size bytes long; ok is false when gz is not such a member.
func memberBody(gz []byte, size int) (deflate []byte, crc uint32, ok bool) {
	const (
		fhcrc    = 1 << 1
		fextra   = 1 << 2
		fname    = 1 << 3
		fcomment = 1 << 4
	)
	if len(gz) < 18 || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 || gz[3]&0xe0 != 0 {
		return nil, 0, false
	}
	flags, i := gz[3], 10
	if flags&fextra != 0 {
		if i+2 > len(gz) {
			return nil, 0, false
		}
		i += 2 + int(binary.LittleEndian.Uint16(gz[i:]))
	}
	for _, f := range []byte{fname, fcomment} {
		if flags&f == 0 {
			continue
		}
		for i < len(gz) && gz[i] != 0 {
			i++
		}
		i++ // the terminating zero
	}
	if flags&fhcrc != 0 {
		i += 2
	}
	end := len(gz) - 8
	if i > end || binary.LittleEndian.Uint32(gz[end+4:]) != uint32(size) {
		return nil, 0, false
	}
	return gz[i:end], binary.LittleEndian.Uint32(gz[end:]), true
}

// liveBlocks is live as non-final stored deflate blocks; they start and end on a byte boundary,
// so any deflate stream may follow.
func liveBlocks(live []byte) []byte {
	out := make([]byte, 0, len(live)+5*(len(live)/maxStoredBlock+1))
	for len(live) > 0 {
		n := min(len(live), maxStoredBlock)
		out = append(out, 0) // BFINAL=0, BTYPE=00 (stored)
		out = binary.LittleEndian.AppendUint16(out, uint16(n))
		out = binary.LittleEndian.AppendUint16(out, ^uint16(n))
		out = append(out, live[:n]...)
		live = live[n:]
	}
	return out
}

// gzipTrailer is the trailer of a member whose content is live followed by storageSize bytes of
// CRC-32 storageCRC.
func gzipTrailer(live []byte, storageCRC uint32, storageSize int) []byte {
	crc := crc32Combine(crc32.ChecksumIEEE(live), storageCRC, int64(storageSize))
	out := binary.LittleEndian.AppendUint32(nil, crc)
	return binary.LittleEndian.AppendUint32(out, uint32(len(live)+storageSize)) // ISIZE is modulo 2^32
}

// crc32Combine returns the CRC-32 (IEEE) of A followed by B from crcA, crcB and the length of B,
// by applying lenB zero bytes to crcA as GF(2) matrix powers (the method zlib's crc32_combine
// uses): microseconds, where hashing the storage part again would be
// milliseconds per scrape.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = crc32.IEEE // the operator for one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd) // one zero byte, then 4, 16, ...
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}

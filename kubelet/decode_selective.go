package kubelet

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// DecodeSummarySelective decodes a /stats/summary body of at most maxBytes bytes, filling only the
// fields the model reads: the node's name and filesystems (fs, runtime.imageFs,
// runtime.containerFs), and per pod its podRef, ephemeral-storage, containers (name, rootfs,
// logs) and volumes (filesystem stats with their time, name, pvcRef). Everything else (CPU,
// memory, network, swap, accelerators, ...) is validated as JSON and skipped without allocating.
//
// On the fields it fills it decodes exactly as encoding/json does into the kubelet's types (name
// matching, null, duplicate names, number ranges, metav1.Time), so DecodeSummary stays the
// reference (decode_selective_test.go compares both on every recording and under fuzzing). It is
// stricter in one way: data after the JSON value is an error, not ignored.
func DecodeSummarySelective(r io.Reader, maxBytes int64) (*statsv1alpha1.Summary, error) {
	buf, release := takeBuffer(maxBytes)
	body, err := readCapped(r, buf, maxBytes)
	defer release(body)
	if err != nil {
		return nil, err
	}
	a := takeArena()
	d := summaryDecoder{scanner: scanner{data: body}, arena: a}
	d.containers.next = int(lastCount.containers.Load())
	d.volumes.next = int(lastCount.volumes.Load())
	summary := &a.summary
	if err := d.summary(summary); err != nil {
		giveBack(a)
		return nil, &Error{Kind: ErrorDecode, Err: fmt.Errorf("decoding summary: %w", err)}
	}
	if d.peek() != 0 {
		giveBack(a)
		return nil, &Error{Kind: ErrorDecode, Err: fmt.Errorf("decoding summary: data after the JSON value at offset %d", d.pos)}
	}
	if summary.Node.NodeName == "" {
		giveBack(a)
		return nil, &Error{Kind: ErrorDecode, Err: errors.New("decoding summary: no node name: not a /stats/summary response")}
	}
	if cap(summary.Pods) > cap(a.pods) {
		a.pods = summary.Pods[:0] // grown past the last summary's count: keep the larger array
	}
	lend(a)
	containers, volumes := 0, 0
	for i := range summary.Pods {
		containers += len(summary.Pods[i].Containers)
		volumes += len(summary.Pods[i].VolumeStats)
	}
	lastCount.pods.Store(int64(min(len(summary.Pods), maxCountHint)))
	lastCount.containers.Store(int64(min(containers, maxCountHint)))
	lastCount.volumes.Store(int64(min(volumes, maxCountHint)))
	return summary, nil
}

// lastCount is what the last summary decoded held, bounded by maxCountHint: a node's pods change
// slowly, so the next summary's arrays and slabs are sized from it instead of grown.
var lastCount struct{ pods, containers, volumes atomic.Int64 }

const maxCountHint = 1 << 14

// readBuffer is kept from one decode to the next: a 250-pod body is ~700 KB, and reading it
// afresh every cycle would be most of what a decode allocates. A sync.Pool would not do: the GC
// empties it between cycles. A concurrent decode (rare: the agent fetches one at a time) uses a
// buffer of its own.
var readBuffer struct {
	sync.Mutex
	buf []byte
}

// maxKeptBuffer bounds what is kept after an unusually large body.
const maxKeptBuffer = 8 << 20

func takeBuffer(maxBytes int64) (buf []byte, release func([]byte)) {
	if !readBuffer.TryLock() {
		return make([]byte, 0, min(64<<10, maxBytes+1)), func([]byte) {}
	}
	buf = readBuffer.buf
	if buf == nil {
		buf = make([]byte, 0, min(64<<10, maxBytes+1))
	}
	return buf[:0], func(used []byte) {
		readBuffer.buf = nil
		if cap(used) <= maxKeptBuffer {
			readBuffer.buf = used[:0]
		}
		readBuffer.Unlock()
	}
}

// readCapped reads all of r into buf, failing with ErrorTooLarge past maxBytes.
func readCapped(r io.Reader, buf []byte, maxBytes int64) ([]byte, error) {
	limited := &io.LimitedReader{R: r, N: maxBytes + 1}
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf)) // doubles
		}
		n, err := limited.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > maxBytes {
			return buf, &Error{Kind: ErrorTooLarge, Err: fmt.Errorf("summary larger than %d bytes", maxBytes)}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, &Error{Kind: ErrorDecode, Err: fmt.Errorf("reading summary: %w", err)}
		}
	}
}

// summaryDecoder fills a Summary; FsStats and their counters come from slabs, so a 250-pod
// summary costs a few dozen allocations instead of thousands. A pod's containers and volumes are
// decoded into scratch slices and copied into slabs at their exact length, so they are not grown
// element by element.
type summaryDecoder struct {
	scanner
	arena *arena // where the summary and its parts live
	// recent holds counters by value: the same value (a filesystem's capacity, available bytes
	// and inodes, repeated in the stats of every container and volume on it) shares one.
	recent     [64]*uint64
	containers slab[statsv1alpha1.ContainerStats]
	volumes    slab[statsv1alpha1.VolumeStats]
}

// slab hands out exact-length slices of T from the arena's chunks, filled from a scratch slice.
// A new chunk holds next elements (as many as the last summary had), later ones slabChunk.
type slab[T any] struct {
	scratch []T
	next    int
}

const slabChunk = 64

// copyOut returns a slice of exactly len(s) elements from chunks holding s's elements.
func (sl *slab[T]) copyOut(c *chunks[T], s []T) []T {
	out := c.take(len(s), sl.next)
	sl.next = slabChunk
	copy(out, s)
	return out
}

func (d *summaryDecoder) newFsStats() *statsv1alpha1.FsStats {
	return &d.arena.fs.take(1, 128)[0]
}

// uint returns a counter holding v: one seen recently with the same value, or a new one. The
// counters of a summary are therefore read-only: one may be shared by several fields.
func (d *summaryDecoder) uint(v uint64) *uint64 {
	slot := &d.recent[(v*0x9e3779b97f4a7c15)>>58]
	if *slot != nil && **slot == v {
		return *slot
	}
	p := &d.arena.uints.take(1, 512)[0]
	*p = v
	*slot = p
	return p
}

// structValue decodes an object member by member; null leaves the target as it is, as
// encoding/json does for structs.
func (d *summaryDecoder) structValue(member func(name []byte) error) error {
	switch d.peek() {
	case 'n':
		return d.readLiteral("null")
	case '{':
		return d.object(member)
	default:
		return d.mismatch()
	}
}

// mismatch validates the value that has the wrong type and reports it.
func (d *summaryDecoder) mismatch() error {
	start := d.pos
	if err := d.skipValue(); err != nil {
		return err
	}
	return fmt.Errorf("offset %d: %w", start, errTypeMismatch)
}

// sliceValue decodes an array into *p as encoding/json does: elements decode into what the
// slice already holds (up to its capacity), the slice is cut to the array's length, an empty
// array gives an empty non-nil slice and null gives nil (decode.go, array and literalStore).
func sliceValue[T any](d *summaryDecoder, p *[]T, element func(*T) error) error {
	switch d.peek() {
	case 'n':
		*p = nil
		return d.readLiteral("null")
	case '[':
	default:
		return d.mismatch()
	}
	s, i := *p, 0
	err := d.array(func() error {
		if i >= cap(s) {
			s = slices.Grow(s, 1)
		}
		if i >= len(s) {
			s = s[:i+1]
		}
		i++
		return element(&s[i-1])
	})
	if err != nil {
		return err
	}
	s = s[:i]
	if i == 0 {
		s = []T{}
	}
	*p = s
	return nil
}

// slabSliceValue is sliceValue for a slice that is nil so far (the usual case: a member seen once):
// the elements are decoded into the slab's scratch slice and copied out at their exact length.
func slabSliceValue[T any](d *summaryDecoder, p *[]T, sl *slab[T], c *chunks[T], element func(*T) error) error {
	if *p != nil || d.peek() != '[' {
		return sliceValue(d, p, element)
	}
	s := sl.scratch[:0]
	err := d.array(func() error {
		var zero T
		s = append(s, zero)
		return element(&s[len(s)-1])
	})
	if err == nil {
		*p = sl.copyOut(c, s)
		if len(s) == 0 {
			*p = []T{}
		}
	}
	clear(s) // the scratch keeps no pointers into this summary
	sl.scratch = s[:0]
	return err
}

func (d *summaryDecoder) stringValue(p *string) error {
	switch d.peek() {
	case 'n':
		return d.readLiteral("null")
	case '"':
	default:
		return d.mismatch()
	}
	raw, plain, err := d.readString()
	if err != nil {
		return err
	}
	if plain {
		*p = string(raw)
	} else {
		*p = string(appendUnquoted(nil, raw))
	}
	return nil
}

func (d *summaryDecoder) uintValue(p **uint64) error {
	switch c := d.peek(); {
	case c == 'n':
		*p = nil
		return d.readLiteral("null")
	case c == '-' || ('0' <= c && c <= '9'):
	default:
		return d.mismatch()
	}
	start := d.pos
	num, err := d.readNumber()
	if err != nil {
		return err
	}
	n, err := parseUint(num)
	if err != nil {
		return fmt.Errorf("offset %d: number %s: %w", start, num, err)
	}
	*p = d.uint(n) // a new pointer, never a write through the old one, which may be shared
	return nil
}

// timeValue decodes a metav1.Time as its UnmarshalJSON does: null is the zero time, a string is
// parsed as RFC 3339 and kept in the local zone.
func (d *summaryDecoder) timeValue(t *time.Time) error {
	switch d.peek() {
	case 'n':
		*t = time.Time{}
		return d.readLiteral("null")
	case '"':
	default:
		return d.mismatch()
	}
	start := d.pos
	raw, plain, err := d.readString()
	if err != nil {
		return err
	}
	if !plain {
		d.name = appendUnquoted(d.name[:0], raw)
		raw = d.name
	}
	// The string only lives through the Parse call, and its error (which would keep it) is
	// dropped: no copy of the body is made per timestamp.
	parsed, err := time.Parse(time.RFC3339, unsafe.String(unsafe.SliceData(raw), len(raw)))
	if err != nil {
		return fmt.Errorf("offset %d: time not in RFC 3339", start)
	}
	*t = parsed.Local()
	return nil
}

// fsPointer decodes an optional FsStats; withTime says whether its time is read.
func (d *summaryDecoder) fsPointer(p **statsv1alpha1.FsStats, withTime bool) error {
	return pointerValue(d, p, d.newFsStats, func(fs *statsv1alpha1.FsStats, name []byte) error {
		if ok, err := d.fsMember(name, fs, withTime); ok {
			return err
		}
		return d.skipValue()
	})
}

// pointerValue decodes an optional object into *p as encoding/json does: null sets it to nil,
// an object fills the existing value or a new one from alloc, member by member.
func pointerValue[T any](d *summaryDecoder, p **T, alloc func() *T, member func(v *T, name []byte) error) error {
	switch d.peek() {
	case 'n':
		*p = nil
		return d.readLiteral("null")
	case '{':
	default:
		return d.mismatch()
	}
	if *p == nil {
		*p = alloc()
	}
	v := *p
	return d.object(func(name []byte) error { return member(v, name) })
}

func newOf[T any]() *T { return new(T) }

// fsMember decodes one FsStats member if name is one; ok is false for other names.
func (d *summaryDecoder) fsMember(name []byte, fs *statsv1alpha1.FsStats, withTime bool) (ok bool, err error) {
	switch {
	case nameIs(name, "availableBytes"):
		return true, d.uintValue(&fs.AvailableBytes)
	case nameIs(name, "capacityBytes"):
		return true, d.uintValue(&fs.CapacityBytes)
	case nameIs(name, "usedBytes"):
		return true, d.uintValue(&fs.UsedBytes)
	case nameIs(name, "inodesFree"):
		return true, d.uintValue(&fs.InodesFree)
	case nameIs(name, "inodes"):
		return true, d.uintValue(&fs.Inodes)
	case nameIs(name, "inodesUsed"):
		return true, d.uintValue(&fs.InodesUsed)
	case withTime && nameIs(name, "time"):
		return true, d.timeValue(&fs.Time.Time)
	}
	return false, nil
}

func (d *summaryDecoder) summary(s *statsv1alpha1.Summary) error {
	return d.structValue(func(name []byte) error {
		switch {
		case nameIs(name, "node"):
			return d.node(&s.Node)
		case nameIs(name, "pods"):
			if s.Pods == nil && d.peek() == '[' {
				// Room for as many pods as the last summary had: the array is then allocated
				// once, not grown (a node's pod count changes slowly).
				s.Pods = d.arena.podsArray(int(lastCount.pods.Load()))
			}
			return sliceValue(d, &s.Pods, d.pod)
		}
		return d.skipValue()
	})
}

func (d *summaryDecoder) node(n *statsv1alpha1.NodeStats) error {
	return d.structValue(func(name []byte) error {
		switch {
		case nameIs(name, "nodeName"):
			return d.stringValue(&n.NodeName)
		case nameIs(name, "fs"):
			return d.fsPointer(&n.Fs, false)
		case nameIs(name, "runtime"):
			return d.runtime(&n.Runtime)
		}
		return d.skipValue()
	})
}

func (d *summaryDecoder) runtime(p **statsv1alpha1.RuntimeStats) error {
	return pointerValue(d, p, newOf[statsv1alpha1.RuntimeStats], func(rt *statsv1alpha1.RuntimeStats, name []byte) error {
		switch {
		case nameIs(name, "imageFs"):
			return d.fsPointer(&rt.ImageFs, false)
		case nameIs(name, "containerFs"):
			return d.fsPointer(&rt.ContainerFs, false)
		}
		return d.skipValue()
	})
}

func (d *summaryDecoder) pod(p *statsv1alpha1.PodStats) error {
	return d.structValue(func(name []byte) error {
		switch {
		case nameIs(name, "podRef"):
			return d.podRef(&p.PodRef)
		case nameIs(name, "containers"):
			return slabSliceValue(d, &p.Containers, &d.containers, &d.arena.containers, d.container)
		case nameIs(name, "volume"):
			return slabSliceValue(d, &p.VolumeStats, &d.volumes, &d.arena.volumes, d.volume)
		case nameIs(name, "ephemeral-storage"):
			return d.fsPointer(&p.EphemeralStorage, false)
		}
		return d.skipValue()
	})
}

func (d *summaryDecoder) podRef(r *statsv1alpha1.PodReference) error {
	return d.structValue(func(name []byte) error {
		switch {
		case nameIs(name, "name"):
			return d.stringValue(&r.Name)
		case nameIs(name, "namespace"):
			return d.stringValue(&r.Namespace)
		case nameIs(name, "uid"):
			return d.stringValue(&r.UID)
		}
		return d.skipValue()
	})
}

func (d *summaryDecoder) container(c *statsv1alpha1.ContainerStats) error {
	return d.structValue(func(name []byte) error {
		switch {
		case nameIs(name, "name"):
			return d.stringValue(&c.Name)
		case nameIs(name, "rootfs"):
			return d.fsPointer(&c.Rootfs, false)
		case nameIs(name, "logs"):
			return d.fsPointer(&c.Logs, false)
		}
		return d.skipValue()
	})
}

func (d *summaryDecoder) volume(v *statsv1alpha1.VolumeStats) error {
	return d.structValue(func(name []byte) error {
		if ok, err := d.fsMember(name, &v.FsStats, true); ok {
			return err
		}
		switch {
		case nameIs(name, "name"):
			return d.stringValue(&v.Name)
		case nameIs(name, "pvcRef"):
			return d.pvcRef(&v.PVCRef)
		}
		return d.skipValue()
	})
}

func (d *summaryDecoder) pvcRef(p **statsv1alpha1.PVCReference) error {
	return pointerValue(d, p, newOf[statsv1alpha1.PVCReference], func(ref *statsv1alpha1.PVCReference, name []byte) error {
		switch {
		case nameIs(name, "name"):
			return d.stringValue(&ref.Name)
		case nameIs(name, "namespace"):
			return d.stringValue(&ref.Namespace)
		}
		return d.skipValue()
	})
}

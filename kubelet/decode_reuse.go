package kubelet

import (
	"sync"
	"unsafe"

	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// A summary's memory (the Summary, its pods array, and the chunks its containers, volumes,
// filesystem stats and counters live in) can be handed back with ReleaseSummary once its reader is
// done with it; the next decode then fills that memory instead of allocating it: a node's pods
// change slowly, so in a steady state a decode allocates little more than the strings. Only memory
// handed back is reused, and only once: a summary that is never released is simply collected.

// arena is the memory of one decoded summary.
type arena struct {
	summary    statsv1alpha1.Summary
	pods       []statsv1alpha1.PodStats
	fs         chunks[statsv1alpha1.FsStats]
	uints      chunks[uint64]
	containers chunks[statsv1alpha1.ContainerStats]
	volumes    chunks[statsv1alpha1.VolumeStats]
}

// maxKeptArena bounds the memory kept for reuse after an unusually large summary.
const maxKeptArena = 8 << 20

func (a *arena) bytes() int {
	return cap(a.pods)*int(unsafe.Sizeof(statsv1alpha1.PodStats{})) + a.fs.bytes() + a.uints.bytes() +
		a.containers.bytes() + a.volumes.bytes()
}

// reset makes the arena's memory free for a new summary.
func (a *arena) reset() {
	a.summary = statsv1alpha1.Summary{}
	a.fs.reset()
	a.uints.reset()
	a.containers.reset()
	a.volumes.reset()
}

// podsArray returns an empty, zeroed pods array with room for n pods.
func (a *arena) podsArray(n int) []statsv1alpha1.PodStats {
	if cap(a.pods) < n {
		a.pods = make([]statsv1alpha1.PodStats, 0, n)
	}
	clear(a.pods[:cap(a.pods)])
	return a.pods[:0]
}

// chunks hands out zeroed slices of T from chunks that a later decode may fill again.
type chunks[T any] struct {
	all [][]T // every chunk; all[cur] is being filled, those after it are free
	cur int
}

// take returns n zeroed elements; a new chunk holds max(size, n).
func (c *chunks[T]) take(n, size int) []T {
	for ; c.cur < len(c.all); c.cur++ {
		ch := c.all[c.cur]
		if start := len(ch); cap(ch)-start >= n {
			ch = ch[:start+n]
			clear(ch[start:])
			c.all[c.cur] = ch
			return ch[start : start+n : start+n]
		}
	}
	ch := make([]T, n, max(size, n))
	c.all = append(c.all, ch)
	c.cur = len(c.all) - 1
	return ch[:n:n]
}

func (c *chunks[T]) reset() {
	for i := range c.all {
		c.all[i] = c.all[i][:0]
	}
	c.cur = 0
}

func (c *chunks[T]) bytes() int {
	var zero T
	n := 0
	for _, ch := range c.all {
		n += cap(ch)
	}
	return n * int(unsafe.Sizeof(zero))
}

// reuse holds the arena free for the next decode and the one holding the last summary decoded.
var reuse struct {
	sync.Mutex
	spare *arena
	lent  *arena
}

// takeArena returns the spare arena, reset, or a new one.
func takeArena() *arena {
	reuse.Lock()
	a := reuse.spare
	reuse.spare = nil
	reuse.Unlock()
	if a == nil {
		return &arena{}
	}
	a.reset()
	return a
}

// lend records that a holds the summary just decoded, so that releasing it frees a.
func lend(a *arena) {
	reuse.Lock()
	reuse.lent = a
	reuse.Unlock()
}

// giveBack makes a free again without lending it (a decode that failed).
func giveBack(a *arena) {
	reuse.Lock()
	if reuse.spare == nil && a.bytes() <= maxKeptArena {
		reuse.spare = a
	}
	reuse.Unlock()
}

// ReleaseSummary hands back the memory of a summary decoded by DecodeSummarySelective (or
// Client.Summary) that the caller, and everything it gave the summary to, will not read again:
// not its pods, containers, volumes, filesystem stats or counters (copies of values and strings
// may be kept). The next decode may overwrite that memory. Releasing any other summary, or the
// same one twice, does nothing.
func ReleaseSummary(s *statsv1alpha1.Summary) {
	if s == nil {
		return
	}
	reuse.Lock()
	defer reuse.Unlock()
	a := reuse.lent
	if a == nil || s != &a.summary {
		return
	}
	if a.bytes() <= maxKeptArena {
		reuse.spare = a
	}
	reuse.lent = nil
}

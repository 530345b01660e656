package breaker

import (
	"sync"
	"sync/atomic"
)

// WindowCounts is what a sliding window holds: the recorded (not ignored) calls, and among them
// the failures and the slow calls.
type WindowCounts struct {
	Calls     int
	Failures  int
	SlowCalls int
}

// window is a sliding window of outcomes. Both implementations record and snapshot in O(1)
// (the time-based one in O(buckets) after an idle period, a constant bound), and return the
// counts right after the record so the caller can evaluate the trip policies without a
// second pass.
type window interface {
	// record adds one outcome at time now (nanoseconds since the breaker's epoch).
	record(now int64, failure, slow bool) WindowCounts
	// counts returns the window's counts at time now.
	counts(now int64) WindowCounts
}

// Slot bits of the count window. A zero slot is empty: the window has not wrapped yet.
const (
	slotSet  = 1
	slotFail = 2
	slotSlow = 4
)

// countWindow holds the last len(slots) outcomes. It is lock-free: a writer claims a slot from
// the sequence, swaps its outcome in, and applies the difference between what it wrote and
// what it evicted to the totals. Every swap's difference is applied exactly once, so the
// totals equal the sum of the slots whenever no record is in flight; while records race, a
// total may briefly lag (counts clamps it to be non-negative).
type countWindow struct {
	seq      atomic.Uint64
	calls    atomic.Int64
	failures atomic.Int64
	slow     atomic.Int64
	slots    []atomic.Uint32
}

func newCountWindow(n int) *countWindow {
	return &countWindow{slots: make([]atomic.Uint32, n)}
}

func (w *countWindow) record(_ int64, failure, slow bool) WindowCounts {
	v := uint32(slotSet)
	if failure {
		v |= slotFail
	}
	if slow {
		v |= slotSlow
	}
	i := w.seq.Add(1) - 1
	old := w.slots[i%uint64(len(w.slots))].Swap(v)
	if old != v {
		if old&slotSet == 0 {
			w.calls.Add(1)
		}
		if d := int64(v&slotFail)>>1 - int64(old&slotFail)>>1; d != 0 {
			w.failures.Add(d)
		}
		if d := int64(v&slotSlow)>>2 - int64(old&slotSlow)>>2; d != 0 {
			w.slow.Add(d)
		}
	}
	return w.counts(0)
}

func (w *countWindow) counts(int64) WindowCounts {
	return WindowCounts{
		Calls:     int(max(w.calls.Load(), 0)),
		Failures:  int(max(w.failures.Load(), 0)),
		SlowCalls: int(max(w.slow.Load(), 0)),
	}
}

// timeWindow holds the outcomes of the last len(buckets) bucket widths. Bucket e covers
// [e·width, (e+1)·width) nanoseconds since the epoch; the window is the buckets
// (head−len, head]. Advancing subtracts the evicted buckets from the running total, so a
// snapshot is the total itself. A mutex keeps bucket rotation and counting exact; the clock
// read that every record needs costs more than the uncontended lock.
type timeWindow struct {
	mu      sync.Mutex
	width   int64
	head    int64
	total   WindowCounts
	buckets []WindowCounts
}

func newTimeWindow(width int64, n int, now int64) *timeWindow {
	return &timeWindow{width: width, head: now / width, buckets: make([]WindowCounts, n)}
}

// advanceLocked rotates the window so that the bucket holding now is the head. A clock that
// steps backwards leaves the head where it is: such records land in the newest bucket.
func (w *timeWindow) advanceLocked(now int64) *WindowCounts {
	n := int64(len(w.buckets))
	if e := now / w.width; e > w.head {
		steps := min(e-w.head, n)
		for i := int64(1); i <= steps; i++ {
			b := &w.buckets[(w.head+i)%n]
			w.total.Calls -= b.Calls
			w.total.Failures -= b.Failures
			w.total.SlowCalls -= b.SlowCalls
			*b = WindowCounts{}
		}
		w.head = e
	}
	return &w.buckets[w.head%n]
}

func (w *timeWindow) record(now int64, failure, slow bool) WindowCounts {
	w.mu.Lock()
	b := w.advanceLocked(now)
	b.Calls++
	w.total.Calls++
	if failure {
		b.Failures++
		w.total.Failures++
	}
	if slow {
		b.SlowCalls++
		w.total.SlowCalls++
	}
	c := w.total
	w.mu.Unlock()
	return c
}

func (w *timeWindow) counts(now int64) WindowCounts {
	w.mu.Lock()
	w.advanceLocked(now)
	c := w.total
	w.mu.Unlock()
	return c
}

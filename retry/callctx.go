package retry

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// callCtx is the context Do hands to fn: it carries the caller's deadline and
// values, is cancelled when the caller's context is, and is also cancelled
// when Do returns, so goroutines fn started on it stop with the call.
//
// context.WithCancel would do the same for 2 allocations (96 B) per call,
// which is most of the cost of a retry loop whose first attempt succeeds.
// callCtx avoids them in two ways. Its Done channel, and the parent
// registration that closes it, are created only if fn asks for Done. And
// callCtx values are 24-byte slots carved out of 84-slot slabs: a slot is
// used by exactly one call and never recycled, so a context that fn keeps
// after Do returns stays cancelled forever, as the contract requires, while
// the allocator runs once per 84 calls. The price is that a slab stays alive
// while any of its 84 contexts is still referenced.
//
// The fast path costs two atomic read-modify-writes (taking a slot, ending
// the call) and 24 bytes of slab. Both atomics are needed: slots are shared
// by all goroutines, and fn may hand its context to goroutines that ask for
// Done while Do returns. A per-P cursor through sync.Pool instead of the
// slab counter measured slower (70 against 57 ns of CPU per call).
type callCtx struct {
	parent context.Context
	state  atomic.Uint32 // one of the ctx* states below
	index  uint32        // the slot's position in its slab
}

// ctxExt holds what only a call that asks for Done needs. It hangs off the
// slab's ext table, so that the per-call slot stays at 24 bytes.
type ctxExt struct {
	mu   sync.Mutex    // serializes creating done and ending with done
	done chan struct{} // written before state becomes ctxLiveChan
	stop func() bool   // stops the context.AfterFunc registration
}

// The states of a callCtx. A call that never asks for Done goes straight
// from ctxLive to an ended state with one compare-and-swap and no lock.
const (
	ctxLive        uint32 = iota // running, no Done channel yet
	ctxLiveChan                  // running, Done channel created
	ctxEndedReturn               // Do returned while the parent was live: Err is Canceled
	ctxEndedParent               // the parent ended first: Err is the parent's
)

// closedChan is returned by Done after the call has ended.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// slabSize is 84 so that a slab (84 24-byte slots and two words) fits a
// 2048-byte size class.
const slabSize = 84

type ctxSlab struct {
	next atomic.Int64
	// exts holds the ctxExt of each slot whose Done was asked for. It is
	// allocated by the first such Done in the slab, so that calls which
	// never ask for Done pay nothing for it.
	exts atomic.Pointer[[slabSize]atomic.Pointer[ctxExt]]
	ctxs [slabSize]callCtx
}

// currentSlab is never nil, so that the fast path needs no check. Its
// counter runs past slabSize once the slab is used up; at one call per
// nanosecond an int64 would take three centuries to wrap.
var currentSlab atomic.Pointer[ctxSlab]

func init() { currentSlab.Store(new(ctxSlab)) }

// ext returns the cell holding c's ctxExt, creating its slab's ext table if
// needed. The slab is found from the slot's address and index, the way
// container_of works in C: the slot lies inside the slab's allocation.
func (c *callCtx) ext() *atomic.Pointer[ctxExt] {
	off := unsafe.Offsetof(ctxSlab{}.ctxs) + uintptr(c.index)*unsafe.Sizeof(callCtx{})
	s := (*ctxSlab)(unsafe.Add(unsafe.Pointer(c), -int(off)))
	t := s.exts.Load()
	if t == nil {
		t = new([slabSize]atomic.Pointer[ctxExt])
		if !s.exts.CompareAndSwap(nil, t) {
			t = s.exts.Load()
		}
	}
	return &t[c.index]
}

// newCallCtx takes the next unused slot. It is small enough to inline;
// newSlab, the path taken once per slab, is not.
func newCallCtx(parent context.Context) *callCtx {
	s := currentSlab.Load()
	if i := uint64(s.next.Add(1)) - 1; i < slabSize {
		c := &s.ctxs[i]
		c.parent = parent
		c.index = uint32(i)
		return c
	}
	return newSlab(parent)
}

// newSlab installs a fresh slab and takes its first slot, or takes a slot
// from the slab another goroutine installed first.
func newSlab(parent context.Context) *callCtx {
	for {
		s := currentSlab.Load()
		if i := uint64(s.next.Add(1)) - 1; i < slabSize {
			c := &s.ctxs[i]
			c.parent = parent
			c.index = uint32(i)
			return c
		}
		fresh := new(ctxSlab)
		fresh.next.Store(1)
		if currentSlab.CompareAndSwap(s, fresh) {
			c := &fresh.ctxs[0]
			c.parent = parent
			return c
		}
	}
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }

func (c *callCtx) Value(key any) any { return c.parent.Value(key) }

func (c *callCtx) Err() error {
	switch c.state.Load() {
	case ctxEndedReturn:
		return context.Canceled
	default:
		// Live, or ended by the parent, whose error is then final.
		return c.parent.Err()
	}
}

func (c *callCtx) Done() <-chan struct{} {
	switch c.state.Load() {
	case ctxLiveChan:
		return c.ext().Load().done
	case ctxEndedReturn, ctxEndedParent:
		return closedChan
	}
	cell := c.ext()
	e := cell.Load()
	if e == nil {
		e = new(ctxExt)
		if !cell.CompareAndSwap(nil, e) {
			e = cell.Load()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.state.Load() == ctxLiveChan {
		return e.done
	}
	ch := make(chan struct{})
	e.done = ch
	if !c.state.CompareAndSwap(ctxLive, ctxLiveChan) {
		return closedChan // Do returned meanwhile
	}
	if c.parent.Done() != nil {
		// The registration may run parentDone at once, which waits for mu.
		e.stop = context.AfterFunc(c.parent, c.parentDone)
	}
	return ch
}

func (c *callCtx) String() string { return "retry.callCtx" }

// parentDone runs when the parent ends after Done was requested.
func (c *callCtx) parentDone() {
	e := c.ext().Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.state.CompareAndSwap(ctxLiveChan, ctxEndedParent) {
		close(e.done)
	}
}

// finish ends the context when Do returns.
func (c *callCtx) finish() {
	to := ctxEndedReturn
	if c.parent.Err() != nil {
		to = ctxEndedParent
	}
	if c.state.CompareAndSwap(ctxLive, to) {
		return // the fast path: nobody asked for Done
	}
	e := c.ext().Load()
	if e == nil {
		return
	}
	e.mu.Lock()
	if !c.state.CompareAndSwap(ctxLiveChan, to) {
		e.mu.Unlock()
		return // the parent ended it already
	}
	close(e.done)
	stop := e.stop
	e.stop = nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
}

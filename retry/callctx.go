package retry

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// callCtx is the context Do hands to fn: it carries the caller's deadline and
// values, is cancelled when the caller's context is, and is also cancelled
// when Do returns, so goroutines fn started on it stop with the call.
//
// context.WithCancel would do the same for 2 allocations (96 B) per call,
// which is most of the cost of a retry loop whose first attempt succeeds.
// callCtx avoids them in two ways. Its Done channel, and the parent
// registration that closes it, are created only if fn asks for Done. And
// callCtx values are carved out of 63-slot slabs: a slot is used by exactly
// one call and never recycled, so a context that fn keeps after Do returns
// stays cancelled forever, as the contract requires, while the allocator
// runs once per 63 calls. The price is that a slab stays alive while any of
// its 63 contexts is still referenced.
type callCtx struct {
	parent context.Context
	state  atomic.Uint32 // one of the ctx* states below
	ext    atomic.Pointer[ctxExt]
}

// ctxExt holds what only a call that asks for Done needs, so that the
// per-call slot stays at 32 bytes.
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

// slabSize is 63 so that a slab (63 32-byte slots and a counter) fills a
// 2048-byte size class exactly.
const slabSize = 63

type ctxSlab struct {
	next atomic.Int64
	ctxs [slabSize]callCtx
}

var currentSlab atomic.Pointer[ctxSlab]

// newCallCtx takes the next unused slot, allocating a fresh slab when the
// current one is used up.
func newCallCtx(parent context.Context) *callCtx {
	for {
		s := currentSlab.Load()
		if s != nil {
			if i := s.next.Add(1) - 1; i < slabSize {
				c := &s.ctxs[i]
				c.parent = parent
				return c
			}
		}
		fresh := new(ctxSlab)
		fresh.next.Store(1)
		if currentSlab.CompareAndSwap(s, fresh) {
			c := &fresh.ctxs[0]
			c.parent = parent
			return c
		}
		// Another goroutine installed a slab first; take a slot from it.
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
		return c.ext.Load().done
	case ctxEndedReturn, ctxEndedParent:
		return closedChan
	}
	e := c.ext.Load()
	if e == nil {
		e = new(ctxExt)
		if !c.ext.CompareAndSwap(nil, e) {
			e = c.ext.Load()
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
	e := c.ext.Load()
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
	e := c.ext.Load()
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

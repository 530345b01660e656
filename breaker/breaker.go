package breaker

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// The state word packs the state into its low byte and a generation, bumped on every
// transition, into the rest. A token remembers the word it was admitted under, so an outcome
// reported after a transition is recognised as stale with one comparison.
const stateMask = 0xff

func wordState(w uint64) State { return State(w & stateMask) }

// Breaker is a circuit breaker. Create it with New; it is safe for concurrent use. Its only
// background work is a runtime timer (time.AfterFunc), armed while it is open with the
// default clock, whose callback ends the open state, delivers that change to
// Config.OnStateChange and returns. Close stops the timer and waits for a running callback,
// so that no hook runs in the background once it returns.
type Breaker struct {
	// Read-only after New: the hot path reads these and word, so they share cache lines
	// that are never written.
	consecN    int64
	slowDur    int64
	needStart  bool // record the start time of calls: slow-call detection
	needClock  bool // read the clock when recording: slow calls or a time window
	windowed   bool
	classify   func(error) Outcome
	now        func() time.Time
	epoch      time.Time
	failRate   float64
	slowRate   float64
	minCalls   int
	cfg        Config
	newWindow  func(now int64) window
	onChange   func(from, to State)
	maxProbes  int
	needProbes int

	word    atomic.Uint64 // state and generation; written only under mu
	lazy    atomic.Bool   // no timer: the open state ends on the first call after openEnd
	consec  atomic.Uint64 // consecutive failures while closed or metrics-only: see consecTag
	win     atomic.Pointer[windowBox]
	openEnd atomic.Int64 // when the open wait ends, in nanotime

	mu          sync.Mutex
	probes      int // half-open probes in flight
	probeOK     int // successful probes in this half-open period
	trips       int // consecutive trips without closing, for the open backoff
	timer       *time.Timer
	timerRuns   int       // timer callbacks between their transition and their last hook
	timerIdle   sync.Cond // signalled when timerRuns drops to zero; L is &mu
	closed      bool      // Close was called: arm no more timers
	entered     [StateMetricsOnly + 1]uint64
	pending     []transition
	dispatching bool

	_       [64]byte // keep the counters below off the cache lines read by every call
	stripes [numStripes]stripe
}

// windowBox lets the window be swapped atomically: a fresh window replaces the old one on
// every reset, so a record racing with the reset lands in the discarded window instead of
// corrupting the new one's totals. word is the state word the window was created under: a
// report whose token carries another word is stale and must not touch it.
type windowBox struct {
	w    window
	word uint64
}

// The consecutive-failure counter packs the low 32 bits of the generation it counts for into
// its high half and the count into its low half. A transition stores a fresh tag with a zero
// count before publishing its word, and a failure increments the counter only by a
// compare-and-swap that checks the tag, so a report admitted before the transition can never
// add to the new state's count, however it interleaves with the transition.
const consecCount = MaxConsecutiveFailures

func consecTag(word uint64) uint64 { return word >> 8 << 32 }

type transition struct{ from, to State }

// New returns a closed breaker configured by cfg, or an error wrapping ErrInvalidConfig.
func New(cfg Config) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Breaker{cfg: cfg, now: cfg.Now, onChange: cfg.OnStateChange, classify: cfg.Classify}
	b.timerIdle.L = &b.mu
	b.lazy.Store(b.now != nil)
	if b.now != nil {
		b.epoch = b.now()
	} else {
		b.epoch = time.Now()
	}
	b.consecN = int64(cfg.ConsecutiveFailures)
	if b.consecN == 0 && cfg.FailureRate == 0 && cfg.SlowCallRate == 0 {
		b.consecN = DefaultConsecutiveFailures
	}
	b.failRate, b.slowRate = cfg.FailureRate, cfg.SlowCallRate
	b.windowed = b.failRate > 0 || b.slowRate > 0
	b.slowDur = int64(cfg.SlowCallDuration)
	b.needStart = b.slowDur > 0
	b.needClock = b.needStart || (b.windowed && cfg.WindowDuration > 0)
	b.maxProbes = max(cfg.HalfOpenProbes, 1)
	b.needProbes = cfg.HalfOpenSuccesses
	if b.needProbes == 0 {
		b.needProbes = b.maxProbes
	}
	if cfg.WindowDuration > 0 {
		n := cfg.windowBuckets()
		width := int64(cfg.WindowDuration) / int64(n)
		b.newWindow = func(now int64) window { return newTimeWindow(width, n, now) }
		b.minCalls = cfg.MinimumCalls
		if b.minCalls == 0 {
			b.minCalls = DefaultMinimumCalls
		}
	} else {
		n := cfg.windowSize()
		b.newWindow = func(int64) window { return newCountWindow(n) }
		b.minCalls = cfg.MinimumCalls
		if b.minCalls == 0 {
			b.minCalls = min(DefaultMinimumCalls, n)
		}
	}
	if b.windowed {
		b.win.Store(&windowBox{w: b.newWindow(0)})
	}
	return b, nil
}

// nanotime returns the time since the breaker's epoch, never negative.
func (b *Breaker) nanotime() int64 {
	var d time.Duration
	if b.now != nil {
		d = b.now().Sub(b.epoch)
	} else {
		// time.Since reads only the monotonic clock, half the cost of time.Now.
		d = time.Since(b.epoch)
	}
	return max(int64(d), 0)
}

// Token is the admission of one call by Allow. Report the call's outcome exactly once, with
// Done, Success, Failure or Ignore; a token that is never reported holds a half-open probe
// slot until the next transition. Tokens are small values: Allow and the report allocate
// nothing. The zero Token ignores reports.
type Token struct {
	b     *Breaker
	word  uint64
	start int64
}

// Allow asks to run one call. It returns a token on which to report the call's outcome, or
// ErrOpen or ErrProbeLimit (both wrap ErrRejected) without a token.
func (b *Breaker) Allow() (Token, error) {
	for {
		w := b.word.Load()
		switch wordState(w) {
		case StateClosed, StateMetricsOnly:
			t := Token{b: b, word: w}
			if b.needStart {
				t.start = b.nanotime()
			}
			return t, nil
		case StateDisabled:
			return Token{b: b, word: w}, nil
		case StateOpen:
			if b.lazy.Load() && b.nanotime() >= b.openEnd.Load() {
				b.endOpen(w)
				continue
			}
			b.reject()
			return Token{}, ErrOpen
		case StateForcedOpen:
			b.reject()
			return Token{}, ErrOpen
		default: // StateHalfOpen
			b.mu.Lock()
			if b.word.Load() != w {
				b.mu.Unlock()
				continue
			}
			if b.probes >= b.maxProbes {
				b.mu.Unlock()
				b.reject()
				return Token{}, ErrProbeLimit
			}
			b.probes++
			b.mu.Unlock()
			t := Token{b: b, word: w}
			if b.needStart {
				t.start = b.nanotime()
			}
			return t, nil
		}
	}
}

// Done reports the call's outcome as classified from its error by Config.Classify. An
// outcome other than Success, Failure and Ignore from Classify counts as Ignore.
func (t Token) Done(err error) {
	if t.b == nil {
		return
	}
	o := Success
	if err != nil {
		if t.b.classify != nil {
			o = t.b.classify(err)
		} else {
			o = DefaultClassify(err)
		}
	} else if t.b.classify != nil {
		o = t.b.classify(nil)
	}
	// An unknown outcome would count as ignored in Metrics but as a success in the
	// consecutive-failure run and the window: make it one thing.
	t.b.record(t, min(o, Ignore))
}

// Success reports a successful call.
func (t Token) Success() {
	if t.b != nil {
		t.b.record(t, Success)
	}
}

// Failure reports a failed call.
func (t Token) Failure() {
	if t.b != nil {
		t.b.record(t, Failure)
	}
}

// Ignore reports a call that counts neither way, releasing its half-open probe slot.
func (t Token) Ignore() {
	if t.b != nil {
		t.b.record(t, Ignore)
	}
}

// Record reports the call's outcome directly. An outcome other than Success, Failure and
// Ignore counts as Ignore, so that the token's half-open probe slot is still released.
func (t Token) Record(o Outcome) {
	if t.b != nil {
		t.b.record(t, min(o, Ignore))
	}
}

func (b *Breaker) record(t Token, o Outcome) {
	st := wordState(t.word)
	if st == StateDisabled {
		return
	}
	var now int64
	slow := false
	if b.needClock && o != Ignore {
		now = b.nanotime()
		slow = b.slowDur > 0 && now-t.start >= b.slowDur
	}
	b.count(o, slow)
	if st == StateHalfOpen {
		b.recordProbe(t.word, o, slow)
		return
	}
	// Closed or metrics-only. A stale outcome (admitted before a transition) still counts
	// in the lifetime metrics above but not toward the new state's policies.
	if o == Ignore || b.word.Load() != t.word {
		return
	}
	trip := false
	if b.consecN > 0 {
		tag := consecTag(t.word)
		for {
			c := b.consec.Load()
			if c&^consecCount != tag {
				break // a transition happened since the word check above
			}
			if o == Failure {
				n := c&consecCount + 1
				if n > consecCount {
					n = consecCount // saturate instead of carrying into the tag
				}
				if b.consec.CompareAndSwap(c, tag|n) {
					trip = int64(n) >= b.consecN
					break
				}
				continue
			}
			// Load before writing: on the all-success path the line stays shared between
			// cores instead of bouncing on every call. A failed swap means a concurrent
			// report or transition wrote first; reports racing each other have no order.
			if c&consecCount != 0 {
				b.consec.CompareAndSwap(c, tag)
			}
			break
		}
	}
	if b.windowed {
		if box := b.win.Load(); box.word == t.word {
			trip = b.rateExceeded(box.w.record(now, o == Failure, slow)) || trip
		}
	}
	if trip && st == StateClosed {
		b.transitionFrom(t.word, StateOpen)
	}
}

// rateExceeded evaluates the rate policies on a window snapshot.
func (b *Breaker) rateExceeded(c WindowCounts) bool {
	if c.Calls < b.minCalls || c.Calls == 0 {
		return false
	}
	calls := float64(c.Calls)
	return (b.failRate > 0 && float64(c.Failures) >= b.failRate*calls) ||
		(b.slowRate > 0 && float64(c.SlowCalls) >= b.slowRate*calls)
}

// recordProbe handles the outcome of a half-open probe.
func (b *Breaker) recordProbe(w uint64, o Outcome, slow bool) {
	b.mu.Lock()
	if b.word.Load() != w {
		b.mu.Unlock()
		return
	}
	b.probes--
	switch {
	case o == Failure || (o == Success && slow && b.slowRate > 0):
		b.trips++
		b.setLocked(StateOpen)
	case o == Success:
		b.probeOK++
		if b.probeOK >= b.needProbes {
			b.setLocked(StateClosed)
		}
	}
	b.mu.Unlock()
	b.dispatch()
}

// transitionFrom moves the breaker to state to if its word is still w.
func (b *Breaker) transitionFrom(w uint64, to State) {
	b.mu.Lock()
	if b.word.Load() != w {
		b.mu.Unlock()
		return
	}
	b.setLocked(to)
	b.mu.Unlock()
	b.dispatch()
}

// endOpen ends the open state admitted under word w, if it still holds.
func (b *Breaker) endOpen(w uint64) { b.transitionFrom(w, StateHalfOpen) }

// timerFired is the open timer's callback: endOpen, counted in timerRuns until its hook has
// been delivered, so that Close can wait for it.
func (b *Breaker) timerFired(w uint64) {
	b.mu.Lock()
	if b.closed || b.word.Load() != w {
		b.mu.Unlock()
		return
	}
	b.timerRuns++
	b.setLocked(StateHalfOpen)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.timerRuns--; b.timerRuns == 0 {
			b.timerIdle.Broadcast()
		}
		b.mu.Unlock()
	}()
	b.dispatch()
}

// Close stops the breaker's background work: it stops the open timer and waits for a timer
// callback already running to return, the OnStateChange call it delivers included. Once it
// returns, the hook runs only inside the caller's own calls of the breaker (and calls of
// other goroutines still using it). It is idempotent and always returns nil. The breaker
// keeps working after Close, with the open state ending on the first call after its wait,
// as with an injected Config.Now. Close must not be called from OnStateChange: it would
// wait for the hook that called it.
func (b *Breaker) Close() error {
	b.mu.Lock()
	b.closed = true
	b.lazy.Store(true)
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	for b.timerRuns > 0 {
		b.timerIdle.Wait()
	}
	b.mu.Unlock()
	return nil
}

// setLocked performs a transition and queues its hook. b.mu must be held.
func (b *Breaker) setLocked(to State) {
	old := b.word.Load()
	from := wordState(old)
	w := (old>>8+1)<<8 | uint64(to)
	// Everything the new state needs is in place before the word is published: a lock-free
	// reader that sees the new word must not see the previous open deadline or window.
	b.consec.Store(consecTag(w))
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	switch to {
	case StateClosed, StateMetricsOnly, StateDisabled, StateForcedOpen:
		if to != StateForcedOpen {
			b.trips = 0
		}
		if b.windowed && (to == StateClosed || to == StateMetricsOnly) {
			b.win.Store(&windowBox{w: b.newWindow(b.nanotime()), word: w})
		}
	case StateOpen:
		d := b.openWaitLocked()
		// The deadline is kept even with a timer, so that Close can hand the open state
		// over to the lazy check.
		b.openEnd.Store(b.nanotime() + int64(d))
		if !b.lazy.Load() {
			// The callback takes b.mu, so even a tiny wait cannot end the state before
			// this transition is complete.
			b.timer = time.AfterFunc(d, func() { b.timerFired(w) })
		}
	case StateHalfOpen:
		b.probes, b.probeOK = 0, 0
	}
	b.word.Store(w)
	b.entered[to]++
	if b.onChange != nil || b.cfg.Logger != nil {
		b.pending = append(b.pending, transition{from, to})
	}
}

// openWaitLocked returns the wait of the open state being entered: OpenDuration grown by
// OpenBackoff per consecutive failed recovery, capped, then shortened by jitter.
func (b *Breaker) openWaitLocked() time.Duration {
	base := b.cfg.openDuration()
	ceil := b.cfg.MaxOpenDuration
	if ceil == 0 {
		ceil = base
	}
	factor := b.cfg.OpenBackoff
	if factor == 0 {
		factor = DefaultOpenBackoff
	}
	d := float64(base) * math.Pow(factor, float64(b.trips))
	if d > float64(ceil) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(ceil)
	}
	if j := b.cfg.OpenJitter; j > 0 {
		var u float64
		if b.cfg.Rand != nil {
			u = b.cfg.Rand.Float64()
		} else {
			u = rand.Float64()
		}
		d -= d * j * u
	}
	return time.Duration(d)
}

// dispatch delivers queued state changes to the logger and the hook outside the lock. Only one goroutine delivers
// at a time, so hooks run in transition order and never concurrently; a hook that itself
// causes a transition finds a delivery in progress and leaves its event to the loop below
// instead of recursing.
func (b *Breaker) dispatch() {
	if b.onChange == nil && b.cfg.Logger == nil {
		return
	}
	b.mu.Lock()
	if b.dispatching || len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	b.dispatching = true
	locked := true
	defer func() {
		// Runs after a panicking hook too, so that a later transition can deliver again;
		// the events still queued are delivered then.
		if !locked {
			b.mu.Lock()
		}
		b.dispatching = false
		b.mu.Unlock()
	}()
	for len(b.pending) > 0 {
		ev := b.pending[0]
		b.pending = append(b.pending[:0], b.pending[1:]...)
		b.mu.Unlock()
		locked = false
		if l := b.cfg.Logger; l != nil {
			l.Info("breaker state change", "name", b.cfg.Name, "from", ev.from.String(), "to", ev.to.String())
		}
		if b.onChange != nil {
			b.onChange(ev.from, ev.to)
		}
		b.mu.Lock()
		locked = true
	}
}

// State returns the breaker's current state.
func (b *Breaker) State() State {
	return wordState(b.observe())
}

// observe returns the state word after ending an elapsed open state under an injected
// clock, so that State and Metrics agree with what Allow would do.
func (b *Breaker) observe() uint64 {
	w := b.word.Load()
	if wordState(w) == StateOpen && b.lazy.Load() && b.nanotime() >= b.openEnd.Load() {
		b.endOpen(w)
		w = b.word.Load()
	}
	return w
}

// ForceOpen holds the breaker open, rejecting every call, until Reset, Disable or
// MetricsOnly.
func (b *Breaker) ForceOpen() { b.set(StateForcedOpen) }

// Disable admits every call and records nothing until ForceOpen, Reset or MetricsOnly.
func (b *Breaker) Disable() { b.set(StateDisabled) }

// MetricsOnly admits every call and records outcomes and metrics without ever tripping, until
// ForceOpen, Disable or Reset. The window starts empty.
func (b *Breaker) MetricsOnly() { b.set(StateMetricsOnly) }

// Reset closes the breaker from any state, with an empty window, no consecutive failures and
// the open duration back at OpenDuration. Lifetime metrics are kept.
func (b *Breaker) Reset() { b.set(StateClosed) }

func (b *Breaker) set(to State) {
	b.mu.Lock()
	b.setLocked(to)
	b.mu.Unlock()
	b.dispatch()
}

// Execute runs fn through the breaker: it returns ctx.Err() if ctx is already done, ErrOpen or
// ErrProbeLimit if the breaker rejects the call, and otherwise fn's error, after reporting it
// through Config.Classify. A panic in fn counts as a failure and is re-raised.
func (b *Breaker) Execute(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := b.Allow()
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			t.Failure()
		}
	}()
	err = fn(ctx)
	finished = true
	t.Done(err)
	return err
}

// Do is Execute for a function that returns a value. On rejection it returns the zero T.
func Do[T any](ctx context.Context, b *Breaker, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	t, err := b.Allow()
	if err != nil {
		return zero, err
	}
	finished := false
	defer func() {
		if !finished {
			t.Failure()
		}
	}()
	v, err := fn(ctx)
	finished = true
	t.Done(err)
	return v, err
}

package breaker

import (
	"sync/atomic"
	"unsafe"
)

// numStripes is the number of counter stripes. Each call adds to one stripe picked at random,
// so goroutines on different cores rarely write the same cache line; a snapshot sums them.
const (
	stripeBits = 4
	numStripes = 1 << stripeBits
)

// stripe is one set of lifetime counters, padded to two cache lines so that adjacent-line
// prefetching does not couple neighbours either.
type stripe struct {
	successes  atomic.Uint64
	failures   atomic.Uint64
	ignored    atomic.Uint64
	slow       atomic.Uint64
	rejections atomic.Uint64
	_          [128 - 5*8]byte
}

// pick returns the calling goroutine's stripe. Goroutine stacks are disjoint and at least
// 2 KiB long, so the address of a local variable, hashed above its low 11 bits, spreads
// goroutines over the stripes and mostly keeps each one on the same stripe, for free: a
// random draw per call cost a third of a rejection.
func (b *Breaker) pick() *stripe {
	var probe byte
	p := uint64(uintptr(unsafe.Pointer(&probe))) >> 11
	return &b.stripes[(p*0x9e3779b97f4a7c15)>>(64-stripeBits)]
}

func (b *Breaker) count(o Outcome, slow bool) {
	s := b.pick()
	switch o {
	case Success:
		s.successes.Add(1)
	case Failure:
		s.failures.Add(1)
	default:
		s.ignored.Add(1)
	}
	if slow {
		s.slow.Add(1)
	}
}

func (b *Breaker) reject() { b.pick().rejections.Add(1) }

// Metrics is a snapshot of a breaker's counters. The lifetime counters cover every call
// reported since New, including calls reported after the transition that followed their
// admission; calls admitted while disabled are not counted.
type Metrics struct {
	// State is the state at the time of the snapshot.
	State State
	// Calls is the number of reported calls: Successes + Failures + Ignored.
	Calls     uint64
	Successes uint64
	Failures  uint64
	Ignored   uint64
	// SlowCalls counts the reported calls, of any outcome but Ignore, that took at least
	// Config.SlowCallDuration.
	SlowCalls uint64
	// Rejections counts the calls refused with ErrOpen or ErrProbeLimit.
	Rejections uint64
	// Transitions counts state changes.
	Transitions uint64
	// TransitionsTo counts state changes by the state entered: TransitionsTo[StateOpen]
	// is the number of trips, TransitionsTo[StateClosed] the number of recoveries and
	// resets. They sum to Transitions.
	TransitionsTo [StateMetricsOnly + 1]uint64
	// ConsecutiveFailures is the current run of failures while closed or metrics-only.
	ConsecutiveFailures int
	// Window holds the sliding window's counts; it is zero when no rate policy is set.
	Window WindowCounts
	// HalfOpenInFlight is the number of half-open probes admitted and not yet reported.
	HalfOpenInFlight int
}

// Metrics returns a snapshot of the breaker's counters in O(1). Counters updated by
// concurrent calls may be caught mid-update: each is exact once the calls have returned.
func (b *Breaker) Metrics() Metrics {
	m := Metrics{State: wordState(b.observe())}
	for i := range b.stripes {
		s := &b.stripes[i]
		m.Successes += s.successes.Load()
		m.Failures += s.failures.Load()
		m.Ignored += s.ignored.Load()
		m.SlowCalls += s.slow.Load()
		m.Rejections += s.rejections.Load()
	}
	m.Calls = m.Successes + m.Failures + m.Ignored
	m.ConsecutiveFailures = int(b.consec.Load() & consecCount)
	if b.windowed {
		var now int64
		if b.needClock {
			now = b.nanotime()
		}
		m.Window = b.win.Load().w.counts(now)
	}
	b.mu.Lock()
	if wordState(b.word.Load()) == StateHalfOpen {
		m.HalfOpenInFlight = b.probes
	}
	m.TransitionsTo = b.entered
	b.mu.Unlock()
	for _, n := range m.TransitionsTo {
		m.Transitions += n
	}
	return m
}

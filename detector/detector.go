package detector

import (
	"errors"
	"time"
)

// Detector watches one peer through the heartbeats it receives from it.
//
// Every method takes the current time from the caller, so a Detector never
// reads a clock: tests and simulators drive it in virtual time, and a caller
// with a cheaper clock can use it. Times passed to one Detector must not go
// backwards. A peer that has never sent a heartbeat is not suspected.
//
// All implementations in this package are safe for concurrent use.
type Detector interface {
	// Heartbeat records a heartbeat received at now.
	Heartbeat(now time.Time)
	// Suspicion returns how strongly the peer is suspected at now: φ for the
	// accrual detectors, the silence divided by the timeout for the others.
	// It is >= 0 and never decreases while no heartbeat arrives.
	Suspicion(now time.Time) float64
	// Suspected reports whether the peer is suspected at now: for the
	// timeout detectors, a silence longer than the timeout (Suspicion > 1);
	// for Phi, φ >= the threshold.
	Suspected(now time.Time) bool
}

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("detector: invalid config")

// pauseGuard implements the local-pause guard shared by all detectors. If
// the detector has not been called for longer than limit, the silence is
// blamed on this process (a GC pause, a stopped VM, a suspended laptop), not
// on the peer: the gap is not counted as the peer's silence and the interval
// spanning it is not recorded. Cassandra does the same with a 5 s limit.
type pauseGuard struct {
	limit    time.Duration // 0: disabled
	lastCall time.Time
	paused   bool // a pause happened since the last heartbeat
}

// observe is called first by every method with the lock held. It returns the
// length of a detected pause, or 0.
func (g *pauseGuard) observe(now time.Time) time.Duration {
	if g.limit <= 0 {
		return 0
	}
	var gap time.Duration
	if !g.lastCall.IsZero() {
		if d := now.Sub(g.lastCall); d > g.limit {
			gap = d
			g.paused = true
		}
	}
	if now.After(g.lastCall) {
		g.lastCall = now
	}
	return gap
}

// Package breaker is a circuit breaker: it stops calls to a dependency that keeps failing, lets
// a few probes through after a wait, and resumes normal traffic once they succeed.
//
// # States
//
// A Breaker starts closed. A trip policy moves it to open, where every call is rejected with
// ErrOpen. After the open wait it becomes half-open and admits up to Config.HalfOpenProbes
// concurrent probes (more are rejected with ErrProbeLimit); Config.HalfOpenSuccesses
// successful probes close it, and one failed probe opens it again with a longer wait (the wait
// grows by Config.OpenBackoff up to Config.MaxOpenDuration, minus optional jitter, and returns
// to Config.OpenDuration when the breaker closes). Three more states are entered and left only
// by the caller: forced-open (ForceOpen) rejects everything, disabled (Disable) admits
// everything and records nothing, and metrics-only (MetricsOnly) admits everything and records
// everything but never trips. Reset returns to closed from any state.
//
// The trip policies, any of which trips the breaker:
//   - N consecutive failures (Config.ConsecutiveFailures; 5 when nothing else is set);
//   - a failure rate over a sliding window (Config.FailureRate);
//   - a slow-call rate over the same window (Config.SlowCallRate, Config.SlowCallDuration).
//
// The window is count-based (the last Config.WindowSize calls) or time-based (the last
// Config.WindowDuration in Config.WindowBuckets buckets). Recording and reading either costs
// O(1). The rate policies wait for Config.MinimumCalls calls in the window.
//
// Each call's error is classified by Config.Classify as a Success, a Failure or Ignore.
// DefaultClassify ignores context.Canceled, since a caller giving up says nothing about the
// dependency.
//
// # Usage
//
//	b, err := breaker.New(breaker.Config{FailureRate: 0.5, WindowSize: 50, OpenDuration: 10 * time.Second})
//	...
//	err = b.Execute(ctx, func(ctx context.Context) error { return callBackend(ctx) })
//	if errors.Is(err, breaker.ErrRejected) {
//		// the breaker refused the call: fail fast or use a fallback
//	}
//
// Do is the same for a function returning a value. When the call does not fit in a closure,
// the two-step API admits it first and reports the outcome later:
//
//	tok, err := b.Allow()
//	if err != nil {
//		return err
//	}
//	resp, err := send(req)
//	tok.Done(err)
//
// Neither form allocates.
//
// # Concurrency
//
// A Breaker is safe for concurrent use. In the closed state, admission and a success touch no
// lock: the state and a generation number share one atomic word, counters are striped over
// cache lines, and the count-based window is a ring of atomic slots. Rejection reads no
// clock: with the default clock a runtime timer ends the open state on time (and delivers that
// state change's hook); with an injected Config.Now the open state ends on the next call after
// the wait. Transitions and half-open admissions take a mutex, and the time-based window takes
// its own.
//
// The open timer is the breaker's only background work. Close stops it and waits for a
// callback already running, so that after Close no hook runs except inside calls made to the
// breaker; the breaker keeps working, the open state then ending on the first call after its
// wait. Close is idempotent and must not be called from the hook itself.
//
// Config.OnStateChange runs outside every lock, one call at a time, in transition order, so a
// hook may call State, Metrics or even ForceOpen.
//
// # Guarantees and limits
//
// Outcomes are attributed to the state they were admitted in: a call admitted before a
// transition and reported after it counts in the lifetime Metrics but not toward the new
// state's policies. With calls reported concurrently, "consecutive" failures follow the order
// in which reports reach the breaker, and the window's totals are exact once concurrent
// reports have returned (a Metrics snapshot taken meanwhile may lag by those in flight). A
// token must be reported once: a lost half-open token holds its probe slot until the next
// transition. The breaker keeps no history beyond its window and is local to one process.
package breaker

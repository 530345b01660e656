// Package retry runs an operation again when it fails: backoff schedules
// with jitter, a retry loop that honours contexts, deadlines, server hints
// and permanent errors, and retry budgets that stop a fleet from multiplying
// its load when a dependency is down.
//
// # Usage
//
// Build a Retrier once from a Config (the zero Config is valid) and share it:
//
//	r, err := retry.New(retry.Config{
//		MaxAttempts: 5,
//		MaxElapsed:  10 * time.Second,
//		Backoff:     retry.Decorrelated(100*time.Millisecond, 5*time.Second),
//		Retryable:   func(err error) bool { return !errors.Is(err, errBadRequest) },
//	})
//	...
//	err = r.Do(ctx, func(ctx context.Context) error {
//		return call(ctx) // ctx is cancelled when Do returns
//	})
//
// DoValue does the same for an operation that returns a value. The
// package-level Do uses the default Config.
//
// Schedules: Constant, Linear, Exponential and Fibonacci, and the three
// jitters of AWS's "Exponential Backoff and Jitter": FullJitter (uniform in
// [0, t]), EqualJitter (uniform in [t/2, t]) and Decorrelated (uniform in
// [base, min(cap, 3·previous)]). A Schedule is a pure function of the retry
// number and the previous delay; none overflows, up to any retry number.
//
// Errors: wrap an error with Permanent to stop at once; wrap it with
// RetryAfter to ask for a specific wait (ParseRetryAfter and
// HeaderRetryAfter read an HTTP Retry-After header, delta-seconds or
// HTTP-date). When Do gives up it returns a *Error holding the reason (one
// of the sentinel errors, or the context's error), the attempt count and
// every attempt's error; errors.Is matches the reason and any attempt's
// error.
//
// Budgets: a TokenBucket (gRPC's retry throttling: retry only while more than
// half the tokens remain) or a RatioBudget (Finagle's: retries at most a
// percentage of requests plus a floor per second, over a sliding window)
// shared by many Retriers, set as Config.Budget.
//
// # Guarantees
//
//   - fn's context is derived from the caller's and is cancelled when Do
//     returns; its Done channel is created only if fn asks for it.
//   - No wait after the final attempt. A cancelled context ends a wait at once.
//   - With MaxElapsed, the last wait is shortened to what is left, not
//     skipped, and no attempt starts after the limit.
//   - A RetryAfter hint is clamped by MaxDelay and by the time left.
//   - OnRetry is numbered from 1 and fires only before a retry that happens
//     (after its wait, so a cancel during the wait does not fire it).
//   - RatioBudget: for the window it counts at each retry, retries ≤
//     Percent·requests + MinPerSecond·TTL, exactly, even under concurrent
//     use (property-tested). The window moves on a timer at each tenth of
//     TTL, so it lags real time only by that timer's firing delay.
//
// # Cost
//
// A call whose first attempt succeeds makes no allocation of its own: the
// contexts handed to fn are 24-byte slots carved out of 84-slot slabs, so
// the allocator runs once per 84 calls (24 B per call on average, which go
// test reports as 0 allocs/op). A slot is never reused, so a context fn
// keeps stays cancelled, at the price that a slab stays alive while any of
// its contexts is referenced. What is left on that path is two atomic
// read-modify-writes (taking a slot, ending the call) and a dynamic call to
// the parent's Err. An fn that asks for Done (an HTTP call does) adds a
// channel and a registration on the parent, about 1 µs. Retries allocate
// nothing either: the failed attempts' errors stay on the stack (up to 8)
// and are copied out only into the *Error of a call that gives up; a wait
// allocates one timer per call. Setting MaxElapsed (measured from the
// start) adds one clock read per call; AttemptTimeout adds a
// context.WithTimeout per attempt. In bench/, BenchmarkRetrySuccess
// measured 0.17–0.23× the CPU time of cenkalti/backoff's Retry (3
// allocations, 120 B) on a loaded machine, whose wall-clock ratios swung
// from 0.08 to 0.42, and BenchmarkRetryThreeFailures 0.02–0.10× (backoff:
// 12 allocations).
//
// # Concurrency
//
// Retrier, every Schedule, TokenBucket and RatioBudget are safe for
// concurrent use and lock-free; Retrier holds no mutable state. Budget
// calls read no clock and make one atomic read-modify-write each; a
// RatioBudget in use runs a time.AfterFunc timer once per tenth of its TTL
// to move its window, and stops it after a tenth of TTL without a call. Hooks (OnRetry, Retryable)
// run on the goroutine calling Do, with no lock held. The jitters draw from
// math/rand/v2's global source, which needs no lock.
package retry

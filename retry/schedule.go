package retry

import (
	"math"
	"math/rand/v2"
	"time"
)

// Schedule computes how long to wait before a retry.
//
// n is the 0-based index of the upcoming retry: 0 for the wait after the
// first failed attempt, 1 after the second, and so on. prev is the delay the
// schedule returned for retry n-1 (0 for n = 0); only decorrelated jitter
// uses it. Delay must be safe to call from many goroutines at once and must
// return a value >= 0.
//
// Every Schedule in this package is stateless: the loop carries n and prev,
// so one Schedule value can be shared by any number of concurrent Do calls.
// cenkalti/backoff's ExponentialBackOff, by contrast, keeps its state inside
// the value and must not be shared.
type Schedule interface {
	Delay(n int, prev time.Duration) time.Duration
}

// ScheduleFunc adapts an ordinary function to a Schedule.
type ScheduleFunc func(n int, prev time.Duration) time.Duration

// Delay calls f(n, prev).
func (f ScheduleFunc) Delay(n int, prev time.Duration) time.Duration { return f(n, prev) }

// noCap is the cap used when a constructor is given cap <= 0.
const noCap = time.Duration(math.MaxInt64)

// normalize clamps constructor arguments instead of failing, so schedule
// constructors never panic and never return an error: a negative base is 0, a
// cap <= 0 means no cap, and a cap below the base is raised to the base.
func normalize(base, capd time.Duration) (time.Duration, time.Duration) {
	if base < 0 {
		base = 0
	}
	if capd <= 0 {
		capd = noCap
	}
	if capd < base {
		capd = base
	}
	return base, capd
}

type constant struct{ d time.Duration }

// Constant waits d before every retry. A negative d is treated as 0.
func Constant(d time.Duration) Schedule {
	if d < 0 {
		d = 0
	}
	return constant{d}
}

func (c constant) Delay(int, time.Duration) time.Duration { return c.d }

type linear struct{ base, cap time.Duration }

// Linear waits base·(n+1), at most cap (cap <= 0 means no cap).
func Linear(base, cap time.Duration) Schedule {
	base, cap = normalize(base, cap)
	return linear{base, cap}
}

func (l linear) Delay(n int, _ time.Duration) time.Duration {
	if n < 0 {
		n = 0
	}
	if l.base == 0 {
		return 0
	}
	// Compare before multiplying so that no n, however large, overflows.
	if int64(n) >= int64(l.cap/l.base) {
		return l.cap
	}
	return l.base * time.Duration(n+1)
}

type exponential struct{ base, cap time.Duration }

// Exponential waits base·2ⁿ, at most cap (cap <= 0 means no cap).
func Exponential(base, cap time.Duration) Schedule {
	base, cap = normalize(base, cap)
	return exponential{base, cap}
}

func (e exponential) Delay(n int, _ time.Duration) time.Duration {
	return expDelay(e.base, e.cap, n)
}

// expDelay is min(cap, base·2ⁿ) computed without overflow: base·2ⁿ <= cap
// exactly when base <= cap>>n.
func expDelay(base, cap time.Duration, n int) time.Duration {
	if n < 0 {
		n = 0
	}
	if base == 0 {
		return 0
	}
	if n >= 63 || base > cap>>uint(n) {
		return cap
	}
	return base << uint(n)
}

type fibonacci struct{ base, cap time.Duration }

// Fibonacci waits base·F(n+1) with F(1) = F(2) = 1 (so base, base, 2·base,
// 3·base, 5·base, ...), at most cap (cap <= 0 means no cap). It grows more
// gently than Exponential: by about 1.618× per retry instead of 2×.
func Fibonacci(base, cap time.Duration) Schedule {
	base, cap = normalize(base, cap)
	return fibonacci{base, cap}
}

func (f fibonacci) Delay(n int, _ time.Duration) time.Duration {
	if f.base == 0 {
		return 0
	}
	limit := int64(f.cap / f.base)
	// The loop stops as soon as the term exceeds cap/base, which happens
	// within 92 steps even with no cap, so the cost is bounded for any n.
	a, b := int64(1), int64(1)
	for i := 0; i < n; i++ {
		next := a + b
		if next < 0 { // saturate instead of wrapping
			next = math.MaxInt64
		}
		a, b = b, next
		if a > limit || a == math.MaxInt64 {
			return f.cap
		}
	}
	return f.base * time.Duration(a)
}

type fullJitter struct{ s Schedule }

// FullJitter draws each delay uniformly from [0, t], where t is what s
// returns: AWS's "full jitter". It spreads contending clients the most and,
// in Brooker's simulation, does the least total work.
func FullJitter(s Schedule) Schedule { return fullJitter{s} }

func (j fullJitter) Delay(n int, prev time.Duration) time.Duration {
	t := j.s.Delay(n, prev)
	if t <= 0 {
		return 0
	}
	return time.Duration(rand.Uint64N(uint64(t) + 1))
}

type equalJitter struct{ s Schedule }

// EqualJitter draws each delay uniformly from [t/2, t], where t is what s
// returns: AWS's "equal jitter". It guarantees at least half the wait.
func EqualJitter(s Schedule) Schedule { return equalJitter{s} }

func (j equalJitter) Delay(n int, prev time.Duration) time.Duration {
	t := j.s.Delay(n, prev)
	if t <= 0 {
		return 0
	}
	half := t / 2
	return half + time.Duration(rand.Uint64N(uint64(t-half)+1))
}

type decorrelated struct{ base, cap time.Duration }

// Decorrelated is AWS's "decorrelated jitter": each delay is drawn uniformly
// from [base, min(cap, 3·prev)], where prev is the previous delay (base for
// the first retry). cap <= 0 means no cap; a cap below base is raised to
// base.
func Decorrelated(base, cap time.Duration) Schedule {
	base, cap = normalize(base, cap)
	return decorrelated{base, cap}
}

func (d decorrelated) Delay(_ int, prev time.Duration) time.Duration {
	hi := d.cap
	if prev <= d.cap/3 {
		hi = 3 * prev
	}
	if hi < d.base {
		hi = d.base
	}
	return d.base + time.Duration(rand.Uint64N(uint64(hi-d.base)+1))
}

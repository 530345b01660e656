package tcpnet

import (
	"math"
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with full jitter: after n
// consecutive failures the next wait is uniform in [0, min(max, base*2^n)].
// Full jitter spreads the reconnects of many nodes that lost the same peer at
// the same moment, instead of having them retry in lock step.
//
// tcpnet keeps this small schedule to itself; the retry package offers
// richer ones for application code.
type backoff struct {
	base, max time.Duration
	failures  int
	// rand returns a uniform value in [0, n). Tests replace it.
	rand func(n int64) int64
}

func newBackoff(base, maxd time.Duration) backoff {
	return backoff{base: base, max: maxd, rand: rand.Int64N}
}

// ceiling is the upper bound of the next wait.
func (b *backoff) ceiling() time.Duration {
	c := b.base
	for i := 0; i < b.failures && c < b.max; i++ {
		// Stopping below max is not enough: with max above half the
		// largest Duration (math.MaxInt64 for "no cap"), doubling would
		// overflow to a negative ceiling and every wait would be zero.
		if c > b.max/2 {
			return b.max
		}
		c *= 2
	}
	return min(c, b.max)
}

// next records a failure and returns how long to wait before trying again.
func (b *backoff) next() time.Duration {
	c := b.ceiling()
	b.failures++
	if c <= 0 {
		return 0
	}
	// The wait is uniform in [0, c], so the draw is over c+1 values,
	// except at the largest Duration, where c+1 would overflow into an
	// invalid argument (a panic); there [0, c) is as good.
	n := int64(c)
	if n < math.MaxInt64 {
		n++
	}
	return time.Duration(b.rand(n))
}

// reset forgets past failures after a success.
func (b *backoff) reset() { b.failures = 0 }

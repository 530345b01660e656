package tcpnet

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestBackoffFullJitterWithinCappedExponential(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := time.Duration(rapid.Int64Range(1, int64(time.Second)).Draw(t, "base"))
		// Up to the largest Duration: a BackoffMax of math.MaxInt64
		// ("no cap") is a plausible setting, and doubling near it must
		// not overflow.
		maxd := time.Duration(rapid.Int64Range(int64(base), math.MaxInt64).Draw(t, "max"))
		seed := rapid.Uint64().Draw(t, "seed")
		b := newBackoff(base, maxd)
		r := rand.New(rand.NewPCG(seed, 0))
		b.rand = r.Int64N
		for n := range rapid.IntRange(1, 100).Draw(t, "failures") {
			// The reference: min(max, base*2^n) computed without overflow.
			want := maxd
			if n < 63 && base <= maxd>>n {
				want = base << n
			}
			require.Equal(t, want, b.ceiling(), "ceiling after %d failures", n)
			d := b.next()
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, want)
		}
		b.reset()
		require.Equal(t, base, b.ceiling())
	})
}

func TestBackoffIsJittered(t *testing.T) {
	// Full jitter spreads waits over the whole range: in 1000 draws at a
	// 1 s ceiling, both the lowest and the highest tenth are hit.
	b := newBackoff(time.Second, time.Second)
	var low, high bool
	for range 1000 {
		d := b.next()
		low = low || d < 100*time.Millisecond
		high = high || d > 900*time.Millisecond
	}
	require.True(t, low && high)
}

func TestBackoffAtTheLargestDuration(t *testing.T) {
	// BackoffBase = BackoffMax = math.MaxInt64 passes Validate. Drawing
	// from [0, max] used to overflow max+1 and panic in the writer
	// goroutine, taking the process down.
	b := newBackoff(math.MaxInt64, math.MaxInt64)
	for range 3 {
		require.GreaterOrEqual(t, b.next(), time.Duration(0))
	}
	// A cap above half the largest Duration used to overflow the doubling
	// into a negative ceiling, and every wait after it was zero: a tight
	// reconnect loop.
	b = newBackoff(time.Nanosecond, math.MaxInt64)
	for range 100 {
		b.next()
	}
	require.Equal(t, time.Duration(math.MaxInt64), b.ceiling())
}

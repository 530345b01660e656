package tcpnet

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestBackoffFullJitterWithinCappedExponential(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := time.Duration(rapid.Int64Range(1, int64(time.Second)).Draw(t, "base"))
		maxd := base * time.Duration(rapid.Int64Range(1, 1<<20).Draw(t, "max multiple"))
		seed := rapid.Uint64().Draw(t, "seed")
		b := newBackoff(base, maxd)
		r := rand.New(rand.NewPCG(seed, 0))
		b.rand = r.Int64N
		for n := range rapid.IntRange(1, 100).Draw(t, "failures") {
			// The reference: min(max, base*2^n) computed without overflow.
			want := maxd
			if n < 62 && base <= maxd>>n {
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

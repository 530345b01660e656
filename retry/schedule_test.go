package retry

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func drawBaseCap(t *rapid.T) (time.Duration, time.Duration) {
	base := time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(t, "base"))
	capd := time.Duration(rapid.OneOf(
		rapid.Int64Range(0, int64(24*time.Hour)),
		rapid.Just(int64(math.MaxInt64)),
	).Draw(t, "cap"))
	return base, capd
}

func drawN(t *rapid.T) int {
	return rapid.OneOf(rapid.IntRange(0, 70), rapid.IntRange(0, 1_000_000)).Draw(t, "n")
}

// effCap is the cap a schedule actually applies after normalize.
func effCap(base, capd time.Duration) time.Duration {
	_, c := normalize(base, capd)
	return c
}

// refExp is min(cap, base·2ⁿ) computed with floats, good enough as an oracle
// away from the exact boundary.
func refExp(base, capd time.Duration, n int) float64 {
	if base == 0 {
		return 0
	}
	return math.Min(float64(capd), float64(base)*math.Pow(2, float64(n)))
}

func TestExponentialMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base, capd := drawBaseCap(t)
		n := drawN(t)
		c := effCap(base, capd)
		got := Exponential(base, capd).Delay(n, 0)
		require.GreaterOrEqual(t, got, time.Duration(0))
		require.LessOrEqual(t, got, c)
		want := refExp(base, c, n)
		require.InEpsilon(t, want+1, float64(got)+1, 1e-9)
	})
}

func TestSchedulesNeverExceedCapOrOverflow(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base, capd := drawBaseCap(t)
		n := drawN(t)
		prev := time.Duration(rapid.Int64Range(0, math.MaxInt64).Draw(t, "prev"))
		c := effCap(base, capd)
		for name, s := range map[string]Schedule{
			"linear":       Linear(base, capd),
			"exponential":  Exponential(base, capd),
			"fibonacci":    Fibonacci(base, capd),
			"full":         FullJitter(Exponential(base, capd)),
			"equal":        EqualJitter(Exponential(base, capd)),
			"decorrelated": Decorrelated(base, capd),
		} {
			d := s.Delay(n, prev)
			require.GreaterOrEqual(t, d, time.Duration(0), name)
			require.LessOrEqual(t, d, c, name)
		}
	})
}

func TestFullJitterBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base, capd := drawBaseCap(t)
		n := drawN(t)
		upper := Exponential(base, capd).Delay(n, 0) // min(cap, base·2ⁿ)
		d := FullJitter(Exponential(base, capd)).Delay(n, 0)
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, upper)
	})
}

func TestEqualJitterBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base, capd := drawBaseCap(t)
		n := drawN(t)
		tt := Exponential(base, capd).Delay(n, 0)
		d := EqualJitter(Exponential(base, capd)).Delay(n, 0)
		require.GreaterOrEqual(t, d, tt/2)
		require.LessOrEqual(t, d, tt)
	})
}

func TestDecorrelatedBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base, capd := drawBaseCap(t)
		c := effCap(base, capd)
		s := Decorrelated(base, capd)
		prev := time.Duration(0)
		steps := rapid.IntRange(1, 50).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			d := s.Delay(i, prev)
			// The upper end is min(cap, 3·prev), but never below base (the
			// first retry has prev = 0).
			hi := c
			if float64(prev)*3 < float64(c) {
				hi = max(3*prev, base)
			}
			require.GreaterOrEqual(t, d, base)
			require.LessOrEqual(t, d, hi)
			prev = d
		}
	})
}

func TestLinearAndFibonacciValues(t *testing.T) {
	ms := time.Millisecond
	lin := Linear(10*ms, 45*ms)
	fib := Fibonacci(10*ms, 0)
	wantLin := []time.Duration{10 * ms, 20 * ms, 30 * ms, 40 * ms, 45 * ms, 45 * ms}
	wantFib := []time.Duration{10 * ms, 10 * ms, 20 * ms, 30 * ms, 50 * ms, 80 * ms}
	for n := range wantLin {
		require.Equal(t, wantLin[n], lin.Delay(n, 0), "linear n=%d", n)
		require.Equal(t, wantFib[n], fib.Delay(n, 0), "fibonacci n=%d", n)
	}
	require.Equal(t, 7*ms, Constant(7*ms).Delay(1_000_000, 0))
	require.Equal(t, time.Duration(0), Constant(-ms).Delay(0, 0))
	require.Equal(t, time.Duration(math.MaxInt64), Fibonacci(time.Nanosecond, 0).Delay(1_000_000, 0))
	require.Equal(t, time.Duration(math.MaxInt64), Exponential(time.Nanosecond, 0).Delay(1_000_000, 0))
	require.Equal(t, time.Duration(math.MaxInt64), Linear(time.Second, 0).Delay(math.MaxInt, 0))
}

// TestFullJitterIsSpread guards against a jitter that is technically in range
// but degenerate (always 0 or always the top).
func TestFullJitterIsSpread(t *testing.T) {
	s := FullJitter(Constant(time.Second))
	var lo, hi int
	for range 1000 {
		if s.Delay(0, 0) < 500*time.Millisecond {
			lo++
		} else {
			hi++
		}
	}
	require.InDelta(t, 500, lo, 100)
	require.InDelta(t, 500, hi, 100)
}

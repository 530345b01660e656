package hashring

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestJumpRange(t *testing.T) {
	require.Equal(t, -1, Jump(1, 0))
	require.Equal(t, -1, JumpString("k", -3))
	require.Equal(t, 0, Jump(12345, 1))
	require.Equal(t, JumpString("abc", 77), JumpBytes([]byte("abc"), 77))
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 1<<20).Draw(t, "buckets")
		b := Jump(rapid.Uint64().Draw(t, "key"), n)
		require.True(t, b >= 0 && b < n)
	})
}

// TestJumpMovement checks the append-only property: growing from n to m
// buckets moves a key only to one of the new buckets, so a key that moves
// never moves between two old ones.
func TestJumpMovement(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.Uint64().Draw(t, "key")
		n := rapid.IntRange(1, 5000).Draw(t, "n")
		m := rapid.IntRange(n, n+100).Draw(t, "m")
		before, after := Jump(key, n), Jump(key, m)
		if before != after {
			require.GreaterOrEqual(t, after, n)
		}
	})
}

// TestJumpFairShare checks that going from n to n+1 buckets moves about
// 1/(n+1) of the keys and that the buckets are balanced.
func TestJumpFairShare(t *testing.T) {
	const keys = 100000
	for _, n := range []int{1, 10, 100} {
		moved := 0
		count := make([]int, n+1)
		for k := range keys {
			h := mix64(uint64(k))
			a, b := Jump(h, n), Jump(h, n+1)
			if a != b {
				moved++
			}
			count[b]++
		}
		frac, want := float64(moved)/keys, 1/float64(n+1)
		require.InDelta(t, want, frac, 4*math.Sqrt(want/keys)+0.01*want, "n=%d", n)
		mean := float64(keys) / float64(n+1)
		for _, c := range count {
			require.InDelta(t, mean, float64(c), 5*math.Sqrt(mean))
		}
	}
}

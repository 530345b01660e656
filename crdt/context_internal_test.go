package crdt

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// outOfOrder returns a context holding dots 2..n+1 of ten replicas, added
// in random order: 10×n out-of-order dots waiting for each replica's
// first dot.
func outOfOrder(n int) context {
	var ds []Dot
	for r := range 10 {
		for i := 2; i <= n+1; i++ {
			ds = append(ds, Dot{ID: ReplicaID("r" + strconv.Itoa(r)), Counter: uint64(i)})
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	var c context
	for _, d := range ds {
		c.add(d)
	}
	return c
}

func TestContextCompacts(t *testing.T) {
	c := outOfOrder(100)
	require.Len(t, c.cloud(), 1000)
	require.Empty(t, c.vv())
	var first context
	for r := range 10 {
		first.add(Dot{ID: ReplicaID("r" + strconv.Itoa(r)), Counter: 1})
	}
	c.merge(&first)
	require.Empty(t, c.cloud())
	require.Len(t, c.vv(), 10)
	for _, d := range c.vv() {
		require.Equal(t, uint64(101), d.Counter)
	}
}

// TestPairContextMatchesAdd checks the shortcut Add uses for its delta's
// context against the general insertion it replaces: the same vector and
// the same cloud, each capped so that growing it copies.
func TestPairContextMatchesAdd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dot := func(label string) Dot {
			return Dot{
				ID:      ReplicaID(rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, label+"-id")),
				Counter: rapid.Uint64Range(0, 4).Draw(t, label+"-counter"),
			}
		}
		a, b := dot("a"), dot("b")
		if b.Counter == 0 || a == b {
			t.Skip("b must be a dot distinct from a")
		}
		var want ctxBody
		want.add(a)
		want.add(b)
		var buf [2]Dot
		c := pairContext(&buf, a, b)
		got := c.body()
		require.Equal(t, want.vv, got.vv)
		require.Equal(t, want.cloud, got.cloud)
		require.Equal(t, len(got.vv), cap(got.vv))
		require.Equal(t, len(got.cloud), cap(got.cloud))
	})
}

// BenchmarkContextCompact merges the missing first dots into a context
// with 1,000 out-of-order dots, which compacts all of them.
func BenchmarkContextCompact(b *testing.B) {
	var first context
	for r := range 10 {
		first.add(Dot{ID: ReplicaID("r" + strconv.Itoa(r)), Counter: 1})
	}
	base := outOfOrder(100)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := base.clone()
		b.StartTimer()
		c.merge(&first)
	}
}

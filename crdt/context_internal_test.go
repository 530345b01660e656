package crdt

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
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
	require.Len(t, c.cloud, 1000)
	require.Empty(t, c.vv)
	var first context
	for r := range 10 {
		first.add(Dot{ID: ReplicaID("r" + strconv.Itoa(r)), Counter: 1})
	}
	c.merge(&first)
	require.Empty(t, c.cloud)
	require.Len(t, c.vv, 10)
	for _, d := range c.vv {
		require.Equal(t, uint64(101), d.Counter)
	}
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

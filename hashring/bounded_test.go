package hashring

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestBoundedConfig(t *testing.T) {
	for _, cfg := range []BoundedConfig{{Epsilon: -1}, {Epsilon: math.NaN()}, {MaxLoad: -1}, {Ring: RingConfig{VirtualNodes: -5}}} {
		_, err := NewBounded(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
	}
	b, err := NewBounded(BoundedConfig{})
	require.NoError(t, err)
	_, err = b.Acquire("k")
	require.ErrorIs(t, err, ErrNoNodes)
	require.ErrorIs(t, b.Release("x"), ErrUnknownNode)
}

// TestBoundedAllFull fills every node to MaxLoad: the next Acquire returns
// ErrAllFull (after one lap of the ring) instead of looping or exceeding.
func TestBoundedAllFull(t *testing.T) {
	b, err := NewBounded(BoundedConfig{MaxLoad: 2, Ring: RingConfig{VirtualNodes: 50}})
	require.NoError(t, err)
	require.NoError(t, b.Set(nodeNames("n", 3)...))
	for i := range 6 {
		_, err := b.Acquire(fmt.Sprint(i))
		require.NoError(t, err)
	}
	_, err = b.Acquire("one-too-many")
	require.ErrorIs(t, err, ErrAllFull)
	require.Equal(t, int64(6), b.Total())
	require.NoError(t, b.Release("n-1"))
	n, err := b.Acquire("again")
	require.NoError(t, err)
	require.Equal(t, "n-1", n)
	require.ErrorIs(t, b.Release("nobody"), ErrUnknownNode)
}

// TestBoundedKeepsRingOwnerWhenLight checks that, while no node is near its
// bound, Acquire returns the ring owner.
func TestBoundedKeepsRingOwnerWhenLight(t *testing.T) {
	b, _ := NewBounded(BoundedConfig{Epsilon: 100})
	var r Ring
	nodes := nodeNames("n", 5)
	require.NoError(t, b.Set(nodes...))
	require.NoError(t, r.Set(nodes...))
	for _, k := range testKeys(20) {
		got, err := b.Acquire(k)
		require.NoError(t, err)
		require.Equal(t, mustGet(t, &r, k), got)
	}
}

// TestBoundedModel runs random acquires, releases and membership changes
// against a model of the loads. Every Acquire must leave its node at or
// under the bound computed with the new total, and while nothing has been
// released every node must stay under the current bound.
func TestBoundedModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		eps := rapid.SampledFrom([]float64{0.01, 0.1, 0.25, 1}).Draw(t, "epsilon")
		maxLoad := rapid.SampledFrom([]int64{0, 0, 3, 10}).Draw(t, "maxLoad")
		b, err := NewBounded(BoundedConfig{Epsilon: eps, MaxLoad: maxLoad, Ring: RingConfig{VirtualNodes: 8}})
		require.NoError(t, err)
		weights := map[string]float64{}
		loads := map[string]int64{}
		var total int64
		released := false
		id := rapid.Custom(func(t *rapid.T) string { return fmt.Sprintf("n%d", rapid.IntRange(0, 7).Draw(t, "n")) })
		bound := func(node string, m int64) int64 {
			var w float64
			for _, x := range weights {
				w += x
			}
			return boundOf((1+eps)*float64(m)/w, weights[node], maxLoad)
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				n := id.Draw(t, "id")
				w := rapid.SampledFrom([]float64{1, 2}).Draw(t, "weight")
				require.NoError(t, b.Add(n, w))
				weights[n] = w
				released = true // a new member lowers everyone's bound
			},
			"remove": func(t *rapid.T) {
				n := id.Draw(t, "id")
				_, ok := weights[n]
				require.Equal(t, ok, b.Remove(n))
				delete(weights, n)
			},
			"acquire": func(t *rapid.T) {
				key := rapid.String().Draw(t, "key")
				node, err := b.Acquire(key)
				if len(weights) == 0 {
					require.ErrorIs(t, err, ErrNoNodes)
					return
				}
				if err != nil {
					require.ErrorIs(t, err, ErrAllFull)
					require.Positive(t, maxLoad)
					for n := range weights {
						require.GreaterOrEqual(t, loads[n], bound(n, total+1), "ErrAllFull while %s has room", n)
					}
					return
				}
				total++
				loads[node]++
				require.LessOrEqual(t, loads[node], bound(node, total))
			},
			"release": func(t *rapid.T) {
				var held []string
				for n, l := range loads {
					if l > 0 {
						held = append(held, n)
					}
				}
				if len(held) == 0 {
					t.Skip("nothing held")
				}
				n := rapid.SampledFrom(held).Draw(t, "node")
				require.NoError(t, b.Release(n))
				loads[n]--
				total--
				released = true
			},
			"": func(t *rapid.T) {
				require.Equal(t, total, b.Total())
				for n, l := range loads {
					require.Equal(t, l, b.Load(n), "load of %s", n)
					if _, member := weights[n]; member && !released {
						require.LessOrEqual(t, l, bound(n, total))
					}
				}
			},
		})
	})
}

// TestBoundedConcurrent acquires and releases from several goroutines while
// membership changes; loads must return to zero. Meaningful under -race.
func TestBoundedConcurrent(t *testing.T) {
	b, _ := NewBounded(BoundedConfig{Ring: RingConfig{VirtualNodes: 20}})
	require.NoError(t, b.Set(nodeNames("n", 4)...))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				n, err := b.Acquire(fmt.Sprint(g, i))
				if err != nil {
					t.Error(err)
					return
				}
				if err := b.Release(n); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		require.NoError(t, b.Add("extra", 1))
		b.Remove("extra")
	}
	wg.Wait()
	require.Zero(t, b.Total())
	for _, n := range b.Nodes() {
		require.Zero(t, b.Load(n.ID))
	}
}

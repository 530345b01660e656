package hashring

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// refHRW is the reference rendezvous: score every node with the weighted
// formula (even when weights are equal) and sort, ties to the smaller ID.
func refHRW(nodes []Node, h uint64) []string {
	type scored struct {
		id    string
		score float64
	}
	var all []scored
	for _, n := range nodes {
		x := Hash(n.ID)
		hi, lo := bits.Mul64(h^x, mix64(x)|1)
		u := (float64((hi^lo)>>11) + 0.5) / (1 << 53)
		all = append(all, scored{n.ID, weightOf(n.Weight) / -math.Log(u)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = s.id
	}
	return out
}

func TestRendezvousEmptyAndInvalid(t *testing.T) {
	var r Rendezvous
	_, err := r.Get("k")
	require.ErrorIs(t, err, ErrNoNodes)
	require.Empty(t, r.GetN("k", 2))
	require.ErrorIs(t, r.Add("", 1), ErrInvalidNode)
	require.False(t, r.Remove("a"))
	require.NoError(t, r.Add("a", 1))
	require.True(t, r.Remove("a"))
	require.Empty(t, r.Nodes())
}

// TestRendezvousModel checks Get and GetN against the reference, for equal
// and for unequal weights.
func TestRendezvousModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		weights := []float64{1}
		if rapid.Bool().Draw(t, "weighted") {
			weights = []float64{0.5, 1, 4}
		}
		nodes := drawNodes(t, 1, 30, weights, "nodes")
		var r Rendezvous
		require.NoError(t, r.Set(rapid.Permutation(nodes).Draw(t, "order")...))
		h := rapid.Uint64().Draw(t, "hash")
		want := refHRW(nodes, h)
		got, err := r.GetHash(h)
		require.NoError(t, err)
		require.Equal(t, want[0], got)
		n := rapid.IntRange(1, len(nodes)+1).Draw(t, "n")
		require.Equal(t, want[:min(n, len(nodes))], r.AppendNHash(nil, h, n))
	})
}

func TestRendezvousMovement(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := drawNodes(t, 2, 20, []float64{1, 2}, "nodes")
		var r Rendezvous
		require.NoError(t, r.Set(nodes...))
		keys := rapid.SliceOfN(rapid.String(), 50, 50).Draw(t, "keys")
		before := make([]string, len(keys))
		for i, k := range keys {
			before[i] = mustGet(t, &r, k)
		}
		gone := rapid.SampledFrom(nodes).Draw(t, "leaver").ID
		require.True(t, r.Remove(gone))
		require.NoError(t, r.Add("joiner", 1))
		for i, k := range keys {
			if after := mustGet(t, &r, k); after != before[i] {
				require.True(t, before[i] == gone || after == "joiner", "%q moved %s -> %s", k, before[i], after)
			}
		}
	})
}

// TestRendezvousBalance samples keys: shares follow weights and adding a
// node moves about 1/(n+1) of the keys.
func TestRendezvousBalance(t *testing.T) {
	var r Rendezvous
	require.NoError(t, r.Set(Node{ID: "a", Weight: 1}, Node{ID: "b", Weight: 2}, Node{ID: "c", Weight: 5}))
	keys := testKeys(40000)
	count := map[string]int{}
	for _, k := range keys {
		count[mustGet(t, &r, k)]++
	}
	require.InDelta(t, 1.0/8, float64(count["a"])/float64(len(keys)), 0.01)
	require.InDelta(t, 5.0/8, float64(count["c"])/float64(len(keys)), 0.01)

	for _, n := range []int{1, 9, 49} {
		var r Rendezvous
		require.NoError(t, r.Set(nodeNames("node", n)...))
		before := make([]string, len(keys))
		for i, k := range keys {
			before[i] = mustGet(t, &r, k)
		}
		require.NoError(t, r.Add("joiner", 1))
		moved := 0
		for i, k := range keys {
			if mustGet(t, &r, k) != before[i] {
				moved++
			}
		}
		frac, want := float64(moved)/float64(len(keys)), 1/float64(n+1)
		t.Logf("rendezvous n=%d: moved %.4f, ideal %.4f", n, frac, want)
		require.InDelta(t, want, frac, 0.1*want+4*math.Sqrt(want/float64(len(keys))))
	}
}

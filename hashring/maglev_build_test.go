package hashring

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// refBuildMaglev is the textbook Maglev fill: every claim walks the node's
// preference list until a free slot. buildMaglev must fill the same table.
func refBuildMaglev(nodes []Node, m int) []uint32 {
	mm := uint64(m)
	n := len(nodes)
	next, skip := make([]uint64, n), make([]uint64, n)
	credit, share := make([]float64, n), make([]float64, n)
	maxW := 0.0
	for _, nd := range nodes {
		maxW = max(maxW, nd.Weight)
	}
	for i, nd := range nodes {
		h := Hash(nd.ID)
		next[i], skip[i] = h%mm, mix64(h)%(mm-1)+1
		share[i] = nd.Weight / maxW
	}
	table := make([]uint32, m)
	taken := make([]bool, m)
	left := m
	for {
		for i := range nodes {
			credit[i] += share[i]
			for credit[i] >= 1 {
				credit[i]--
				for taken[next[i]] {
					next[i] = (next[i] + skip[i]) % mm
				}
				taken[next[i]], table[next[i]] = true, uint32(i)
				next[i] = (next[i] + skip[i]) % mm
				if left--; left == 0 {
					return table
				}
			}
		}
	}
}

func TestMaglevBuildMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := drawNodes(t, 1, 40, []float64{1, 1, 2, 0.3}, "nodes")
		sorted, err := normalizeNodes(nodes)
		require.NoError(t, err)
		m := rapid.SampledFrom([]int{2, 3, 101, 1009, 4099}).Draw(t, "m")
		require.Equal(t, refBuildMaglev(sorted, m), buildMaglev(sorted, m))
	})
	for _, n := range []int{1, 10, 300} {
		sorted, err := normalizeNodes(nodeNames("node", n))
		require.NoError(t, err)
		require.Equal(t, refBuildMaglev(sorted, 65537), buildMaglev(sorted, 65537), "n=%d", n)
	}
	// The benchmarked build: 1,000 nodes at their default table size.
	sorted, err := normalizeNodes(nodeNames("node", 1000))
	require.NoError(t, err)
	m := MaglevConfig{}.tableSize(1000)
	require.Equal(t, refBuildMaglev(sorted, m), buildMaglev(sorted, m))
}

func TestModReducer(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := rapid.Uint64Range(2, 1<<31).Draw(t, "m")
		x := rapid.Uint64Range(0, 1<<62-1).Draw(t, "x")
		require.Equal(t, x%m, newModReducer(m).mod(x))
	})
}

func TestAddMod(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := rapid.Uint32Range(2, 1<<31).Draw(t, "m")
		c := rapid.Uint32Range(0, m-1).Draw(t, "c")
		sk := rapid.Uint32Range(0, m-1).Draw(t, "sk")
		require.Equal(t, uint32((uint64(c)+uint64(sk))%uint64(m)), addModNeg(c, sk-m, m))
	})
	var top uint32 = 1<<31 - 1
	require.Equal(t, uint32(1<<31-2), addModNeg(top, top-(1<<31), 1<<31))
}

func TestInverse(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := rapid.SampledFrom([]uint64{2, 3, 65537, 131101, 262147, 2147483647}).Draw(t, "m")
		skip := rapid.Uint32Range(1, uint32(m-1)).Draw(t, "skip")
		inv := inverse(skip, m)
		require.Less(t, inv, m)
		require.Equal(t, uint64(1), uint64(skip)*inv%m)
	})
}

package hashring

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// nodeNames returns n node IDs with a prefix.
func nodeNames(prefix string, n int) []Node {
	out := make([]Node, n)
	for i := range out {
		out[i] = Node{ID: fmt.Sprintf("%s-%d", prefix, i)}
	}
	return out
}

// testKeys returns n short string keys in the style of the benchmarks.
func testKeys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user:%d", i*7919)
	}
	return out
}

// drawNodes draws a set of distinct node IDs with weights from weights.
func drawNodes(t *rapid.T, minN, maxN int, weights []float64, label string) []Node {
	ids := rapid.SliceOfNDistinct(rapid.IntRange(0, 1000), minN, maxN, rapid.ID[int]).Draw(t, label)
	out := make([]Node, len(ids))
	for i, id := range ids {
		out[i] = Node{ID: fmt.Sprintf("node-%d", id), Weight: rapid.SampledFrom(weights).Draw(t, fmt.Sprintf("%s-weight-%d", label, i))}
	}
	return out
}

// lookup is the interface the movement and determinism properties share.
type lookup interface {
	Get(key string) (string, error)
}

func mustGet(t require.TestingT, l lookup, key string) string {
	n, err := l.Get(key)
	require.NoError(t, err)
	return n
}

// peakToMean returns the largest share times the number of nodes.
func peakToMean(shares map[string]float64) float64 {
	peak := 0.0
	for _, s := range shares {
		peak = max(peak, s)
	}
	return peak * float64(len(shares))
}

func TestHelpersSanity(t *testing.T) {
	require.Len(t, nodeNames("a", 3), 3)
	require.InDelta(t, 1.5, peakToMean(map[string]float64{"a": 0.75, "b": 0.25}), 1e-12)
}

package hashring

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestMaglevConfig(t *testing.T) {
	_, err := NewMaglev(MaglevConfig{TableSize: 100})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = NewMaglev(MaglevConfig{TableSize: 1})
	require.ErrorIs(t, err, ErrInvalidConfig)
	m, err := NewMaglev(MaglevConfig{TableSize: 101})
	require.NoError(t, err)
	_, err = m.Get("k")
	require.ErrorIs(t, err, ErrNoNodes)
	require.Equal(t, 65537, MaglevConfig{}.tableSize(10))
	require.Equal(t, 65537, MaglevConfig{}.tableSize(655))
	big := MaglevConfig{}.tableSize(1000)
	require.True(t, isPrime(uint64(big)) && big >= 100000 && big < 1<<18, "got %d", big)
	require.True(t, isPrime(65537) && !isPrime(65536) && !isPrime(1) && isPrime(2))
}

// TestMaglevBalance asserts the default table's peak-to-mean share.
func TestMaglevBalance(t *testing.T) {
	for _, n := range []int{10, 100, 1000} {
		var m Maglev
		require.NoError(t, m.Set(nodeNames("node", n)...))
		peak := peakToMean(m.Shares())
		t.Logf("maglev n=%d M=%d: peak-to-mean %.5f", n, m.TableSize(), peak)
		require.LessOrEqual(t, peak, 1.01)
		require.GreaterOrEqual(t, m.TableSize(), 100*n)
	}
}

func TestMaglevWeights(t *testing.T) {
	var m Maglev
	require.NoError(t, m.Set(Node{ID: "a", Weight: 1}, Node{ID: "b", Weight: 3}))
	require.InDelta(t, 0.75, m.Shares()["b"], 0.001)
}

func TestMaglevOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := drawNodes(t, 1, 10, []float64{1, 2}, "nodes")
		a, _ := NewMaglev(MaglevConfig{TableSize: 1009})
		b, _ := NewMaglev(MaglevConfig{TableSize: 1009})
		require.NoError(t, a.Set(nodes...))
		for _, n := range rapid.Permutation(nodes).Draw(t, "order") {
			require.NoError(t, b.Add(n.ID, n.Weight))
		}
		require.Equal(t, a.snap.Load(), b.snap.Load())
	})
}

// TestMaglevDisruption removes one node and counts table slots that moved
// between two surviving nodes: at the default table size, at most 1%. Each
// case builds two 65537-entry tables, so it sweeps chosen fleet sizes
// instead of drawing a hundred.
func TestMaglevDisruption(t *testing.T) {
	worst := 0.0
	for _, n := range []int{2, 3, 5, 10, 20, 50, 100, 200} {
		for set := range 2 {
			nodes := nodeNames(fmt.Sprintf("s%d", set), n)
			var m Maglev
			require.NoError(t, m.Set(nodes...))
			before := m.snap.Load()
			gone := nodes[(n*7+set)%n].ID
			require.True(t, m.Remove(gone))
			after := m.snap.Load()
			require.Len(t, after.table, len(before.table))
			extra := 0
			for i, o := range before.table {
				if was := before.nodes[o].ID; was != gone && was != after.nodes[after.table[i]].ID {
					extra++
				}
			}
			frac := float64(extra) / float64(len(before.table))
			worst = max(worst, frac)
			require.LessOrEqual(t, frac, 0.01, "n=%d: %.4f of keys moved between survivors", n, frac)
		}
	}
	t.Logf("worst extra movement between survivors: %.4f%%", 100*worst)
}

// TestMaglevBuildTime is a coarse guard; the figure that counts comes from
// BenchmarkMaglevBuild. Under -race and on a shared machine it only checks
// that the build is not pathologically slow.
func TestMaglevBuildTime(t *testing.T) {
	start := time.Now()
	var m Maglev
	require.NoError(t, m.Set(nodeNames("node", 1000)...))
	require.Less(t, time.Since(start), 2*time.Second)
}

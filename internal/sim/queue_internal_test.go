package sim

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestQueueOrder checks the heap against a sorted slice: pops come out in
// (time, seq) order whatever the pushes and removals.
func TestQueueOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q queue
		var ref []item
		var seq uint64
		t.Repeat(map[string]func(*rapid.T){
			"": func(t *rapid.T) {
				require.Equal(t, len(ref), q.len())
				if len(ref) > 0 {
					require.Equal(t, slices.MinFunc(ref, cmpItem), q.items[0])
				}
			},
			"push": func(t *rapid.T) {
				seq++
				it := item{at: rapid.Int64Range(0, 20).Draw(t, "at"), seq: seq, slot: int32(seq)}
				q.push(it)
				ref = append(ref, it)
			},
			"pop": func(t *rapid.T) {
				if len(ref) == 0 {
					t.Skip("empty")
				}
				got := q.pop()
				want := slices.MinFunc(ref, cmpItem)
				require.Equal(t, want, got)
				ref = slices.DeleteFunc(ref, func(it item) bool { return it == want })
			},
			"removeAt": func(t *rapid.T) {
				if len(ref) == 0 {
					t.Skip("empty")
				}
				got := q.removeAt(rapid.IntRange(0, q.len()-1).Draw(t, "pos"))
				require.Contains(t, ref, got)
				ref = slices.DeleteFunc(ref, func(it item) bool { return it == got })
			},
			"filter": func(t *rapid.T) {
				mod := uint64(rapid.IntRange(2, 4).Draw(t, "mod"))
				keep := func(it item) bool { return it.seq%mod != 0 }
				q.items = slices.DeleteFunc(q.items, func(it item) bool { return !keep(it) })
				q.heapify()
				ref = slices.DeleteFunc(ref, func(it item) bool { return !keep(it) })
			},
		})
	})
}

func cmpItem(a, b item) int {
	if a.less(b) {
		return -1
	}
	if b.less(a) {
		return 1
	}
	return 0
}

// BenchmarkQueue measures a pop and a push on a heap holding 100,000 events,
// the steady state of the scale test.
func BenchmarkQueue(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var q queue
	var seq uint64
	for range 100_000 {
		seq++
		q.push(item{at: r.Int64N(10_000_000), seq: seq})
	}
	b.ReportAllocs()
	for b.Loop() {
		it := q.pop()
		seq++
		q.push(item{at: it.at + 1_000_000 + r.Int64N(9_000_000), seq: seq})
	}
}

package crdt

import (
	"maps"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestTableMatchesMap runs random puts, deletes, clones and reservations
// on a table and on a Go map, and requires the same contents after every
// step. Keys come from a range small enough to collide, delete and come
// back, so tombstones are reused and rehashed away.
func TestTableMatchesMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var tb table[int, uint64]
		model := map[int]uint64{}
		auxOf := map[int]uint32{}
		keys := rapid.IntRange(0, 3*rapid.IntRange(1, 200).Draw(t, "key range"))
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k, v := keys.Draw(t, "key"), rapid.Uint64().Draw(t, "value")
				aux := rapid.Uint32().Draw(t, "aux")
				oldAux, old, had := tb.put(k, aux, v)
				mv, ok := model[k]
				require.Equal(t, ok, had, "put reports whether the key was there")
				if ok {
					require.Equal(t, mv, old)
					require.Equal(t, auxOf[k], oldAux)
				}
				model[k], auxOf[k] = v, aux
			},
			"del": func(t *rapid.T) {
				k := keys.Draw(t, "key")
				tb.del(k)
				delete(model, k)
			},
			"clone": func(t *rapid.T) { tb = tb.clone() },
			"reserve": func(t *rapid.T) {
				tb.reserve(rapid.IntRange(0, 100).Draw(t, "room"))
			},
			"": func(t *rapid.T) {
				require.Equal(t, len(model), tb.len())
				got := map[int]uint64{}
				for s := range tb.all {
					got[s.key] = s.val
					require.Equal(t, auxOf[s.key], s.aux)
				}
				require.True(t, maps.Equal(model, got), "contents differ")
				for k, v := range model {
					s := tb.get(k)
					require.NotNil(t, s, "key %d lost", k)
					require.Equal(t, v, s.val)
				}
				require.LessOrEqual(t, tb.used, len(tb.slots)-len(tb.slots)/8, "over 7/8 full")
			},
		})
	})
}

// meanProbe returns the mean distance of the table's entries from their
// home slots: the extra slots a lookup walks.
func meanProbe[K comparable, V any](t *table[K, V]) float64 {
	total := 0
	for i := range t.slots {
		if s := &t.slots[i]; s.h > slotDeleted {
			total += (i - t.home(s.h) + len(t.slots)) % len(t.slots)
		}
	}
	return float64(total) / float64(max(t.n, 1))
}

// TestTableCopyInIterationOrder copies one table's entries into another
// that already holds as many, in the source's iteration order, as merges
// and user code copying one set into another do, and stops just before
// the destination would grow. Were the order the same in every table (by
// hash), the copies would arrive sorted by home slot and pile into one
// region, in runs thousands of slots long; each table's own salt spreads
// them.
func TestTableCopyInIterationOrder(t *testing.T) {
	const n = 50_000
	src, dst := newTable[string, uint64](n), newTable[string, uint64](n+n/7)
	for i := range n {
		src.put("s"+strconv.Itoa(i), 0, uint64(i))
		dst.put("d"+strconv.Itoa(i), 0, uint64(i))
	}
	for s := range src.all {
		if dst.full(1) {
			break
		}
		dst.putHashed(s.key, s.h, s.aux, s.val)
	}
	require.Less(t, meanProbe(&dst), 8.0)
	clone := dst.clone()
	require.Less(t, meanProbe(&clone), 8.0)
}

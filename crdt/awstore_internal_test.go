package crdt

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// reference returns x's state as the generic kernel holds it: a dotMap of
// dot sets, whose join is the one every other map type uses.
func reference(x *AWSet[int]) causal[dotMap[int, dotSet]] {
	var m dotMap[int, dotSet]
	for k, s := range x.c.store.all {
		m.set(k, s)
	}
	return causal[dotMap[int, dotSet]]{store: m, ctx: x.c.ctx.clone()}
}

// TestAWStoreJoinMatchesDotMap replays random histories of add-wins sets
// large enough for the element table's own paths (growth, tombstones, the
// union and delta shortcuts, replicas interned in different orders,
// elements with several dots) and checks after every merge that the
// result encodes exactly like the generic dotMap join of the same states.
func TestAWStoreJoinMatchesDotMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []ReplicaID{"a", "b", "c"}
		n := rapid.IntRange(1, 900).Draw(t, "elements")
		reps := []*AWSet[int]{new(AWSet[int]), new(AWSet[int]), new(AWSet[int])}
		for i := range rapid.IntRange(0, n).Draw(t, "preloaded") {
			reps[i%3].Add(ids[i%3], i)
		}
		merge := func(x, o *AWSet[int]) {
			ref := reference(x)
			oref := reference(o)
			ref.merge(&oref)
			x.Merge(o)
			want, err := appendCausal(nil, tagAWSet, &ref)
			require.NoError(t, err)
			got, err := x.AppendBinary(nil)
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
		var deltas []*AWSet[int]
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			r := rapid.IntRange(0, 2).Draw(t, "replica")
			e := rapid.IntRange(0, n).Draw(t, "element")
			switch rapid.IntRange(0, 5).Draw(t, "action") {
			case 0:
				deltas = append(deltas, reps[r].Add(ids[r], e))
			case 1:
				deltas = append(deltas, reps[r].Remove(e))
			case 2:
				if len(deltas) > 0 {
					merge(reps[r], deltas[rapid.IntRange(0, len(deltas)-1).Draw(t, "delta")])
				}
			case 3:
				reps[r] = reps[r].Clone()
			case 4:
				// A delta interval: several deltas joined.
				if len(deltas) > 1 {
					i := rapid.IntRange(0, len(deltas)-2).Draw(t, "from")
					d := deltas[i].Clone()
					merge(d, deltas[i+1])
					merge(reps[r], d)
				}
			default:
				merge(reps[r], reps[rapid.IntRange(0, 2).Draw(t, "from")])
			}
		}
	})
}

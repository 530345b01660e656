package crdt

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestJoinShortcutsMatchFullJoin replays random histories of add-wins sets
// large enough for the join shortcuts to apply (a store over 16 times the
// delta check's limit, replicas that share no event) and checks after
// every merge that the shortcut result encodes exactly like the result of
// the full join with the shortcuts off.
func TestJoinShortcutsMatchFullJoin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []ReplicaID{"a", "b", "c"}
		n := rapid.IntRange(200, 260).Draw(t, "base elements")
		var base AWSet[int]
		for e := range n {
			base.Add("a", e)
		}
		reps := []*AWSet[int]{base.Clone(), base.Clone(), base.Clone()}
		if rapid.Bool().Draw(t, "independent third replica") {
			// Its own writer, overlapping keys, no shared event.
			reps[2] = new(AWSet[int])
			for e := n / 2; e < n/2+n; e++ {
				reps[2].Add("c", e)
			}
		}
		merge := func(x, o *AWSet[int]) {
			want := x.Clone()
			joinShortcuts = false
			want.Merge(o)
			joinShortcuts = true
			x.Merge(o)
			wb, err := want.MarshalBinary()
			require.NoError(t, err)
			gb, err := x.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, wb, gb)
		}
		defer func() { joinShortcuts = true }()
		var deltas []*AWSet[int]
		for range rapid.IntRange(1, 25).Draw(t, "steps") {
			r := rapid.IntRange(0, 2).Draw(t, "replica")
			e := rapid.IntRange(0, 2*n).Draw(t, "element")
			switch rapid.IntRange(0, 3).Draw(t, "action") {
			case 0:
				deltas = append(deltas, reps[r].Add(ids[r], e))
			case 1:
				deltas = append(deltas, reps[r].Remove(e))
			case 2:
				if len(deltas) > 0 {
					merge(reps[r], deltas[rapid.IntRange(0, len(deltas)-1).Draw(t, "delta")])
				}
			default:
				merge(reps[r], reps[rapid.IntRange(0, 2).Draw(t, "from")])
			}
		}
	})
}

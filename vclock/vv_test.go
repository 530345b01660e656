package vclock

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestVersionVectorZeroValue(t *testing.T) {
	var v VersionVector
	require.Equal(t, 0, v.Len())
	require.Equal(t, uint64(0), v.Get("a"))
	require.Equal(t, Equal, v.Compare(VersionVector{}))
	require.True(t, v.Descends(VersionVector{}))
	require.True(t, v.Contains(Dot{ID: "a"}))
	require.False(t, v.Contains(Dot{ID: "a", Counter: 1}))
	require.Equal(t, "{}", v.String())
	require.Equal(t, Dot{ID: "a", Counter: 1}, v.Next("a"))
	require.Equal(t, Dot{ID: "a", Counter: 1}, v.Increment("a"))
	require.Equal(t, Dot{ID: "a", Counter: 2}, v.Increment("a"))
	require.Equal(t, "{a:2}", v.String())
}

func TestVersionVectorCompareTable(t *testing.T) {
	vv := func(ds ...Dot) VersionVector { return NewVersionVector(ds...) }
	a1, a2, b1, c1 := Dot{"a", 1}, Dot{"a", 2}, Dot{"b", 1}, Dot{"c", 1}
	for _, tc := range []struct {
		name string
		x, y VersionVector
		want Ordering
	}{
		{"empty", vv(), vv(), Equal},
		{"empty before", vv(), vv(a1), Before},
		{"after", vv(a2), vv(a1), After},
		{"same ids concurrent", vv(a2, b1), vv(a1, Dot{"b", 2}), Concurrent},
		{"disjoint ids", vv(a1), vv(b1), Concurrent},
		{"superset ids", vv(a1, b1, c1), vv(a1, c1), After},
		{"subset ids", vv(b1), vv(a1, b1, c1), Before},
		{"extra id but behind", vv(a1, c1), vv(a2), Concurrent},
		{"equal", vv(a2, b1), vv(b1, a2), Equal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.x.Compare(tc.y))
			require.Equal(t, tc.want, toMap(tc.x).compare(toMap(tc.y)))
			require.Equal(t, tc.want == After || tc.want == Equal, tc.x.Descends(tc.y))
		})
	}
}

func TestVersionVectorSetAndSubtract(t *testing.T) {
	v := NewVersionVector(Dot{"b", 3}, Dot{"a", 1}, Dot{"b", 2}, Dot{"z", 0})
	require.Equal(t, "{a:1 b:3}", v.String())
	v.Set("a", 0)
	v.Set("c", 7)
	require.Equal(t, "{b:3 c:7}", v.String())
	got := v.Subtract([]Dot{{"b", 3}, {"b", 4}, {"a", 1}, {"c", 7}})
	require.Equal(t, []Dot{{"b", 4}, {"a", 1}}, got)
}

// TestVersionVectorCompareMatchesHistories checks Compare against the
// inclusion order of explicit causal histories, for every pair of states
// reached by a random execution. This is the property that catches
// comparison bugs like the one GoVector once shipped.
func TestVersionVectorCompareMatchesHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snaps := genHistories(t)
		for _, x := range snaps {
			for _, y := range snaps {
				want := x.hist.order(y.hist)
				if got := x.vv.Compare(y.vv); got != want {
					t.Fatalf("Compare(%v, %v) = %v, histories say %v", x.vv, y.vv, got, want)
				}
				if got := x.vv.Descends(y.vv); got != y.hist.subset(x.hist) {
					t.Fatalf("Descends(%v, %v) = %v", x.vv, y.vv, got)
				}
			}
		}
		// Merge is the union of histories.
		i := rapid.IntRange(0, len(snaps)-1).Draw(t, "i")
		j := rapid.IntRange(0, len(snaps)-1).Draw(t, "j")
		m := snaps[i].vv.Clone()
		m.Merge(snaps[j].vv)
		u := snaps[i].hist.union(snaps[j].hist)
		for d := range m.All() {
			for c := uint64(1); c <= d.Counter; c++ {
				require.True(t, u[Dot{d.ID, c}], "merge invented %v", Dot{d.ID, c})
			}
		}
		for d := range u {
			require.True(t, m.Contains(d), "merge lost %v", d)
		}
	})
}

// TestVersionVectorLaws checks the partial-order and join-semilattice laws
// on arbitrary vectors.
func TestVersionVectorLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := genVector().Draw(t, "a")
		b := genVector().Draw(t, "b")
		c := genVector().Draw(t, "c")
		merge := func(x, y VersionVector) VersionVector {
			z := x.Clone()
			z.Merge(y)
			return z
		}
		le := func(x, y VersionVector) bool { o := x.Compare(y); return o == Before || o == Equal }

		// Partial order: reflexive, antisymmetric, transitive; Compare is
		// consistent in both directions and with Descends and the oracle.
		require.Equal(t, Equal, a.Compare(a))
		if le(a, b) && le(b, a) {
			require.True(t, a.Equal(b))
		}
		if le(a, b) && le(b, c) {
			require.True(t, le(a, c))
		}
		ab := a.Compare(b)
		require.Equal(t, ab, toMap(a).compare(toMap(b)))
		switch ab {
		case Before, After, Equal:
			require.Equal(t, -ab, b.Compare(a))
		default:
			require.Equal(t, Concurrent, b.Compare(a))
		}
		require.Equal(t, ab == After || ab == Equal, a.Descends(b))
		require.Equal(t, ab == Equal, a.Equal(b))

		// Merge: commutative, associative, idempotent, an upper bound, and
		// equal to the map oracle's merge.
		require.True(t, merge(a, b).Equal(merge(b, a)))
		require.True(t, merge(merge(a, b), c).Equal(merge(a, merge(b, c))))
		require.True(t, merge(a, a).Equal(a))
		m := merge(a, b)
		require.True(t, m.Descends(a) && m.Descends(b))
		om := toMap(a)
		om.merge(toMap(b))
		require.True(t, m.Equal(om.toVV()))
		// Least: any upper bound of a and b descends their merge.
		if c.Descends(a) && c.Descends(b) {
			require.True(t, c.Descends(m))
		}
	})
}

// TestVersionVectorModel runs random operations on a VersionVector and the
// map oracle side by side, checking after every step that they agree.
func TestVersionVectorModel(t *testing.T) {
	ids := replicaIDs(6)
	rapid.Check(t, func(t *rapid.T) {
		var v VersionVector
		m := mapVV{}
		t.Repeat(map[string]func(*rapid.T){
			"increment": func(t *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(t, "id")
				d := v.Increment(id)
				m.increment(id)
				require.Equal(t, Dot{id, m[id]}, d)
			},
			"set": func(t *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(t, "id")
				n := rapid.Uint64Range(0, 5).Draw(t, "n")
				v.Set(id, n)
				if n == 0 {
					delete(m, id)
				} else {
					m[id] = n
				}
			},
			"merge dot": func(t *rapid.T) {
				d := Dot{rapid.SampledFrom(ids).Draw(t, "id"), rapid.Uint64Range(0, 8).Draw(t, "n")}
				v.MergeDot(d)
				m.merge(mapVV{d.ID: d.Counter})
			},
			"merge": func(t *rapid.T) {
				o := genVector().Draw(t, "other")
				v.Merge(o)
				m.merge(toMap(o))
			},
			"": func(t *rapid.T) {
				require.True(t, v.Equal(m.toVV()), "vector %v, model %v", v, m)
				for _, id := range ids {
					require.Equal(t, m[id], v.Get(id))
				}
				// The canonical-form invariant the codec relies on.
				for i := 1; i < len(v.entries); i++ {
					require.Less(t, v.entries[i-1].ID, v.entries[i].ID)
				}
				for _, e := range v.entries {
					require.NotZero(t, e.Counter)
					require.Equal(t, idKey(e.ID), e.key)
				}
			},
		})
	})
}

// TestVersionVectorMergeInPlace checks that Merge does not allocate when the
// receiver has room, and handles aliasing of the receiver with itself.
func TestVersionVectorMergeInPlace(t *testing.T) {
	a := NewVersionVector(Dot{"a", 1}, Dot{"c", 3})
	a.Merge(a)
	require.Equal(t, "{a:1 c:3}", a.String())
	b := NewVersionVector(Dot{"b", 2}, Dot{"c", 4}, Dot{"d", 1})
	a.Merge(b)
	require.Equal(t, "{a:1 b:2 c:4 d:1}", a.String())
	allocs := testing.AllocsPerRun(100, func() { a.Merge(b) })
	require.Zero(t, allocs)
}

// TestVersionVectorMergeSharedTail checks the in-place merge when replicas
// o shares with v follow one v lacks: the merge writes the union assuming
// none are shared and must close the gap each shared one leaves.
func TestVersionVectorMergeSharedTail(t *testing.T) {
	var v, o VersionVector
	for i, id := range []ReplicaID{"a", "c", "e", "g"} {
		v.Set(id, uint64(10+i))
	}
	v.entries = append(make([]entry, 0, 16), v.entries...) // room: merge in place
	for i, id := range []ReplicaID{"b", "c", "e", "f"} {
		o.Set(id, uint64(11+2*i))
	}
	v.Merge(o)
	require.Equal(t, []Dot{{"a", 10}, {"b", 11}, {"c", 13}, {"e", 15}, {"f", 17}, {"g", 13}}, slices.Collect(v.All()))
	full := v.entries[:cap(v.entries)]
	for _, e := range full[len(v.entries):] {
		require.Equal(t, entry{}, e, "stale entries past the end must be cleared")
	}
}

package vclock

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// trickyIDs are replica IDs on which ordering by key is easy to get wrong:
// the empty ID, IDs shorter than a key, IDs whose keys are equal (zero bytes
// where the key pads with zeros, a common eight-byte prefix), IDs that differ
// only in the eighth or ninth byte, and bytes above 0x7f, which must order
// after ASCII as unsigned bytes do.
var trickyIDs = []ReplicaID{
	"", "\x00", "\x00\x00", "a", "a\x00", "a\x00\x00\x00\x00\x00\x00\x00",
	"a\x00\x00\x00\x00\x00\x00\x00\x00", "a\x00\x00\x00\x00\x00\x00\x00\x01",
	"abcdefg", "abcdefg\x00", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghj",
	"abcdefghij", "abcdefgi", "abcdefgh\xff", "\x7f", "\x80", "\xff",
	"\xff\xff\xff\xff\xff\xff\xff\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff",
	"node-01", "node-01.", "node-01.dc1", "node-01.dc2", "node-02.dc1",
}

// genID draws a replica ID that often shares a long prefix with, or is a
// zero-padded version of, another draw: from trickyIDs, or built from a small
// alphabet that includes the zero byte.
func genID() *rapid.Generator[ReplicaID] {
	return rapid.OneOf(
		rapid.SampledFrom(trickyIDs),
		rapid.Map(rapid.SliceOfN(rapid.SampledFrom([]byte{0, 1, 'a', 0xff}), 0, 12),
			func(b []byte) ReplicaID { return ReplicaID(b) }),
	)
}

// orderEntries is the comparison the hot loops of vv.go write out inline.
func orderEntries(x, y *entry) int {
	c := 0
	if !sharedID(x.ID, y.ID) {
		if c = cmpKey(x.key, y.key); c == 0 {
			c = cmpTie(x.ID, y.ID)
		}
	}
	return c
}

// unshared returns a copy of v whose IDs are new strings, as in a vector
// decoded without interning: comparisons must then look at the bytes.
func unshared(v VersionVector) VersionVector {
	w := v.Clone()
	for i := range w.entries {
		w.entries[i].ID = ReplicaID(strings.Clone(string(w.entries[i].ID)))
	}
	return w
}

// TestIDOrder checks that ordering entries by key, then by cmpTie, is
// exactly strings.Compare on the IDs, shared or not.
func TestIDOrder(t *testing.T) {
	for _, a := range trickyIDs {
		for _, b := range trickyIDs {
			x, y := newEntry(Dot{ID: a}), newEntry(Dot{ID: ReplicaID(strings.Clone(string(b)))})
			require.Equal(t, strings.Compare(string(a), string(b)), orderEntries(&x, &y), "%q vs %q", a, b)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		a, b := genID().Draw(t, "a"), genID().Draw(t, "b")
		if rapid.Bool().Draw(t, "same string") {
			b = a
		}
		x, y := newEntry(Dot{ID: a}), newEntry(Dot{ID: b})
		want := strings.Compare(string(a), string(b))
		require.Equal(t, want, orderEntries(&x, &y))
		require.Equal(t, -want, orderEntries(&y, &x))
		require.Equal(t, want == 0, x.key == y.key && len(a) == len(b) && (len(a) <= keyBytes || a == b))
	})
}

// genTrickyVector draws a vector over a few IDs from genID, so that its
// entries have equal keys, short IDs and zero bytes.
func genTrickyVector(ids []ReplicaID) *rapid.Generator[VersionVector] {
	return rapid.Custom(func(t *rapid.T) VersionVector {
		m := rapid.MapOf(rapid.SampledFrom(ids), rapid.Uint64Range(0, 4)).Draw(t, "entries")
		v := mapVV(m).toVV()
		if rapid.Bool().Draw(t, "unshared") {
			v = unshared(v)
		}
		return v
	})
}

// TestVersionVectorTrickyIDs checks Compare, Descends, Merge, Get and the
// codec against the map oracle on vectors over tricky IDs, with IDs shared
// (interned) or not, so that every comparison path of the key
// representation runs: different keys, shared IDs, and equal keys decided by
// length or by the bytes after the key.
func TestVersionVectorTrickyIDs(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := rapid.SliceOfNDistinct(genID(), 1, 6, rapid.ID).Draw(t, "ids")
		a := genTrickyVector(ids).Draw(t, "a")
		b := genTrickyVector(ids).Draw(t, "b")
		ma, mb := toMap(a), toMap(b)

		for _, x := range []VersionVector{a, b} {
			for i := 1; i < len(x.entries); i++ {
				require.Less(t, x.entries[i-1].ID, x.entries[i].ID)
			}
			for _, e := range x.entries {
				require.Equal(t, idKey(e.ID), e.key)
			}
		}
		want := ma.compare(mb)
		require.Equal(t, want, a.Compare(b))
		require.Equal(t, want == After || want == Equal, a.Descends(b))
		require.Equal(t, want == Equal, a.Equal(b))
		require.Equal(t, Equal, a.Compare(unshared(a)))
		for _, id := range ids {
			require.Equal(t, ma[id], a.Get(id))
			require.Equal(t, ma[id], a.Get(ReplicaID(strings.Clone(string(id)))))
		}

		// Merge into a receiver with and without room, so that both the
		// in-place and the allocating merge run.
		om := toMap(a)
		om.merge(mb)
		for _, room := range []int{0, len(b.entries)} {
			m := a.Clone()
			m.entries = append(make([]entry, 0, len(m.entries)+room), m.entries...)
			m.Merge(b)
			require.True(t, m.Equal(om.toVV()), "merge of %v and %v: %v", a, b, m)
			require.Equal(t, slices.Collect(om.toVV().All()), slices.Collect(m.All()))
		}

		got, _ := roundTrip[VersionVector](t, a)
		require.True(t, got.Equal(a))
	})
}

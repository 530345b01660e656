package crdt_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/distkit/distkit/vclock"
	"github.com/stretchr/testify/require"
)

var three = []crdt.ReplicaID{"r0", "r1", "r2"}

// TestAWSetMetadataIsBounded: one element added and removed 1,000,000
// times, round robin across three replicas that exchange every delta,
// leaves a state of one version-vector entry per replica, not one tag per
// add (a naive OR-Set would hold two million).
func TestAWSetMetadataIsBounded(t *testing.T) {
	const cycles = 1_000_000
	rs := make([]crdt.AWSet[string], 3)
	for i := range cycles {
		at := i % 3
		d1 := rs[at].Add(three[at], "milk")
		d2 := rs[at].Remove("milk")
		// Each replica hears directly from one peer only, so the
		// third replica's events reach it second hand, in full merges.
		peer := (at + 1) % 3
		rs[peer].Merge(d1)
		rs[peer].Merge(d2)
		if i%1000 == 999 {
			rs[peer].Merge(&rs[at])
		}
	}
	for i := range rs {
		for j := range rs {
			rs[i].Merge(&rs[j])
		}
	}
	for i := range rs {
		b, err := rs[i].MarshalBinary()
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), 128, "replica %d encodes in %d bytes", i, len(b))
		st := rs[i].Stats()
		require.Equal(t, 3, st.ContextVector)
		require.Zero(t, st.ContextCloud)
		require.Zero(t, rs[i].Len())
		t.Logf("after %d add/remove cycles: %d bytes, %+v", cycles, len(b), st)
	}
}

// TestMapMetadataIsBounded: 100,000 writes to 10 keys from three
// replicas leave an OR-map (of MV-registers) and an LWW map under 1 KB.
func TestMapMetadataIsBounded(t *testing.T) {
	const writes = 100_000
	type regs = crdt.ORMap[string, *crdt.MVRegister[uint64]]
	or := make([]regs, 3)
	lww := make([]crdt.LWWMap[string, uint64], 3)
	for i := range writes {
		at := i % 3
		key := fmt.Sprintf("key-%d", i%10)
		d := or[at].Update(key, func(r *crdt.MVRegister[uint64]) *crdt.MVRegister[uint64] {
			return r.Write(three[at], uint64(i))
		})
		or[(at+1)%3].Merge(d)
		dl := lww[at].Set(three[at], key, uint64(i), vclock.Timestamp(i+1))
		lww[(at+1)%3].Merge(dl)
	}
	for i := range 3 {
		for j := range 3 {
			or[i].Merge(&or[j])
			lww[i].Merge(&lww[j])
		}
	}
	for i := range 3 {
		b, err := or[i].MarshalBinary()
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), 1024, "OR-map encodes in %d bytes", len(b))
		require.Equal(t, 10, or[i].Len())
		bl, err := lww[i].MarshalBinary()
		require.NoError(t, err)
		require.LessOrEqual(t, len(bl), 1024, "LWW map encodes in %d bytes", len(bl))
		t.Logf("after %d writes to 10 keys: OR-map %d bytes, LWW map %d bytes", writes, len(b), len(bl))
	}
}

// TestPruneRetiredReplica folds a retired replica's live dots into a live
// replica, then every replica forgets it: values are unchanged and the
// retired replica is gone from every context.
func TestPruneRetiredReplica(t *testing.T) {
	rs := make([]crdt.AWSet[string], 3)
	for i, e := range []string{"a", "b", "c", "d", "e", "f"} {
		at := i % 3
		d := rs[at].Add(three[at], e)
		for j := range rs {
			rs[j].Merge(d)
		}
	}
	rs[0].Merge(rs[0].Remove("c"))
	for j := range rs {
		rs[j].Merge(&rs[0])
	}
	before := slices.Sorted(rs[1].All())

	// r2 retires. Forgetting it before pruning would orphan its dots.
	require.ErrorIs(t, rs[1].ForgetReplica("r2"), crdt.ErrLiveDots)
	d := rs[0].Prune("r2", "r0")
	for j := range rs[:2] {
		rs[j].Merge(d)
		require.NoError(t, rs[j].ForgetReplica("r2"))
		require.Equal(t, before, slices.Sorted(rs[j].All()))
		require.Equal(t, 2, rs[j].Stats().Replicas)
		require.Zero(t, rs[j].Context().Get("r2"))
	}
	enc0, err := rs[0].MarshalBinary()
	require.NoError(t, err)
	enc1, err := rs[1].MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, enc0, enc1)

	// The same for a counter: the retired replica's count moves to r0.
	var c0, c1 crdt.PNCounter
	c1.Merge(c0.Inc("r0", 5))
	c0.Merge(c1.Dec("r1", 2))
	c0.Merge(c1.Inc("r1", 10))
	c1.Merge(c0.Prune("r1", "r0"))
	require.NoError(t, c1.ForgetReplica("r1"))
	require.NoError(t, c0.ForgetReplica("r1"))
	require.Equal(t, int64(13), c0.Value())
	require.Equal(t, int64(13), c1.Value())
	require.Equal(t, 1, c0.Stats().Replicas)
}

// TestTombstoneCompaction drops tombstones once a stability frontier says
// so, and checks that a later merge with an uncompacted replica at or
// above the frontier changes no query.
func TestTombstoneCompaction(t *testing.T) {
	a := crdt.NewLWWSet[string](crdt.AddWins)
	for i, e := range []string{"x", "y", "z"} {
		a.Add(e, vclock.Timestamp(10+i))
	}
	a.Remove("x", 20)
	a.Remove("y", 30)
	b := a.Clone()
	require.Equal(t, 2, a.Stats().Tombstones)
	require.Equal(t, 1, a.CompactTombstones(25)) // y's remove is not yet stable
	require.Equal(t, 1, a.Stats().Tombstones)
	require.False(t, a.Contains("x"))
	a.Merge(b) // the tombstone comes back from an uncompacted replica: harmless
	require.False(t, a.Contains("x"))

	var r0, r1 crdt.RWSet[string]
	r1.Merge(r0.Add("r0", "x"))
	r0.Merge(r1.Remove("r1", "x"))
	r1.Merge(r0.Add("r0", "y"))
	require.Equal(t, 1, r0.Stats().Tombstones)
	f := r0.Context()
	require.Equal(t, 1, r0.CompactTombstones(f))
	require.Zero(t, r0.Stats().Tombstones)
	r0.Merge(&r1)
	require.False(t, r0.Contains("x"))
	require.True(t, r0.Contains("y"))
	r1.Merge(&r0)
	require.Zero(t, r1.Stats().Tombstones, "the compacted state's context retires the tombstone elsewhere too")
}

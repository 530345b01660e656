package crdt_test

import (
	"slices"
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/distkit/distkit/vclock"
	"github.com/stretchr/testify/require"
)

// These tests pin each type's behaviour under concurrency with the
// smallest scenario that shows it; the law suite covers the rest.

func TestAWSetAddWinsOverConcurrentRemove(t *testing.T) {
	var a, b crdt.AWSet[string]
	b.Merge(a.Add("a", "x"))
	ra := a.Remove("x")   // a removes the add it saw
	db := b.Add("b", "x") // b concurrently re-adds
	a.Merge(db)
	b.Merge(ra)
	require.True(t, a.Contains("x"))
	require.True(t, b.Contains("x"))
	// A remove that has seen every add wins.
	b.Merge(&a)
	a.Merge(b.Remove("x"))
	require.False(t, a.Contains("x"))
	// Removing an absent element is a no-op.
	d := a.Remove("nope")
	require.Equal(t, 0, d.Len())
}

func TestRWSetRemoveWinsOverConcurrentAdd(t *testing.T) {
	var a, b crdt.RWSet[string]
	b.Merge(a.Add("a", "x"))
	ra := a.Remove("a", "x")
	db := b.Add("b", "x")
	a.Merge(db)
	b.Merge(ra)
	require.False(t, a.Contains("x"))
	require.False(t, b.Contains("x"))
	// An add that has seen the remove wins.
	a.Merge(b.Add("b", "x"))
	require.True(t, a.Contains("x"))
}

func TestFlags(t *testing.T) {
	var ea, eb crdt.EWFlag
	eb.Merge(ea.Enable("a"))
	d1, d2 := ea.Disable(), eb.Enable("b")
	ea.Merge(d2)
	eb.Merge(d1)
	require.True(t, ea.Value())
	require.True(t, eb.Value())

	var da, db crdt.DWFlag
	db.Merge(da.Enable("a"))
	d3, d4 := da.Disable("a"), db.Enable("b")
	da.Merge(d4)
	db.Merge(d3)
	require.False(t, da.Value())
	require.False(t, db.Value())
}

func TestMVRegisterKeepsConcurrentWrites(t *testing.T) {
	var a, b crdt.MVRegister[string]
	da, db := a.Write("a", "red"), b.Write("b", "blue")
	a.Merge(db)
	b.Merge(da)
	require.Equal(t, []string{"red", "blue"}, a.Values())
	require.Equal(t, a.Values(), b.Values())
	b.Merge(a.Write("a", "green"))
	require.Equal(t, []string{"green"}, b.Values())
}

func TestLWWRegisterAndSet(t *testing.T) {
	var r crdt.LWWRegister[string]
	r.Set("a", "old", 10)
	r.Set("b", "stale", 5)
	v, _ := r.Get()
	require.Equal(t, "old", v)
	r.Set("a", "tie-loser", 10)
	r.Set("b", "tie-winner", 10)
	v, _ = r.Get()
	require.Equal(t, "tie-winner", v)

	aw := crdt.NewLWWSet[string](crdt.AddWins)
	rw := crdt.NewLWWSet[string](crdt.RemoveWins)
	for _, s := range []*crdt.LWWSet[string]{aw, rw} {
		s.Add("x", 7)
		s.Remove("x", 7)
	}
	require.True(t, aw.Contains("x"))
	require.False(t, rw.Contains("x"))
	rw.Add("y", 3)
	rw.Remove("y", 4)
	require.Equal(t, 1, rw.CompactTombstones(vclock.Timestamp(4)))
}

func TestCounters(t *testing.T) {
	var g1, g2 crdt.GCounter
	g1.Inc("a", 2)
	g2.Inc("b", 3)
	g1.Merge(&g2)
	g1.Merge(&g2)
	require.Equal(t, uint64(5), g1.Value())

	var p1, p2 crdt.PNCounter
	p2.Merge(p1.Inc("a", 5))
	p2.Merge(p2.Dec("b", 7))
	p1.Merge(&p2)
	require.Equal(t, int64(-2), p1.Value())

	var b1, b2 crdt.BoundedCounter
	b2.Merge(b1.Inc("a", 10))
	_, err := b2.Dec("b", 1)
	require.ErrorIs(t, err, crdt.ErrInsufficientRights)
	d, err := b1.Transfer("a", "b", 4)
	require.NoError(t, err)
	b2.Merge(d)
	// Both replicas spend all they hold concurrently: the value reaches
	// zero and no lower.
	da, err := b1.Dec("a", 6)
	require.NoError(t, err)
	db, err := b2.Dec("b", 4)
	require.NoError(t, err)
	b1.Merge(db)
	b2.Merge(da)
	require.Equal(t, uint64(0), b1.Value())
	require.Equal(t, uint64(0), b2.Value())
	_, err = b1.Dec("a", 1)
	require.ErrorIs(t, err, crdt.ErrInsufficientRights)
}

func TestTwoPSet(t *testing.T) {
	var s crdt.TwoPSet[int]
	s.Add(1)
	s.Remove(1)
	s.Add(1)
	require.False(t, s.Contains(1))
}

type cart = crdt.ORMap[string, *crdt.PNCounter]

func TestORMapResetRemove(t *testing.T) {
	var a, b cart
	inc := func(id crdt.ReplicaID, n uint64) func(*crdt.PNCounter) *crdt.PNCounter {
		return func(c *crdt.PNCounter) *crdt.PNCounter { return c.Inc(id, n) }
	}
	b.Merge(a.Update("apple", inc("a", 3)))
	// a removes apple; b concurrently adds 2: b's update survives, with
	// only its own effect on top of what the remove did not see.
	ra := a.Remove("apple")
	db := b.Update("apple", inc("b", 2))
	a.Merge(db)
	b.Merge(ra)
	ca, _ := a.Get("apple")
	cb, _ := b.Get("apple")
	require.Equal(t, int64(2), ca.Value())
	require.Equal(t, int64(2), cb.Value())
	// Removed then re-added: starts from zero.
	a.Merge(&b)
	a.Remove("apple")
	a.Update("apple", inc("a", 1))
	ca, _ = a.Get("apple")
	require.Equal(t, int64(1), ca.Value())
}

func TestORMapNested(t *testing.T) {
	type inner = crdt.ORMap[string, *crdt.AWSet[string]]
	var a, b crdt.ORMap[string, *inner]
	add := func(id crdt.ReplicaID, k, e string) func(*inner) *inner {
		return func(m *inner) *inner {
			return m.Update(k, func(s *crdt.AWSet[string]) *crdt.AWSet[string] { return s.Add(id, e) })
		}
	}
	b.Merge(a.Update("u1", add("a", "tags", "x")))
	b.Merge(b.Update("u1", add("b", "tags", "y")))
	a.Merge(&b)
	m, ok := a.Get("u1")
	require.True(t, ok)
	s, ok := m.Get("tags")
	require.True(t, ok)
	got := slices.Sorted(s.All())
	require.Equal(t, []string{"x", "y"}, got)
	enc, err := a.MarshalBinary()
	require.NoError(t, err)
	var c crdt.ORMap[string, *inner]
	require.NoError(t, c.UnmarshalBinary(enc))
	enc2, err := c.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, enc, enc2)
	j, err := c.MarshalJSON()
	require.NoError(t, err)
	require.JSONEq(t, `{"u1":{"tags":["x","y"]}}`, string(j))
}

func TestORMapUpdateReturningTheValue(t *testing.T) {
	var a, b cart
	d := a.Update("x", func(c *crdt.PNCounter) *crdt.PNCounter {
		c.Inc("a", 2)
		return c // not the delta: Update copes
	})
	b.Merge(d)
	a.Update("x", func(c *crdt.PNCounter) *crdt.PNCounter { return c.Inc("a", 1) })
	cb, _ := b.Get("x")
	require.Equal(t, int64(2), cb.Value(), "the delta must not alias a's value")
}

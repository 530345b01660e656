package crdt_test

import (
	"strconv"
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func encoded(t require.TestingT, x *crdt.AWSet[string]) string {
	b, err := x.MarshalBinary()
	require.NoError(t, err)
	return string(b)
}

// groupMachine checks AddTo and Reset against the path they shortcut:
// every AddTo must leave the replica as Add does and the group as merging
// Add's delta into it does, whatever else the group holds (other
// replicas' deltas, removes, adds it already saw) and however often it is
// reset and reused.
type groupMachine struct {
	ids    []crdt.ReplicaID
	xs     []*crdt.AWSet[string]
	groups []*crdt.AWSet[string]
	// refs[i] is the join, by Merge, of every delta groups[i] was given
	// since its last Reset.
	refs []*crdt.AWSet[string]
}

func newGroupMachine() *groupMachine {
	m := &groupMachine{ids: []crdt.ReplicaID{"a", "b", "c"}}
	for range m.ids {
		m.xs = append(m.xs, new(crdt.AWSet[string]))
		m.groups = append(m.groups, new(crdt.AWSet[string]))
		m.refs = append(m.refs, new(crdt.AWSet[string]))
	}
	return m
}

func (m *groupMachine) pick(t *rapid.T, label string) int {
	return rapid.IntRange(0, len(m.xs)-1).Draw(t, label)
}

// addTo adds through AddTo into a group, usually the replica's own.
func (m *groupMachine) addTo(t *rapid.T) {
	i, g := m.pick(t, "replica"), m.pick(t, "group")
	e := elems.Draw(t, "elem")
	want := m.xs[i].Clone()
	delta := want.Add(m.ids[i], e)
	m.xs[i].AddTo(m.groups[g], m.ids[i], e)
	m.refs[g].Merge(delta)
	require.Equal(t, encoded(t, want), encoded(t, m.xs[i]), "replica after AddTo")
	require.Equal(t, encoded(t, m.refs[g]), encoded(t, m.groups[g]), "group after AddTo")
}

// addToSelf is AddTo with the replica as its own group: Add.
func (m *groupMachine) addToSelf(t *rapid.T) {
	i := m.pick(t, "replica")
	e := elems.Draw(t, "elem")
	want := m.xs[i].Clone()
	want.Add(m.ids[i], e)
	m.xs[i].AddTo(m.xs[i], m.ids[i], e)
	require.Equal(t, encoded(t, want), encoded(t, m.xs[i]))
}

// otherDelta gives a group a delta of another kind, by Merge: a remove,
// a clear, or an add it then also sees through AddTo.
func (m *groupMachine) otherDelta(t *rapid.T) {
	i, g := m.pick(t, "replica"), m.pick(t, "group")
	e := elems.Draw(t, "elem")
	var d *crdt.AWSet[string]
	switch rapid.IntRange(0, 2).Draw(t, "kind") {
	case 0:
		d = m.xs[i].Remove(e)
	case 1:
		d = m.xs[i].Clear()
	default:
		d = m.xs[i].Add(m.ids[i], e)
	}
	m.groups[g].Merge(d)
	m.refs[g].Merge(d)
}

// sync merges one replica's state, or a group, into another replica.
func (m *groupMachine) sync(t *rapid.T) {
	i, j := m.pick(t, "from"), m.pick(t, "to")
	if rapid.Bool().Draw(t, "group") {
		m.xs[j].Merge(m.groups[i])
		return
	}
	m.xs[j].Merge(m.xs[i])
}

// ship merges a group into a fresh copy of a replica both ways (the group,
// and each delta joined the plain way), then resets it for reuse.
func (m *groupMachine) ship(t *rapid.T) {
	g, j := m.pick(t, "group"), m.pick(t, "to")
	viaGroup, viaRef := m.xs[j].Clone(), m.xs[j].Clone()
	viaGroup.Merge(m.groups[g])
	viaRef.Merge(m.refs[g])
	require.Equal(t, encoded(t, viaRef), encoded(t, viaGroup))
	m.groups[g].Reset()
	m.refs[g] = new(crdt.AWSet[string])
	require.Equal(t, encoded(t, m.refs[g]), encoded(t, m.groups[g]), "group after Reset")
	require.Zero(t, m.groups[g].Len())
}

// check compares the groups by encoding, which is canonical: equal
// states, and only they, give equal bytes.
func (m *groupMachine) check(t *rapid.T) {
	for g := range m.groups {
		require.Equal(t, encoded(t, m.refs[g]), encoded(t, m.groups[g]), "group %d", g)
	}
}

// TestLawAddToGroup checks that a delta group built by AddTo equals the
// join of the deltas Add returns, on random histories of three replicas.
func TestLawAddToGroup(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newGroupMachine()
		t.Repeat(map[string]func(*rapid.T){
			"addTo":      m.addTo,
			"addToSelf":  m.addToSelf,
			"otherDelta": m.otherDelta,
			"sync":       m.sync,
			"ship":       m.ship,
			"":           m.check,
		})
	})
}

// TestAddToGroupGrowsPastManyDots builds groups large enough to move the
// context array several times and to reuse it after Reset, with adds that
// supersede older dots of the same and of other replicas.
func TestAddToGroupGrowsPastManyDots(t *testing.T) {
	var x crdt.AWSet[string]
	for i := range 300 {
		x.Add(crdt.ReplicaID("r"+strconv.Itoa(i%5)), "e"+strconv.Itoa(i%150))
	}
	group, ref := new(crdt.AWSet[string]), new(crdt.AWSet[string])
	for round := range 3 {
		for i := range 400 {
			id := crdt.ReplicaID("w" + strconv.Itoa(i%3))
			e := "e" + strconv.Itoa((i*7+round)%200)
			want := x.Clone()
			ref.Merge(want.Add(id, e))
			x.AddTo(group, id, e)
		}
		require.Equal(t, encoded(t, ref), encoded(t, group), "round %d", round)
		group.Reset()
		ref = new(crdt.AWSet[string])
	}
}

// TestAddToAllocatesNothing checks that AddTo into a reused group
// allocates nothing once the group has grown to a batch's size.
func TestAddToAllocatesNothing(t *testing.T) {
	s, elems := addBenchSet(1000)
	group := new(crdt.AWSet[string])
	i := 0
	batch := func() {
		for range 256 {
			s.AddTo(group, "r7", elems[i%len(elems)])
			i++
		}
		group.Reset()
	}
	batch()
	batch()
	require.Zero(t, testing.AllocsPerRun(20, batch))
}

package vclock

import (
	"fmt"
	"maps"
	"slices"

	"pgregory.net/rapid"
)

// mapVV is the obviously right twin of VersionVector: a Go map from replica
// to counter. Tests use it as an oracle, and BenchmarkRepresentation
// measures it against the sorted slice.
type mapVV map[ReplicaID]uint64

func (m mapVV) increment(id ReplicaID) { m[id]++ }

func (m mapVV) merge(o mapVV) {
	for id, n := range o {
		if n > m[id] {
			m[id] = n
		}
	}
}

func (m mapVV) compare(o mapVV) Ordering {
	var aAhead, bAhead bool
	for id, n := range m {
		if n > o[id] {
			aAhead = true
		} else if n < o[id] {
			bAhead = true
		}
	}
	for id, n := range o {
		if _, ok := m[id]; !ok && n > 0 {
			bAhead = true
		}
	}
	switch {
	case aAhead && bAhead:
		return Concurrent
	case aAhead:
		return After
	case bAhead:
		return Before
	}
	return Equal
}

func (m mapVV) toVV() VersionVector {
	var v VersionVector
	for _, id := range slices.Sorted(maps.Keys(m)) {
		v.Set(id, m[id])
	}
	return v
}

func toMap(v VersionVector) mapVV {
	m := mapVV{}
	for d := range v.All() {
		m[d.ID] = d.Counter
	}
	return m
}

// history is an explicit causal history: the set of events (dots) a state
// has seen. It is the oracle for every causal comparison in this package.
type history map[Dot]bool

func (h history) clone() history { return maps.Clone(h) }

func (h history) union(o history) history {
	u := h.clone()
	maps.Copy(u, o)
	return u
}

// subset reports whether every event of h is in o.
func (h history) subset(o history) bool {
	for d := range h {
		if !o[d] {
			return false
		}
	}
	return true
}

func (h history) order(o history) Ordering {
	le, ge := h.subset(o), o.subset(h)
	switch {
	case le && ge:
		return Equal
	case le:
		return Before
	case ge:
		return After
	}
	return Concurrent
}

func replicaIDs(n int) []ReplicaID {
	ids := make([]ReplicaID, n)
	for i := range ids {
		ids[i] = ReplicaID(fmt.Sprintf("r%d", i))
	}
	return ids
}

// genVector draws an arbitrary vector over a small set of replicas, so that
// draws often share replicas and every ordering occurs.
func genVector() *rapid.Generator[VersionVector] {
	ids := replicaIDs(5)
	return rapid.Custom(func(t *rapid.T) VersionVector {
		m := rapid.MapOf(rapid.SampledFrom(ids), rapid.Uint64Range(0, 4)).Draw(t, "entries")
		return mapVV(m).toVV()
	})
}

// tracked is a replica state paired with its explicit history.
type tracked struct {
	vv   VersionVector
	hist history
}

// genHistories runs a random execution of a few replicas that make local
// events and merge each other's states, and returns a snapshot of every
// state reached, so that any two snapshots can be compared against their
// histories.
func genHistories(t *rapid.T) []tracked {
	ids := replicaIDs(rapid.IntRange(1, 4).Draw(t, "replicas"))
	cur := make([]tracked, len(ids))
	for i := range cur {
		cur[i].hist = history{}
	}
	snaps := []tracked{{hist: history{}}}
	steps := rapid.IntRange(0, 30).Draw(t, "steps")
	for range steps {
		r := rapid.IntRange(0, len(ids)-1).Draw(t, "replica")
		if rapid.Bool().Draw(t, "local event") {
			d := cur[r].vv.Increment(ids[r])
			cur[r].hist[d] = true
		} else {
			s := rapid.IntRange(0, len(ids)-1).Draw(t, "from")
			cur[r].vv.Merge(cur[s].vv)
			cur[r].hist = cur[r].hist.union(cur[s].hist)
		}
		snaps = append(snaps, tracked{vv: cur[r].vv.Clone(), hist: cur[r].hist.clone()})
	}
	return snaps
}

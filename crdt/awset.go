package crdt

import (
	"encoding/json"
	"iter"
	"maps"

	"github.com/distkit/distkit/vclock"
)

// AWSet is an add-wins observed-remove set without tombstones (ORSWOT, as
// riak_dt_orswot and Akka's ORSet): the set most users mean by "OR-Set".
//
// Concurrency: an element is in the set if some replica added it and no
// replica removed it after observing that add. When one replica adds an
// element while another concurrently removes it, the add wins: a remove
// only cancels the adds it has seen. Re-adding after a remove works.
// Removing an absent element is a no-op.
//
// Metadata: each live element carries one dot per concurrent adder
// (usually one), and the causal context one entry per replica, however
// many times elements were added and removed.
//
// The zero value is an empty set ready to use. An AWSet is not safe for
// concurrent use.
type AWSet[E comparable] struct {
	c causal[awStore[E]]
}

// Add adds e as an event of replica id and returns the delta to send to
// other replicas.
//
// Add is small enough to be inlined, so that a caller that drops the
// delta (one that replicates whole states) does not allocate it: the
// delta and its context's dots are built in the caller's frame and only
// move to the heap when the caller keeps them.
func (x *AWSet[E]) Add(id ReplicaID, e E) *AWSet[E] {
	var box awAddDelta[E]
	box.set.c = x.add(id, e, &box.dots)
	return &box.set
}

// awAddDelta holds an Add's delta and room for its context (the new dot
// and the old dot it replaces), so that a kept delta is one allocation:
// of 112 bytes for a string element.
type awAddDelta[E comparable] struct {
	set  AWSet[E]
	dots [2]Dot
}

// add records e's new dot and returns the delta. Its context is the new
// dot plus the dots it supersedes, built directly rather than by general
// context insertions; when those are at most two its array is buf.
func (x *AWSet[E]) add(id ReplicaID, e E, buf *[2]Dot) causal[awStore[E]] {
	var d Dot
	var old dotSet
	if b := x.c.store.big; b != nil {
		d = x.c.ctx.nextAt(id, &b.own)
		old = b.swap(e, d)
	} else {
		hint := x.c.ctx.nv // a set without a table keeps no hint
		d = x.c.ctx.nextAt(id, &hint)
		old = x.c.store.swap(e, d)
	}
	delta := causal[awStore[E]]{store: awStore[E]{k: e, one: d}}
	if old.more == nil {
		delta.ctx = pairContext(buf, old.one, d)
	} else {
		// A separate variable: add leaks its receiver's array, which
		// must not taint buf.
		dc := removeDots(old)
		dc.add(d)
		delta.ctx = dc
	}
	return delta
}

// Remove removes e and returns the delta. It cancels only the adds of e
// that x has seen.
func (x *AWSet[E]) Remove(e E) *AWSet[E] {
	old, ok := x.c.store.get(e)
	if !ok {
		return new(AWSet[E])
	}
	x.c.store.set(e, dotSet{})
	return deltaAWSet(awStore[E]{}, removeDots(old))
}

// Clear removes every element x has seen and returns the delta.
func (x *AWSet[E]) Clear() *AWSet[E] {
	dc := removeDots(x.c.store)
	x.c.store = awStore[E]{}
	return deltaAWSet(awStore[E]{}, dc)
}

// Contains reports whether e is in the set.
func (x *AWSet[E]) Contains(e E) bool {
	_, ok := x.c.store.get(e)
	return ok
}

// Len returns the number of elements.
func (x *AWSet[E]) Len() int { return x.c.store.len() }

// All yields the elements in no particular order.
func (x *AWSet[E]) All() iter.Seq[E] {
	return func(yield func(E) bool) {
		x.c.store.keys(yield)
	}
}

// MarshalJSON encodes the set's value as a JSON array, in the canonical
// order of the binary encoding so that equal sets give equal JSON.
func (x *AWSet[E]) MarshalJSON() ([]byte, error) {
	return jsonKeysOf(x.c.store.len(), x.c.store.keys)
}

func (x *AWSet[E]) fillStats(st *Stats) { st.Elements = x.Len() }

// RWSet is a remove-wins observed-remove set.
//
// Concurrency: when one replica adds an element while another concurrently
// removes it, the remove wins; an add wins only over removes it has seen.
// A removed element keeps one tombstone dot per concurrent remover until
// CompactTombstones drops it once the removal is causally stable.
// Removing an absent element is a no-op.
//
// The zero value is an empty set ready to use. Not safe for concurrent use.
type RWSet[E comparable] struct {
	c causal[dotMap[E, dotFun[bool]]]
}

func (x *RWSet[E]) write(id ReplicaID, e E, present bool) *RWSet[E] {
	old, _ := x.c.store.get(e)
	d := x.c.ctx.next(id)
	s := dotFun[bool]{entries: []dotVal[bool]{{dot: d, val: present}}}
	x.c.store.set(e, s)
	dc := removeDots(old)
	dc.add(d)
	return deltaRWSet(dotMap[E, dotFun[bool]]{k: e, s: s, has: true}, dc)
}

// Add adds e as an event of replica id and returns the delta.
func (x *RWSet[E]) Add(id ReplicaID, e E) *RWSet[E] { return x.write(id, e, true) }

// Remove removes e as an event of replica id and returns the delta. It
// wins over concurrent adds of e.
func (x *RWSet[E]) Remove(id ReplicaID, e E) *RWSet[E] {
	if !x.Contains(e) {
		return new(RWSet[E])
	}
	return x.write(id, e, false)
}

// Contains reports whether e is in the set: some add of it is live and no
// remove is.
func (x *RWSet[E]) Contains(e E) bool {
	s, ok := x.c.store.get(e)
	return ok && allTrue(s)
}

func allTrue(s dotFun[bool]) bool {
	for _, v := range s.entries {
		if !v.val {
			return false
		}
	}
	return len(s.entries) > 0
}

// Len returns the number of elements.
func (x *RWSet[E]) Len() int {
	n := 0
	for _, s := range x.c.store.all {
		if allTrue(s) {
			n++
		}
	}
	return n
}

// All yields the elements in no particular order.
func (x *RWSet[E]) All() iter.Seq[E] {
	return func(yield func(E) bool) {
		for e, s := range x.c.store.all {
			if allTrue(s) && !yield(e) {
				return
			}
		}
	}
}

// CompactTombstones drops removed elements whose removal is causally
// stable: every dot of the entry is in frontier. The caller guarantees that
// every replica has seen every dot in frontier and that x has seen every
// event concurrent with them; the pointwise minimum of all replicas'
// Context vectors, taken after x merged every replica's state, is such a
// frontier. It returns how many entries it dropped.
func (x *RWSet[E]) CompactTombstones(frontier vclock.VersionVector) int {
	var drop []E
	for e, s := range x.c.store.all {
		if removedAndStable(s, frontier) {
			drop = append(drop, e)
		}
	}
	for _, e := range drop {
		x.c.store.del(e)
	}
	return len(drop)
}

func removedAndStable(s dotFun[bool], frontier vclock.VersionVector) bool {
	for _, v := range s.entries {
		if v.val || !stable(frontier, v.dot) {
			return false
		}
	}
	return true
}

// MarshalJSON encodes the set's value as a JSON array in canonical order.
func (x *RWSet[E]) MarshalJSON() ([]byte, error) {
	live := make(map[E]struct{})
	for e := range x.All() {
		live[e] = struct{}{}
	}
	return jsonKeys(live)
}

func (x *RWSet[E]) fillStats(st *Stats) {
	st.Elements = x.Len()
	st.Tombstones = x.c.store.len() - st.Elements
}

// jsonKeys encodes the keys of m as a JSON array sorted by their binary
// encoding.
func jsonKeys[K comparable, V any](m map[K]V) ([]byte, error) {
	return jsonKeysOf(len(m), maps.Keys(m))
}

func jsonKeysOf[K comparable](n int, seq iter.Seq[K]) ([]byte, error) {
	keys, err := sortedKeysOf(n, seq)
	if err != nil {
		return nil, err
	}
	out := make([]K, len(keys))
	for i, k := range keys {
		out[i] = k.k
	}
	return json.Marshal(out)
}

package crdt

import (
	"slices"
)

// A dot store holds the payload of a causal CRDT: which events (dots) are
// still live and what they carry. A state is a pair (store, context): the
// context says which events the state has seen, the store which of those
// are still in effect. An event the context has seen but the store lacks
// was removed, which is how removes work without tombstones.
//
// The join of two such pairs is the one rule every causal type here shares
// (Almeida, Shoker and Baquero, "Delta State Replicated Data Types"): a dot
// survives if both stores have it, or if one store has it and the other
// side's context has never seen it. dotSet, dotFun and dotMap each apply
// that rule to their shape, and causal.merge applies it to a whole state.
type dotStore[S any] interface {
	// join returns the join of (receiver, c) and (o, oc). It may reuse the
	// receiver's memory, and never changes o.
	join(o S, c, oc *context) S
	// bottom reports whether the store holds no dots.
	bottom() bool
	// same reports, cheaply and conservatively, whether o is the receiver
	// itself (the result of a join that changed nothing), so that joins
	// can skip writing it back.
	same(o S) bool
	// coveredBy reports whether c has seen any dot of the store. A join
	// can only drop dots the other side's context covers, so a store it
	// does not cover survives a join unchanged apart from what the other
	// side adds.
	coveredBy(c *context) bool
	// eachDot calls f for every dot in the store.
	eachDot(f func(Dot))
	// clone returns a copy sharing no mutable memory with the receiver.
	clone() S
	// empty returns an empty store. It is called on zero values.
	empty() S
	// retag returns the store with every dot d replaced by f(d). It may
	// reuse the receiver's memory.
	retag(f func(Dot) Dot) S
	// appendStore appends the canonical encoding of the store.
	appendStore(b []byte) ([]byte, error)
	// readStore decodes a store from the front of b. It is called on zero
	// values.
	readStore(b []byte) (S, []byte, error)
}

// mutation selects a deliberately broken join, set only by the mutation
// test (export_test.go) to prove the law suite catches broken merges.
type mutation int

const (
	mutNone          mutation = iota
	mutIgnoreContext          // joins keep every dot of both stores
	mutDropCloud              // context merges drop out-of-order dots
	mutMaxNotUnion            // dot-set joins keep the side with the larger dot
)

var joinMutation mutation

// joinShortcuts enables the joins' shortcuts (skipping the scan of a large
// store for a small delta, a plain union of stores whose contexts share
// nothing). A test turns them off to check that they change no result.
var joinShortcuts = true

// causal is a causal CRDT state: a dot store and its causal context. Every
// causal type embeds one, and merge is written here once.
type causal[S dotStore[S]] struct {
	store S
	ctx   context
}

func (a *causal[S]) merge(b *causal[S]) {
	a.store = a.store.join(b.store, &a.ctx, &b.ctx)
	a.ctx.merge(&b.ctx)
}

func (a *causal[S]) clone() causal[S] {
	return causal[S]{store: a.store.clone(), ctx: a.ctx.clone()}
}

// removeDots returns the context a remove delta carries: the dots of the
// removed store, which the receiver's join then drops.
func removeDots[S dotStore[S]](s S) context {
	var b ctxBody
	s.eachDot(func(d Dot) { b.add(d) })
	var c context
	c.set(b)
	return c
}

// dotSet is a set of dots, sorted. Almost every element of an add-wins set
// has exactly one dot, so the first is kept inline and only concurrent
// additions spill into more.
type dotSet struct {
	one  Dot    // zero when the set is empty
	more *[]Dot // dots after one, sorted; nil when there are none
}

// A dotSet is immutable: operations build new sets and never write into
// more, so copies may share it freely. more is a pointer rather than a
// slice so that the common single-dot set is 32 bytes, which keeps the
// maps of large sets small.

// rest returns the dots after the first.
func (s dotSet) rest() []Dot {
	if s.more == nil {
		return nil
	}
	return *s.more
}

func singleDot(d Dot) dotSet { return dotSet{one: d} }

func (s dotSet) bottom() bool { return s.one.Counter == 0 }

func (s dotSet) same(o dotSet) bool {
	return s.one == o.one && s.more == o.more
}

func (s dotSet) coveredBy(c *context) bool {
	if s.bottom() {
		return false
	}
	if c.contains(s.one) {
		return true
	}
	for _, d := range s.rest() {
		if c.contains(d) {
			return true
		}
	}
	return false
}

func (s dotSet) len() int {
	if s.bottom() {
		return 0
	}
	return 1 + len(s.rest())
}

func (s dotSet) eachDot(f func(Dot)) {
	if s.bottom() {
		return
	}
	f(s.one)
	for _, d := range s.rest() {
		f(d)
	}
}

func (s dotSet) has(d Dot) bool {
	if s.one == d {
		return true
	}
	_, ok := slices.BinarySearchFunc(s.rest(), d, Dot.Compare)
	return ok
}

// dotSetOf builds a set from sorted, distinct dots.
func dotSetOf(ds []Dot) dotSet {
	if len(ds) == 0 {
		return dotSet{}
	}
	s := dotSet{one: ds[0]}
	if len(ds) > 1 {
		rest := ds[1:]
		s.more = &rest
	}
	return s
}

func (s dotSet) clone() dotSet { return s } // immutable: see dotSet
func (dotSet) empty() dotSet   { return dotSet{} }

func (s dotSet) join(o dotSet, c, oc *context) dotSet {
	switch joinMutation {
	case mutIgnoreContext:
		c, oc = &context{}, &context{}
	case mutMaxNotUnion:
		if s.bottom() || (!o.bottom() && s.maxDot().Compare(o.maxDot()) < 0) {
			return o.clone()
		}
		return s
	}
	// Fast paths for the shapes that dominate: equal single dots, and one
	// side empty.
	if s.more == nil && o.more == nil {
		switch {
		case s.one == o.one:
			return s
		case o.bottom():
			if oc.contains(s.one) {
				return dotSet{}
			}
			return s
		case s.bottom():
			if c.contains(o.one) {
				return dotSet{}
			}
			return o
		}
	}
	var out []Dot
	s.eachDot(func(d Dot) {
		if o.has(d) || !oc.contains(d) {
			out = append(out, d)
		}
	})
	o.eachDot(func(d Dot) {
		if !s.has(d) && !c.contains(d) {
			out = append(out, d)
		}
	})
	slices.SortFunc(out, Dot.Compare)
	return dotSetOf(out)
}

func (s dotSet) maxDot() Dot {
	if r := s.rest(); len(r) > 0 {
		return r[len(r)-1]
	}
	return s.one
}

// dotFun maps dots to values, sorted by dot. The value of a dot never
// changes (a dot names one event), so a join takes either side's.
type dotFun[V any] struct {
	entries []dotVal[V]
}

type dotVal[V any] struct {
	dot Dot
	val V
}

func (f dotFun[V]) bottom() bool { return len(f.entries) == 0 }

func (f dotFun[V]) same(o dotFun[V]) bool {
	return len(f.entries) == len(o.entries) && (len(f.entries) == 0 || &f.entries[0] == &o.entries[0])
}
func (f dotFun[V]) coveredBy(c *context) bool {
	for _, e := range f.entries {
		if c.contains(e.dot) {
			return true
		}
	}
	return false
}

func (f dotFun[V]) eachDot(fn func(Dot)) {
	for _, e := range f.entries {
		fn(e.dot)
	}
}
func (f dotFun[V]) clone() dotFun[V] { return dotFun[V]{entries: slices.Clone(f.entries)} }
func (dotFun[V]) empty() dotFun[V]   { return dotFun[V]{} }

func (f dotFun[V]) find(d Dot) (int, bool) {
	return slices.BinarySearchFunc(f.entries, d, func(e dotVal[V], d Dot) int { return e.dot.Compare(d) })
}

func (f dotFun[V]) join(o dotFun[V], c, oc *context) dotFun[V] {
	if joinMutation == mutIgnoreContext {
		c, oc = &context{}, &context{}
	}
	out := make([]dotVal[V], 0, len(f.entries)+len(o.entries))
	i, j := 0, 0
	for i < len(f.entries) || j < len(o.entries) {
		var cmp int
		switch {
		case j == len(o.entries):
			cmp = -1
		case i == len(f.entries):
			cmp = 1
		default:
			cmp = f.entries[i].dot.Compare(o.entries[j].dot)
		}
		switch cmp {
		case 0:
			out = append(out, f.entries[i])
			i++
			j++
		case -1:
			if !oc.contains(f.entries[i].dot) {
				out = append(out, f.entries[i])
			}
			i++
		default:
			if !c.contains(o.entries[j].dot) {
				out = append(out, o.entries[j])
			}
			j++
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return dotFun[V]{entries: out}
}

// dotMap maps keys to nested dot stores that share the map's context. A
// key whose store becomes empty disappears.
//
// Most deltas hold exactly one key, so a dotMap with one entry keeps it
// inline (k, s, has) and allocates a table only for a second key: a delta
// then costs one allocation instead of three. The table (see table) is
// sized exactly when a state is decoded.
type dotMap[K comparable, S dotStore[S]] struct {
	t   *table[K, S] // nil while the map has at most one entry
	k   K
	s   S
	has bool
}

func (m dotMap[K, S]) len() int {
	if m.t != nil {
		return m.t.len()
	}
	if m.has {
		return 1
	}
	return 0
}

func (m dotMap[K, S]) bottom() bool { return m.len() == 0 }

// same is never sure for maps: a join updates the table in place, so
// writing it back is cheap, and an inline entry may have changed.
func (m dotMap[K, S]) same(dotMap[K, S]) bool { return false }

// all yields the entries. The map must not change during the iteration,
// except through set or del of the key being visited.
func (m dotMap[K, S]) all(yield func(K, S) bool) {
	if m.t == nil {
		if m.has {
			yield(m.k, m.s)
		}
		return
	}
	for sl := range m.t.all {
		if !yield(sl.key, sl.val) {
			return
		}
	}
}

func (m dotMap[K, S]) keys(yield func(K) bool) {
	for k := range m.all {
		if !yield(k) {
			return
		}
	}
}

func (m dotMap[K, S]) coveredBy(c *context) bool {
	for _, s := range m.all {
		if s.coveredBy(c) {
			return true
		}
	}
	return false
}

func (m dotMap[K, S]) eachDot(f func(Dot)) {
	for _, s := range m.all {
		s.eachDot(f)
	}
}
func (dotMap[K, S]) empty() dotMap[K, S] { return dotMap[K, S]{} }

func (m dotMap[K, S]) clone() dotMap[K, S] {
	if m.t == nil {
		if m.has {
			m.s = m.s.clone()
		}
		return m
	}
	out := m.t.clone()
	for sl := range out.all {
		sl.val = sl.val.clone()
	}
	return dotMap[K, S]{t: &out}
}

func (m dotMap[K, S]) get(k K) (S, bool) {
	if m.t != nil {
		if sl := m.t.get(k); sl != nil {
			return sl.val, true
		}
		var zero S
		return zero, false
	}
	if m.has && m.k == k {
		return m.s, true
	}
	var zero S
	return zero, false
}

// set stores s at k, or deletes k when s is empty.
func (m *dotMap[K, S]) set(k K, s S) {
	if s.bottom() {
		m.del(k)
		return
	}
	switch {
	case m.t != nil:
		m.t.put(k, 0, s)
	case !m.has || m.k == k:
		m.k, m.s, m.has = k, s, true
	default:
		m.grow(2)
		m.t.put(k, 0, s)
	}
}

func (m *dotMap[K, S]) del(k K) {
	if m.t != nil {
		m.t.del(k)
		return
	}
	if m.has && m.k == k {
		m.clearInline()
	}
}

// grow moves the inline entry, if any, into a table with room for n
// entries; a map that has a table keeps it.
func (m *dotMap[K, S]) grow(n int) {
	if m.t != nil {
		return
	}
	t := newTable[K, S](n)
	if m.has {
		t.put(m.k, 0, m.s)
	}
	m.t = &t
	m.clearInline()
}

func (m *dotMap[K, S]) clearInline() {
	var zk K
	var zs S
	m.k, m.s, m.has = zk, zs, false
}

// coverStaysInKeysOf reports, for a small o (a delta) joined into a large
// m, that no entry of m outside o's keys holds a dot oc has seen, so that
// the join need not scan m for entries to shrink: the pass over o's keys
// joins every entry that can change.
//
// It enumerates the few dots both contexts have seen (those are the only
// dots of m that oc covers, since m's dots are all in c) and looks for
// each in m's entries at o's keys. A dot names one event, the update of
// one key, so a dot found there is held by no other entry. A dot not found
// there may be held elsewhere, and the answer is then no: the caller
// scans. An Add delta's context is its new dot, which m has not seen, and
// the dots it supersedes, which m holds at the same key or has dropped.
func (m dotMap[K, S]) coverStaysInKeysOf(o dotMap[K, S], c, oc *context) bool {
	const maxShared = 64
	limit := min(maxShared, 8+4*o.len())
	if !joinShortcuts || joinMutation != mutNone || m.len() <= 16*limit {
		return false // a scan costs about as much as the check
	}
	shared, ok := sharedDots(c, oc, limit)
	if !ok {
		return false
	}
	if len(shared) == 0 {
		return true
	}
	var found uint64 // bit i: shared[i] is held at one of o's keys
	mark := func(d Dot) {
		if i := slices.Index(shared, d); i >= 0 {
			found |= 1 << i
		}
	}
	for k := range o.keys {
		s, ok := m.get(k)
		if !ok {
			continue
		}
		s.eachDot(mark)
	}
	return found == 1<<len(shared)-1
}

// sharedDots returns the dots both c and oc have seen, for the join
// shortcut of coverStaysInKeysOf. It gives up (ok false) when oc has seen
// more than limit dots, since enumerating them would cost about as much as
// the scan the shortcut avoids.
func sharedDots(c, oc *context, limit int) (shared []Dot, ok bool) {
	n := len(oc.cloud())
	for _, d := range oc.vv() {
		if d.Counter > uint64(limit) {
			return nil, false
		}
		n += int(d.Counter)
	}
	if n > limit {
		return nil, false
	}
	for _, d := range oc.vv() {
		for i := uint64(1); i <= d.Counter; i++ {
			if x := (Dot{ID: d.ID, Counter: i}); c.contains(x) {
				shared = append(shared, x)
			}
		}
	}
	for _, d := range oc.cloud() {
		if c.contains(d) {
			shared = append(shared, d)
		}
	}
	return shared, true
}

func (m dotMap[K, S]) join(o dotMap[K, S], c, oc *context) dotMap[K, S] {
	var zero S
	// empty is only ever passed as the argument of join, which never
	// changes its argument, so one serves every key.
	empty := zero.empty()
	// First, the entries of m that o's context has seen some dot of: only
	// those can lose dots, so only those need o's entry now. An entry o
	// has not seen is left for the second loop, which joins it with o's
	// entry if o has one. Disjoint sets thus cost one pass over each
	// side and no lookups into o for m's keys.
	if m.t != nil && !m.coverStaysInKeysOf(o, c, oc) {
		for sl := range m.t.all {
			k, s := sl.key, sl.val
			if !s.coveredBy(oc) {
				continue
			}
			os, ok := o.get(k)
			if !ok {
				os = empty
			}
			if js := s.join(os, c, oc); js.bottom() {
				m.t.del(k)
			} else if !js.same(s) {
				sl.val = js
			}
		}
	} else if m.has && m.s.coveredBy(oc) {
		os, ok := o.get(m.k)
		if !ok {
			os = empty
		}
		if js := m.s.join(os, c, oc); js.bottom() {
			m.clearInline()
		} else {
			m.s = js
		}
	}
	if o.len() > 1 {
		// Several keys may be coming: move to a table now.
		m.grow(o.len() + 1)
	}
	// Then every entry of o. Joining an entry the first loop already
	// joined again with the same sides changes nothing (the join is
	// idempotent while the contexts stay as they are), and a key the
	// first loop dropped gets back only dots c has not seen, of which
	// there are none.
	for k, os := range o.all {
		if s, ok := m.get(k); ok {
			if js := s.join(os, c, oc); js.bottom() {
				m.del(k)
			} else if !js.same(s) {
				m.set(k, js)
			}
			continue
		}
		if js := zero.empty().join(os, c, oc); !js.bottom() {
			m.set(k, js.clone())
		}
	}
	return m
}

func (s dotSet) retag(f func(Dot) Dot) dotSet {
	var out []Dot
	s.eachDot(func(d Dot) { out = append(out, f(d)) })
	slices.SortFunc(out, Dot.Compare)
	return dotSetOf(slices.Compact(out))
}

func (f dotFun[V]) retag(fn func(Dot) Dot) dotFun[V] {
	out := slices.Clone(f.entries)
	for i := range out {
		out[i].dot = fn(out[i].dot)
	}
	slices.SortFunc(out, func(a, b dotVal[V]) int { return a.dot.Compare(b.dot) })
	return dotFun[V]{entries: out}
}

func (m dotMap[K, S]) retag(f func(Dot) Dot) dotMap[K, S] {
	if m.t == nil {
		if m.has {
			m.s = m.s.retag(f)
		}
		return m
	}
	for sl := range m.t.all {
		sl.val = sl.val.retag(f)
	}
	return m
}

package crdt

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"unsafe"
)

// awStore is the element store of an add-wins set: a map from element to
// the dot set of its live adds, the same lattice as a dotMap of dotSets
// and the same wire format, laid out for sets of many elements.
//
// Almost every element has one dot, and a set's dots come from a handful
// of replicas, so an element's entry in the table (see table) is a packed
// dot: its counter and the index of its replica in a small per-store list
// of replica IDs. Entries hold no pointers besides the element, so a slot
// of a string element is 32 bytes (a Go map of dot sets took 48), cheaper
// to probe, copy and grow, and the garbage collector traces only the
// elements. The rare element with several dots (concurrent adds) spills
// into a side map.
//
// Like dotMap, a store with one element of one dot (a delta, usually)
// keeps it inline and allocates no table. The inline entry is a lone dot
// rather than a dot set, which keeps an AWSet at 64 bytes (for a string
// element) and an Add's delta, with its context's two dots, at 112; an
// element with several dots takes a table even when it is alone.
type awStore[E comparable] struct {
	big *awBig[E] // nil while the store holds at most one element
	k   E         // the inline element, when one is not zero
	one Dot
}

type awBig[E comparable] struct {
	t table[E, uint64] // aux is the replica index, val the counter
	// ids are the replicas that packed dots name, by index. Append only,
	// so that indices stay valid; a store's replicas are few.
	ids []ReplicaID
	// more holds the dot sets of the elements with more than one dot;
	// their entries in t are multiDots.
	more map[E]dotSet
	// last is the index intern found last: a replica adding many
	// elements finds itself in one comparison.
	last uint32
	// own is where Add last found its replica in the set's context
	// vector, a hint that makes minting a dot O(1); checked before use.
	// It lives here rather than in AWSet, which it would grow by 8
	// bytes, deltas included; a set small enough to have no table does
	// without it.
	own uint32
}

// packedDot is one dot of an element: the counter and the index of the
// replica in awBig.ids, or rid == multiDots when the element's dots are
// in awBig.more.
type packedDot struct {
	cnt uint64
	rid uint32
}

const multiDots = math.MaxUint32

// intern returns the index of id in b.ids, appending it if absent. IDs
// handed out by a context (the common case) match by pointer.
func (b *awBig[E]) intern(id ReplicaID) uint32 {
	if int(b.last) < len(b.ids) && sameID(b.ids[b.last], id) {
		return b.last
	}
	p := unsafe.StringData(string(id))
	for i, x := range b.ids {
		if unsafe.StringData(string(x)) == p && len(x) == len(id) {
			b.last = uint32(i)
			return b.last
		}
	}
	for i, x := range b.ids {
		if x == id {
			b.last = uint32(i)
			return b.last
		}
	}
	b.ids = append(b.ids, id)
	b.last = uint32(len(b.ids) - 1)
	return b.last
}

func (b *awBig[E]) unpack(p packedDot) Dot { return Dot{ID: b.ids[p.rid], Counter: p.cnt} }

// entry returns the dot set of an element from its packed entry.
func (b *awBig[E]) entry(k E, p packedDot) dotSet {
	if p.rid == multiDots {
		return b.more[k]
	}
	return dotSet{one: b.unpack(p)}
}

// put stores s (not bottom) at k.
func (b *awBig[E]) put(k E, s dotSet) {
	if s.more == nil {
		if len(b.more) > 0 {
			delete(b.more, k)
		}
		b.t.put(k, b.intern(s.one.ID), s.one.Counter)
		return
	}
	if b.more == nil {
		b.more = make(map[E]dotSet)
	}
	b.more[k] = s
	b.t.put(k, multiDots, 0)
}

// swap stores the single dot d at k and returns k's old dot set: Add's
// one probe of the table.
func (b *awBig[E]) swap(k E, d Dot) dotSet {
	rid, cnt, had := b.t.putHashed(k, hashKey(k), b.intern(d.ID), d.Counter)
	switch {
	case !had:
		return dotSet{}
	case rid == multiDots:
		s := b.more[k]
		delete(b.more, k)
		return s
	}
	return dotSet{one: b.unpack(packedDot{cnt: cnt, rid: rid})}
}

func (b *awBig[E]) remove(k E) {
	b.t.del(k)
	if len(b.more) > 0 {
		delete(b.more, k)
	}
}

func (m awStore[E]) len() int {
	if m.big != nil {
		return m.big.t.len()
	}
	if m.one.Counter == 0 {
		return 0
	}
	return 1
}

func (m awStore[E]) bottom() bool { return m.len() == 0 }

// same is never sure: a join updates the map in place.
func (m awStore[E]) same(awStore[E]) bool { return false }

func (awStore[E]) empty() awStore[E] { return awStore[E]{} }

func (m awStore[E]) get(k E) (dotSet, bool) {
	if m.big != nil {
		sl := m.big.t.get(k)
		if sl == nil {
			return dotSet{}, false
		}
		return m.big.entry(k, packedDot{cnt: sl.val, rid: sl.aux}), true
	}
	if m.one.Counter != 0 && m.k == k {
		return dotSet{one: m.one}, true
	}
	return dotSet{}, false
}

// swap stores the single dot d at k and returns k's old dot set.
func (m *awStore[E]) swap(k E, d Dot) dotSet {
	if m.big != nil {
		return m.big.swap(k, d)
	}
	old, _ := m.get(k)
	m.set(k, singleDot(d))
	return old
}

// set stores s at k, or deletes k when s is empty.
func (m *awStore[E]) set(k E, s dotSet) {
	switch {
	case s.bottom():
		m.del(k)
	case m.big != nil:
		m.big.put(k, s)
	case s.more == nil && (m.one.Counter == 0 || m.k == k):
		m.k, m.one = k, s.one
	default:
		m.grow(1)
		m.big.put(k, s)
	}
}

// grow moves the inline element, if any, into a map with room for n more.
func (m *awStore[E]) grow(n int) {
	if m.big != nil {
		return
	}
	b := &awBig[E]{t: newTable[E, uint64](n + 1)}
	if m.one.Counter != 0 {
		b.put(m.k, dotSet{one: m.one})
	}
	var zk E
	m.big, m.k, m.one = b, zk, Dot{}
}

func (m *awStore[E]) del(k E) {
	if m.big != nil {
		m.big.remove(k)
		return
	}
	if m.one.Counter != 0 && m.k == k {
		var zk E
		m.k, m.one = zk, Dot{}
	}
}

// all yields the entries. The store must not change during the iteration,
// except through set or del of the key being visited.
func (m awStore[E]) all(yield func(E, dotSet) bool) {
	if m.big == nil {
		if m.one.Counter != 0 {
			yield(m.k, dotSet{one: m.one})
		}
		return
	}
	for sl := range m.big.t.all {
		if !yield(sl.key, m.big.entry(sl.key, packedDot{cnt: sl.val, rid: sl.aux})) {
			return
		}
	}
}

func (m awStore[E]) keys(yield func(E) bool) {
	if m.big == nil {
		if m.one.Counter != 0 {
			yield(m.k)
		}
		return
	}
	for k := range m.big.t.keys {
		if !yield(k) {
			return
		}
	}
}

func (m awStore[E]) coveredBy(c *context) bool {
	for _, s := range m.all {
		if s.coveredBy(c) {
			return true
		}
	}
	return false
}

func (m awStore[E]) eachDot(f func(Dot)) {
	for _, s := range m.all {
		s.eachDot(f)
	}
}

func (m awStore[E]) clone() awStore[E] {
	if m.big == nil {
		return m // dot sets are immutable
	}
	b := m.big
	return awStore[E]{big: &awBig[E]{
		t:    b.t.clone(),
		ids:  slices.Clip(slices.Clone(b.ids)),
		more: maps.Clone(b.more),
		last: b.last,
	}}
}

func (m awStore[E]) retag(f func(Dot) Dot) awStore[E] {
	var out awStore[E]
	for k, s := range m.all {
		out.set(k, s.retag(f))
	}
	return out
}

// ridBases answers ctx.contains for the packed dots of b: base[rid] is
// ctx's vector entry for b.ids[rid], filled in on first use. A context
// with a cloud is asked directly.
type ridBases struct {
	ctx  *context
	base []uint64
	set  []bool
}

func newRidBases(ctx *context, n int) ridBases {
	if len(ctx.cloud()) > 0 {
		return ridBases{ctx: ctx}
	}
	return ridBases{ctx: ctx, base: make([]uint64, n), set: make([]bool, n)}
}

func (r *ridBases) contains(ids []ReplicaID, p packedDot) bool {
	if r.base == nil || int(p.rid) >= len(r.base) {
		return r.ctx.contains(Dot{ID: ids[p.rid], Counter: p.cnt})
	}
	if !r.set[p.rid] {
		r.base[p.rid], r.set[p.rid] = r.ctx.base(ids[p.rid]), true
	}
	return p.cnt <= r.base[p.rid]
}

func (m awStore[E]) join(o awStore[E], c, oc *context) awStore[E] {
	if joinMutation != mutNone || m.big == nil {
		return m.joinSlow(o, c, oc)
	}
	b := m.big
	if o.big == nil {
		// A delta: at most one element.
		if !m.coverStaysInKeysOf(o, c, oc) {
			m.dropCovered(o, oc)
		}
		if o.one.Counter != 0 {
			s, _ := m.get(o.k)
			m.set(o.k, s.join(dotSet{one: o.one}, c, oc))
		}
		return m
	}
	ob := o.big
	// tr maps o's replica indices to m's, interning o's replicas in m.
	tr := make([]uint32, len(ob.ids))
	for i, id := range ob.ids {
		tr[i] = b.intern(id)
	}
	union := joinShortcuts && c.sharesNothing(oc)
	if !union && !m.coverStaysInKeysOf(o, c, oc) {
		m.dropCovered(o, oc)
	}
	// Then every entry of o, found in m by the hash o's table stored for
	// it. An element m lacks (the commonest case of a large merge)
	// survives unless m has seen, and so removed, its dot; when the
	// contexts share nothing (union), m has seen none of o's dots.
	b.t.reserve(ob.t.len())
	seenByM := newRidBases(c, len(ob.ids))
	for i := range ob.t.slots {
		sl := &ob.t.slots[i]
		if sl.h <= slotDeleted {
			continue
		}
		k, op := sl.key, packedDot{cnt: sl.val, rid: sl.aux}
		j := b.t.find(k, sl.h)
		if j < 0 {
			if op.rid != multiDots {
				if union || !seenByM.contains(ob.ids, op) {
					b.t.insertNew(k, sl.h, tr[op.rid], op.cnt, -1)
				}
			} else if js := (dotSet{}).join(ob.more[k], c, oc); !js.bottom() {
				b.put(k, js)
			}
			continue
		}
		ms := &b.t.slots[j]
		p := packedDot{cnt: ms.val, rid: ms.aux}
		if op.rid != multiDots && p.rid != multiDots && op.cnt == p.cnt && tr[op.rid] == p.rid {
			continue // the same single dot
		}
		if js := b.entry(k, p).join(ob.entry(k, op), c, oc); js.bottom() {
			b.remove(k)
		} else {
			b.put(k, js)
		}
	}
	return m
}

// dropCovered joins every entry of m that oc has seen a dot of with o's
// entry for it: only those can lose dots. Entries oc has not seen are
// left for the pass over o's entries.
func (m awStore[E]) dropCovered(o awStore[E], oc *context) {
	b := m.big
	seenByO := newRidBases(oc, len(b.ids))
	var empty context
	for sl := range b.t.all {
		k, p := sl.key, packedDot{cnt: sl.val, rid: sl.aux}
		var s dotSet
		if p.rid != multiDots {
			if !seenByO.contains(b.ids, p) {
				continue
			}
			s = dotSet{one: b.unpack(p)}
		} else if s = b.more[k]; !s.coveredBy(oc) {
			continue
		}
		os, _ := o.get(k)
		// Only dots o's context has seen and o's entry lacks go: m's
		// context is not needed, as os is only intersected with s.
		if js := s.join(os, &empty, oc).intersect(s); js.bottom() {
			b.remove(k)
		} else if !js.same(s) {
			b.put(k, js)
		}
	}
}

// intersect returns the dots of s that are also in o.
func (s dotSet) intersect(o dotSet) dotSet {
	if s.more == nil && o.more == nil {
		if s.one == o.one {
			return s
		}
		return dotSet{}
	}
	var out []Dot
	s.eachDot(func(d Dot) {
		if o.has(d) {
			out = append(out, d)
		}
	})
	return dotSetOf(out)
}

// joinSlow is the join written plainly, entry by entry, for small stores
// and for the mutation test's broken joins.
func (m awStore[E]) joinSlow(o awStore[E], c, oc *context) awStore[E] {
	var out awStore[E]
	if n := m.len() + o.len(); n > 1 {
		out.grow(n)
	}
	for k, s := range m.all {
		os, _ := o.get(k)
		out.set(k, s.join(os, c, oc))
	}
	for k, os := range o.all {
		if _, ok := m.get(k); !ok {
			out.set(k, (dotSet{}).join(os, c, oc))
		}
	}
	return out
}

// coverStaysInKeysOf is dotMap.coverStaysInKeysOf for an element store:
// for a small o (a delta) joined into a large m, it reports that no entry
// of m outside o's keys holds a dot oc has seen, so that the join need not
// scan m.
func (m awStore[E]) coverStaysInKeysOf(o awStore[E], c, oc *context) bool {
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
	for k := range o.keys {
		s, ok := m.get(k)
		if !ok {
			continue
		}
		s.eachDot(func(d Dot) {
			if i := slices.Index(shared, d); i >= 0 {
				found |= 1 << i
			}
		})
	}
	return found == 1<<len(shared)-1
}

func (m awStore[E]) appendStore(b []byte) ([]byte, error) {
	keys, err := sortedKeysOf(m.len(), m.keys)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, kb := range keys {
		b = append(b, kb.enc...)
		s, _ := m.get(kb.k)
		if b, err = s.appendStore(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// readStore decodes the dotMap encoding of an element store. Replica IDs
// are interned as they are read, so a dot costs no allocation.
func (awStore[E]) readStore(b []byte) (awStore[E], []byte, error) {
	n, b, err := readLen(b, 2)
	if err != nil || n == 0 {
		return awStore[E]{}, b, err
	}
	var m awStore[E]
	if n > 1 {
		m.grow(presize(n, len(b), 5))
	}
	readK := elemReader[E]()
	var prev []byte
	for range n {
		start := b
		var k E
		if k, b, err = readK(b); err != nil {
			return awStore[E]{}, nil, err
		}
		enc := start[:len(start)-len(b)]
		if prev != nil && bytes.Compare(prev, enc) >= 0 {
			return awStore[E]{}, nil, corrupt("keys out of order")
		}
		prev = enc
		if m.big != nil && len(b) > 0 && b[0] == 1 {
			// One dot, the common case: read it without building a
			// dot set, interning its replica.
			var d packedDot
			if d, b, err = m.big.readPacked(b[1:]); err != nil {
				return awStore[E]{}, nil, err
			}
			m.big.t.put(k, d.rid, d.cnt)
			continue
		}
		var s dotSet
		if s, b, err = (dotSet{}).readStore(b); err != nil {
			return awStore[E]{}, nil, err
		}
		if s.bottom() {
			return awStore[E]{}, nil, corrupt("empty entry")
		}
		m.set(k, s)
	}
	return m, b, nil
}

// readPacked reads one dot, interning its replica ID without allocating
// when the ID is known.
func (bg *awBig[E]) readPacked(b []byte) (packedDot, []byte, error) {
	id, b, err := readBytes(b)
	if err != nil {
		return packedDot{}, nil, err
	}
	cnt, b, err := readUvarint(b)
	if err != nil {
		return packedDot{}, nil, err
	}
	if cnt == 0 {
		return packedDot{}, nil, corrupt("zero dot counter")
	}
	if int(bg.last) < len(bg.ids) && string(bg.ids[bg.last]) == string(id) {
		return packedDot{cnt: cnt, rid: bg.last}, b, nil
	}
	for i, x := range bg.ids {
		if string(x) == string(id) {
			bg.last = uint32(i)
			return packedDot{cnt: cnt, rid: bg.last}, b, nil
		}
	}
	return packedDot{cnt: cnt, rid: bg.intern(ReplicaID(id))}, b, nil
}

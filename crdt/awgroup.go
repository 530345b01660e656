package crdt

import "unsafe"

// AddTo adds e as an event of replica id, as Add does, and joins the
// delta into group instead of returning it: afterwards x is what Add
// leaves and group is what group.Merge(x.Add(id, e)) would leave.
//
// A group is a delta interval built in place, for a replica that ships
// its adds in batches and is done with a batch once it has shipped it
// (encoded it, or merged it elsewhere): it joins every add of a batch
// into one group, ships the group, and empties it with Reset, which keeps
// its memory. AddTo then allocates nothing once the group has grown to a
// batch's size, where keeping each Add's delta costs an allocation per
// add and the collector's work that comes with it. The group's context
// keeps the dots its adds superseded in order, so an add that supersedes
// an old dot moves the group's later dots along, and while the collector
// is marking each moved dot costs a write barrier: keep batches to
// hundreds of adds. A group handed to a DeltaBuffer is kept by it and must
// be neither Reset nor added to afterwards; DeltaBuffer.Recycle hands it
// back, reset, once every peer has acknowledged it. Building a fresh group
// per batch instead costs more than keeping each Add's delta (its table
// and context grow from nothing, and the garbage keeps the collector
// marking).
//
// group may be any AWSet; AddTo(x, ...) is Add with the delta dropped,
// as x holds its own deltas already.
func (x *AWSet[E]) AddTo(group *AWSet[E], id ReplicaID, e E) {
	d := x.c.ctx.nextAt(id, &x.own)
	if group == x {
		x.c.store.swap(e, d)
		return
	}
	// One hash of e serves both tables: they share the seed.
	var h uint32
	var old dotSet
	if x.c.store.big != nil {
		h = hashKey(e)
		old = x.c.store.big.swapHashed(e, h, d)
	} else {
		old = x.c.store.swap(e, d)
		h = hashKey(e)
	}
	group.joinAdd(e, h, d, old)
}

// Reset makes x the empty set, as new(AWSet[E]) is, but keeps the memory
// of its element table and causal context for what is added next: the
// way to reuse a delta group (see AddTo) once it has been shipped. Do not
// Reset a set whose memory something else still uses, such as a group
// handed to a DeltaBuffer.
func (x *AWSet[E]) Reset() {
	b := x.c.store.big
	if b == nil {
		*x = AWSet[E]{}
		return
	}
	b.t.clear()
	clear(b.more)
	if b.ctxArr != nil {
		// The stale dots would keep their replica IDs alive.
		clear(unsafe.Slice(b.ctxArr, b.ctxCap))
	}
	x.c.ctx = context{}
	x.own = 0
}

// joinAdd joins the delta of an Add into x: element e (of hash h) with
// the new dot d, superseding the dots old. It is x.c.merge of that delta
// written for its shape: in the common case it reads and writes only x's
// entry for e, with one search of x's context per dot, and x's context
// grows in an array with room to spare, so that it allocates nothing once
// x's table and context have grown to their working size.
func (x *AWSet[E]) joinAdd(e E, h uint32, d Dot, old dotSet) {
	if joinMutation != mutNone || old.more != nil {
		x.mergeDelta(e, d, old)
		return
	}
	// The delta's context: d, and the dot it superseded if any.
	dots := [2]Dot{d, old.one}
	n := 1
	if !old.bottom() {
		n = 2
	}
	m := &x.c.store
	if m.big == nil {
		m.grow(1)
	}
	b := m.big
	slot := b.t.find(e, h)
	var s dotSet
	if slot >= 0 {
		sl := &b.t.slots[slot]
		s = b.entry(e, packedDot{cnt: sl.val, rid: sl.aux})
	}
	// Where x's context stands on each dot: seen, or its place in the
	// cloud, or (vector) the next dot of a vector entry.
	c := &x.c.ctx
	cb := c.body()
	var seen [2]bool
	var at [2]int
	vector := false
	for k := range n {
		q := &dots[k]
		switch base := cb.base(q.ID); {
		case q.Counter <= base:
			seen[k] = true
		case q.Counter == base+1:
			vector = true
		case len(cb.cloud) > 0 && sameID(cb.cloud[len(cb.cloud)-1].ID, q.ID) && cb.cloud[len(cb.cloud)-1].Counter < q.Counter:
			// After every cloud dot: a replica's next dot, usually.
			at[k] = len(cb.cloud)
		default:
			at[k], seen[k] = searchDots(cb.cloud, *q)
		}
		// The join drops the dots of x's store that the delta's
		// context has seen and its store lacks: the dot d superseded,
		// which was at e in the replica that made the delta. When x
		// has seen it and holds it at e too, x's other entries lose
		// nothing and need no look. Otherwise (x saw it and dropped
		// it, or holds it elsewhere, which no replica's own deltas
		// lead to) the general join scans x. It also takes the case
		// of an x that has seen d, the dot just made, which only a
		// replica restored from an old state can make twice.
		if seen[k] && (k == 0 || !s.has(*q)) {
			x.mergeDelta(e, d, old)
			return
		}
	}
	// The entry for e keeps the dots of s that are d or not in the
	// delta's context, and d, which x has not seen.
	if s.more == nil && (s.bottom() || s.one == old.one) {
		// Nothing of s survives but d: the common case.
		if slot >= 0 {
			sl := &b.t.slots[slot]
			sl.aux, sl.val = b.intern(d.ID), d.Counter
		} else {
			b.t.insertNew(e, h, b.intern(d.ID), d.Counter, -1)
		}
	} else {
		// Concurrent adds: s keeps dots the delta has not seen.
		var buf [2]Dot
		oc := pairContext(&buf, old.one, d)
		b.put(e, s.join(singleDot(d), c, &oc))
	}
	if vector {
		for k := range n {
			if !seen[k] {
				c.add(dots[k])
			}
		}
		return
	}
	// Insert the unseen dots into the cloud, the later place first so
	// that the earlier place stays right; at one place, the larger dot
	// first, so that the smaller ends before it.
	if n == 2 && !seen[0] && !seen[1] && (at[0] < at[1] || (at[0] == at[1] && dots[0].Compare(dots[1]) < 0)) {
		dots[0], dots[1] = dots[1], dots[0]
		at[0], at[1] = at[1], at[0]
		seen[0], seen[1] = seen[1], seen[0]
	}
	for k := range n {
		if !seen[k] {
			b.cloudInsert(c, at[k], dots[k])
		}
	}
}

// searchDots returns where d is, or would go, in the sorted dots ds, and
// whether it is there. It is slices.BinarySearchFunc with Dot.Compare,
// inlined, and comparing IDs by pointer first: the dots of a delta group
// share a few IDs.
func searchDots(ds []Dot, d Dot) (int, bool) {
	lo, hi := 0, len(ds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		x := &ds[m]
		var less bool
		if sameID(x.ID, d.ID) {
			less = x.Counter < d.Counter
		} else {
			less = x.ID < d.ID
		}
		if less {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(ds) && ds[lo] == d
}

// mergeDelta merges the delta joinAdd describes the general way, built
// as Add builds it.
func (x *AWSet[E]) mergeDelta(e E, d Dot, old dotSet) {
	delta := addDelta(e, d, old, new([2]Dot))
	x.c.merge(&delta)
}

// cloudInsert inserts d at place i of the cloud of c, the context of the
// set whose store b is; d belongs there and is not contiguous with a
// vector entry. The array grows in place when it is the one cloudInsert
// last allocated and has room, and otherwise moves to one with room to
// double: amortized, no allocation.
func (b *awBig[E]) cloudInsert(c *context, i int, d Dot) {
	nv, n := int(c.nv), int(c.nv)+int(c.nc)
	i += nv
	var all []Dot
	switch {
	case c.p != nil && c.p == b.ctxArr:
		all = unsafe.Slice(b.ctxArr, b.ctxCap)[:n]
	case c.p == nil && b.ctxArr != nil:
		// Empty since Reset: reuse the array.
		all = unsafe.Slice(b.ctxArr, b.ctxCap)[:0]
	}
	if n < cap(all) {
		all = all[:n+1]
		copy(all[i+1:], all[i:n])
		all[i] = d
		c.p = &all[0]
	} else {
		grown := make([]Dot, n+1, max(8, 2*(n+1)))
		var old []Dot
		if n > 0 {
			old = unsafe.Slice(c.p, n)
		}
		copy(grown, old[:i])
		grown[i] = d
		copy(grown[i+1:], old[i:])
		c.p = &grown[0]
		b.ctxArr, b.ctxCap = c.p, cap(grown)
	}
	c.nc++
}

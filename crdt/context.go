package crdt

import (
	"math"
	"slices"
	"unsafe"

	"github.com/distkit/distkit/vclock"
)

// Dot and ReplicaID are vclock's: a dot names one event, the Counter-th
// update made by replica ID.
type (
	Dot       = vclock.Dot
	ReplicaID = vclock.ReplicaID
)

// context is a causal context: the set of dots (events) a state has seen,
// its content a ctxBody. It is kept packed, as one array of dots (the
// vector's entries, then the cloud's) referenced by a pointer to its first
// element and two lengths: 16 bytes in every state, where the two slices
// of a ctxBody take 48. That matters for the values nested in an ORMap:
// they share the map's context and keep none of their own, and a decoded
// map holds one value per key (an EWFlag is 48 bytes, in a 48-byte block;
// with the slices it was 88, in a 96-byte block). It also keeps an Add
// delta's one allocation at 112 bytes, its context's dots inside it.
//
// Copying a context value shares its array, as copying a slice does, so
// the package only moves contexts (the source is reset or dropped) or
// clones them.
type context struct {
	p      *Dot   // first of nv+nc dots; nil when the context is empty
	nv, nc uint32 // vector entries, then cloud dots
}

// body returns the content. Its slices alias the array and are capped, so
// appending to either copies rather than overwriting the other.
func (c *context) body() ctxBody {
	if c.p == nil {
		return ctxBody{}
	}
	all := unsafe.Slice(c.p, int(c.nv)+int(c.nc))
	var b ctxBody
	if c.nv > 0 {
		b.vv = all[:c.nv:c.nv]
	}
	if c.nc > 0 {
		b.cloud = all[c.nv:]
	}
	return b
}

// set makes b the content, copying it into one array unless it is
// already c's array with the vector in place.
func (c *context) set(b ctxBody) {
	nv, nc := len(b.vv), len(b.cloud)
	if uint64(nv) > math.MaxUint32 || uint64(nc) > math.MaxUint32 {
		panic("crdt: causal context too large") // over 4 billion replicas or dots
	}
	cur := c.body()
	switch {
	case nv == 0 && nc == 0:
		*c = context{}
		return
	case nc == 0:
		c.p = &b.vv[0]
	case nv == 0:
		c.p = &b.cloud[0]
	case nv == len(cur.vv) && len(cur.cloud) > 0 && &b.vv[0] == &cur.vv[0] && &b.cloud[0] == &cur.cloud[0]:
		// Still c's own array, its vector unmoved and its cloud (maybe
		// shortened in place) right behind it.
	default:
		all := make([]Dot, nv+nc)
		copy(all, b.vv)
		copy(all[nv:], b.cloud)
		c.p = &all[0]
	}
	c.nv, c.nc = uint32(nv), uint32(nc)
}

func (c *context) base(id ReplicaID) uint64 { b := c.body(); return b.base(id) }
func (c *context) contains(d Dot) bool      { b := c.body(); return b.contains(d) }
func (c *context) vv() []Dot                { return c.body().vv }
func (c *context) cloud() []Dot             { return c.body().cloud }
func (c *context) sharesNothing(o *context) bool {
	b, ob := c.body(), o.body()
	return b.sharesNothing(&ob)
}
func (c *context) replicas() int { b := c.body(); return b.replicas() }

// size returns the number of entries the context stores: vector
// entries and cloud dots.
func (c *context) size() (vector, cloud int) { return int(c.nv), int(c.nc) }

// vector returns the version vector part as a vclock value.
func (c *context) vector() vclock.VersionVector { b := c.body(); return b.vector() }

// next returns a fresh dot of replica id and records it. A replica's own
// dots are contiguous, so this is normally an increment of its vector
// entry, in place; cloud dots of id (possible after restoring an old
// state) are skipped over.
//
// The entry takes the caller's copy of the ID, equal but perhaps stored
// elsewhere (a literal where the vector holds one decoded or built at run
// time), so that the replica's next call finds its entry by pointer, in
// a few comparisons, rather than by comparing strings.
func (c *context) next(id ReplicaID) Dot {
	hint := c.nv
	return c.nextAt(id, &hint)
}

// nextAt is next for a caller that keeps a hint of where id's vector
// entry is: checked first, and updated when it was wrong.
func (c *context) nextAt(id ReplicaID, hint *uint32) Dot {
	if i := *hint; i < c.nv && c.nc == 0 {
		if e := &unsafe.Slice(c.p, c.nv)[i]; sameID(e.ID, id) {
			e.Counter++
			return *e
		}
	}
	b := c.body()
	if i, ok := b.find(id); ok && (len(b.cloud) == 0 || !b.cloudHas(id)) {
		*hint = uint32(i)
		b.vv[i].ID = id
		b.vv[i].Counter++
		return b.vv[i]
	}
	d := Dot{ID: id, Counter: b.maxOf(id) + 1}
	b.add(d)
	c.set(b)
	return d
}

// add records dot d.
func (c *context) add(d Dot) {
	b := c.body()
	if d.Counter == 0 || b.contains(d) {
		return
	}
	b.add(d)
	c.set(b)
}

// merge sets c to the union of c and o.
func (c *context) merge(o *context) {
	if o.p == nil {
		return
	}
	b, ob := c.body(), o.body()
	b.merge(&ob)
	c.set(b)
}

// clone returns a deep copy.
func (c *context) clone() context {
	if c.p == nil {
		return context{}
	}
	all := slices.Clone(unsafe.Slice(c.p, int(c.nv)+int(c.nc)))
	return context{p: &all[0], nv: c.nv, nc: c.nc}
}

// forget removes every dot of replica id.
func (c *context) forget(id ReplicaID) {
	b := c.body()
	b.forget(id)
	c.set(b)
}

// ctxBody is a causal context's content: the set of dots (events) a state
// has seen. It is kept as a version vector, covering every dot r:1..r:n of each replica
// r, plus a cloud of dots that arrived out of order and are not contiguous
// with the vector. Every mutation leaves it compacted: a cloud dot that
// becomes contiguous with the vector is folded into it, so a replica that
// has received everything holds a plain version vector.
//
// The vector is kept here rather than as a vclock.VersionVector so that
// its memory layout and allocations are under this package's control: the
// hot paths (Add, merge) must not allocate per call.
type ctxBody struct {
	vv    []Dot // sorted by ID, no zero counters
	cloud []Dot // sorted by Dot.Compare; each d.Counter > vv[d.ID]+1
}

// find returns the index of id in c.vv or where it would go. An ID that
// came from this context (a replica's own, the common case) matches by
// pointer in the first pass, without comparing bytes.
func (c *ctxBody) find(id ReplicaID) (int, bool) {
	e := c.vv
	p := unsafe.StringData(string(id))
	for i := range e {
		if unsafe.StringData(string(e[i].ID)) == p && len(e[i].ID) == len(id) {
			return i, true
		}
	}
	lo, hi := 0, len(e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e[m].ID < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(e) && e[lo].ID == id
}

// base returns the contiguous counter of id.
func (c *ctxBody) base(id ReplicaID) uint64 {
	if i, ok := c.find(id); ok {
		return c.vv[i].Counter
	}
	return 0
}

// contains reports whether the context has seen dot d.
func (c *ctxBody) contains(d Dot) bool {
	if d.Counter <= c.base(d.ID) {
		return true
	}
	if len(c.cloud) == 0 {
		return false
	}
	_, ok := slices.BinarySearchFunc(c.cloud, d, Dot.Compare)
	return ok
}

// maxOf returns the largest counter of id the context has seen.
func (c *ctxBody) maxOf(id ReplicaID) uint64 {
	m := c.base(id)
	for _, d := range c.cloud {
		if d.ID == id {
			m = max(m, d.Counter)
		}
	}
	return m
}

func (c *ctxBody) cloudHas(id ReplicaID) bool {
	for _, d := range c.cloud {
		if d.ID == id {
			return true
		}
	}
	return false
}

// pairContext returns the compacted context of the dots a and b, where b
// is nonzero and distinct from a, and a may be zero (no dot). Its array is
// buf, vector entries first. This is what a context built by add(a) then
// add(b) holds.
func pairContext(buf *[2]Dot, a, b Dot) context {
	if a.Counter != 1 && b.Counter > 1 {
		// The common case, an Add superseding an older add: neither
		// dot is its replica's first event, so both are cloud dots.
		if a.Counter == 0 {
			buf[0] = b
			return context{p: &buf[0], nc: 1}
		}
		if dotBefore(a, b) {
			buf[0], buf[1] = a, b
		} else {
			buf[0], buf[1] = b, a
		}
		return context{p: &buf[0], nc: 2}
	}
	// Sort the (at most two) dots on the stack, decide which belong to
	// the vector, then write the vector part and the cloud part into buf
	// one dot at a time: a bulk copy into the heap would cost a write
	// barrier call per copy.
	ds := [2]Dot{b}
	n := 1
	if a.Counter != 0 {
		n = 2
		if dotBefore(a, b) {
			ds[0], ds[1] = a, b
		} else {
			ds[1] = a
		}
	}
	// A dot is a vector entry when it is its replica's first event; the
	// second event of the same replica right after it extends that entry.
	var inVV [2]bool
	if n == 2 && ds[0].Counter == 1 && ds[1].Counter == 2 && ds[0].ID == ds[1].ID {
		ds[0].Counter, n = 2, 1
		inVV[0] = true
	}
	nv := 0
	for i := range n {
		if inVV[i] = inVV[i] || ds[i].Counter == 1; inVV[i] {
			nv++
		}
	}
	k := 0
	for pass := range 2 {
		for i := range n {
			if inVV[i] == (pass == 0) {
				buf[k] = ds[i]
				k++
			}
		}
	}
	return context{p: &buf[0], nv: uint32(nv), nc: uint32(n - nv)}
}

// dotBefore is a.Compare(b) < 0, inlined, and deciding by pointer when
// the IDs share storage, as a replica's own dots do: Add sorts its two
// dots with it.
func dotBefore(a, b Dot) bool {
	if sameID(a.ID, b.ID) {
		return a.Counter < b.Counter
	}
	return a.ID < b.ID
}

// setBase sets the vector entry of id to n (n > 0).
func (c *ctxBody) setBase(id ReplicaID, n uint64) {
	i, ok := c.find(id)
	if ok {
		c.vv[i].Counter = n
		return
	}
	c.vv = slices.Insert(c.vv, i, Dot{ID: id, Counter: n})
}

// add records dot d.
func (c *ctxBody) add(d Dot) {
	if d.Counter == 0 || c.contains(d) {
		return
	}
	if d.Counter == c.base(d.ID)+1 {
		c.setBase(d.ID, d.Counter)
		if len(c.cloud) > 0 {
			c.compact()
		}
		return
	}
	i, _ := slices.BinarySearchFunc(c.cloud, d, Dot.Compare)
	c.cloud = slices.Insert(c.cloud, i, d)
}

// merge sets c to the union of c and o.
func (c *ctxBody) merge(o *ctxBody) {
	c.mergeVV(o.vv)
	if len(o.cloud) > 0 && joinMutation != mutDropCloud {
		c.cloud = mergeSortedDots(c.cloud, o.cloud)
	}
	if len(c.cloud) > 0 {
		c.compact()
	}
}

// mergeVV sets c.vv to the pointwise maximum of c.vv and v.
func (c *ctxBody) mergeVV(v []Dot) {
	a := c.vv
	// Fast path: every replica of v is in a, in the same positions.
	if len(a) == len(v) {
		i := 0
		for ; i < len(a) && sameID(a[i].ID, v[i].ID); i++ {
			a[i].Counter = max(a[i].Counter, v[i].Counter)
		}
		if i == len(a) {
			return
		}
	}
	out := make([]Dot, 0, len(a)+len(v))
	i, j := 0, 0
	for i < len(a) || j < len(v) {
		switch {
		case j == len(v) || (i < len(a) && a[i].ID < v[j].ID):
			out = append(out, a[i])
			i++
		case i == len(a) || v[j].ID < a[i].ID:
			out = append(out, v[j])
			j++
		default:
			out = append(out, Dot{ID: a[i].ID, Counter: max(a[i].Counter, v[j].Counter)})
			i++
			j++
		}
	}
	c.vv = out
}

// sameID is a == b, deciding without a call to the runtime when the two
// strings share storage, as IDs copied from one context to another do.
func sameID(a, b ReplicaID) bool {
	return len(a) == len(b) && (unsafe.StringData(string(a)) == unsafe.StringData(string(b)) || a == b)
}

// mergeSortedDots returns the sorted union of two sorted dot slices. It
// never writes into b.
func mergeSortedDots(a, b []Dot) []Dot {
	if len(a) == 0 {
		return slices.Clone(b)
	}
	out := make([]Dot, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b):
			out = append(out, a[i])
			i++
		case i == len(a):
			out = append(out, b[j])
			j++
		default:
			switch a[i].Compare(b[j]) {
			case -1:
				out = append(out, a[i])
				i++
			case 1:
				out = append(out, b[j])
				j++
			default:
				out = append(out, a[i])
				i++
				j++
			}
		}
	}
	return out
}

// compact folds cloud dots that are contiguous with the vector into it and
// drops those it already covers. The cloud is sorted by replica, then
// counter, so one pass over each replica's run suffices, with one vector
// lookup per replica: O(n) after the O(n log n) sort that keeps the cloud
// ordered.
func (c *ctxBody) compact() {
	cl := c.cloud
	out := cl[:0]
	for i := 0; i < len(cl); {
		id := cl[i].ID
		j := i + 1
		for j < len(cl) && cl[j].ID == id {
			j++
		}
		idx, ok := c.find(id)
		var b uint64
		if ok {
			b = c.vv[idx].Counter
		}
		k := i
		for ; k < j && cl[k].Counter <= b+1; k++ {
			b = max(b, cl[k].Counter)
		}
		switch {
		case ok:
			c.vv[idx].Counter = b
		case b > 0:
			c.vv = slices.Insert(c.vv, idx, Dot{ID: id, Counter: b})
		}
		// The rest of the run is not contiguous; out never overtakes k,
		// so copying forward within the same array is safe.
		out = append(out, cl[k:j]...)
		i = j
	}
	clear(cl[len(out):])
	if len(out) == 0 {
		out = nil
	}
	c.cloud = out
}

// sharesNothing reports whether no dot is in both c and o. A store's dots
// are all in its own context, so a join between two states whose contexts
// share nothing can drop no dot from either store.
func (c *ctxBody) sharesNothing(o *ctxBody) bool {
	for _, d := range o.vv {
		// o holds d.ID's dots 1..d.Counter.
		if c.base(d.ID) > 0 {
			return false
		}
		for _, x := range c.cloud {
			if x.ID == d.ID && x.Counter <= d.Counter {
				return false
			}
		}
	}
	for _, d := range o.cloud {
		if c.contains(d) {
			return false
		}
	}
	return true
}

// replicas returns how many distinct replicas the context mentions.
func (c *ctxBody) replicas() int {
	n := len(c.vv)
	for i, d := range c.cloud {
		if (i == 0 || c.cloud[i-1].ID != d.ID) && c.base(d.ID) == 0 {
			n++
		}
	}
	return n
}

// forget removes every dot of replica id from the context.
func (c *ctxBody) forget(id ReplicaID) {
	if i, ok := c.find(id); ok {
		c.vv = slices.Delete(c.vv, i, i+1)
	}
	c.cloud = slices.DeleteFunc(c.cloud, func(d Dot) bool { return d.ID == id })
	if len(c.cloud) == 0 {
		c.cloud = nil
	}
}

// vector returns the context's version vector part as a vclock value.
func (c *ctxBody) vector() vclock.VersionVector { return vclock.NewVersionVector(c.vv...) }

// stable reports whether dot d is known to every replica according to the
// caller's stability frontier.
func stable(frontier vclock.VersionVector, d Dot) bool { return frontier.Contains(d) }

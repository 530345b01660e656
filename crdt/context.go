package crdt

import (
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

// context is a causal context: the set of dots (events) a state has seen. It
// is kept as a version vector, covering every dot r:1..r:n of each replica
// r, plus a cloud of dots that arrived out of order and are not contiguous
// with the vector. Every mutation leaves it compacted: a cloud dot that
// becomes contiguous with the vector is folded into it, so a replica that
// has received everything holds a plain version vector.
//
// The vector is kept here rather than as a vclock.VersionVector so that
// its memory layout and allocations are under this package's control: the
// hot paths (Add, merge) must not allocate per call.
type context struct {
	vv    []Dot // sorted by ID, no zero counters
	cloud []Dot // sorted by Dot.Compare; each d.Counter > vv[d.ID]+1
	// own is where next last found its replica in vv: a replica mints
	// dots for itself, so checking there first makes next O(1) instead
	// of a search with a string comparison per step. It is only a hint,
	// checked before use, and not part of the context's value.
	own int
}

// find returns the index of id in c.vv or where it would go. An ID that
// came from this context (a replica's own, the common case) matches by
// pointer in the first pass, without comparing bytes.
func (c *context) find(id ReplicaID) (int, bool) {
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
func (c *context) base(id ReplicaID) uint64 {
	if i, ok := c.find(id); ok {
		return c.vv[i].Counter
	}
	return 0
}

// contains reports whether the context has seen dot d.
func (c *context) contains(d Dot) bool {
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
func (c *context) maxOf(id ReplicaID) uint64 {
	m := c.base(id)
	for _, d := range c.cloud {
		if d.ID == id {
			m = max(m, d.Counter)
		}
	}
	return m
}

// next returns a fresh dot of replica id and records it. A replica's own
// dots are contiguous, so this is normally an increment of its vector
// entry; cloud dots of id (possible after restoring an old state) are
// skipped over.
func (c *context) next(id ReplicaID) Dot {
	i, ok := c.own, false
	if i < len(c.vv) && sameID(c.vv[i].ID, id) {
		ok = true
	} else if i, ok = c.find(id); ok {
		c.own = i
	}
	if ok && (len(c.cloud) == 0 || !c.cloudHas(id)) {
		c.vv[i].Counter++
		return c.vv[i]
	}
	d := Dot{ID: id, Counter: c.maxOf(id) + 1}
	c.add(d)
	return d
}

func (c *context) cloudHas(id ReplicaID) bool {
	for _, d := range c.cloud {
		if d.ID == id {
			return true
		}
	}
	return false
}

// pairContext returns the compacted context of the dots a and b, where b
// is nonzero and distinct from a, and a may be zero (no dot). Its vector
// and cloud live in buf, vector entries first; both slices are capped at
// their length, so growing either copies rather than overwriting the
// other. This is what a context built by add(a) then add(b) holds.
func pairContext(buf *[2]Dot, a, b Dot) context {
	if a.Counter != 1 && b.Counter > 1 {
		// The common case, an Add superseding an older add: neither
		// dot is its replica's first event, so both are cloud dots.
		if a.Counter == 0 {
			buf[0] = b
			return context{cloud: buf[0:1:1]}
		}
		if a.Compare(b) < 0 {
			buf[0], buf[1] = a, b
		} else {
			buf[0], buf[1] = b, a
		}
		return context{cloud: buf[0:2:2]}
	}
	// Sort the (at most two) dots on the stack, decide which belong to
	// the vector, then write the vector part and the cloud part into buf
	// one dot at a time: a bulk copy into the heap would cost a write
	// barrier call per copy.
	ds := [2]Dot{b}
	n := 1
	if a.Counter != 0 {
		n = 2
		if a.Compare(b) < 0 {
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
	var c context
	if nv > 0 {
		c.vv = buf[0:nv:nv]
	}
	if n > nv {
		c.cloud = buf[nv:n:n]
	}
	return c
}

// setBase sets the vector entry of id to n (n > 0).
func (c *context) setBase(id ReplicaID, n uint64) {
	i, ok := c.find(id)
	if ok {
		c.vv[i].Counter = n
		return
	}
	c.vv = slices.Insert(c.vv, i, Dot{ID: id, Counter: n})
}

// add records dot d.
func (c *context) add(d Dot) {
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
func (c *context) merge(o *context) {
	c.mergeVV(o.vv)
	if len(o.cloud) > 0 && joinMutation != mutDropCloud {
		c.cloud = mergeSortedDots(c.cloud, o.cloud)
	}
	if len(c.cloud) > 0 {
		c.compact()
	}
}

// mergeVV sets c.vv to the pointwise maximum of c.vv and v.
func (c *context) mergeVV(v []Dot) {
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
func (c *context) compact() {
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
func (c *context) sharesNothing(o *context) bool {
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

// clone returns a deep copy.
func (c *context) clone() context {
	return context{vv: slices.Clone(c.vv), cloud: slices.Clone(c.cloud)}
}

// size returns the number of entries the context stores: vector
// entries plus cloud dots.
func (c *context) size() (vector, cloud int) { return len(c.vv), len(c.cloud) }

// replicas returns how many distinct replicas the context mentions.
func (c *context) replicas() int {
	n := len(c.vv)
	for i, d := range c.cloud {
		if (i == 0 || c.cloud[i-1].ID != d.ID) && c.base(d.ID) == 0 {
			n++
		}
	}
	return n
}

// forget removes every dot of replica id from the context.
func (c *context) forget(id ReplicaID) {
	if i, ok := c.find(id); ok {
		c.vv = slices.Delete(c.vv, i, i+1)
	}
	c.cloud = slices.DeleteFunc(c.cloud, func(d Dot) bool { return d.ID == id })
	if len(c.cloud) == 0 {
		c.cloud = nil
	}
}

// vector returns the context's version vector part as a vclock value.
func (c *context) vector() vclock.VersionVector { return vclock.NewVersionVector(c.vv...) }

// stable reports whether dot d is known to every replica according to the
// caller's stability frontier.
func stable(frontier vclock.VersionVector, d Dot) bool { return frontier.Contains(d) }

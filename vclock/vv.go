package vclock

import (
	"iter"
	"math/bits"
	"strings"
)

// Ordering is the result of comparing two causal states. Version vectors and
// dotted version vectors are partially ordered, so besides the three outcomes
// of cmp.Compare there is a fourth, Concurrent.
type Ordering int8

// The values of Before, Equal and After match cmp.Compare's -1, 0 and +1.
const (
	Before     Ordering = -1 // the receiver happened before the argument: it is strictly dominated
	Equal      Ordering = 0  // both describe the same causal history
	After      Ordering = 1  // the receiver strictly dominates the argument
	Concurrent Ordering = 2  // neither dominates: each has seen an event the other has not
)

// String returns "before", "equal", "after" or "concurrent".
func (o Ordering) String() string {
	switch o {
	case Before:
		return "before"
	case Equal:
		return "equal"
	case After:
		return "after"
	case Concurrent:
		return "concurrent"
	}
	return "Ordering(" + itoa(int64(o)) + ")"
}

// VersionVector maps each replica to the number of its events that have been
// seen: entry (r, n) means events r:1 to r:n. Replicas missing from the vector
// have counter zero. It is the "vector clock" of the textbooks when each
// process increments its own entry before every event, and the version vector
// of replicated stores when replicas increment on each update.
//
// The zero value is the empty vector, ready to use. Entries are kept in a
// slice sorted by replica ID, which at the sizes that matter (a few to a few
// dozen replicas) is smaller and faster to compare and merge than a map; see
// BenchmarkRepresentation in the tests.
//
// A VersionVector is a small reference type, like a slice: assigning or
// passing it by value shares its storage, so a change made through one copy
// can be seen through the other. Call Clone before changing a vector that
// another part of the program still reads. It is not safe for concurrent use
// when any goroutine changes it.
type VersionVector struct {
	// entries is sorted by ID, has no duplicate IDs and no zero counters, so
	// that equal vectors have equal entries and encode to equal bytes.
	entries []entry
}

// NewVersionVector returns a vector holding the given entries. A dot with a
// zero counter is ignored; when an ID appears more than once the largest
// counter wins.
func NewVersionVector(dots ...Dot) VersionVector {
	var v VersionVector
	for _, d := range dots {
		v.MergeDot(d)
	}
	return v
}

// Len returns the number of replicas with a non-zero counter.
func (v VersionVector) Len() int { return len(v.entries) }

// find returns the index of id in v.entries, or where it would be inserted,
// and whether it is present, by binary search. Each probe is usually one
// integer comparison of keys.
func (v VersionVector) find(id ReplicaID) (int, bool) {
	e := v.entries
	k := idKey(id)
	lo, hi := 0, len(e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		c := 0
		if !sharedID(e[m].ID, id) {
			if c = cmpKey(e[m].key, k); c == 0 {
				c = cmpTie(e[m].ID, id)
			}
		}
		switch {
		case c == 0:
			return m, true
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return lo, false
}

// Get returns the counter of replica id: how many of its events v has seen.
func (v VersionVector) Get(id ReplicaID) uint64 {
	if i, ok := v.find(id); ok {
		return v.entries[i].Counter
	}
	return 0
}

// Set sets the counter of replica id to n; n == 0 removes the entry. Set can
// lower a counter, which no causal history does; it exists for pruning
// retired replicas and for building vectors by hand.
func (v *VersionVector) Set(id ReplicaID, n uint64) {
	i, ok := v.find(id)
	switch {
	case ok && n == 0:
		v.entries = append(v.entries[:i], v.entries[i+1:]...)
	case ok:
		v.entries[i].Counter = n
	case n != 0:
		v.insert(i, Dot{ID: id, Counter: n})
	}
}

func (v *VersionVector) insert(i int, d Dot) {
	d.ID = intern(d.ID)
	v.entries = append(v.entries, entry{})
	copy(v.entries[i+1:], v.entries[i:])
	v.entries[i] = newEntry(d)
}

// Increment records a new event at replica id and returns its dot, whose
// counter is one more than id's previous counter.
func (v *VersionVector) Increment(id ReplicaID) Dot {
	i, ok := v.find(id)
	if ok {
		v.entries[i].Counter++
		return v.entries[i].Dot
	}
	d := Dot{ID: id, Counter: 1}
	v.insert(i, d)
	return d
}

// Next returns the dot that Increment(id) would return, without changing v.
func (v VersionVector) Next(id ReplicaID) Dot {
	return Dot{ID: id, Counter: v.Get(id) + 1}
}

// Contains reports whether v has seen the event d: d.Counter <= v.Get(d.ID).
// The zero dot is contained in every vector.
func (v VersionVector) Contains(d Dot) bool {
	return d.Counter <= v.Get(d.ID)
}

// MergeDot raises the counter of d.ID to d.Counter if it is lower. Because a
// vector entry stands for every event up to its counter, this records d and
// all earlier events of d.ID; a causal context that must also hold
// non-contiguous dots keeps those outside the vector.
func (v *VersionVector) MergeDot(d Dot) {
	if d.Counter == 0 {
		return
	}
	i, ok := v.find(d.ID)
	if ok {
		v.entries[i].Counter = max(v.entries[i].Counter, d.Counter)
		return
	}
	v.insert(i, d)
}

// Merge sets v to the pointwise maximum of v and o: the least vector that
// has seen everything either has seen. It allocates only when o has replicas
// that v lacks and v's storage has no room for them.
func (v *VersionVector) Merge(o VersionVector) {
	a, b := v.entries, o.entries
	// Fast path: every replica of o is already in v, with the same string
	// for its ID, so the merge is an in-place maximum. Walk both until o
	// has a replica v lacks, or one whose order the keys cannot tell; the
	// maxima taken until then are part of the result either way. The loops
	// make no call, so that their variables stay in registers.
	//
	// Vectors over the same replicas line up entry for entry: walk them in
	// lockstep first, with one index.
	n := min(len(a), len(b))
	a2, b2 := a[:n], b[:n]
	k := 0
	for ; k < len(a2); k++ {
		x, y := &a2[k], &b2[k]
		if !sharedID(x.ID, y.ID) {
			break
		}
		x.Counter = max(x.Counter, y.Counter)
	}
	// Then skip v's replicas that o lacks, which the keys alone show. The
	// indexes are unsigned so that the compiler sees they are in bounds.
	i, j := uint(k), uint(k)
	for i < uint(len(a)) && j < uint(len(b)) {
		x, y := &a[i], &b[j]
		if x.key < y.key {
			i++
		} else if sharedID(x.ID, y.ID) {
			x.Counter = max(x.Counter, y.Counter)
			i++
			j++
		} else {
			break
		}
	}
	if j < uint(len(b)) {
		v.mergeFrom(b, int(i), int(j))
	}
}

// mergeFrom finishes Merge from a[i] and b[j], where v.entries is a and
// the fast path of Merge stopped.
func (v *VersionVector) mergeFrom(b []entry, i, j int) {
	a := v.entries
	for j < len(b) && i < len(a) {
		c := 0
		if !sharedID(a[i].ID, b[j].ID) {
			if c = cmpKey(a[i].key, b[j].key); c == 0 {
				c = cmpTie(a[i].ID, b[j].ID)
			}
		}
		if c == 0 {
			a[i].Counter = max(a[i].Counter, b[j].Counter)
			i++
			j++
		} else if c < 0 {
			i++
		} else {
			break
		}
	}
	if j == len(b) {
		return
	}
	if i == len(a) && len(b)-j <= cap(a)-len(a) {
		// The rest of o comes after every replica of v, as when o has
		// heard of replicas v has not: append it.
		v.entries = append(a, b[j:]...)
		return
	}
	// a[:lo] is final; the union of a[lo:] and b[jlo:] follows it. n bounds
	// the result's length, exactly when no replica of b[jlo:] is in a[lo:].
	// Counting the shared ones first would cost one more walk, so the merge
	// assumes none and closes the gap afterwards.
	lo, jlo := i, j
	n := len(a) + len(b) - jlo
	if cap(a) < n {
		grown := make([]entry, lo, n+n/4)
		copy(grown, a[:lo])
		v.entries = mergeForward(grown, a[lo:], b[jlo:])
		return
	}
	// Merge from the back into a[:n], so that no entry of a is overwritten
	// before it has been read: the write index never trails the read index.
	a = a[:n]
	i, j = len(v.entries)-1, len(b)-1
	w := n - 1
	for ; i >= lo || j >= jlo; w-- {
		c := 1 // a[i] goes next
		if j >= jlo {
			c = -1 // b[j] goes next
			if i >= lo {
				c = 0
				if !sharedID(a[i].ID, b[j].ID) {
					if c = cmpKey(a[i].key, b[j].key); c == 0 {
						c = cmpTie(a[i].ID, b[j].ID)
					}
				}
			}
		}
		switch {
		case c < 0:
			a[w] = b[j]
			j--
		case c == 0:
			a[w] = a[i]
			a[w].Counter = max(a[i].Counter, b[j].Counter)
			i--
			j--
		default:
			a[w] = a[i]
			i--
		}
	}
	// The union sits in a[w+1:]; each shared replica left one slot of gap
	// below it.
	if gap := w + 1 - lo; gap > 0 {
		copy(a[lo:], a[w+1:])
		clear(a[n-gap:]) // drop references to IDs no longer in the vector
		a = a[:n-gap]
	}
	v.entries = a
}

// mergeForward appends the union of the sorted vectors x and y to dst,
// taking the maximum counter of a replica in both.
func mergeForward(dst, x, y []entry) []entry {
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		c := 0
		if !sharedID(x[i].ID, y[j].ID) {
			if c = cmpKey(x[i].key, y[j].key); c == 0 {
				c = cmpTie(x[i].ID, y[j].ID)
			}
		}
		switch {
		case c < 0:
			dst = append(dst, x[i])
			i++
		case c > 0:
			dst = append(dst, y[j])
			j++
		default:
			e := x[i]
			e.Counter = max(e.Counter, y[j].Counter)
			dst = append(dst, e)
			i++
			j++
		}
	}
	dst = append(dst, x[i:]...)
	return append(dst, y[j:]...)
}

// Compare reports how v relates to o: Equal if they have the same entries,
// Before if o has seen everything v has and more, After for the reverse, and
// Concurrent otherwise. It does not allocate.
func (v VersionVector) Compare(o VersionVector) Ordering {
	a, b := v.entries, o.entries
	var aAhead, bAhead bool
	i := 0
	// Fast path: vectors over the same replicas, walked in lockstep. It is
	// kept apart from the general walk so that its loop stays tight.
	if len(a) == len(b) {
		// The counter comparisons are data-dependent and mispredict
		// often, so they are folded in with subtract-with-borrow instead
		// of branches: borrow is 1 exactly when the subtrahend is larger.
		// Only whether any borrow occurred matters, so the accumulators
		// take the negated borrow, all ones, which is what the machine's
		// subtract-with-borrow produces: the compiler then emits no
		// instruction to turn it back into 1.
		var ahead, behind uint64
		b = b[:len(a)]
		for ; i < len(a); i++ {
			x, y := &a[i], &b[i]
			if !sharedID(x.ID, y.ID) {
				break // compareFrom handles the rest, even an equal but unshared ID
			}
			_, gt := bits.Sub64(y.Counter, x.Counter, 0)
			_, lt := bits.Sub64(x.Counter, y.Counter, 0)
			ahead |= -gt
			behind |= -lt
		}
		aAhead, bAhead = ahead != 0, behind != 0
		if i == len(a) {
			return ordering(aAhead, bAhead)
		}
	}
	return compareFrom(a, b, i, aAhead, bAhead)
}

// compareFrom finishes Compare from index i of both a and b, where the
// entries before i matched in lockstep.
func compareFrom(a, b []entry, i int, aAhead, bAhead bool) Ordering {
	j := i
	for i < len(a) && j < len(b) {
		if aAhead && bAhead {
			return Concurrent
		}
		c := 0
		if !sharedID(a[i].ID, b[j].ID) {
			if c = cmpKey(a[i].key, b[j].key); c == 0 {
				c = cmpTie(a[i].ID, b[j].ID)
			}
		}
		switch {
		case c == 0:
			aAhead = aAhead || a[i].Counter > b[j].Counter
			bAhead = bAhead || a[i].Counter < b[j].Counter
			i++
			j++
		case c < 0:
			aAhead = true // counters are never zero, so a is ahead on a[i].ID
			i++
		default:
			bAhead = true
			j++
		}
	}
	return ordering(aAhead || i < len(a), bAhead || j < len(b))
}

func ordering(aAhead, bAhead bool) Ordering {
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

// Descends reports whether v has seen everything o has: v >= o pointwise.
// It is Compare(o) being After or Equal, computed with an early exit.
func (v VersionVector) Descends(o VersionVector) bool {
	a, b := v.entries, o.entries
	if len(b) > len(a) {
		return false
	}
	i := 0
	for j := range b {
		c := 1
		for i < len(a) {
			c = 0
			if !sharedID(a[i].ID, b[j].ID) {
				if c = cmpKey(a[i].key, b[j].key); c == 0 {
					c = cmpTie(a[i].ID, b[j].ID)
				}
			}
			if c >= 0 {
				break
			}
			i++
		}
		if c != 0 || a[i].Counter < b[j].Counter {
			return false
		}
		i++
	}
	return true
}

// Equal reports whether v and o have the same entries.
func (v VersionVector) Equal(o VersionVector) bool {
	if len(v.entries) != len(o.entries) {
		return false
	}
	for i := range v.entries {
		if v.entries[i] != o.entries[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of v that shares no storage with it.
func (v VersionVector) Clone() VersionVector {
	if len(v.entries) == 0 {
		return VersionVector{}
	}
	return VersionVector{entries: append([]entry(nil), v.entries...)}
}

// All yields v's entries as dots, in increasing replica-ID order: for each
// replica, the dot of the latest event v has seen. v must not be changed
// during the iteration.
func (v VersionVector) All() iter.Seq[Dot] {
	return func(yield func(Dot) bool) {
		for _, e := range v.entries {
			if !yield(e.Dot) {
				return
			}
		}
	}
}

// Subtract returns the dots of ds that v does not contain, in their original
// order. A replica uses it to find which of a peer's events it still needs.
func (v VersionVector) Subtract(ds []Dot) []Dot {
	var out []Dot
	for _, d := range ds {
		if !v.Contains(d) {
			out = append(out, d)
		}
	}
	return out
}

// String formats v as "{a:3 b:1}", entries sorted by replica ID.
func (v VersionVector) String() string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, d := range v.entries {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(d.String())
	}
	sb.WriteByte('}')
	return sb.String()
}

package crdt

import (
	"encoding/binary"
	"iter"
	"maps"

	"github.com/distkit/distkit/vclock"
)

// GSet is a grow-only set: elements can be added, never removed.
//
// Concurrency: the set is the union of every replica's adds.
//
// The zero value is an empty set. Not safe for concurrent use.
type GSet[E comparable] struct {
	t table[E, struct{}]
}

// Add adds e and returns the delta.
func (x *GSet[E]) Add(e E) *GSet[E] {
	x.t.put(e, 0, struct{}{})
	d := &GSet[E]{t: newTable[E, struct{}](1)}
	d.t.put(e, 0, struct{}{})
	return d
}

// Contains reports whether e is in the set.
func (x *GSet[E]) Contains(e E) bool { return x.t.get(e) != nil }

// Len returns the number of elements.
func (x *GSet[E]) Len() int { return x.t.len() }

// All yields the elements in no particular order.
func (x *GSet[E]) All() iter.Seq[E] { return x.t.keys }

// Merge adds o's elements to x, found by the hashes o stored for them.
func (x *GSet[E]) Merge(o *GSet[E]) {
	if o == nil || o.t.len() == 0 {
		return
	}
	for s := range o.t.all {
		if x.t.find(s.key, s.h) < 0 {
			x.t.insertNew(s.key, s.h, 0, struct{}{}, -1)
		}
	}
}

// Clone returns a copy.
func (x *GSet[E]) Clone() *GSet[E] { return &GSet[E]{t: x.t.clone()} }

// AppendBinary appends the canonical encoding.
func (x *GSet[E]) AppendBinary(b []byte) ([]byte, error) {
	keys, err := sortedKeysOf(x.t.len(), x.t.keys)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(appendHeader(b, tagGSet), uint64(len(keys)))
	for _, k := range keys {
		b = append(b, k.enc...)
	}
	return b, nil
}

// MarshalBinary returns the canonical encoding.
func (x *GSet[E]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary decodes b into x; on error x is unchanged. The table is
// sized exactly for the elements, so a dense input of n elements costs
// about 24 bytes of table per element plus the elements themselves.
func (x *GSet[E]) UnmarshalBinary(b []byte) error {
	b, err := readHeader(b, tagGSet)
	if err != nil {
		return err
	}
	var t table[E, struct{}]
	err = readKeys(b, func(n int) { t = newTable[E, struct{}](n) }, func(e E) { t.put(e, 0, struct{}{}) }, &b)
	if err != nil {
		return err
	}
	if err := expectEnd(b); err != nil {
		return err
	}
	x.t = t
	return nil
}

// MarshalJSON encodes the elements as a JSON array in canonical order.
func (x *GSet[E]) MarshalJSON() ([]byte, error) { return jsonKeysOf(x.t.len(), x.t.keys) }

// Stats returns the size of the set.
func (x *GSet[E]) Stats() Stats { return Stats{Elements: x.t.len()} }

func appendKeySet[E comparable](b []byte, m map[E]struct{}) ([]byte, error) {
	keys, err := sortedKeys(m)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = append(b, k.enc...)
	}
	return b, nil
}

// readKeySet reads keys in strictly increasing encoded order.
func readKeySet[E comparable](b []byte) (map[E]struct{}, []byte, error) {
	var m map[E]struct{}
	err := readKeys(b, func(n int) { m = make(map[E]struct{}, n) }, func(e E) { m[e] = struct{}{} }, &b)
	if err != nil {
		return nil, nil, err
	}
	return m, b, nil
}

// readKeys reads a count and then keys in strictly increasing encoded
// order from b, calling start with the count (when it is not zero) and
// add with each key, and leaves the rest of the input in *rest.
func readKeys[E comparable](b []byte, start func(int), add func(E), rest *[]byte) error {
	n, b, err := readLen(b, 1)
	if err != nil {
		return err
	}
	if n > 0 {
		start(presize(n, len(b), 3))
	}
	var prev []byte
	readE := elemReader[E]()
	for range n {
		from := b
		var e E
		if e, b, err = readE(b); err != nil {
			return err
		}
		enc := from[:len(from)-len(b)]
		if prev != nil && string(prev) >= string(enc) {
			return corrupt("elements out of order")
		}
		prev = enc
		add(e)
	}
	*rest = b
	return nil
}

// TwoPSet is a two-phase set: an element can be added and then removed,
// and once removed it can never come back.
//
// Concurrency: a remove wins over every add of the same element, earlier,
// concurrent or later. Removing an element the replica has not seen added
// is a no-op. Each removed element stays as a tombstone forever: that is
// the type's semantics (it must keep refusing re-adds), so there is nothing
// to compact; pick AWSet when elements come and go.
//
// The zero value is an empty set. Not safe for concurrent use.
type TwoPSet[E comparable] struct {
	added, removed map[E]struct{} // disjoint
}

// Add adds e unless it was removed, and returns the delta.
func (x *TwoPSet[E]) Add(e E) *TwoPSet[E] {
	if _, gone := x.removed[e]; gone {
		return &TwoPSet[E]{}
	}
	if x.added == nil {
		x.added = make(map[E]struct{})
	}
	x.added[e] = struct{}{}
	return &TwoPSet[E]{added: map[E]struct{}{e: {}}}
}

// Remove removes e for good and returns the delta. Removing an element
// that is not in the set is a no-op.
func (x *TwoPSet[E]) Remove(e E) *TwoPSet[E] {
	if _, ok := x.added[e]; !ok {
		return &TwoPSet[E]{}
	}
	delete(x.added, e)
	if x.removed == nil {
		x.removed = make(map[E]struct{})
	}
	x.removed[e] = struct{}{}
	return &TwoPSet[E]{removed: map[E]struct{}{e: {}}}
}

// Contains reports whether e is in the set.
func (x *TwoPSet[E]) Contains(e E) bool { _, ok := x.added[e]; return ok }

// Len returns the number of elements.
func (x *TwoPSet[E]) Len() int { return len(x.added) }

// All yields the elements in no particular order.
func (x *TwoPSet[E]) All() iter.Seq[E] { return maps.Keys(x.added) }

// Merge joins o into x: the union of removes, and of adds not removed.
func (x *TwoPSet[E]) Merge(o *TwoPSet[E]) {
	if o == nil {
		return
	}
	for e := range o.removed {
		if x.removed == nil {
			x.removed = make(map[E]struct{})
		}
		x.removed[e] = struct{}{}
		delete(x.added, e)
	}
	for e := range o.added {
		if _, gone := x.removed[e]; gone {
			continue
		}
		if x.added == nil {
			x.added = make(map[E]struct{})
		}
		x.added[e] = struct{}{}
	}
}

// Clone returns a copy.
func (x *TwoPSet[E]) Clone() *TwoPSet[E] {
	return &TwoPSet[E]{added: maps.Clone(x.added), removed: maps.Clone(x.removed)}
}

// AppendBinary appends the canonical encoding.
func (x *TwoPSet[E]) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendKeySet(appendHeader(b, tagTwoPSet), x.added)
	if err != nil {
		return nil, err
	}
	return appendKeySet(b, x.removed)
}

// MarshalBinary returns the canonical encoding.
func (x *TwoPSet[E]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary decodes b into x; on error x is unchanged.
func (x *TwoPSet[E]) UnmarshalBinary(b []byte) error {
	b, err := readHeader(b, tagTwoPSet)
	if err != nil {
		return err
	}
	var n TwoPSet[E]
	if n.added, b, err = readKeySet[E](b); err != nil {
		return err
	}
	if n.removed, b, err = readKeySet[E](b); err != nil {
		return err
	}
	if err := expectEnd(b); err != nil {
		return err
	}
	for e := range n.removed {
		if _, ok := n.added[e]; ok {
			return corrupt("element both added and removed")
		}
	}
	*x = n
	return nil
}

// MarshalJSON encodes the elements as a JSON array in canonical order.
func (x *TwoPSet[E]) MarshalJSON() ([]byte, error) { return jsonKeys(x.added) }

// Stats returns the size of the set.
func (x *TwoPSet[E]) Stats() Stats {
	return Stats{Elements: len(x.added), Tombstones: len(x.removed)}
}

// Bias decides ties between an add and a remove with equal timestamps in
// an LWWSet. Values go on the wire: append only.
type Bias uint8

const (
	AddWins    Bias = iota // an add and a remove at the same timestamp leave the element in
	RemoveWins             // ... leave it out
)

// LWWSet is a last-writer-wins element set ordered by hybrid logical clock
// timestamps (vclock.HLC), with a configurable bias for ties.
//
// Concurrency: for each element, the latest add and the latest remove by
// timestamp are kept; the element is in the set if its add is later, and
// on a tie the set's Bias decides. Removing an absent element is a no-op.
// A removed element is a tombstone until CompactTombstones drops it.
//
// The zero value is an empty add-wins set; NewLWWSet picks the bias. All
// replicas of one set must use the same bias. Not safe for concurrent use.
type LWWSet[E comparable] struct {
	bias Bias
	t    table[E, lwwStamp]
}

type lwwStamp struct{ add, rm vclock.Timestamp }

// NewLWWSet returns an empty set with the given tie bias.
func NewLWWSet[E comparable](bias Bias) *LWWSet[E] { return &LWWSet[E]{bias: bias} }

func (x *LWWSet[E]) present(s lwwStamp) bool {
	return s.add > s.rm || (s.add == s.rm && s.add != 0 && x.bias == AddWins)
}

func (x *LWWSet[E]) put(e E, s lwwStamp) *LWWSet[E] {
	if s == (lwwStamp{}) {
		return &LWWSet[E]{bias: x.bias}
	}
	s = x.join(e, s)
	d := &LWWSet[E]{bias: x.bias, t: newTable[E, lwwStamp](1)}
	d.t.put(e, 0, s)
	return d
}

func (x *LWWSet[E]) join(e E, s lwwStamp) lwwStamp {
	var old lwwStamp
	if sl := x.t.get(e); sl != nil {
		old = sl.val
	}
	s = lwwStamp{add: max(old.add, s.add), rm: max(old.rm, s.rm)}
	x.t.put(e, 0, s)
	return s
}

// Add adds e at time ts and returns the delta.
func (x *LWWSet[E]) Add(e E, ts vclock.Timestamp) *LWWSet[E] {
	return x.put(e, lwwStamp{add: ts})
}

// Remove removes e at time ts and returns the delta; a no-op if e is
// absent.
func (x *LWWSet[E]) Remove(e E, ts vclock.Timestamp) *LWWSet[E] {
	if !x.Contains(e) {
		return &LWWSet[E]{bias: x.bias}
	}
	return x.put(e, lwwStamp{rm: ts})
}

// Contains reports whether e is in the set.
func (x *LWWSet[E]) Contains(e E) bool {
	sl := x.t.get(e)
	return sl != nil && x.present(sl.val)
}

// Len returns the number of elements.
func (x *LWWSet[E]) Len() int {
	n := 0
	for sl := range x.t.all {
		if x.present(sl.val) {
			n++
		}
	}
	return n
}

// All yields the elements in no particular order.
func (x *LWWSet[E]) All() iter.Seq[E] {
	return func(yield func(E) bool) {
		for sl := range x.t.all {
			if x.present(sl.val) && !yield(sl.key) {
				return
			}
		}
	}
}

// Merge keeps, per element, the latest add and the latest remove.
func (x *LWWSet[E]) Merge(o *LWWSet[E]) {
	if o == nil {
		return
	}
	for sl := range o.t.all {
		x.join(sl.key, sl.val)
	}
}

// CompactTombstones forgets every add and remove timestamp at or before
// frontier: removed elements whose remove is that old are dropped, and an
// element's older timestamp is cleared when the other one decides it. It
// returns how many tombstones it dropped. The caller guarantees that every
// replica has received every write stamped at or before frontier, and that
// every clock has passed it, so no write the tombstone must beat is still
// in flight (in a message, or in a delta buffer that may resend it).
//
// Under that guarantee every replica's timestamps at or before frontier
// are the same, so they only decide against each other: forgetting them
// keeps every query, now and after any later merge, and replicas that
// compact at the same frontier end with the same state.
func (x *LWWSet[E]) CompactTombstones(frontier vclock.Timestamp) int {
	n := 0
	for sl := range x.t.all {
		e, s := sl.key, sl.val
		if s.add > frontier && s.rm > frontier {
			continue // nothing to forget
		}
		switch {
		case x.present(s):
			// The add decides (it is the later stamp, or ties and
			// the add wins): keep it, at its own time.
			sl.val = lwwStamp{add: s.add}
		case s.rm > frontier:
			sl.val = lwwStamp{rm: s.rm}
		default:
			x.t.del(e)
			n++
		}
	}
	return n
}

// Clone returns a copy.
func (x *LWWSet[E]) Clone() *LWWSet[E] { return &LWWSet[E]{bias: x.bias, t: x.t.clone()} }

// AppendBinary appends the canonical encoding.
func (x *LWWSet[E]) AppendBinary(b []byte) ([]byte, error) {
	b = append(appendHeader(b, tagLWWSet), byte(x.bias))
	keys, err := sortedKeysOf(x.t.len(), x.t.keys)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		s := x.t.get(k.k).val
		b = append(b, k.enc...)
		b = binary.AppendUvarint(binary.AppendUvarint(b, uint64(s.add)), uint64(s.rm))
	}
	return b, nil
}

// MarshalBinary returns the canonical encoding.
func (x *LWWSet[E]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary decodes b into x; on error x is unchanged.
func (x *LWWSet[E]) UnmarshalBinary(b []byte) error {
	b, err := readHeader(b, tagLWWSet)
	if err != nil {
		return err
	}
	if len(b) == 0 || b[0] > byte(RemoveWins) {
		return corrupt("bad bias")
	}
	n := LWWSet[E]{bias: Bias(b[0])}
	c, b, err := readLen(b[1:], 3)
	if err != nil {
		return err
	}
	if c > 0 {
		n.t = newTable[E, lwwStamp](presize(c, len(b), 6))
	}
	var prev []byte
	readE := elemReader[E]()
	for range c {
		start := b
		var e E
		if e, b, err = readE(b); err != nil {
			return err
		}
		enc := start[:len(start)-len(b)]
		if prev != nil && string(prev) >= string(enc) {
			return corrupt("elements out of order")
		}
		prev = enc
		var a, r uint64
		if a, b, err = readUvarint(b); err != nil {
			return err
		}
		if r, b, err = readUvarint(b); err != nil {
			return err
		}
		if a == 0 && r == 0 {
			return corrupt("empty entry")
		}
		n.t.put(e, 0, lwwStamp{add: vclock.Timestamp(a), rm: vclock.Timestamp(r)})
	}
	if err := expectEnd(b); err != nil {
		return err
	}
	*x = n
	return nil
}

// MarshalJSON encodes the elements as a JSON array in canonical order.
func (x *LWWSet[E]) MarshalJSON() ([]byte, error) {
	live := make(map[E]struct{})
	for e := range x.All() {
		live[e] = struct{}{}
	}
	return jsonKeys(live)
}

// Stats returns the size of the set.
func (x *LWWSet[E]) Stats() Stats {
	n := x.Len()
	return Stats{Elements: n, Tombstones: x.t.len() - n}
}

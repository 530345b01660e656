package crdt

import (
	"encoding/binary"
	"encoding/json"

	"github.com/distkit/distkit/vclock"
)

// MVRegister is a multi-value register: it keeps every value written
// concurrently, like the siblings of a Dynamo-style store.
//
// Concurrency: a write replaces every value its replica has seen. Writes
// that did not see each other are all kept, and the next write by any
// replica that has seen them all replaces them with one value. Values
// returns exactly the concurrent writes nobody has overwritten.
//
// The zero value is an empty register. Not safe for concurrent use.
type MVRegister[V any] struct {
	c causal[dotFun[V]]
}

// Write sets the register to v as an event of replica id and returns the
// delta.
func (x *MVRegister[V]) Write(id ReplicaID, v V) *MVRegister[V] {
	dc := removeDots(x.c.store)
	d := x.c.ctx.next(id)
	dc.add(d)
	s := dotFun[V]{entries: []dotVal[V]{{dot: d, val: v}}}
	x.c.store = s
	return deltaMVRegister(s.clone(), dc)
}

// Reset empties the register and returns the delta; concurrent writes
// survive it.
func (x *MVRegister[V]) Reset() *MVRegister[V] {
	dc := removeDots(x.c.store)
	x.c.store = dotFun[V]{}
	return deltaMVRegister(dotFun[V]{}, dc)
}

// Values returns the concurrent values, ordered by the dots that wrote them
// (replica ID, then counter), so every replica lists them in the same order.
func (x *MVRegister[V]) Values() []V {
	out := make([]V, len(x.c.store.entries))
	for i, e := range x.c.store.entries {
		out[i] = e.val
	}
	return out
}

// MarshalJSON encodes Values as a JSON array.
func (x *MVRegister[V]) MarshalJSON() ([]byte, error) { return json.Marshal(x.Values()) }

func (x *MVRegister[V]) fillStats(st *Stats) { st.Elements = len(x.c.store.entries) }

// LWWRegister is a last-writer-wins register ordered by hybrid logical
// clock timestamps.
//
// Concurrency: of two writes, the one with the larger timestamp wins, and
// equal timestamps are ordered by replica ID, so every replica picks the
// same winner. A write whose replica clock lags loses to an older write
// with a later timestamp: that is the price of LWW. Timestamps must be
// unique per replica, as vclock.HLC.Now guarantees.
//
// The zero value is an unset register. Not safe for concurrent use.
type LWWRegister[V any] struct {
	ts  vclock.Timestamp
	id  ReplicaID
	val V
}

// Set writes v with timestamp ts as replica id and returns the delta. A
// write older than the current value changes nothing and returns it.
func (x *LWWRegister[V]) Set(id ReplicaID, v V, ts vclock.Timestamp) *LWWRegister[V] {
	n := LWWRegister[V]{ts: ts, id: id, val: v}
	x.Merge(&n)
	return &n
}

// Get returns the value and whether the register was ever set.
func (x *LWWRegister[V]) Get() (V, bool) { return x.val, x.ts != 0 || x.id != "" }

// Timestamp returns the timestamp of the current value.
func (x *LWWRegister[V]) Timestamp() vclock.Timestamp { return x.ts }

func lwwLess(ats vclock.Timestamp, aid ReplicaID, bts vclock.Timestamp, bid ReplicaID) bool {
	return ats < bts || (ats == bts && aid < bid)
}

// Merge keeps the later of the two writes.
func (x *LWWRegister[V]) Merge(o *LWWRegister[V]) {
	if o != nil && lwwLess(x.ts, x.id, o.ts, o.id) {
		*x = *o
	}
}

// Clone returns a copy.
func (x *LWWRegister[V]) Clone() *LWWRegister[V] { c := *x; return &c }

// AppendBinary appends the canonical encoding.
func (x *LWWRegister[V]) AppendBinary(b []byte) ([]byte, error) {
	b = appendHeader(b, tagLWWRegister)
	b = binary.AppendUvarint(b, uint64(x.ts))
	b = appendStr(b, string(x.id))
	return appendElem(b, x.val)
}

// MarshalBinary returns the canonical encoding.
func (x *LWWRegister[V]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary decodes b into x; on error x is unchanged.
func (x *LWWRegister[V]) UnmarshalBinary(b []byte) error {
	b, err := readHeader(b, tagLWWRegister)
	if err != nil {
		return err
	}
	var n LWWRegister[V]
	var ts uint64
	if ts, b, err = readUvarint(b); err != nil {
		return err
	}
	n.ts = vclock.Timestamp(ts)
	var id string
	if id, b, err = readStr(b); err != nil {
		return err
	}
	n.id = ReplicaID(id)
	if n.val, b, err = readElem[V](b); err != nil {
		return err
	}
	if err := expectEnd(b); err != nil {
		return err
	}
	*x = n
	return nil
}

// MarshalJSON encodes the value (null when unset).
func (x *LWWRegister[V]) MarshalJSON() ([]byte, error) {
	if _, ok := x.Get(); !ok {
		return []byte("null"), nil
	}
	return json.Marshal(x.val)
}

// Stats returns the size of the register.
func (x *LWWRegister[V]) Stats() Stats {
	if _, ok := x.Get(); !ok {
		return Stats{}
	}
	return Stats{Replicas: 1, Elements: 1}
}

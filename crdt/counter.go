package crdt

import (
	"encoding/binary"
	"slices"
	"strconv"
)

// GCounter is a grow-only counter: one count per replica, merged by
// pointwise maximum, valued at their sum.
//
// Concurrency: increments at different replicas all count; nothing is
// ever lost or double counted, however states are exchanged.
//
// The zero value is a counter at zero. Not safe for concurrent use.
type GCounter struct {
	n []Dot // sorted by replica ID; Counter holds the replica's count, never 0
}

// Inc adds n as replica id and returns the delta (the replica's new count).
func (x *GCounter) Inc(id ReplicaID, n uint64) *GCounter {
	c := ctxBody{vv: x.n}
	v := c.base(id) + n
	if v != 0 {
		c.setBase(id, v)
	}
	x.n = c.vv
	if v == 0 {
		return &GCounter{}
	}
	return &GCounter{n: []Dot{{ID: id, Counter: v}}}
}

// Value returns the sum of all replicas' counts.
func (x *GCounter) Value() uint64 {
	var s uint64
	for _, d := range x.n {
		s += d.Counter
	}
	return s
}

// Merge takes the pointwise maximum of the two counters. It does not
// allocate when o has no replica x lacks.
func (x *GCounter) Merge(o *GCounter) {
	if o == nil {
		return
	}
	c := ctxBody{vv: x.n}
	c.mergeVV(o.n)
	x.n = c.vv
}

// Clone returns a copy.
func (x *GCounter) Clone() *GCounter { return &GCounter{n: slices.Clone(x.n)} }

// AppendBinary appends the canonical encoding.
func (x *GCounter) AppendBinary(b []byte) ([]byte, error) {
	return appendDots(appendHeader(b, tagGCounter), x.n), nil
}

// MarshalBinary returns the canonical encoding.
func (x *GCounter) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary decodes b into x; on error x is unchanged.
func (x *GCounter) UnmarshalBinary(b []byte) error {
	b, err := readHeader(b, tagGCounter)
	if err != nil {
		return err
	}
	n, b, err := readCounts(b)
	if err != nil {
		return err
	}
	if err := expectEnd(b); err != nil {
		return err
	}
	x.n = n
	return nil
}

func readCounts(b []byte) ([]Dot, []byte, error) {
	n, b, err := readDots(b)
	if err != nil {
		return nil, nil, err
	}
	for i := 1; i < len(n); i++ {
		if n[i-1].ID == n[i].ID {
			return nil, nil, corrupt("duplicate replica")
		}
	}
	return n, b, nil
}

// MarshalJSON encodes Value as a JSON number.
func (x *GCounter) MarshalJSON() ([]byte, error) { return strconv.AppendUint(nil, x.Value(), 10), nil }

// Stats returns the size of the counter.
func (x *GCounter) Stats() Stats { return Stats{Replicas: len(x.n), Elements: len(x.n)} }

// pn is one replica's contribution to a PNCounter.
type pn struct{ P, N uint64 }

// AppendBinary and UnmarshalBinary make pn a dotFun value.
func (v pn) MarshalBinary() ([]byte, error) {
	return binary.AppendUvarint(binary.AppendUvarint(nil, v.P), v.N), nil
}

func (v *pn) UnmarshalBinary(b []byte) error {
	p, b, err := readUvarint(b)
	if err != nil {
		return err
	}
	n, b, err := readUvarint(b)
	if err != nil {
		return err
	}
	if err := expectEnd(b); err != nil {
		return err
	}
	*v = pn{P: p, N: n}
	return nil
}

// PNCounter is a counter that goes up and down. Each replica's increments
// and decrements are kept under one dot (as riak_dt_emcntr), so the counter
// can live in an ORMap: removing the map key resets it.
//
// Concurrency: all increments and decrements from all replicas count.
// Inside an ORMap, a key removal resets the counts it has seen; a replica
// that concurrently changed the counter keeps its whole contribution.
//
// The zero value is a counter at zero. Not safe for concurrent use.
type PNCounter struct {
	c causal[dotFun[pn]]
}

func (x *PNCounter) add(id ReplicaID, p, n uint64) *PNCounter {
	var sum pn
	keep := x.c.store.entries[:0:0]
	var dc context
	for _, e := range x.c.store.entries {
		if e.dot.ID == id {
			sum.P += e.val.P
			sum.N += e.val.N
			dc.add(e.dot)
			continue
		}
		keep = append(keep, e)
	}
	sum.P += p
	sum.N += n
	d := x.c.ctx.next(id)
	dc.add(d)
	nv := dotVal[pn]{dot: d, val: sum}
	i, _ := dotFun[pn]{entries: keep}.find(d)
	x.c.store.entries = slices.Insert(keep, i, nv)
	return deltaPNCounter(dotFun[pn]{entries: []dotVal[pn]{nv}}, dc)
}

// Inc adds n as replica id and returns the delta.
func (x *PNCounter) Inc(id ReplicaID, n uint64) *PNCounter { return x.add(id, n, 0) }

// Dec subtracts n as replica id and returns the delta.
func (x *PNCounter) Dec(id ReplicaID, n uint64) *PNCounter { return x.add(id, 0, n) }

// Value returns the sum of increments minus the sum of decrements.
func (x *PNCounter) Value() int64 {
	var v int64
	for _, e := range x.c.store.entries {
		v += int64(e.val.P) - int64(e.val.N)
	}
	return v
}

// MarshalJSON encodes Value as a JSON number.
func (x *PNCounter) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, x.Value(), 10), nil }

func (x *PNCounter) fillStats(st *Stats) { st.Elements = len(x.c.store.entries) }

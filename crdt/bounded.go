package crdt

import (
	"encoding/binary"
	"slices"
	"strconv"
)

// BoundedCounter is a counter that never goes below zero, however replicas
// interleave (the escrow counter of AntidoteDB's counter_b). Increments
// create rights; a replica may only decrement, or transfer to another
// replica, rights it holds, so the sum of concurrent decrements can never
// exceed what was incremented.
//
// Concurrency: increments, decrements and transfers from all replicas
// commute. A decrement that would need rights held elsewhere fails with
// ErrInsufficientRights instead of risking a negative value; the caller
// asks the holder to Transfer rights first. Every entry of the state is
// written only by the replica it belongs to, so merges take maxima.
//
// The zero value is a counter at zero. Not safe for concurrent use.
type BoundedCounter struct {
	inc, dec []Dot         // per replica, sorted by ID, as in GCounter
	xfer     []boundedXfer // sorted by (from, to)
}

type boundedXfer struct {
	from, to ReplicaID
	n        uint64
}

func cmpXfer(a, b boundedXfer) int {
	if a.from != b.from {
		if a.from < b.from {
			return -1
		}
		return 1
	}
	switch {
	case a.to < b.to:
		return -1
	case a.to > b.to:
		return 1
	}
	return 0
}

func countOf(v []Dot, id ReplicaID) uint64 {
	c := ctxBody{vv: v}
	return c.base(id)
}

func addCount(v []Dot, id ReplicaID, n uint64) ([]Dot, uint64) {
	c := ctxBody{vv: v}
	t := c.base(id) + n
	if t != 0 {
		c.setBase(id, t)
	}
	return c.vv, t
}

// Rights returns how much replica id may decrement or transfer: its
// increments plus transfers received, minus its decrements and transfers
// sent.
func (x *BoundedCounter) Rights(id ReplicaID) uint64 {
	r := countOf(x.inc, id)
	for _, t := range x.xfer {
		if t.to == id {
			r += t.n
		}
		if t.from == id {
			r -= t.n
		}
	}
	return r - countOf(x.dec, id)
}

// Inc adds n as replica id, which gains n rights, and returns the delta.
func (x *BoundedCounter) Inc(id ReplicaID, n uint64) *BoundedCounter {
	var t uint64
	x.inc, t = addCount(x.inc, id, n)
	d := &BoundedCounter{}
	if t != 0 {
		d.inc = []Dot{{ID: id, Counter: t}}
	}
	return d
}

// Dec subtracts n as replica id and returns the delta, or
// ErrInsufficientRights if id holds fewer than n rights.
func (x *BoundedCounter) Dec(id ReplicaID, n uint64) (*BoundedCounter, error) {
	if x.Rights(id) < n {
		return nil, ErrInsufficientRights
	}
	var t uint64
	x.dec, t = addCount(x.dec, id, n)
	d := &BoundedCounter{}
	if t != 0 {
		d.dec = []Dot{{ID: id, Counter: t}}
	}
	return d, nil
}

// Transfer moves n rights from replica from (the caller) to replica to and
// returns the delta, or ErrInsufficientRights.
func (x *BoundedCounter) Transfer(from, to ReplicaID, n uint64) (*BoundedCounter, error) {
	if x.Rights(from) < n {
		return nil, ErrInsufficientRights
	}
	if from == to || n == 0 {
		return &BoundedCounter{}, nil
	}
	k := boundedXfer{from: from, to: to}
	i, ok := slices.BinarySearchFunc(x.xfer, k, cmpXfer)
	if !ok {
		x.xfer = slices.Insert(x.xfer, i, k)
	}
	x.xfer[i].n += n
	return &BoundedCounter{xfer: []boundedXfer{x.xfer[i]}}, nil
}

// Value returns increments minus decrements, which is never negative.
func (x *BoundedCounter) Value() uint64 {
	var v uint64
	for _, d := range x.inc {
		v += d.Counter
	}
	for _, d := range x.dec {
		v -= d.Counter
	}
	return v
}

// Merge takes the maximum of every entry.
func (x *BoundedCounter) Merge(o *BoundedCounter) {
	if o == nil {
		return
	}
	c := ctxBody{vv: x.inc}
	c.mergeVV(o.inc)
	x.inc = c.vv
	c = ctxBody{vv: x.dec}
	c.mergeVV(o.dec)
	x.dec = c.vv
	for _, t := range o.xfer {
		i, ok := slices.BinarySearchFunc(x.xfer, t, cmpXfer)
		if !ok {
			x.xfer = slices.Insert(x.xfer, i, t)
			continue
		}
		x.xfer[i].n = max(x.xfer[i].n, t.n)
	}
}

// Clone returns a copy.
func (x *BoundedCounter) Clone() *BoundedCounter {
	return &BoundedCounter{inc: slices.Clone(x.inc), dec: slices.Clone(x.dec), xfer: slices.Clone(x.xfer)}
}

// AppendBinary appends the canonical encoding.
func (x *BoundedCounter) AppendBinary(b []byte) ([]byte, error) {
	b = appendHeader(b, tagBoundedCounter)
	b = appendDots(appendDots(b, x.inc), x.dec)
	b = binary.AppendUvarint(b, uint64(len(x.xfer)))
	for _, t := range x.xfer {
		b = appendStr(appendStr(b, string(t.from)), string(t.to))
		b = binary.AppendUvarint(b, t.n)
	}
	return b, nil
}

// MarshalBinary returns the canonical encoding.
func (x *BoundedCounter) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary decodes b into x; on error x is unchanged. A decoded
// delta may show decrements without the increments that allowed them, so
// rights are not checked here; Dec and Transfer check them.
func (x *BoundedCounter) UnmarshalBinary(b []byte) error {
	b, err := readHeader(b, tagBoundedCounter)
	if err != nil {
		return err
	}
	var n BoundedCounter
	if n.inc, b, err = readCounts(b); err != nil {
		return err
	}
	if n.dec, b, err = readCounts(b); err != nil {
		return err
	}
	k, b, err := readLen(b, 3)
	if err != nil {
		return err
	}
	for range k {
		var t boundedXfer
		var s string
		if s, b, err = readStr(b); err != nil {
			return err
		}
		t.from = ReplicaID(s)
		if s, b, err = readStr(b); err != nil {
			return err
		}
		t.to = ReplicaID(s)
		if t.n, b, err = readUvarint(b); err != nil {
			return err
		}
		if t.n == 0 || t.from == t.to || (len(n.xfer) > 0 && cmpXfer(n.xfer[len(n.xfer)-1], t) >= 0) {
			return corrupt("bad transfer entry")
		}
		n.xfer = append(n.xfer, t)
	}
	if err := expectEnd(b); err != nil {
		return err
	}
	*x = n
	return nil
}

// MarshalJSON encodes Value as a JSON number.
func (x *BoundedCounter) MarshalJSON() ([]byte, error) {
	return strconv.AppendUint(nil, x.Value(), 10), nil
}

// Stats returns the size of the counter.
func (x *BoundedCounter) Stats() Stats {
	ids := map[ReplicaID]struct{}{}
	for _, d := range x.inc {
		ids[d.ID] = struct{}{}
	}
	for _, d := range x.dec {
		ids[d.ID] = struct{}{}
	}
	for _, t := range x.xfer {
		ids[t.from], ids[t.to] = struct{}{}, struct{}{}
	}
	return Stats{Replicas: len(ids), Elements: len(x.inc) + len(x.dec) + len(x.xfer)}
}

package crdt

import (
	"encoding/binary"
	"encoding/json"
	"iter"
	"maps"
	"reflect"

	"github.com/distkit/distkit/vclock"
)

// ORMap is an observed-remove map from keys to causal CRDTs: AWSet, RWSet,
// MVRegister, EWFlag, DWFlag, PNCounter, or another ORMap, nested to any
// depth (riak_dt_map). Every nested value shares the map's causal context,
// so one version vector covers the whole tree.
//
// Concurrency: a key is present while its value holds any live dot.
// Updates to a key merge as the value type says (two concurrent counter
// increments both count, concurrent set adds both land). Removing a key
// resets its value: it cancels exactly the updates the remover has seen,
// so a removed-then-re-added key starts from empty and never resurrects
// old data, while an update concurrent with the remove survives it (the
// update wins, with only its own effect). Removing an absent key is a
// no-op.
//
// The zero value is an empty map. Not safe for concurrent use. Values
// returned by Get belong to the map: read them, and change them only
// through Update.
type ORMap[K comparable, V Embeddable[V]] struct {
	c causal[dotMap[K, V]]
}

// Update applies fn to the value at key (an empty value if the key is
// absent) and returns the map's delta. fn must change the value only
// through its mutators (Add, Inc, Write, Update...) and return the delta
// those return, merged if it calls several:
//
//	m.Update("cart", func(c *crdt.PNCounter) *crdt.PNCounter { return c.Inc("a", 1) })
func (x *ORMap[K, V]) Update(key K, fn func(V) V) *ORMap[K, V] {
	v, ok := x.c.store.get(key)
	if !ok {
		var zero V
		v = zero.empty()
	}
	// Lend the map's context to the value so that its mutators draw dots
	// from, and record them in, the one shared context.
	vc := v.ctxRef()
	*vc, x.c.ctx = x.c.ctx, context{}
	d := fn(v)
	x.c.ctx, *vc = *vc, context{}
	x.c.store.set(key, v)
	var out ORMap[K, V]
	if !isNil(d) && d.same(v) {
		// fn returned the value itself rather than a delta: ship a copy
		// of it, whose dots are its own context, so that the delta shares
		// no memory with the map.
		d = v.clone()
		*d.ctxRef() = removeDots(v)
	}
	if !isNil(d) {
		dc := d.ctxRef()
		out.c.ctx, *dc = *dc, context{}
		out.c.store.set(key, d)
	}
	return &out
}

// isNil reports whether the pointer v is nil; V is always a pointer type.
func isNil[V any](v V) bool {
	return reflect.ValueOf(&v).Elem().IsNil()
}

// Remove removes key, resetting its value, and returns the delta.
func (x *ORMap[K, V]) Remove(key K) *ORMap[K, V] {
	v, ok := x.c.store.get(key)
	if !ok {
		return new(ORMap[K, V])
	}
	x.c.store.del(key)
	return deltaORMap(dotMap[K, V]{}, removeDots(v))
}

// Get returns the value at key. It belongs to the map: do not change it
// except through Update.
func (x *ORMap[K, V]) Get(key K) (V, bool) { return x.c.store.get(key) }

// Contains reports whether key is present.
func (x *ORMap[K, V]) Contains(key K) bool { _, ok := x.c.store.get(key); return ok }

// Len returns the number of keys.
func (x *ORMap[K, V]) Len() int { return x.c.store.len() }

// All yields the keys and values in no particular order.
func (x *ORMap[K, V]) All() iter.Seq2[K, V] { return x.c.store.all }

// MarshalJSON encodes the map as a JSON object of the values (keys must be
// what encoding/json accepts as object keys).
func (x *ORMap[K, V]) MarshalJSON() ([]byte, error) {
	return json.Marshal(maps.Collect(x.All()))
}

func (x *ORMap[K, V]) fillStats(st *Stats) { st.Elements = x.Len() }

// LWWMap is a map whose entries are last-writer-wins registers ordered by
// hybrid logical clock timestamps.
//
// Concurrency: per key, the write (set or delete) with the latest
// timestamp wins, ties broken by replica ID. A delete leaves a tombstone
// until CompactTombstones drops it. Deleting an absent key is a no-op.
// Timestamps must be unique per replica, as vclock.HLC.Now guarantees.
//
// The zero value is an empty map. Not safe for concurrent use.
type LWWMap[K comparable, V any] struct {
	t lwwTable[K, V]
}

type lwwEntry[V any] struct {
	ts      vclock.Timestamp
	id      ReplicaID
	deleted bool
	val     V
}

// lwwTable holds an LWWMap's entries in a table, the deleted flag in the
// slot's aux word, so that a dense map decodes into a table sized exactly.
type lwwTable[K comparable, V any] struct {
	t table[K, lwwVal[V]]
}

type lwwVal[V any] struct {
	ts  vclock.Timestamp
	id  ReplicaID
	val V
}

func newLWWTable[K comparable, V any](n int) lwwTable[K, V] {
	return lwwTable[K, V]{t: newTable[K, lwwVal[V]](n)}
}

func lwwTableOf[K comparable, V any](k K, e lwwEntry[V]) lwwTable[K, V] {
	t := newLWWTable[K, V](1)
	t.set(k, e)
	return t
}

func (t *lwwTable[K, V]) get(k K) (lwwEntry[V], bool) {
	s := t.t.get(k)
	if s == nil {
		return lwwEntry[V]{}, false
	}
	return t.entry(s), true
}

func (*lwwTable[K, V]) entry(s *tslot[K, lwwVal[V]]) lwwEntry[V] {
	return lwwEntry[V]{ts: s.val.ts, id: s.val.id, deleted: s.aux == 1, val: s.val.val}
}

func (t *lwwTable[K, V]) set(k K, e lwwEntry[V]) {
	var aux uint32
	if e.deleted {
		aux = 1
	}
	t.t.put(k, aux, lwwVal[V]{ts: e.ts, id: e.id, val: e.val})
}

func (t *lwwTable[K, V]) del(k K)  { t.t.del(k) }
func (t *lwwTable[K, V]) len() int { return t.t.len() }

// all yields the entries; see table.all for what may change meanwhile.
func (t *lwwTable[K, V]) all(yield func(K, lwwEntry[V]) bool) {
	for s := range t.t.all {
		if !yield(s.key, t.entry(s)) {
			return
		}
	}
}

func (t *lwwTable[K, V]) keys(yield func(K) bool) { t.t.keys(yield) }

func (t *lwwTable[K, V]) clone() lwwTable[K, V] { return lwwTable[K, V]{t: t.t.clone()} }

func (x *LWWMap[K, V]) put(k K, e lwwEntry[V]) bool {
	if old, ok := x.t.get(k); ok && !lwwLess(old.ts, old.id, e.ts, e.id) {
		return false
	}
	x.t.set(k, e)
	return true
}

// Set writes v at key as replica id at time ts and returns the delta.
func (x *LWWMap[K, V]) Set(id ReplicaID, key K, v V, ts vclock.Timestamp) *LWWMap[K, V] {
	e := lwwEntry[V]{ts: ts, id: id, val: v}
	if !x.put(key, e) {
		return &LWWMap[K, V]{}
	}
	return &LWWMap[K, V]{t: lwwTableOf(key, e)}
}

// Delete deletes key as replica id at time ts and returns the delta; a
// no-op if key is absent.
func (x *LWWMap[K, V]) Delete(id ReplicaID, key K, ts vclock.Timestamp) *LWWMap[K, V] {
	if _, ok := x.Get(key); !ok {
		return &LWWMap[K, V]{}
	}
	e := lwwEntry[V]{ts: ts, id: id, deleted: true}
	if !x.put(key, e) {
		return &LWWMap[K, V]{}
	}
	return &LWWMap[K, V]{t: lwwTableOf(key, e)}
}

// Get returns the value at key.
func (x *LWWMap[K, V]) Get(key K) (V, bool) {
	e, ok := x.t.get(key)
	if !ok || e.deleted {
		var zero V
		return zero, false
	}
	return e.val, true
}

// Len returns the number of live keys.
func (x *LWWMap[K, V]) Len() int {
	n := 0
	for _, e := range x.t.all {
		if !e.deleted {
			n++
		}
	}
	return n
}

// All yields the live keys and values in no particular order.
func (x *LWWMap[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, e := range x.t.all {
			if !e.deleted && !yield(k, e.val) {
				return
			}
		}
	}
}

// Merge keeps, per key, the later write.
func (x *LWWMap[K, V]) Merge(o *LWWMap[K, V]) {
	if o == nil {
		return
	}
	for k, e := range o.t.all {
		x.put(k, e)
	}
}

// CompactTombstones drops deletes stamped at or before frontier (see
// LWWSet.CompactTombstones for what frontier must guarantee) and returns
// how many.
func (x *LWWMap[K, V]) CompactTombstones(frontier vclock.Timestamp) int {
	n := 0
	for k, e := range x.t.all {
		if e.deleted && e.ts <= frontier {
			x.t.del(k)
			n++
		}
	}
	return n
}

// Clone returns a copy.
func (x *LWWMap[K, V]) Clone() *LWWMap[K, V] { return &LWWMap[K, V]{t: x.t.clone()} }

// AppendBinary appends the canonical encoding.
func (x *LWWMap[K, V]) AppendBinary(b []byte) ([]byte, error) {
	keys, err := sortedKeysOf(x.t.len(), x.t.keys)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(appendHeader(b, tagLWWMap), uint64(len(keys)))
	for _, k := range keys {
		e, _ := x.t.get(k.k)
		b = append(b, k.enc...)
		b = binary.AppendUvarint(b, uint64(e.ts))
		b = appendStr(b, string(e.id))
		if e.deleted {
			b = append(b, 1)
			continue
		}
		b = append(b, 0)
		if b, err = appendElem(b, e.val); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// MarshalBinary returns the canonical encoding.
func (x *LWWMap[K, V]) MarshalBinary() ([]byte, error) { return x.AppendBinary(nil) }

// UnmarshalBinary decodes b into x; on error x is unchanged.
func (x *LWWMap[K, V]) UnmarshalBinary(b []byte) error {
	b, err := readHeader(b, tagLWWMap)
	if err != nil {
		return err
	}
	c, b, err := readLen(b, 4)
	if err != nil {
		return err
	}
	var n LWWMap[K, V]
	if c > 0 {
		n.t = newLWWTable[K, V](presize(c, len(b), 8))
	}
	var prev []byte
	readK, readV := elemReader[K](), elemReader[V]()
	for range c {
		start := b
		var k K
		if k, b, err = readK(b); err != nil {
			return err
		}
		enc := start[:len(start)-len(b)]
		if prev != nil && string(prev) >= string(enc) {
			return corrupt("keys out of order")
		}
		prev = enc
		var e lwwEntry[V]
		var ts uint64
		if ts, b, err = readUvarint(b); err != nil {
			return err
		}
		e.ts = vclock.Timestamp(ts)
		var id string
		if id, b, err = readStr(b); err != nil {
			return err
		}
		e.id = ReplicaID(id)
		if len(b) == 0 || b[0] > 1 {
			return corrupt("bad entry kind")
		}
		e.deleted = b[0] == 1
		b = b[1:]
		if !e.deleted {
			if e.val, b, err = readV(b); err != nil {
				return err
			}
		}
		n.t.set(k, e)
	}
	if err := expectEnd(b); err != nil {
		return err
	}
	*x = n
	return nil
}

// MarshalJSON encodes the live entries as a JSON object.
func (x *LWWMap[K, V]) MarshalJSON() ([]byte, error) {
	live := make(map[K]V)
	for k, v := range x.All() {
		live[k] = v
	}
	return json.Marshal(live)
}

// Stats returns the size of the map.
func (x *LWWMap[K, V]) Stats() Stats {
	n := x.Len()
	ids := map[ReplicaID]struct{}{}
	for _, e := range x.t.all {
		ids[e.id] = struct{}{}
	}
	return Stats{Replicas: len(ids), Elements: n, Tombstones: x.t.len() - n}
}

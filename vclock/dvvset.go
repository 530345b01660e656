package vclock

import (
	"encoding/binary"
	"errors"
	"iter"
)

// DVVSet holds the concurrent versions ("siblings") of one key in a
// replicated key-value store, with the compact causal metadata of a DVV set
// (Almeida, Baquero, Gonçalves, Preguiça, Fonte, "Scalable and Accurate
// Causality Tracking for Eventually Consistent Stores", 2014;
// ricardobcl/Dotted-Version-Vectors). Replicas are the servers that
// coordinate writes, not the clients, so the metadata grows with the number
// of servers, yet concurrent client writes are never mistaken for each other
// (no false conflicts) and a write never silently replaces a version it had
// not seen (no lost siblings).
//
// The protocol, for each key:
//
//   - Read: return Values and Context to the client.
//   - Write: the client sends a new value with the Context it read (or an
//     empty vector for a blind write); the server that takes the write calls
//     Update with its own ReplicaID. Siblings the client had seen are
//     replaced, the others stay.
//   - Replicate: servers exchange their sets and Sync them.
//   - Resolve: when there are several siblings, Reconcile merges them with an
//     application function, or LWW keeps the last by an application order.
//
// For each server the set keeps how many of its events it knows and the
// values of the latest of them that are still live; the live events of one
// server are always its most recent ones, which is what makes the set
// compact.
//
// The zero value is an empty set, ready to use. V is copied by assignment;
// values that are references (slices, maps, pointers) are shared, not
// copied, between sets that Sync. A DVVSet is not safe for concurrent use
// when any goroutine changes it.
type DVVSet[V any] struct {
	entries []dvvEntry[V] // sorted by id; n > 0
}

// dvvEntry records that the set knows events id:1 to id:n, of which the last
// len(values) are live siblings: values[k] was written by event
// id:(n-len(values)+1+k), oldest first.
type dvvEntry[V any] struct {
	id     ReplicaID
	n      uint64
	values []V
}

// first returns the counter of the oldest live event, or n+1 if none is live.
func (e dvvEntry[V]) first() uint64 { return e.n - uint64(len(e.values)) + 1 }

// newest returns e's last k values as a slice whose capacity ends at its
// length, so that a later append to it copies rather than writing into
// storage another set may share.
func (e dvvEntry[V]) newest(k uint64) []V {
	l := uint64(len(e.values))
	return e.values[l-k : l : l]
}

// mergeEntry joins two entries for the same replica. The result knows the
// events either knows, and an event stays live unless one side knows it and
// has already replaced it: the live events are the latest from
// max(first(a), first(b)) to max(n(a), n(b)).
func mergeEntry[V any](a, b dvvEntry[V]) dvvEntry[V] {
	if a.n < b.n {
		a, b = b, a
	}
	keep := uint64(len(a.values))
	if a.first() < b.first() {
		keep = a.n - b.first() + 1
	}
	return dvvEntry[V]{id: a.id, n: a.n, values: a.newest(keep)}
}

// shared returns e with its values capped at their length, for an entry
// that another set may also hold.
func (e dvvEntry[V]) shared() dvvEntry[V] {
	e.values = e.newest(uint64(len(e.values)))
	return e
}

// syncInPlace joins b into a without allocating when every replica of b
// already has an entry in a, and reports whether it did. Otherwise it
// returns false, having joined a prefix of b, which is harmless: joining is
// idempotent, so the caller can join all of b again.
func syncInPlace[V any](a, b []dvvEntry[V]) bool {
	i := 0
	for j := range b {
		for i < len(a) && a[i].id < b[j].id {
			i++
		}
		if i == len(a) || a[i].id != b[j].id {
			return false
		}
		a[i] = mergeEntry(a[i], b[j])
		i++
	}
	return true
}

// syncEntries joins two sorted entry lists. Values slices in the result may
// share storage with a and b, but only up to their length, so an append to
// either side never writes where the other reads.
func syncEntries[V any](a, b []dvvEntry[V]) []dvvEntry[V] {
	out := make([]dvvEntry[V], 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].id == b[j].id:
			out = append(out, mergeEntry(a[i], b[j]))
			i++
			j++
		case a[i].id < b[j].id:
			out = append(out, a[i].shared())
			i++
		default:
			out = append(out, b[j].shared())
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, a[i].shared())
	}
	for ; j < len(b); j++ {
		out = append(out, b[j].shared())
	}
	return out
}

// Len returns the number of siblings.
func (s DVVSet[V]) Len() int {
	n := 0
	for _, e := range s.entries {
		n += len(e.values)
	}
	return n
}

// Values returns the siblings in a new slice, ordered by the replica that
// wrote them and then oldest first; the order is the same on every replica
// holding the same set.
func (s DVVSet[V]) Values() []V {
	out := make([]V, 0, s.Len())
	for _, e := range s.entries {
		out = append(out, e.values...)
	}
	return out
}

// All yields each sibling with the dot of the event that wrote it, in the
// order of Values. s must not be changed during the iteration.
func (s DVVSet[V]) All() iter.Seq2[Dot, V] {
	return func(yield func(Dot, V) bool) {
		for _, e := range s.entries {
			c := e.first()
			for k, v := range e.values {
				if !yield(Dot{ID: e.id, Counter: c + uint64(k)}, v) {
					return
				}
			}
		}
	}
}

// Context returns the version vector of every event s knows, replaced
// siblings included. A client reads it together with Values and sends it
// back with its next write, so that the write replaces exactly what the
// client saw.
func (s DVVSet[V]) Context() VersionVector {
	var v VersionVector
	v.entries = make([]entry, 0, len(s.entries))
	for _, e := range s.entries {
		v.entries = append(v.entries, newEntry(Dot{ID: e.id, Counter: e.n})) // ids are interned on entry
	}
	return v
}

// Update records a client's write of v, taken by replica id, and returns the
// write's dot. ctx is the Context the client read before writing, or an empty
// vector for a blind write: siblings ctx covers are replaced by v, the
// others stay as concurrent siblings. Events in ctx that s had not seen
// (the client read from a replica further ahead) become known to s.
func (s *DVVSet[V]) Update(ctx VersionVector, id ReplicaID, v V) Dot {
	if ctx.Len() > 0 && !s.discardInPlace(ctx) {
		known := make([]dvvEntry[V], len(ctx.entries))
		for i, d := range ctx.entries {
			known[i] = dvvEntry[V]{id: d.ID, n: d.Counter}
		}
		s.entries = syncEntries(s.entries, known)
	}
	return s.event(id, v)
}

// discardInPlace joins the events of ctx into s, as Update needs, when every
// replica of ctx already has an entry in s, and reports whether it did.
// Siblings ctx covers are dropped; the others keep their storage.
func (s *DVVSet[V]) discardInPlace(ctx VersionVector) bool {
	i := 0
	for _, d := range ctx.entries {
		for i < len(s.entries) && s.entries[i].id < d.ID {
			i++
		}
		if i == len(s.entries) || s.entries[i].id != d.ID {
			return false
		}
		e := &s.entries[i]
		switch {
		case d.Counter >= e.n:
			e.n = d.Counter
			// Not e.values[:0]: the next append would overwrite
			// values another set may share after a Sync.
			e.values = nil
		case d.Counter >= e.first():
			e.values = e.values[uint64(len(e.values))-(e.n-d.Counter):]
		}
		i++
	}
	return true
}

// event records a new event at replica id that wrote v.
func (s *DVVSet[V]) event(id ReplicaID, v V) Dot {
	id = intern(id)
	for i := range s.entries {
		e := &s.entries[i]
		if e.id == id {
			e.n++
			e.values = append(e.values, v)
			return Dot{ID: id, Counter: e.n}
		}
		if e.id > id {
			s.entries = append(s.entries, dvvEntry[V]{})
			copy(s.entries[i+1:], s.entries[i:])
			s.entries[i] = dvvEntry[V]{id: id, n: 1, values: []V{v}}
			return Dot{ID: id, Counter: 1}
		}
	}
	s.entries = append(s.entries, dvvEntry[V]{id: id, n: 1, values: []V{v}})
	return Dot{ID: id, Counter: 1}
}

// Sync merges o into s, as when two replicas of a key exchange state. The
// result knows every event either knows; a sibling survives unless the other
// side knew it and had replaced it. Sync is commutative, associative and
// idempotent.
func (s *DVVSet[V]) Sync(o DVVSet[V]) {
	if len(o.entries) == 0 || syncInPlace(s.entries, o.entries) {
		return
	}
	s.entries = syncEntries(s.entries, o.entries)
}

// Compare reports how the causal knowledge of s relates to o's: After if s
// has seen every event o has and more, so that syncing o into s changes
// nothing, and so on.
func (s DVVSet[V]) Compare(o DVVSet[V]) Ordering {
	return s.Context().Compare(o.Context())
}

// Reconcile replaces all siblings with merge(Values()), written as a new
// event at replica id that has seen them all, and returns its dot. With one
// or no sibling it does nothing and returns the zero Dot. Replicas that
// reconcile the same siblings concurrently create concurrent siblings again
// (possibly equal ones); merge functions that are deterministic make the
// next reconciliation converge.
func (s *DVVSet[V]) Reconcile(id ReplicaID, merge func(values []V) V) Dot {
	if s.Len() < 2 {
		return Dot{}
	}
	return s.Update(s.Context(), id, merge(s.Values()))
}

// Last returns the greatest sibling by less, with its dot. Among siblings
// that less does not order, the first in the order of Values wins, so every
// replica picks the same one. ok is false when s has no siblings.
func (s DVVSet[V]) Last(less func(a, b V) bool) (v V, d Dot, ok bool) {
	for dot, x := range s.All() {
		if !ok || less(v, x) {
			v, d, ok = x, dot, true
		}
	}
	return v, d, ok
}

// LWW resolves the siblings by last-writer-wins: it keeps only the greatest
// by less (typically comparing HLC timestamps stored in the values), written
// as a new event at replica id, and returns its dot. With one or no sibling
// it does nothing and returns the zero Dot.
func (s *DVVSet[V]) LWW(id ReplicaID, less func(a, b V) bool) Dot {
	return s.Reconcile(id, func([]V) V {
		v, _, _ := s.Last(less)
		return v
	})
}

// Clone returns a copy of s that shares no storage with it (the values
// themselves are copied by assignment).
func (s DVVSet[V]) Clone() DVVSet[V] {
	if len(s.entries) == 0 {
		return DVVSet[V]{}
	}
	out := make([]dvvEntry[V], len(s.entries))
	for i, e := range s.entries {
		out[i] = dvvEntry[V]{id: e.id, n: e.n, values: append([]V(nil), e.values...)}
	}
	return DVVSet[V]{entries: out}
}

// Codec encodes and decodes the values of a DVVSet. Append appends one
// value's encoding; Read decodes one value from the front of b and returns
// the rest. Every value must encode to at least one byte (a length prefix
// is enough), which lets the decoder bound its work by the input's length,
// and equal values must encode to equal bytes for the set's encoding to be
// canonical.
type Codec[V any] struct {
	Append func(b []byte, v V) []byte
	Read   func(b []byte) (v V, rest []byte, err error)
}

// BytesCodec returns a Codec for []byte values, each written with a length
// prefix. An empty value decodes as nil.
func BytesCodec() Codec[[]byte] {
	return Codec[[]byte]{
		Append: func(b []byte, v []byte) []byte {
			return append(binary.AppendUvarint(b, uint64(len(v))), v...)
		},
		Read: func(b []byte) ([]byte, []byte, error) {
			n, rest, err := readLen(b, 1, "value length")
			if err != nil {
				return nil, nil, err
			}
			return append([]byte(nil), rest[:n]...), rest[n:], nil
		},
	}
}

// StringCodec returns a Codec for string values, each written with a length
// prefix.
func StringCodec() Codec[string] {
	return Codec[string]{
		Append: appendStr,
		Read: func(b []byte) (string, []byte, error) {
			return readStr(b, "value")
		},
	}
}

// Encode appends the encoding of s to b, with c encoding the values:
//
//	version, uv entries, entries × (str id, uv n, uv k, k × value)
//
// where entries are sorted by id, n > 0, k <= n, and the k values are the
// live siblings, oldest first. Equal sets with a canonical value codec
// encode to equal bytes.
func (s DVVSet[V]) Encode(b []byte, c Codec[V]) []byte {
	b = binary.AppendUvarint(append(b, codecV1), uint64(len(s.entries)))
	for _, e := range s.entries {
		b = appendStr(b, string(e.id))
		b = binary.AppendUvarint(b, e.n)
		b = binary.AppendUvarint(b, uint64(len(e.values)))
		for _, v := range e.values {
			b = c.Append(b, v)
		}
	}
	return b
}

// DecodeDVVSet decodes a set encoded by Encode with the same codec.
// It rejects non-canonical input with an error wrapping ErrCorrupt; errors
// from c.Read are wrapped too.
func DecodeDVVSet[V any](b []byte, c Codec[V]) (DVVSet[V], error) {
	b, err := readVersion(b, "dvv set")
	if err != nil {
		return DVVSet[V]{}, err
	}
	// The smallest entry is three bytes: an empty id, n, and k = 0.
	count, b, err := readLen(b, 3, "dvv set entry")
	if err != nil {
		return DVVSet[V]{}, err
	}
	var s DVVSet[V]
	if count > 0 {
		// count and k below are bounded by the input's length (every entry
		// and value takes at least one byte), so allocating them up front
		// costs at most a constant factor of it.
		s.entries = make([]dvvEntry[V], 0, count)
	}
	for i := range count {
		var id string
		var e dvvEntry[V]
		if id, b, err = readStr(b, "replica id"); err != nil {
			return DVVSet[V]{}, err
		}
		e.id = ReplicaID(id)
		if count <= internLimit {
			e.id = intern(e.id)
		}
		if i > 0 && s.entries[i-1].id >= e.id {
			return DVVSet[V]{}, corrupt("dvv set ids not strictly increasing at %q", id)
		}
		if e.n, b, err = readUvarint(b, "counter"); err != nil {
			return DVVSet[V]{}, err
		}
		var k int
		if k, b, err = readLen(b, 1, "sibling"); err != nil {
			return DVVSet[V]{}, err
		}
		if e.n == 0 || uint64(k) > e.n {
			return DVVSet[V]{}, corrupt("%d siblings for counter %d of %q", k, e.n, id)
		}
		if k > 0 {
			e.values = make([]V, 0, k)
		}
		for range k {
			v, rest, err := c.Read(b)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					err = corrupt("value: %v", err)
				}
				return DVVSet[V]{}, err
			}
			if len(rest) >= len(b) {
				return DVVSet[V]{}, corrupt("value codec consumed no input")
			}
			e.values = append(e.values, v)
			b = rest
		}
		s.entries = append(s.entries, e)
	}
	if len(b) != 0 {
		return DVVSet[V]{}, corrupt("%d trailing bytes after dvv set", len(b))
	}
	return s, nil
}

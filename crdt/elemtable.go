package crdt

import (
	"hash/maphash"
	"slices"
)

// elemSeed seeds the element hash of every elemTable in the process. One
// seed for all tables lets a merge move an entry from one table to another
// by its stored hash, without hashing the element again. It is random per
// process, so an adversary cannot pick elements that collide.
var elemSeed = maphash.MakeSeed()

// elemTable is the index of an add-wins set's elements: an open-addressing
// hash table with linear probing from element to packed dot.
//
// A Go map would do, but a set's hot paths each want one more thing from
// it than the map API gives: Add replaces an element's dot and needs the
// old one (one probe here, a lookup and an assignment with a map); a
// merge inserts the other set's entries by the hash it stored for them
// (here no element is hashed or even read unless two hashes match), and
// presizes the table once for the result; a large decode sizes it
// exactly. A slot stores a 32-bit hash fragment beside the packed dot, so
// the slot of a string element stays 32 bytes, as in a map.
type elemTable[E comparable] struct {
	slots []elemSlot[E] // length a power of two, or zero
	shift uint8         // 32 - log2(len(slots)): a hash's top bits pick its home slot
	n     int           // live entries
	used  int           // live entries and tombstones
}

// elemSlot is one slot. h is 0 for an empty slot, 1 for a tombstone (a
// deleted entry, which probes must walk past), and otherwise the hash
// fragment of key.
type elemSlot[E comparable] struct {
	h   uint32
	rid uint32
	cnt uint64
	key E
}

const (
	slotEmpty   = 0
	slotDeleted = 1
)

func hashElem[E comparable](k E) uint32 {
	h := uint32(maphash.Comparable(elemSeed, k) >> 32)
	if h <= slotDeleted {
		h += 2
	}
	return h
}

// tableSize returns the number of slots for n entries: a power of two,
// at least 8, at most 7/8 full.
func tableSize(n int) int {
	size := 8
	for size-size/8 < n {
		size *= 2
	}
	return size
}

func newElemTable[E comparable](n int) elemTable[E] {
	var t elemTable[E]
	t.resize(tableSize(n))
	return t
}

func (t *elemTable[E]) len() int { return t.n }

// resize rehashes the live entries into size slots, by their stored hash.
func (t *elemTable[E]) resize(size int) {
	old := t.slots
	t.slots = make([]elemSlot[E], size)
	t.shift = uint8(32 - bitsLen(size))
	t.used = t.n
	mask := size - 1
	for i := range old {
		s := &old[i]
		if s.h <= slotDeleted {
			continue
		}
		j := int(s.h>>t.shift) & mask
		for t.slots[j].h != slotEmpty {
			j = (j + 1) & mask
		}
		t.slots[j] = *s
	}
}

// bitsLen returns log2 of a power of two.
func bitsLen(size int) int {
	n := 0
	for size > 1 {
		size >>= 1
		n++
	}
	return n
}

// reserve makes room for n more entries, so that inserting them rehashes
// nothing.
func (t *elemTable[E]) reserve(n int) {
	if t.used+n > len(t.slots)-len(t.slots)/8 {
		t.resize(max(tableSize(t.n+n), len(t.slots)))
	}
}

// find returns the index of k's slot, or -1.
func (t *elemTable[E]) find(k E, h uint32) int {
	if len(t.slots) == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i := int(h >> t.shift); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == h && s.key == k {
			return i
		}
		if s.h == slotEmpty {
			return -1
		}
	}
}

func (t *elemTable[E]) get(k E) (packedDot, bool) {
	i := t.find(k, hashElem(k))
	if i < 0 {
		return packedDot{}, false
	}
	s := &t.slots[i]
	return packedDot{cnt: s.cnt, rid: s.rid}, true
}

// put stores p at k and returns the dot it replaced, if any.
func (t *elemTable[E]) put(k E, p packedDot) (packedDot, bool) {
	return t.putHashed(k, hashElem(k), p)
}

// putHashed is put for a key whose hash is already known.
func (t *elemTable[E]) putHashed(k E, h uint32, p packedDot) (packedDot, bool) {
	free := -1
	if len(t.slots) > 0 {
		mask := len(t.slots) - 1
		for i := int(h >> t.shift); ; i = (i + 1) & mask {
			s := &t.slots[i]
			if s.h == h && s.key == k {
				old := packedDot{cnt: s.cnt, rid: s.rid}
				s.cnt, s.rid = p.cnt, p.rid
				return old, true
			}
			if s.h == slotDeleted && free < 0 {
				free = i
			}
			if s.h == slotEmpty {
				break
			}
		}
	}
	t.insertNew(k, h, p, free)
	return packedDot{}, false
}

// insertNew adds k, which the table lacks, at slot free (a tombstone on
// k's probe path) or, when free is -1, at the first empty slot of the path.
func (t *elemTable[E]) insertNew(k E, h uint32, p packedDot, free int) {
	if free < 0 {
		if t.used+1 > len(t.slots)-len(t.slots)/8 {
			// Grow when full of live entries; when tombstones fill
			// it, rehashing at the same size clears them.
			t.resize(tableSize(2 * (t.n + 1)))
		}
		mask := len(t.slots) - 1
		free = int(h>>t.shift) & mask
		for t.slots[free].h > slotDeleted {
			free = (free + 1) & mask
		}
		if t.slots[free].h == slotEmpty {
			t.used++
		}
	}
	t.slots[free] = elemSlot[E]{h: h, rid: p.rid, cnt: p.cnt, key: k}
	t.n++
}

func (t *elemTable[E]) del(k E) {
	i := t.find(k, hashElem(k))
	if i < 0 {
		return
	}
	t.slots[i] = elemSlot[E]{h: slotDeleted}
	t.n--
	if t.n == 0 {
		// Nothing live: drop the tombstones.
		clear(t.slots)
		t.used = 0
	}
}

// all yields the live entries in slot order. The table must not change
// during the iteration, except by put or del of the key being visited.
func (t *elemTable[E]) all(yield func(E, packedDot) bool) {
	for i := range t.slots {
		s := &t.slots[i]
		if s.h > slotDeleted && !yield(s.key, packedDot{cnt: s.cnt, rid: s.rid}) {
			return
		}
	}
}

func (t *elemTable[E]) clone() elemTable[E] {
	c := *t
	c.slots = slices.Clone(t.slots)
	return c
}

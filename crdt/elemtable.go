package crdt

import (
	"hash/maphash"
	"sync/atomic"
)

// elemSeed seeds the key hash of every table in the process. One seed for
// all tables lets a merge move an entry from one table to another by its
// stored hash, without hashing the key again. It is random per process,
// so an adversary cannot pick keys that collide.
var elemSeed = maphash.MakeSeed()

// table is the hash table behind the large collections (the element index
// of an add-wins set, a grow-only set): open addressing with linear
// probing, from key to a value and a 32-bit aux word.
//
// A Go map would do, but the hot paths each want one more thing from it
// than the map API gives: AWSet.Add replaces an element's dot and needs
// the old one (one probe here, a lookup and an assignment with a map); a
// merge inserts the other side's entries by the hash it stored for them
// (no key is hashed or even read unless two hashes match) and presizes
// once; a decode sizes the table exactly, where a Go map given a size hint
// allocates about twice the room (53 bytes per string key of a set). A
// slot keeps a 32-bit hash fragment, and aux fills the word beside it:
// the slot of a string element with a uint64 value is 32 bytes, as in a
// map.
type table[K comparable, V any] struct {
	slots []tslot[K, V] // any length; a hash picks its home slot by multiply-shift
	n     int           // live entries
	used  int           // live entries and tombstones
	// salt scrambles the stored hashes into home slots, differently in
	// every table. Without it every table would keep its keys in the
	// same order (by hash), and inserting one table's keys into another
	// in that order would pile them into ever longer probe runs: with
	// linear probing, keys arriving sorted by home slot fill one region
	// of the table at a time. Set when slots are first allocated; odd.
	salt uint32
}

// saltSource hands out table salts.
var saltSource atomic.Uint64

func newSalt() uint32 {
	return uint32(saltSource.Add(1)*0x9E3779B97F4A7C15>>32) | 1
}

// tslot is one slot. h is 0 for an empty slot, 1 for a tombstone (a
// deleted entry, which probes walk past), and otherwise the hash fragment
// of key. val comes before key so that a zero-size V adds no padding.
type tslot[K comparable, V any] struct {
	h   uint32
	aux uint32
	val V
	key K
}

const (
	slotEmpty   = 0
	slotDeleted = 1
)

func hashKey[K comparable](k K) uint32 {
	var h64 uint64
	if s, ok := any(k).(string); ok {
		// The common element type, hashed without Comparable's
		// generic dispatch. Every key of a table has the same type,
		// so a table hashes all its keys one way.
		h64 = maphash.String(elemSeed, s)
	} else {
		h64 = maphash.Comparable(elemSeed, k)
	}
	h := uint32(h64 >> 32)
	if h <= slotDeleted {
		h += 2
	}
	return h
}

// tableSize returns the number of slots for n entries: at least 8, at
// most 7/8 full.
func tableSize(n int) int {
	size := max(8, n+n/7+1)
	for size-size/8 < n {
		size++
	}
	return size
}

func newTable[K comparable, V any](n int) table[K, V] {
	var t table[K, V]
	t.resize(tableSize(n))
	return t
}

func (t *table[K, V]) len() int { return t.n }

// home returns the first slot of h's probe sequence.
func (t *table[K, V]) home(h uint32) int {
	return int(uint64(h*t.salt) * uint64(len(t.slots)) >> 32)
}

func (t *table[K, V]) next(i int) int {
	if i++; i == len(t.slots) {
		return 0
	}
	return i
}

// resize rehashes the live entries into size slots, by their stored hash.
func (t *table[K, V]) resize(size int) {
	old := t.slots
	t.slots = make([]tslot[K, V], size)
	t.used = t.n
	if t.salt == 0 {
		t.salt = newSalt()
	}
	for i := range old {
		s := &old[i]
		if s.h <= slotDeleted {
			continue
		}
		j := t.home(s.h)
		for t.slots[j].h != slotEmpty {
			j = t.next(j)
		}
		t.slots[j] = *s
	}
}

// full reports whether one more insertion would fill the table past 7/8.
func (t *table[K, V]) full(n int) bool { return t.used+n > len(t.slots)-len(t.slots)/8 }

// reserve makes room for n more entries, so that inserting them rehashes
// nothing.
func (t *table[K, V]) reserve(n int) {
	if t.full(n) {
		t.resize(max(tableSize(t.n+n), len(t.slots)))
	}
}

// find returns the index of k's slot, or -1.
func (t *table[K, V]) find(k K, h uint32) int {
	if len(t.slots) == 0 {
		return -1
	}
	for i := t.home(h); ; i = t.next(i) {
		s := &t.slots[i]
		if s.h == h && s.key == k {
			return i
		}
		if s.h == slotEmpty {
			return -1
		}
	}
}

// get returns k's slot, or nil.
func (t *table[K, V]) get(k K) *tslot[K, V] {
	i := t.find(k, hashKey(k))
	if i < 0 {
		return nil
	}
	return &t.slots[i]
}

// put stores (aux, val) at k and returns what it replaced, if anything.
func (t *table[K, V]) put(k K, aux uint32, val V) (oldAux uint32, oldVal V, had bool) {
	return t.putHashed(k, hashKey(k), aux, val)
}

// putHashed is put for a key whose hash is already known.
func (t *table[K, V]) putHashed(k K, h, aux uint32, val V) (oldAux uint32, oldVal V, had bool) {
	free := -1
	if len(t.slots) > 0 {
		for i := t.home(h); ; i = t.next(i) {
			s := &t.slots[i]
			if s.h == h && s.key == k {
				oldAux, oldVal = s.aux, s.val
				s.aux, s.val = aux, val
				return oldAux, oldVal, true
			}
			if s.h == slotDeleted && free < 0 {
				free = i
			}
			if s.h == slotEmpty {
				break
			}
		}
	}
	t.insertNew(k, h, aux, val, free)
	return 0, oldVal, false
}

// insertNew adds k, which the table lacks, at slot free (a tombstone on
// k's probe path) or, when free is -1, at the first free slot of the path.
func (t *table[K, V]) insertNew(k K, h, aux uint32, val V, free int) {
	if free < 0 {
		if t.full(1) {
			// Grow when full of live entries; when tombstones fill
			// it, rehashing at the same size clears them.
			t.resize(tableSize(2 * (t.n + 1)))
		}
		free = t.home(h)
		for t.slots[free].h > slotDeleted {
			free = t.next(free)
		}
		if t.slots[free].h == slotEmpty {
			t.used++
		}
	}
	t.slots[free] = tslot[K, V]{h: h, aux: aux, val: val, key: k}
	t.n++
}

func (t *table[K, V]) del(k K) {
	i := t.find(k, hashKey(k))
	if i < 0 {
		return
	}
	t.slots[i] = tslot[K, V]{h: slotDeleted}
	t.n--
	if t.n == 0 {
		// Nothing live: drop the tombstones.
		clear(t.slots)
		t.used = 0
	}
}

// all yields the live slots in slot order. The table must not change
// during the iteration, except by put or del of the key being visited.
func (t *table[K, V]) all(yield func(*tslot[K, V]) bool) {
	for i := range t.slots {
		s := &t.slots[i]
		if s.h > slotDeleted && !yield(s) {
			return
		}
	}
}

func (t *table[K, V]) keys(yield func(K) bool) {
	for s := range t.all {
		if !yield(s.key) {
			return
		}
	}
}

// clone returns a copy with its own salt, its entries placed afresh by
// their stored hashes.
func (t *table[K, V]) clone() table[K, V] {
	c := table[K, V]{n: t.n}
	if t.slots == nil {
		return c
	}
	c.salt = newSalt()
	c.slots = t.slots // resize reads the entries from here, never writes
	c.resize(len(t.slots))
	return c
}

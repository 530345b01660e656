package vclock

import (
	"strings"
	"unique"
	"unsafe"
)

// entry is one replica's counter in a VersionVector: the dot of the latest
// event of the replica the vector has seen, plus key, a prefix of the
// replica ID as an integer.
//
// Vectors are sorted by ID, and IDs of real replicas (host names, UUIDs,
// node names) usually differ within their first eight bytes. key holds those
// bytes, so that ordering two different replicas is one integer comparison
// instead of a call comparing strings byte by byte, which Compare, Merge and
// the binary search of Get would otherwise make for every replica one vector
// has and the other lacks. The string is still there, and decides the order
// when two keys tie. key costs a third more memory per entry (32 bytes
// instead of 24); the order, and so the encoding, is the same as comparing
// the IDs as strings.
type entry struct {
	key uint64 // idKey(ID)
	Dot
}

// keyBytes is how many bytes of an ID its key holds.
const keyBytes = 8

// idKey returns the first eight bytes of id as a big-endian integer, padded
// with zero bytes when id is shorter. Keys order like their IDs: when two
// keys differ, the smaller key belongs to the smaller ID, because the first
// differing byte of the keys is either the first differing byte of the IDs
// or a padding zero standing for the end of the shorter ID, which is then a
// prefix of the other. When two keys are equal, the IDs agree on their first
// eight bytes as far as they go, and cmpTie decides.
func idKey(id ReplicaID) uint64 {
	if len(id) >= keyBytes {
		// The compiler combines these into one load and a byte swap.
		return uint64(id[0])<<56 | uint64(id[1])<<48 | uint64(id[2])<<40 | uint64(id[3])<<32 |
			uint64(id[4])<<24 | uint64(id[5])<<16 | uint64(id[6])<<8 | uint64(id[7])
	}
	var k uint64
	for i := range len(id) {
		k |= uint64(id[i]) << (56 - 8*i)
	}
	return k
}

func newEntry(d Dot) entry { return entry{key: idKey(d.ID), Dot: d} }

// cmpKey compares two keys. Loops ordering entries write out
//
//	c := 0
//	if !sharedID(x.ID, y.ID) {
//		if c = cmpKey(x.key, y.key); c == 0 {
//			c = cmpTie(x.ID, y.ID)
//		}
//	}
//
// which orders x.ID and y.ID as strings.Compare does. That inlines fully in
// the two common cases, the same interned ID and different keys, where one
// function doing it all would be too large for the inliner and cost a call
// per entry.
func cmpKey(a, b uint64) int {
	c := 0
	if a < b {
		c = -1
	}
	if a > b {
		c = 1
	}
	return c
}

// cmpTie compares two IDs with equal keys. If either is at most eight bytes
// long, all of it is in its key, so it is a prefix of the other (the other's
// bytes past it, up to the eighth, are zero), and the shorter is the smaller.
// Otherwise the IDs share their first eight bytes and differ after them, if
// at all.
func cmpTie(a, b ReplicaID) int {
	if len(a) <= keyBytes || len(b) <= keyBytes {
		switch {
		case len(a) < len(b):
			return -1
		case len(a) > len(b):
			return 1
		}
		return 0
	}
	return strings.Compare(string(a[keyBytes:]), string(b[keyBytes:]))
}

// intern returns the canonical copy of id. IDs entering a vector are
// interned (except in decoded vectors above internLimit entries), so that the
// same replica in two vectors is usually the same string in memory and
// sharedID decides equality by comparing pointers. This costs one lookup
// when a replica first enters a vector, and saves a comparison of bytes per
// entry in every Compare and Merge after that. The intern table holds its
// strings weakly, so an ID no vector uses any more can be collected, and a
// later vector may then get a different copy: equality must never rely on
// pointers alone.
func intern(id ReplicaID) ReplicaID {
	return ReplicaID(unique.Make(string(id)).Value())
}

// sharedID reports whether a and b are the same string in memory, which
// interning makes the common case for equal IDs. It is small enough to
// inline, unlike a full comparison.
func sharedID(a, b ReplicaID) bool {
	return len(a) == len(b) && unsafe.StringData(string(a)) == unsafe.StringData(string(b))
}

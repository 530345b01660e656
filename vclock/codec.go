package vclock

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unsafe"
)

// Every encoding in this package starts with one version byte, then
// unsigned varints (encoding/binary's LEB128) and length-prefixed strings.
// Entries are written in sorted order and varints in their shortest form,
// and the decoders accept nothing else, so each value has exactly one
// encoding: equal values encode to equal bytes, and a decoded value
// re-encodes to its input.
//
// Layouts, with "uv" an unsigned varint and "str" a uv length followed by
// that many bytes:
//
//	Dot            version, str id, uv counter
//	VersionVector  version, uv n, n × (str id, uv counter)   ids strictly increasing, counters > 0
//	LamportTime    version, uv time, str replica
//	Lamport        version, uv time
//	DVV            version, str dot id, uv dot counter, vector body (uv n, entries as above)
//	DVVSet[V]      version, uv n, n × (str id, uv counter, uv k, k × value)   see DVVSet.Encode
//	Timestamp      version, 8 bytes big-endian packed timestamp
//
// All types use version 1. Append-only: a future layout gets a new version
// byte, and decoders keep reading the old ones.
const codecV1 byte = 1

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// corrupt returns an error wrapping ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// readUvarint decodes a varint in its shortest form from the front of b.
func readUvarint(b []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, corrupt("bad varint for %s", what)
	}
	// A multi-byte varint whose last byte is zero has a shorter form.
	if n > 1 && b[n-1] == 0 {
		return 0, nil, corrupt("non-minimal varint for %s", what)
	}
	return v, b[n:], nil
}

// readLen decodes a varint that counts items of at least minSize bytes each
// in the rest of the input, and rejects counts the input cannot hold, so that
// callers can size allocations by it.
func readLen(b []byte, minSize int, what string) (int, []byte, error) {
	v, rest, err := readUvarint(b, what)
	if err != nil {
		return 0, nil, err
	}
	if v > uint64(len(rest)/minSize) {
		return 0, nil, corrupt("%s count %d exceeds input", what, v)
	}
	return int(v), rest, nil
}

func readStr(b []byte, what string) (string, []byte, error) {
	n, rest, err := readLen(b, 1, what)
	if err != nil {
		return "", nil, err
	}
	return string(rest[:n]), rest[n:], nil
}

func readVersion(b []byte, what string) ([]byte, error) {
	if len(b) == 0 {
		return nil, corrupt("empty %s", what)
	}
	if b[0] != codecV1 {
		return nil, corrupt("unknown %s version %d", what, b[0])
	}
	return b[1:], nil
}

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// AppendBinary appends the encoding of d to b. It implements
// encoding.BinaryAppender and never fails.
func (d Dot) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, codecV1)
	b = appendStr(b, string(d.ID))
	return binary.AppendUvarint(b, d.Counter), nil
}

// MarshalBinary returns the encoding of d.
func (d Dot) MarshalBinary() ([]byte, error) {
	return d.AppendBinary(make([]byte, 0, 2+len(d.ID)+uvarintLen(d.Counter)))
}

// UnmarshalBinary sets d from an encoding made by MarshalBinary. On error d
// is unchanged and the error wraps ErrCorrupt.
func (d *Dot) UnmarshalBinary(b []byte) error {
	b, err := readVersion(b, "dot")
	if err != nil {
		return err
	}
	dot, b, err := readDot(b)
	if err != nil {
		return err
	}
	if len(b) != 0 {
		return corrupt("%d trailing bytes after dot", len(b))
	}
	*d = dot
	return nil
}

func appendDotBody(b []byte, d Dot) []byte {
	b = appendStr(b, string(d.ID))
	return binary.AppendUvarint(b, d.Counter)
}

func readDot(b []byte) (Dot, []byte, error) {
	id, b, err := readStr(b, "replica id")
	if err != nil {
		return Dot{}, nil, err
	}
	n, b, err := readUvarint(b, "counter")
	if err != nil {
		return Dot{}, nil, err
	}
	return Dot{ID: ReplicaID(id), Counter: n}, b, nil
}

// appendVectorBody appends v's entries without a version byte, for types
// that embed a vector.
func appendVectorBody(b []byte, v VersionVector) []byte {
	b = binary.AppendUvarint(b, uint64(len(v.entries)))
	for i := range v.entries {
		b = appendDotBody(b, v.entries[i].Dot)
	}
	return b
}

// internLimit is the largest decoded vector whose IDs are interned. Interning
// costs a global table entry per distinct ID, so an input listing millions of
// made-up replicas would cost far more memory than its length; vectors that
// large are rare, and compare correctly (if more slowly) without it.
const internLimit = 256

// readVectorBody decodes what appendVectorBody wrote and checks the vector
// invariants: IDs strictly increasing, counters non-zero.
func readVectorBody(b []byte) (VersionVector, []byte, error) {
	// The smallest entry is two bytes: an empty ID and a one-byte counter.
	n, b, err := readLen(b, 2, "vector entry")
	if err != nil || n == 0 {
		return VersionVector{}, b, err
	}
	// First pass: validate every entry without allocating, so that bad
	// input costs nothing and good input is allocated exactly once.
	body := b
	var prev []byte
	idBytes := 0
	for k := range n {
		l, rest, err := readLen(b, 1, "replica id")
		if err != nil {
			return VersionVector{}, nil, err
		}
		id := rest[:l]
		c, rest, err := readUvarint(rest[l:], "counter")
		if err != nil {
			return VersionVector{}, nil, err
		}
		if c == 0 {
			return VersionVector{}, nil, corrupt("zero counter for %q", id)
		}
		if k > 0 && bytes.Compare(prev, id) >= 0 {
			return VersionVector{}, nil, corrupt("vector ids not strictly increasing at %q", id)
		}
		prev, idBytes, b = id, idBytes+l, rest
	}
	// Second pass: build the entries. The IDs of a large vector share one
	// string allocation; those of a small one are interned.
	entries := make([]entry, n)
	var ids string
	if n > internLimit {
		all := make([]byte, 0, idBytes)
		for p, k := body, 0; k < n; k++ {
			l, rest, _ := readLen(p, 1, "")
			all = append(all, rest[:l]...)
			_, p, _ = readUvarint(rest[l:], "")
		}
		if len(all) > 0 {
			// all is never written again, so it can back the string.
			ids = unsafe.String(&all[0], len(all))
		}
	}
	off := 0
	for k, p := 0, body; k < n; k++ {
		l, rest, _ := readLen(p, 1, "")
		var id ReplicaID
		if n > internLimit {
			id = ReplicaID(ids[off : off+l])
			off += l
		} else {
			id = intern(ReplicaID(rest[:l]))
		}
		c, next, _ := readUvarint(rest[l:], "")
		entries[k] = newEntry(Dot{ID: id, Counter: c})
		p = next
	}
	return VersionVector{entries: entries}, b, nil
}

// AppendBinary appends the encoding of v to b. It implements
// encoding.BinaryAppender and never fails.
func (v VersionVector) AppendBinary(b []byte) ([]byte, error) {
	return appendVectorBody(append(b, codecV1), v), nil
}

// MarshalBinary returns the encoding of v. Equal vectors give equal bytes.
func (v VersionVector) MarshalBinary() ([]byte, error) {
	size := 1 + uvarintLen(uint64(len(v.entries)))
	for i := range v.entries {
		d := &v.entries[i]
		size += uvarintLen(uint64(len(d.ID))) + len(d.ID) + uvarintLen(d.Counter)
	}
	return v.AppendBinary(make([]byte, 0, size))
}

// UnmarshalBinary sets v from an encoding made by MarshalBinary. It rejects
// anything that is not the canonical encoding of a vector with an error
// wrapping ErrCorrupt, and then leaves v unchanged. Allocation is bounded by
// a small multiple of len(b).
func (v *VersionVector) UnmarshalBinary(b []byte) error {
	b, err := readVersion(b, "version vector")
	if err != nil {
		return err
	}
	vv, b, err := readVectorBody(b)
	if err != nil {
		return err
	}
	if len(b) != 0 {
		return corrupt("%d trailing bytes after version vector", len(b))
	}
	*v = vv
	return nil
}

// ReadDot decodes a Dot encoding (as written by Dot.AppendBinary) from the
// front of b and returns the rest, for formats that embed dots without a
// length prefix.
func ReadDot(b []byte) (Dot, []byte, error) {
	b, err := readVersion(b, "dot")
	if err != nil {
		return Dot{}, nil, err
	}
	return readDot(b)
}

// ReadVersionVector decodes a VersionVector encoding (as written by
// VersionVector.AppendBinary) from the front of b and returns the rest, for
// formats that embed vectors without a length prefix.
func ReadVersionVector(b []byte) (VersionVector, []byte, error) {
	b, err := readVersion(b, "version vector")
	if err != nil {
		return VersionVector{}, nil, err
	}
	return readVectorBody(b)
}

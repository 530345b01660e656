package crdt

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"iter"
	"maps"
	"math"
	"reflect"
	"slices"
	"unsafe"
)

// Every state encodes as: one version byte, one type byte, then the body.
// Integers are unsigned varints ("uv") in their shortest form, strings and
// byte strings a uv length then the bytes. Collections are written sorted
// (dots by replica then counter, map keys by their encoded bytes) and the
// decoders reject anything else, so a state has exactly one encoding:
// equal states encode to equal bytes and a decoded state re-encodes to its
// input.
//
//	context  uv n, n × (str id, uv counter)   vector, ids strictly increasing, counters > 0
//	         uv m, m × (str id, uv counter)   out-of-order dots, strictly increasing, not contiguous
//	dotSet   uv n, n × dot                    strictly increasing
//	dotFun   uv n, n × (dot, value)           strictly increasing dots
//	dotMap   uv n, n × (key, store)           keys strictly increasing by encoded bytes
//
// A causal type's body is its context then its store. Decoders bound every
// allocation by the length of their input: a count is rejected when the
// remaining input cannot hold that many items of the minimum size.
const codecV1 byte = 1

// Type bytes. Append only: do not reorder or reuse.
const (
	tagGCounter byte = iota + 1
	tagPNCounter
	tagBoundedCounter
	tagGSet
	tagTwoPSet
	tagLWWSet
	tagAWSet
	tagRWSet
	tagLWWRegister
	tagMVRegister
	tagEWFlag
	tagDWFlag
	tagORMap
	tagLWWMap
)

func appendHeader(b []byte, tag byte) []byte { return append(b, codecV1, tag) }

func readHeader(b []byte, tag byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, corrupt("truncated header")
	}
	if b[0] != codecV1 {
		return nil, corrupt("unknown version %d", b[0])
	}
	if b[1] != tag {
		return nil, corrupt("type byte %d, want %d", b[1], tag)
	}
	return b[2:], nil
}

func expectEnd(b []byte) error {
	if len(b) != 0 {
		return corrupt("%d trailing bytes", len(b))
	}
	return nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, corrupt("bad varint")
	}
	if n > 1 && b[n-1] == 0 {
		return 0, nil, corrupt("non-minimal varint")
	}
	return v, b[n:], nil
}

// presize returns how many entries a decoder makes room for when a count n
// arrives with rest bytes of input left: n, but no more than entries of
// dense bytes each could fill. A count is only a claim: trusted fully, a
// few bytes of hostile input claiming as many entries as minimal ones
// could fill would make the decoder allocate a table many times the size
// of the input before finding the entries are not there. A valid state
// whose entries are smaller than dense (distinct keys seldom are) grows
// its table as it decodes.
func presize(n, rest, dense int) int { return min(n, rest/dense+1) }

// readLen reads a count of items of at least minSize bytes each and rejects
// counts the rest of the input cannot hold.
func readLen(b []byte, minSize int) (int, []byte, error) {
	v, rest, err := readUvarint(b)
	if err != nil {
		return 0, nil, err
	}
	if v > uint64(len(rest)/minSize) {
		return 0, nil, corrupt("count %d exceeds input", v)
	}
	return int(v), rest, nil
}

func readBytes(b []byte) ([]byte, []byte, error) {
	n, rest, err := readLen(b, 1)
	if err != nil {
		return nil, nil, err
	}
	return rest[:n], rest[n:], nil
}

func readStr(b []byte) (string, []byte, error) {
	s, rest, err := readBytes(b)
	return string(s), rest, err
}

func appendDot(b []byte, d Dot) []byte {
	b = appendStr(b, string(d.ID))
	return binary.AppendUvarint(b, d.Counter)
}

func readDot(b []byte) (Dot, []byte, error) {
	id, b, err := readStr(b)
	if err != nil {
		return Dot{}, nil, err
	}
	n, b, err := readUvarint(b)
	if err != nil {
		return Dot{}, nil, err
	}
	if n == 0 {
		return Dot{}, nil, corrupt("zero dot counter")
	}
	return Dot{ID: ReplicaID(id), Counter: n}, b, nil
}

// readDots reads a strictly increasing list of dots.
func readDots(b []byte) ([]Dot, []byte, error) { return readDotsTo(nil, b) }

// readDotsTo reads a strictly increasing list of dots and appends it to
// ds, making room for it first when ds is nil.
func readDotsTo(ds []Dot, b []byte) ([]Dot, []byte, error) {
	n, b, err := readLen(b, 2)
	if err != nil || n == 0 {
		return ds, b, err
	}
	if ds == nil {
		ds = make([]Dot, 0, presize(n, len(b), 4))
	}
	start := len(ds)
	for range n {
		var d Dot
		if d, b, err = readDot(b); err != nil {
			return nil, nil, err
		}
		if len(ds) > start && ds[len(ds)-1].Compare(d) >= 0 {
			return nil, nil, corrupt("dots out of order")
		}
		ds = append(ds, d)
	}
	return ds, b, nil
}

// skipDots returns what follows a list of dots, checking only its framing.
func skipDots(b []byte) ([]byte, error) {
	n, b, err := readLen(b, 2)
	for range n {
		if err != nil {
			break
		}
		if _, b, err = readBytes(b); err == nil {
			_, b, err = readUvarint(b)
		}
	}
	return b, err
}

func appendDots(b []byte, ds []Dot) []byte {
	b = binary.AppendUvarint(b, uint64(len(ds)))
	for _, d := range ds {
		b = appendDot(b, d)
	}
	return b
}

func (c *context) appendTo(b []byte) []byte {
	return appendDots(appendDots(b, c.vv()), c.cloud())
}

// readContext reads a context's vector and cloud into one array, as a
// context keeps them, sized once: it first skips over the vector to read
// the cloud's count.
func readContext(b []byte) (context, []byte, error) {
	nv, rest, err := readLen(b, 2)
	if err != nil {
		return context{}, nil, err
	}
	afterVV, err := skipDots(b)
	if err != nil {
		return context{}, nil, err
	}
	nc, _, err := readLen(afterVV, 2)
	if err != nil {
		return context{}, nil, err
	}
	if nv+nc == 0 {
		return context{}, afterVV[1:], nil
	}
	all := make([]Dot, 0, presize(nv+nc, len(rest), 4))
	if all, b, err = readDotsTo(all, b); err != nil {
		return context{}, nil, err
	}
	c := ctxBody{vv: all}
	for i := 1; i < len(c.vv); i++ {
		if c.vv[i-1].ID == c.vv[i].ID {
			return context{}, nil, corrupt("duplicate vector entry")
		}
	}
	if all, b, err = readDotsTo(all, b); err != nil {
		return context{}, nil, err
	}
	c.vv = all[:nv:nv]
	for _, d := range all[nv:] {
		if d.Counter <= c.base(d.ID)+1 {
			return context{}, nil, corrupt("cloud dot %v not compacted", d)
		}
	}
	return context{p: &all[0], nv: uint32(nv), nc: uint32(nc)}, b, nil
}

func (s dotSet) appendStore(b []byte) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(s.len()))
	s.eachDot(func(d Dot) { b = appendDot(b, d) })
	return b, nil
}

func (dotSet) readStore(b []byte) (dotSet, []byte, error) {
	if len(b) > 0 && b[0] == 1 {
		// One dot, the common case: no slice to build.
		d, rest, err := readDot(b[1:])
		if err != nil {
			return dotSet{}, nil, err
		}
		return singleDot(d), rest, nil
	}
	ds, b, err := readDots(b)
	if err != nil {
		return dotSet{}, nil, err
	}
	return dotSetOf(ds), b, nil
}

func (f dotFun[V]) appendStore(b []byte) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(f.entries)))
	var err error
	for _, e := range f.entries {
		b = appendDot(b, e.dot)
		if b, err = appendElem(b, e.val); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (dotFun[V]) readStore(b []byte) (dotFun[V], []byte, error) {
	n, b, err := readLen(b, 3)
	if err != nil || n == 0 {
		return dotFun[V]{}, b, err
	}
	out := make([]dotVal[V], 0, presize(n, len(b), 5))
	readV := elemReader[V]()
	for range n {
		var e dotVal[V]
		if e.dot, b, err = readDot(b); err != nil {
			return dotFun[V]{}, nil, err
		}
		if len(out) > 0 && out[len(out)-1].dot.Compare(e.dot) >= 0 {
			return dotFun[V]{}, nil, corrupt("dots out of order")
		}
		if e.val, b, err = readV(b); err != nil {
			return dotFun[V]{}, nil, err
		}
		out = append(out, e)
	}
	return dotFun[V]{entries: out}, b, nil
}

// sortedKeys returns the keys of m with their encodings, sorted by the
// encodings: the canonical order of every keyed collection.
func sortedKeys[K comparable, V any](m map[K]V) ([]keyBytes[K], error) {
	return sortedKeysOf(len(m), maps.Keys(m))
}

func sortedKeysOf[K comparable](n int, keys iter.Seq[K]) ([]keyBytes[K], error) {
	out := make([]keyBytes[K], 0, n)
	var buf []byte
	for k := range keys {
		start := len(buf)
		var err error
		if buf, err = appendElem(buf, k); err != nil {
			return nil, err
		}
		out = append(out, keyBytes[K]{k: k, start: start, end: len(buf)})
	}
	for i := range out {
		out[i].enc = buf[out[i].start:out[i].end:out[i].end]
	}
	slices.SortFunc(out, func(a, b keyBytes[K]) int { return bytes.Compare(a.enc, b.enc) })
	return out, nil
}

type keyBytes[K any] struct {
	k          K
	enc        []byte
	start, end int
}

func (m dotMap[K, S]) appendStore(b []byte) ([]byte, error) {
	keys, err := sortedKeysOf(m.len(), m.keys)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, kb := range keys {
		b = append(b, kb.enc...)
		s, _ := m.get(kb.k)
		if b, err = s.appendStore(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (dotMap[K, S]) readStore(b []byte) (dotMap[K, S], []byte, error) {
	n, b, err := readLen(b, 2)
	if err != nil || n == 0 {
		return dotMap[K, S]{}, b, err
	}
	var m dotMap[K, S]
	if n > 1 {
		m.grow(presize(n, len(b), 5))
	}
	readK := elemReader[K]()
	var prev []byte
	var zero S
	for range n {
		start := b
		var k K
		if k, b, err = readK(b); err != nil {
			return dotMap[K, S]{}, nil, err
		}
		enc := start[:len(start)-len(b)]
		if prev != nil && bytes.Compare(prev, enc) >= 0 {
			return dotMap[K, S]{}, nil, corrupt("keys out of order")
		}
		prev = enc
		var s S
		if s, b, err = zero.readStore(b); err != nil {
			return dotMap[K, S]{}, nil, err
		}
		if s.bottom() {
			return dotMap[K, S]{}, nil, corrupt("empty entry")
		}
		m.set(k, s)
	}
	return m, b, nil
}

// appendElem appends the encoding of a user element, key or value. The
// built-in scalar kinds (and named types over them) encode directly;
// anything else must implement encoding.BinaryMarshaler, with its pointer
// implementing encoding.BinaryUnmarshaler.
func appendElem[E any](b []byte, e E) ([]byte, error) {
	switch v := any(e).(type) {
	case string:
		return appendStr(b, v), nil
	case []byte:
		return appendStr(b, string(v)), nil
	case int64:
		return binary.AppendVarint(b, v), nil
	case int:
		return binary.AppendVarint(b, int64(v)), nil
	case uint64:
		return binary.AppendUvarint(b, v), nil
	case bool:
		if v {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case encoding.BinaryMarshaler:
		data, err := v.MarshalBinary()
		if err != nil {
			return nil, err
		}
		return appendStr(b, string(data)), nil
	}
	rv := reflect.ValueOf(&e).Elem()
	switch rv.Kind() {
	case reflect.String:
		return appendStr(b, rv.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return binary.AppendVarint(b, rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return binary.AppendUvarint(b, rv.Uint()), nil
	case reflect.Bool:
		if rv.Bool() {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f == 0 {
			f = 0 // -0 and +0 are equal keys; give them one encoding
		}
		return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
	}
	return nil, ErrUnsupportedType
}

// readElem decodes what appendElem wrote. It writes through unsafe
// pointers sized by the element's kind instead of reflect.Value setters,
// so that the element does not escape to the heap: decoding a large set
// allocates only the set itself.
func readElem[E any](b []byte) (E, []byte, error) {
	return elemReader[E]()(b)
}

// elemReader returns the decoder for E, resolved once so that decoding a
// collection pays for the reflection once, not per element.
func elemReader[E any]() func([]byte) (E, []byte, error) {
	typ := reflect.TypeFor[E]()
	if reflect.PointerTo(typ).Implements(unmarshalerType) {
		return readUnmarshaler[E]
	}
	return func(b []byte) (E, []byte, error) { return readKind[E](typ, b) }
}

func readKind[E any](typ reflect.Type, b []byte) (E, []byte, error) {
	var e E
	p := unsafe.Pointer(&e)
	var err error
	switch typ.Kind() {
	case reflect.String:
		var s string
		s, b, err = readStr(b)
		*(*string)(p) = s
	case reflect.Slice:
		if typ.Elem().Kind() != reflect.Uint8 {
			return e, nil, ErrUnsupportedType
		}
		var s []byte
		s, b, err = readBytes(b)
		*(*[]byte)(p) = slices.Clone(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v, n := binary.Varint(b)
		if n <= 0 || (n > 1 && b[n-1] == 0) {
			return e, nil, corrupt("bad varint")
		}
		bits := typ.Size() * 8
		if bits < 64 && (v < -1<<(bits-1) || v >= 1<<(bits-1)) {
			return e, nil, corrupt("integer out of range")
		}
		switch typ.Size() {
		case 1:
			*(*int8)(p) = int8(v)
		case 2:
			*(*int16)(p) = int16(v)
		case 4:
			*(*int32)(p) = int32(v)
		default:
			*(*int64)(p) = v
		}
		b = b[n:]
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var v uint64
		if v, b, err = readUvarint(b); err != nil {
			return e, nil, err
		}
		if bits := typ.Size() * 8; bits < 64 && v >= 1<<bits {
			return e, nil, corrupt("integer out of range")
		}
		switch typ.Size() {
		case 1:
			*(*uint8)(p) = uint8(v)
		case 2:
			*(*uint16)(p) = uint16(v)
		case 4:
			*(*uint32)(p) = uint32(v)
		default:
			*(*uint64)(p) = v
		}
	case reflect.Bool:
		if len(b) == 0 || b[0] > 1 {
			return e, nil, corrupt("bad bool")
		}
		*(*bool)(p) = b[0] == 1
		b = b[1:]
	case reflect.Float32, reflect.Float64:
		if len(b) < 8 {
			return e, nil, corrupt("truncated float")
		}
		bits := binary.BigEndian.Uint64(b)
		f := math.Float64frombits(bits)
		// -0 is written as +0, and a float32 must survive the round trip
		// through float64, so that every accepted encoding is canonical.
		if bits == 1<<63 {
			return e, nil, corrupt("non-canonical float")
		}
		if typ.Kind() == reflect.Float32 {
			if float64(float32(f)) != f {
				return e, nil, corrupt("non-canonical float")
			}
			*(*float32)(p) = float32(f)
		} else {
			*(*float64)(p) = f
		}
		b = b[8:]
	default:
		return e, nil, ErrUnsupportedType
	}
	if err != nil {
		return e, nil, err
	}
	return e, b, nil
}

var unmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()

func readUnmarshaler[E any](b []byte) (E, []byte, error) {
	var e E
	data, b, err := readBytes(b)
	if err != nil {
		return e, nil, err
	}
	if err := any(&e).(encoding.BinaryUnmarshaler).UnmarshalBinary(data); err != nil {
		return e, nil, corrupt("element: %v", err)
	}
	return e, b, nil
}

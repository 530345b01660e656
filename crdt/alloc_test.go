package crdt_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/stretchr/testify/require"
)

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostileInputs returns 1 MB inputs built to make decoders allocate: random
// bytes behind a valid header, and the densest well-formed encodings (as
// many distinct tiny entries as fit) of the collection types.
func hostileInputs(tag byte) map[string][]byte {
	const size = 1 << 20
	rnd := rand.New(rand.NewPCG(1, uint64(tag)))
	random := []byte{1, tag}
	for len(random) < size {
		random = binary.LittleEndian.AppendUint64(random, rnd.Uint64())
	}
	return map[string][]byte{"random": random[:size]}
}

// denseKeys writes n distinct keys of the shortest encodings, in canonical
// order, each followed by what entry appends.
func denseKeys(b []byte, n int, entry func([]byte, int) []byte) []byte {
	b = binary.AppendUvarint(b, uint64(n))
	for i := range n {
		// Fixed-width keys keep the order canonical: length 3, then
		// three bytes big-endian.
		b = append(b, 3, byte(i>>16), byte(i>>8), byte(i))
		b = entry(b, i)
	}
	return b
}

// TestDecodeAllocationIsBounded decodes 1 MB hostile inputs. Malformed
// input is rejected having allocated at most its own size, or 10 times it
// when it claims as many entries as could fit and holds none (a decoder
// presizes its table only for entries of a dense state's size). The
// densest well-formed states (hundreds of thousands of 4-byte keys) cost
// their exactly sized hash table and their keys, at most 10 bytes per
// input byte (measured: AWSet 4.0, GSet 7.7, LWWSet 8.2, LWWMap 8.5). An
// OR-map's values are states of their own, each a block (a 48-byte
// EWFlag here, for a 10-byte entry), which takes it to 8.9, bounded at 9.
func TestDecodeAllocationIsBounded(t *testing.T) {
	const size = 1 << 20
	type dec interface{ UnmarshalBinary([]byte) error }
	cases := []struct {
		name  string
		tag   byte
		ratio uint64 // bytes allocated per input byte allowed for the dense input
		// head is a valid encoding up to the collection's count, and
		// minSize the smallest entry size the decoder's count check
		// allows: the inflated input claims as many entries as that
		// allows, then holds none.
		head    []byte
		minSize int
		fresh   func() dec
		dense   func() []byte
	}{
		{"GSet", 4, 10, []byte{1, 4}, 1, func() dec { return new(crdt.GSet[string]) }, func() []byte {
			return denseKeys([]byte{1, 4}, size/4-2, func(b []byte, _ int) []byte { return b })
		}},
		{"AWSet", 7, 10, []byte{1, 7, 0, 0}, 2, func() dec { return new(crdt.AWSet[string]) }, func() []byte {
			// Context: replica "a" up to n; store: one dot per key.
			n := size / 7
			b := []byte{1, 7, 1, 1, 'a'}
			b = binary.AppendUvarint(b, uint64(n))
			b = append(b, 0)
			return denseKeys(b, n, func(b []byte, i int) []byte {
				b = append(b, 1, 1, 'a')
				return binary.AppendUvarint(b, uint64(i+1))
			})
		}},
		{"LWWSet", 6, 10, []byte{1, 6, 0}, 3, func() dec { return crdt.NewLWWSet[string](crdt.AddWins) }, func() []byte {
			return denseKeys([]byte{1, 6, 0}, size/6, func(b []byte, _ int) []byte { return append(b, 1, 0) })
		}},
		{"LWWMap", 14, 10, []byte{1, 14}, 4, func() dec { return new(crdt.LWWMap[string, string]) }, func() []byte {
			return denseKeys([]byte{1, 14}, size/9, func(b []byte, _ int) []byte { return append(b, 1, 1, 'a', 0, 0) })
		}},
		{"ORMap", 13, 9, []byte{1, 13, 0, 0}, 2, func() dec { return new(crdt.ORMap[string, *crdt.EWFlag]) }, func() []byte {
			n := size / 8
			b := []byte{1, 13, 1, 1, 'a'}
			b = binary.AppendUvarint(b, uint64(n))
			b = append(b, 0)
			return denseKeys(b, n, func(b []byte, i int) []byte {
				b = append(b, 1, 1, 'a')
				return binary.AppendUvarint(b, uint64(i+1))
			})
		}},
	}
	for _, c := range cases {
		inputs := hostileInputs(c.tag)
		inputs["dense"] = c.dense()
		inflated := binary.AppendUvarint(slices.Clone(c.head), uint64((size-len(c.head)-8)/c.minSize))
		inputs["inflated count"] = append(inflated, bytes.Repeat([]byte{0xff}, size-len(inflated))...)
		for name, in := range inputs {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				var err error
				n := allocated(func() { err = c.fresh().UnmarshalBinary(in) })
				t.Logf("%d input bytes, %d allocated, err %v", len(in), n, err)
				if name == "dense" {
					require.NoError(t, err, "the dense input is a valid state")
				}
				limit := uint64(len(in))
				if name == "inflated count" {
					// Room for the entries the input could hold
					// at a dense state's size, no more.
					limit *= 10
				}
				if name == "dense" {
					limit *= c.ratio
					if raceEnabled {
						// Up to 12 more bytes per 4-byte key.
						limit += 3 * uint64(len(in))
					}
				}
				require.LessOrEqual(t, n, limit, fmt.Sprintf("decoding %d bytes allocated %d", len(in), n))
			})
		}
	}
}

// TestDecodeORMapSharedDotIsBounded decodes an OR-map whose 1 MB of
// entries all hold the same dot: not a reachable state (a dot is one
// update of one key), but the decoder cannot reject it without indexing
// every dot, and at 8 bytes an entry it is the densest input it accepts.
// Each entry costs what a dense state's does (a table slot, a key, a
// 48-byte value): 11.0 bytes per input byte, bounded at 12.
func TestDecodeORMapSharedDotIsBounded(t *testing.T) {
	const size = 1 << 20
	b := []byte{1, 13, 1, 1, 'a', 1, 0}
	b = denseKeys(b, size/8, func(b []byte, _ int) []byte { return append(b, 1, 1, 'a', 1) })
	var err error
	n := allocated(func() { err = new(crdt.ORMap[string, *crdt.EWFlag]).UnmarshalBinary(b) })
	t.Logf("%d input bytes, %d allocated, err %v", len(b), n, err)
	require.NoError(t, err)
	limit := 12 * uint64(len(b))
	if raceEnabled {
		limit += 3 * uint64(len(b))
	}
	require.LessOrEqual(t, n, limit)
}

package vclock

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// adversarialVector returns about size bytes encoding a valid vector with
// as many entries as fit: distinct three-byte IDs, the worst case for the
// decoder's allocations per input byte.
func adversarialVector(size int) []byte {
	n := size / 5
	b := binary.AppendUvarint([]byte{codecV1}, uint64(n))
	for i := range n {
		b = append(b, 3, byte(i>>16), byte(i>>8), byte(i), 1)
	}
	return b
}

// TestDecodeAllocationBound checks that decoding allocates a bounded multiple
// of the input's length, for a maximal valid vector and for inputs that
// claim huge counts.
func TestDecodeAllocationBound(t *testing.T) {
	const size = 1 << 20
	valid := adversarialVector(size)
	var v VersionVector
	got := allocated(func() { require.NoError(t, v.UnmarshalBinary(valid)) })
	t.Logf("valid %d-entry vector, %d input bytes: %d bytes allocated (%.1fx)", v.Len(), len(valid), got, float64(got)/float64(len(valid)))
	require.LessOrEqual(t, got, uint64(16*len(valid)))

	// A count the input cannot hold is rejected before allocating.
	huge := binary.AppendUvarint([]byte{codecV1}, 1<<40)
	huge = append(huge, make([]byte, size)...)
	got = allocated(func() { require.ErrorIs(t, v.UnmarshalBinary(huge), ErrCorrupt) })
	t.Logf("count 2^40 in %d bytes: %d bytes allocated", len(huge), got)
	require.LessOrEqual(t, got, uint64(64<<10), "more than background noise")

	// A plausible count followed by garbage fails at the first bad entry.
	bad := binary.AppendUvarint([]byte{codecV1}, size/3)
	bad = append(bad, make([]byte, size)...)
	got = allocated(func() { require.ErrorIs(t, v.UnmarshalBinary(bad), ErrCorrupt) })
	t.Logf("count %d then zeros: %d bytes allocated", size/3, got)
	require.LessOrEqual(t, got, uint64(64<<10), "more than background noise")

	// Siblings cost a slice header each however short their encoding,
	// which bounds a DVV set of []byte at about 24 bytes per input byte.
	dvv := binary.AppendUvarint([]byte{codecV1}, 1)
	dvv = append(dvv, 1, 'a')
	dvv = binary.AppendUvarint(dvv, 1<<62)
	dvv = binary.AppendUvarint(dvv, size)
	dvv = append(dvv, make([]byte, size)...)
	got = allocated(func() {
		_, err := DecodeDVVSet(dvv, BytesCodec())
		require.NoError(t, err)
	})
	t.Logf("DVV set with %d empty siblings: %d bytes allocated (%.1fx)", size, got, float64(got)/float64(len(dvv)))
	require.LessOrEqual(t, got, uint64(48*len(dvv)))
}

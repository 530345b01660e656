package vclock

import (
	"bytes"
	"encoding"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Compile-time checks that the codecs satisfy the standard interfaces.
var (
	_ encoding.BinaryAppender    = Dot{}
	_ encoding.BinaryMarshaler   = VersionVector{}
	_ encoding.BinaryUnmarshaler = (*VersionVector)(nil)
	_ encoding.BinaryUnmarshaler = (*Dot)(nil)
)

// roundTrip checks that a value survives encoding and that decoding then
// re-encoding reproduces the bytes exactly.
func roundTrip[T any, P interface {
	*T
	encoding.BinaryUnmarshaler
}](t require.TestingT, v encoding.BinaryMarshaler) (T, []byte) {
	b, err := v.MarshalBinary()
	require.NoError(t, err)
	var got T
	require.NoError(t, P(&got).UnmarshalBinary(b))
	b2, err := any(got).(encoding.BinaryMarshaler).MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, b, b2)
	return got, b
}

func TestVersionVectorCodecRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genVector().Draw(t, "v")
		got, b := roundTrip[VersionVector](t, v)
		require.True(t, v.Equal(got))
		// Equal values encode to equal bytes, whatever the construction order.
		w := NewVersionVector()
		entries := v.entries
		for i := len(entries) - 1; i >= 0; i-- {
			w.Set(entries[i].ID, entries[i].Counter)
		}
		wb, err := w.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, b, wb)
		ab, err := v.AppendBinary([]byte("x"))
		require.NoError(t, err)
		require.Equal(t, append([]byte("x"), b...), ab)
	})
}

func TestDotCodecRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := Dot{ReplicaID(rapid.String().Draw(t, "id")), rapid.Uint64().Draw(t, "n")}
		got, _ := roundTrip[Dot](t, d)
		require.Equal(t, d, got)
	})
}

func TestCodecRejectsNonCanonical(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":            {},
		"bad version":      {2, 0},
		"trailing":         {1, 0, 0},
		"count too large":  {1, 5, 1, 'a', 1},
		"zero counter":     {1, 1, 1, 'a', 0},
		"unsorted":         {1, 2, 1, 'b', 1, 1, 'a', 1},
		"duplicate":        {1, 2, 1, 'a', 1, 1, 'a', 2},
		"non-minimal":      {1, 1, 1, 'a', 0x81, 0x00},
		"truncated string": {1, 1, 3, 'a'},
		"varint overflow":  {1, 1, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		t.Run(name, func(t *testing.T) {
			v := NewVersionVector(Dot{"keep", 1})
			err := v.UnmarshalBinary(b)
			require.ErrorIs(t, err, ErrCorrupt)
			require.Equal(t, "{keep:1}", v.String(), "a failed decode must not change the value")
		})
	}
}

func FuzzVersionVector(f *testing.F) {
	for _, v := range []VersionVector{{}, NewVersionVector(Dot{"a", 1}), NewVersionVector(Dot{"", 3}, Dot{"a", 300}, Dot{"bb", 1 << 40})} {
		b, _ := v.MarshalBinary()
		f.Add(b)
	}
	// IDs whose first eight bytes, the keys entries are ordered by, tie.
	tricky := NewVersionVector()
	for i, id := range trickyIDs {
		tricky.Set(id, uint64(i+1))
	}
	b, _ := tricky.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 2, 1, 'b', 1, 1, 'a', 1})
	f.Add([]byte{1, 2, 9, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'j', 1, 9, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 1})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var v VersionVector
		if err := v.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		out, _ := v.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatalf("decoded %v re-encodes to %x, input %x", v, out, b)
		}
		// The decoded entries carry the right keys: lookups by key find
		// every replica, and the vector equals its copy with unshared IDs.
		for _, e := range v.entries {
			if e.key != idKey(e.ID) || v.Get(ReplicaID(strings.Clone(string(e.ID)))) != e.Counter {
				t.Fatalf("entry %v of %v: key %x, Get %d", e.Dot, v, e.key, v.Get(e.ID))
			}
		}
		if o := v.Compare(unshared(v)); o != Equal {
			t.Fatalf("%v compares %v to its unshared copy", v, o)
		}
	})
}

func FuzzDot(f *testing.F) {
	for _, d := range []Dot{{}, {"a", 1}, {"replica-7", 1 << 63}} {
		b, _ := d.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1, 1, 'a', 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Dot
		if err := d.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		out, _ := d.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatalf("decoded %v re-encodes to %x, input %x", d, out, b)
		}
	})
}

func TestReadPrefixDecoders(t *testing.T) {
	a := NewVersionVector(Dot{"a", 1})
	b := NewVersionVector(Dot{"b", 2}, Dot{"c", 3})
	buf, _ := a.AppendBinary(nil)
	buf, _ = Dot{"d", 4}.AppendBinary(buf)
	buf, _ = b.AppendBinary(buf)
	gotA, rest, err := ReadVersionVector(buf)
	require.NoError(t, err)
	gotD, rest, err := ReadDot(rest)
	require.NoError(t, err)
	gotB, rest, err := ReadVersionVector(rest)
	require.NoError(t, err)
	require.Empty(t, rest)
	require.True(t, a.Equal(gotA))
	require.Equal(t, Dot{"d", 4}, gotD)
	require.True(t, b.Equal(gotB))
	_, _, err = ReadVersionVector([]byte{9})
	require.ErrorIs(t, err, ErrCorrupt)
	_, _, err = ReadDot(nil)
	require.ErrorIs(t, err, ErrCorrupt)
}

package vclock

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestLamportCodec(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := LamportTime{rapid.Uint64().Draw(t, "time"), ReplicaID(rapid.String().Draw(t, "replica"))}
		got, _ := roundTrip[LamportTime](t, s)
		require.Equal(t, s, got)
	})
	var l Lamport
	l.Tick()
	l.Tick()
	b, err := l.MarshalBinary()
	require.NoError(t, err)
	var r Lamport
	require.NoError(t, r.UnmarshalBinary(b))
	require.Equal(t, uint64(2), r.Time())
	r.Tick()
	require.NoError(t, r.UnmarshalBinary(b))
	require.Equal(t, uint64(3), r.Time(), "restoring an older time never moves the clock back")
	require.ErrorIs(t, r.UnmarshalBinary([]byte{1}), ErrCorrupt)
}

func TestTimestampCodec(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x := Timestamp(rapid.Uint64().Draw(t, "ts"))
		y := Timestamp(rapid.Uint64().Draw(t, "other"))
		got, bx := roundTrip[Timestamp](t, x)
		require.Equal(t, x, got)
		by, _ := y.MarshalBinary()
		// Byte order is timestamp order, for ordered key-value stores.
		require.Equal(t, bytes.Compare(bx, by) < 0, x < y)
	})
	var x Timestamp
	require.ErrorIs(t, x.UnmarshalBinary([]byte{1, 2, 3}), ErrCorrupt)
}

func genDVV() *rapid.Generator[DVV] {
	return rapid.Custom(func(t *rapid.T) DVV {
		var d Dot
		if rapid.Bool().Draw(t, "has dot") {
			d = Dot{rapid.SampledFrom(replicaIDs(4)).Draw(t, "dot id"), rapid.Uint64Range(1, 9).Draw(t, "dot counter")}
		}
		return DVV{Dot: d, Context: genVector().Draw(t, "context")}
	})
}

func TestDVVCodec(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genDVV().Draw(t, "dvv")
		got, _ := roundTrip[DVV](t, v)
		require.Equal(t, v.Dot, got.Dot)
		require.True(t, v.Context.Equal(got.Context))
	})
}

// genDVVSet builds a reachable set by random updates and syncs.
func genDVVSet() *rapid.Generator[DVVSet[string]] {
	return rapid.Custom(func(t *rapid.T) DVVSet[string] {
		ids := replicaIDs(3)
		sets := make([]DVVSet[string], 2)
		for range rapid.IntRange(0, 12).Draw(t, "steps") {
			i := rapid.IntRange(0, 1).Draw(t, "set")
			if rapid.Bool().Draw(t, "sync") {
				sets[i].Sync(sets[1-i])
				continue
			}
			var ctx VersionVector
			if rapid.Bool().Draw(t, "with context") {
				ctx = sets[i].Context()
			}
			sets[i].Update(ctx, rapid.SampledFrom(ids).Draw(t, "id"), rapid.String().Draw(t, "value"))
		}
		return sets[0]
	})
}

func TestDVVSetCodec(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genDVVSet().Draw(t, "set")
		b := s.Encode([]byte("prefix"), StringCodec())[len("prefix"):]
		got, err := DecodeDVVSet(b, StringCodec())
		require.NoError(t, err)
		require.Equal(t, s.Values(), got.Values())
		require.True(t, s.Context().Equal(got.Context()))
		require.Equal(t, b, got.Encode(nil, StringCodec()))
	})
	for name, b := range map[string][]byte{
		"zero counter":       {1, 1, 1, 'a', 0, 0},
		"more values than n": {1, 1, 1, 'a', 1, 2, 1, 'x', 1, 'y'},
		"unsorted":           {1, 2, 1, 'b', 1, 0, 1, 'a', 1, 0},
		"bad value":          {1, 1, 1, 'a', 1, 1, 5, 'x'},
		"trailing":           {1, 0, 0},
	} {
		_, err := DecodeDVVSet(b, StringCodec())
		require.ErrorIs(t, err, ErrCorrupt, name)
	}
	// A value codec that consumes nothing cannot make the decoder loop.
	empty := Codec[struct{}]{
		Append: func(b []byte, _ struct{}) []byte { return b },
		Read:   func(b []byte) (struct{}, []byte, error) { return struct{}{}, b, nil },
	}
	_, err := DecodeDVVSet([]byte{1, 1, 1, 'a', 5, 2, 0, 0}, empty)
	require.ErrorIs(t, err, ErrCorrupt)
	// Errors from the value codec are wrapped in ErrCorrupt.
	failing := Codec[int]{Read: func([]byte) (int, []byte, error) { return 0, nil, errors.New("boom") }}
	_, err = DecodeDVVSet([]byte{1, 1, 1, 'a', 1, 1, 7}, failing)
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "boom")
	// BytesCodec() round trip.
	var bs DVVSet[[]byte]
	bs.Update(VersionVector{}, "a", []byte("hello"))
	bs.Update(VersionVector{}, "a", nil)
	got, err := DecodeDVVSet(bs.Encode(nil, BytesCodec()), BytesCodec())
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("hello"), nil}, got.Values(), "an empty value decodes as nil")
}

// fuzzCanonical is the body of every Fuzz target: decoding never panics,
// fails only with ErrCorrupt, and anything accepted re-encodes to the input.
func fuzzCanonical(t *testing.T, b []byte, decode func([]byte) ([]byte, error)) {
	out, err := decode(b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("input %x decodes and re-encodes to %x", b, out)
	}
}

func FuzzLamportTime(f *testing.F) {
	for _, s := range []LamportTime{{}, {1, "a"}, {1 << 62, "replica"}} {
		b, _ := s.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1, 0x80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzCanonical(t, b, func(b []byte) ([]byte, error) {
			var s LamportTime
			if err := s.UnmarshalBinary(b); err != nil {
				return nil, err
			}
			return s.MarshalBinary()
		})
	})
}

func FuzzLamport(f *testing.F) {
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 0xff, 0x01})
	f.Add([]byte{2, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzCanonical(t, b, func(b []byte) ([]byte, error) {
			var l Lamport
			if err := l.UnmarshalBinary(b); err != nil {
				return nil, err
			}
			return l.MarshalBinary()
		})
	})
}

func FuzzTimestamp(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzCanonical(t, b, func(b []byte) ([]byte, error) {
			var x Timestamp
			if err := x.UnmarshalBinary(b); err != nil {
				return nil, err
			}
			return x.MarshalBinary()
		})
	})
}

func FuzzDVV(f *testing.F) {
	for _, v := range []DVV{{}, {Dot{"a", 3}, NewVersionVector(Dot{"a", 1}, Dot{"b", 2})}} {
		b, _ := v.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzCanonical(t, b, func(b []byte) ([]byte, error) {
			var v DVV
			if err := v.UnmarshalBinary(b); err != nil {
				return nil, err
			}
			return v.MarshalBinary()
		})
	})
}

func FuzzDVVSet(f *testing.F) {
	var s DVVSet[string]
	f.Add(s.Encode(nil, StringCodec()))
	s.Update(VersionVector{}, "a", "x")
	s.Update(VersionVector{}, "a", "y")
	s.Update(s.Context(), "b", "z")
	s.Update(NewVersionVector(Dot{"a", 1}), "c", "w")
	f.Add(s.Encode(nil, StringCodec()))
	f.Add([]byte{1, 1, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzCanonical(t, b, func(b []byte) ([]byte, error) {
			s, err := DecodeDVVSet(b, StringCodec())
			if err != nil {
				return nil, err
			}
			return s.Encode(nil, StringCodec()), nil
		})
	})
}

package crdt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/distkit/distkit/crdt"
)

// decoder is what every state type offers.
type decoder interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// fuzzDecoder feeds arbitrary bytes to a fresh state's UnmarshalBinary.
// The decoder must not panic; it either fails with ErrCorrupt (or
// ErrUnsupportedType) or accepts a canonical encoding, which re-encodes to
// exactly the input.
func fuzzDecoder[T decoder](f *testing.F, fresh func() T, seeds ...T) {
	for _, s := range seeds {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if len(b) > 2 {
			f.Add(b[:len(b)-1])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, in []byte) {
		x := fresh()
		err := x.UnmarshalBinary(in)
		if err != nil {
			if !errors.Is(err, crdt.ErrCorrupt) && !errors.Is(err, crdt.ErrUnsupportedType) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		out, err := x.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("accepted a non-canonical encoding:\n in %x\nout %x", in, out)
		}
	})
}

func seedAWSet() *crdt.AWSet[string] {
	var a, b crdt.AWSet[string]
	a.Add("a", "x")
	a.Add("a", "y")
	b.Add("b", "x")
	b.Merge(a.Remove("y"))
	a.Merge(&b)
	return &a
}

func FuzzAWSet(f *testing.F) {
	// A delta whose context has an out-of-order dot.
	var a crdt.AWSet[string]
	a.Add("a", "1")
	a.Add("a", "2")
	d := a.Add("a", "1")
	fuzzDecoder(f, func() *crdt.AWSet[string] { return new(crdt.AWSet[string]) }, seedAWSet(), d)
}

func FuzzRWSet(f *testing.F) {
	var s crdt.RWSet[int]
	s.Add("a", 1)
	s.Add("b", -7)
	s.Remove("a", 1)
	fuzzDecoder(f, func() *crdt.RWSet[int] { return new(crdt.RWSet[int]) }, &s)
}

func FuzzGSet(f *testing.F) {
	var s crdt.GSet[string]
	s.Add("x")
	s.Add("y")
	fuzzDecoder(f, func() *crdt.GSet[string] { return new(crdt.GSet[string]) }, &s)
}

func FuzzTwoPSet(f *testing.F) {
	var s crdt.TwoPSet[uint64]
	s.Add(1)
	s.Add(2)
	s.Remove(1)
	fuzzDecoder(f, func() *crdt.TwoPSet[uint64] { return new(crdt.TwoPSet[uint64]) }, &s)
}

func FuzzLWWSet(f *testing.F) {
	s := crdt.NewLWWSet[string](crdt.RemoveWins)
	s.Add("x", 3)
	s.Add("y", 4)
	s.Remove("x", 5)
	fuzzDecoder(f, func() *crdt.LWWSet[string] { return new(crdt.LWWSet[string]) }, s)
}

func FuzzGCounter(f *testing.F) {
	var c crdt.GCounter
	c.Inc("a", 3)
	c.Inc("b", 300)
	fuzzDecoder(f, func() *crdt.GCounter { return new(crdt.GCounter) }, &c)
}

func FuzzPNCounter(f *testing.F) {
	var c crdt.PNCounter
	c.Inc("a", 3)
	c.Dec("b", 300)
	fuzzDecoder(f, func() *crdt.PNCounter { return new(crdt.PNCounter) }, &c)
}

func FuzzBoundedCounter(f *testing.F) {
	var c crdt.BoundedCounter
	c.Inc("a", 10)
	if _, err := c.Transfer("a", "b", 4); err != nil {
		f.Fatal(err)
	}
	if _, err := c.Dec("a", 1); err != nil {
		f.Fatal(err)
	}
	fuzzDecoder(f, func() *crdt.BoundedCounter { return new(crdt.BoundedCounter) }, &c)
}

func FuzzMVRegister(f *testing.F) {
	var a, b crdt.MVRegister[string]
	a.Write("a", "x")
	b.Write("b", "y")
	a.Merge(&b)
	fuzzDecoder(f, func() *crdt.MVRegister[string] { return new(crdt.MVRegister[string]) }, &a)
}

func FuzzLWWRegister(f *testing.F) {
	var r crdt.LWWRegister[float64]
	r.Set("a", 2.5, 7)
	fuzzDecoder(f, func() *crdt.LWWRegister[float64] { return new(crdt.LWWRegister[float64]) }, &r)
}

func FuzzEWFlag(f *testing.F) {
	var a crdt.EWFlag
	a.Enable("a")
	fuzzDecoder(f, func() *crdt.EWFlag { return new(crdt.EWFlag) }, &a)
}

func FuzzDWFlag(f *testing.F) {
	var a crdt.DWFlag
	a.Enable("a")
	a.Disable("b")
	fuzzDecoder(f, func() *crdt.DWFlag { return new(crdt.DWFlag) }, &a)
}

func FuzzORMap(f *testing.F) {
	type inner = crdt.ORMap[string, *crdt.AWSet[string]]
	var m crdt.ORMap[string, *inner]
	m.Update("u", func(in *inner) *inner {
		return in.Update("tags", func(s *crdt.AWSet[string]) *crdt.AWSet[string] { return s.Add("a", "x") })
	})
	m.Update("v", func(in *inner) *inner {
		return in.Update("t", func(s *crdt.AWSet[string]) *crdt.AWSet[string] { return s.Add("b", "y") })
	})
	fuzzDecoder(f, func() *crdt.ORMap[string, *inner] { return new(crdt.ORMap[string, *inner]) }, &m)
}

func FuzzLWWMap(f *testing.F) {
	var m crdt.LWWMap[string, []byte]
	m.Set("a", "k", []byte("v"), 3)
	m.Set("b", "j", nil, 4)
	m.Delete("b", "k", 5)
	fuzzDecoder(f, func() *crdt.LWWMap[string, []byte] { return new(crdt.LWWMap[string, []byte]) }, &m)
}

type (
	awsetT  = crdt.AWSet[string]
	pnT     = crdt.PNCounter
	lwwSetT = crdt.LWWSet[string]
)

func seedPN() *crdt.PNCounter {
	var a, b crdt.PNCounter
	a.Inc("a", 3)
	b.Dec("b", 300)
	a.Merge(&b)
	return &a
}

func seedNested() *nestedT {
	type inner = crdt.ORMap[string, *crdt.AWSet[string]]
	var m nestedT
	m.Update("u", func(in *inner) *inner {
		return in.Update("tags", func(s *crdt.AWSet[string]) *crdt.AWSet[string] { return s.Add("a", "x") })
	})
	m.Update("v", func(in *inner) *inner {
		return in.Update("t", func(s *crdt.AWSet[string]) *crdt.AWSet[string] { return s.Add("b", "y") })
	})
	m.Remove("v")
	return &m
}

func seedLWWSet() *crdt.LWWSet[string] {
	s := crdt.NewLWWSet[string](crdt.RemoveWins)
	s.Add("x", 3)
	s.Add("y", 4)
	s.Remove("x", 5)
	return s
}

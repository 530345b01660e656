package vclock_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/distkit/distkit/vclock"
)

// Two replicas update independently, so their vectors are concurrent; after
// exchanging state each has seen everything.
func ExampleVersionVector() {
	var a, b vclock.VersionVector
	a.Increment("r1")
	a.Increment("r1")
	b.Increment("r2")
	fmt.Println(a, b, a.Compare(b))

	a.Merge(b)
	fmt.Println(a, a.Compare(b), a.Descends(b))
	fmt.Println(a.Contains(vclock.Dot{ID: "r2", Counter: 1}), a.Contains(vclock.Dot{ID: "r2", Counter: 2}))
	// Output:
	// {r1:2} {r2:1} concurrent
	// {r1:2 r2:1} after true
	// true false
}

// Encodings are canonical: equal vectors encode to equal bytes, however they
// were built.
func ExampleVersionVector_MarshalBinary() {
	x := vclock.NewVersionVector(vclock.Dot{ID: "b", Counter: 2}, vclock.Dot{ID: "a", Counter: 1})
	var y vclock.VersionVector
	y.Set("a", 1)
	y.Set("b", 2)
	bx, _ := x.MarshalBinary()
	by, _ := y.MarshalBinary()
	fmt.Printf("%x %v\n", bx, string(bx) == string(by))

	var z vclock.VersionVector
	err := z.UnmarshalBinary(bx[:4])
	fmt.Println(errors.Is(err, vclock.ErrCorrupt))
	// Output:
	// 0102016101016202 true
	// true
}

// Lamport times order all events; the replica ID breaks ties.
func ExampleLamport() {
	var l1, l2 vclock.Lamport
	send := l1.Stamp("r1")           // r1 sends a message at time 1
	l2.Tick()                        // r2 has a local event at time 1
	recv, _ := l2.Observe(send.Time) // and receives the message at time 2
	fmt.Println(send, recv)
	fmt.Println(vclock.LamportTime{Time: 1, Replica: "r1"}.Less(vclock.LamportTime{Time: 1, Replica: "r2"}))
	// Output:
	// 1@r1 2
	// true
}

// A hybrid logical clock with an injected physical clock: timestamps follow
// physical time, count events within a millisecond, never go back, and
// reject remote timestamps beyond the maximum offset.
func ExampleHLC() {
	phys := vclock.NewManualClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	h, err := vclock.NewHLC(vclock.HLCConfig{Clock: phys.Now, MaxOffset: 250 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Now())
	fmt.Println(h.Now())
	phys.Advance(-time.Second) // the physical clock steps back
	fmt.Println(h.Now())

	remote, _ := vclock.MakeTimestamp(phys.Now().Add(100*time.Millisecond).UnixMilli(), 7)
	fmt.Println(h.Update(remote))
	_, err = h.Update(remote + 1<<16*1000) // one second further
	fmt.Println(errors.Is(err, vclock.ErrClockOffset))
	// Output:
	// 2026-11-27T12:00:00.000Z/0
	// 2026-11-27T12:00:00.000Z/1
	// 2026-11-27T12:00:00.000Z/2
	// 2026-11-27T12:00:00.000Z/3 <nil>
	// true
}

// The packed and struct forms of a timestamp.
func ExampleTimestamp() {
	ts, _ := vclock.MakeTimestamp(1_800_000_000_123, 65535)
	fmt.Printf("%#x %+v\n", uint64(ts), ts.Parts())
	next := ts + 1 // a full logical part carries into the wall part
	fmt.Printf("%+v\n", next.Parts())
	// Output:
	// 0x1a3185c507bffff {WallMillis:1800000000123 Logical:65535}
	// {WallMillis:1800000000124 Logical:0}
}

// A key written concurrently by two clients keeps both values; a client that
// read both replaces them with one.
func ExampleDVVSet() {
	var key vclock.DVVSet[string]
	ctx := key.Context() // both clients read the empty key
	key.Update(ctx, "server-a", "blue")
	key.Update(ctx, "server-a", "green")
	fmt.Println(key.Values())

	ctx = key.Context() // a third client reads both siblings
	key.Update(ctx, "server-b", "teal")
	fmt.Println(key.Values(), key.Context())
	// Output:
	// [blue green]
	// [teal] {server-a:2 server-b:1}
}

// Servers exchange sets with Sync; siblings are resolved by the application.
func ExampleDVVSet_Reconcile() {
	var a, b vclock.DVVSet[string]
	a.Update(vclock.VersionVector{}, "a", "x")
	b.Update(vclock.VersionVector{}, "b", "y")
	a.Sync(b)
	fmt.Println(a.Values())
	a.Reconcile("a", func(vs []string) string { return strings.Join(vs, "|") })
	fmt.Println(a.Values())
	b.Sync(a)
	fmt.Println(b.Values())
	// Output:
	// [x y]
	// [x|y]
	// [x|y]
}

// Last-writer-wins keeps the sibling with the greatest timestamp.
func ExampleDVVSet_LWW() {
	type val struct {
		ts   vclock.Timestamp
		data string
	}
	var s vclock.DVVSet[val]
	s.Update(vclock.VersionVector{}, "a", val{20, "later"})
	s.Update(vclock.VersionVector{}, "b", val{10, "earlier"})
	s.LWW("a", func(x, y val) bool { return x.ts < y.ts })
	fmt.Println(s.Values())
	// Output:
	// [{20 later}]
}

// A DVV keeps a gap between its context and its dot, so two writes made
// over the same context stay concurrent.
func ExampleDVV() {
	ctx := vclock.NewVersionVector(vclock.Dot{ID: "s", Counter: 3})
	w4 := vclock.DVV{Dot: vclock.Dot{ID: "s", Counter: 4}, Context: ctx}
	w5 := vclock.DVV{Dot: vclock.Dot{ID: "s", Counter: 5}, Context: ctx}
	fmt.Println(w4.Compare(w5))
	// Output:
	// concurrent
}

// A DVV set travels between servers in its canonical encoding, with a codec
// for its values.
func ExampleDecodeDVVSet() {
	var s vclock.DVVSet[string]
	s.Update(vclock.VersionVector{}, "a", "x")
	s.Update(vclock.VersionVector{}, "b", "y")
	b := s.Encode(nil, vclock.StringCodec())
	got, err := vclock.DecodeDVVSet(b, vclock.StringCodec())
	fmt.Println(got.Values(), got.Context(), err)
	// Output:
	// [x y] {a:1 b:1} <nil>
}

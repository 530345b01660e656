package crdt_test

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/distkit/distkit/crdt"
)

// Two replicas of an add-wins set: a concurrent add beats a remove that did
// not see it.
func ExampleAWSet() {
	var a, b crdt.AWSet[string]
	b.Merge(a.Add("a", "milk"))

	removal := a.Remove("milk") // a removes the milk it has seen...
	readd := b.Add("b", "milk") // ...while b adds milk again

	a.Merge(readd)
	b.Merge(removal)
	fmt.Println(a.Contains("milk"), b.Contains("milk"))
	// Output: true true
}

// A shopping cart: an OR-map of item counters. Removing an item resets its
// count, so adding it again starts from zero.
func ExampleORMap() {
	var cart crdt.ORMap[string, *crdt.PNCounter]
	add := func(n uint64) func(*crdt.PNCounter) *crdt.PNCounter {
		return func(c *crdt.PNCounter) *crdt.PNCounter { return c.Inc("a", n) }
	}
	cart.Update("apple", add(3))
	cart.Update("pear", add(1))
	cart.Remove("apple")
	cart.Update("apple", add(2))
	out, _ := json.Marshal(&cart)
	fmt.Println(string(out))
	// Output: {"apple":2,"pear":1}
}

// Concurrent writes to a multi-value register are all kept until a write
// that has seen them replaces them.
func ExampleMVRegister() {
	var a, b crdt.MVRegister[string]
	da, db := a.Write("a", "red"), b.Write("b", "blue")
	a.Merge(db)
	b.Merge(da)
	fmt.Println(a.Values())
	a.Write("a", "purple")
	fmt.Println(a.Values())
	// Output:
	// [red blue]
	// [purple]
}

// A bounded counter refuses to go below zero: a replica spends only the
// rights it holds, and others transfer rights to it.
func ExampleBoundedCounter() {
	var a, b crdt.BoundedCounter
	b.Merge(a.Inc("a", 5)) // five seats, rights held by a
	_, err := b.Dec("b", 1)
	fmt.Println(err)
	t, _ := a.Transfer("a", "b", 2)
	b.Merge(t)
	d, _ := b.Dec("b", 2)
	a.Merge(d)
	fmt.Println(a.Value(), a.Rights("a"), b.Rights("b"))
	// Output:
	// crdt: insufficient rights
	// 3 3 0
}

// A delta buffer sends each peer what it has not acknowledged: the full
// state first, then delta intervals.
func ExampleDeltaBuffer() {
	var a, b crdt.AWSet[string]
	buf, _ := crdt.NewDeltaBuffer[*crdt.AWSet[string]](crdt.DeltaBufferConfig{})

	buf.Add(a.Add("a", "x"))
	msg, seq, full, _ := buf.Prepare("b", &a)
	b.Merge(msg)
	buf.Ack("b", seq)
	fmt.Println("first message full state:", full)

	buf.Add(a.Add("a", "y"))
	msg, _, full, _ = buf.Prepare("b", &a)
	b.Merge(msg)
	fmt.Println("then a delta:", !full, slices.Sorted(b.All()))
	// Output:
	// first message full state: true
	// then a delta: true [x y]
}

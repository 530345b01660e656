package crdttest

import (
	"bytes"
	"strconv"

	"github.com/distkit/distkit/vclock"
	"pgregory.net/rapid"
)

// CRDT is what the suite needs of a state-based CRDT. The pointer types of
// package crdt satisfy it.
type CRDT[T any] interface {
	Merge(T)
	Clone() T
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// Replica is the context a mutation runs in.
type Replica struct {
	ID vclock.ReplicaID
	// Now returns a timestamp for LWW types. It is strictly increasing at
	// each replica. In sequential runs it is increasing across replicas
	// too; in concurrent runs clocks are skewed, and equal timestamps at
	// different replicas happen.
	Now func() vclock.Timestamp
}

// Spec describes a CRDT to the suite. T is its state type (a pointer),
// M its naive sequential model (struct{} when there is none).
type Spec[T CRDT[T], M any] struct {
	// New returns an empty state.
	New func() T
	// Mutate draws one mutation (label every draw), applies it to x as
	// replica r and returns its delta. When m is not nil the run is
	// sequential, and Mutate applies the same operation to the model.
	Mutate func(t *rapid.T, x T, r Replica, m *M) T
	// NewModel returns an empty model; nil if the type has none.
	NewModel func() M
	// Check fails t if x's value differs from the model's.
	Check func(t *rapid.T, x T, m M)
	// Compact, if set, runs the type's metadata compaction (tombstones,
	// pruning) on x, given every replica's state just after a full
	// exchange. Cluster checks that it keeps x's Value and that replicas
	// still converge afterwards.
	Compact func(x T, all []T)
	// CompactBelow, if set, runs the type's timestamp-based tombstone
	// compaction (the LWW types) on x with stability frontier f. Cluster
	// calls it at any time, with messages still in flight, passing the
	// largest f the run's history shows to be stable: every replica and
	// every message in flight has seen every write stamped at or before f,
	// and every replica's clock has passed f. It checks after every step
	// that each replica's value equals that of an uncompacted shadow of
	// it, so a compaction that resurrects a removed element (or loses a
	// live one) fails at once, and that after a final exchange and a final
	// compaction everywhere the replicas are equal.
	CompactBelow func(x T, f vclock.Timestamp)
	// Value returns x's query value in a canonical printable form. It is
	// required by Compact and CompactBelow checks.
	Value func(x T) string
}

// enc returns the canonical encoding of x, failing t on error.
func enc[T CRDT[T]](t *rapid.T, x T) []byte {
	b, err := x.MarshalBinary()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

func join[T CRDT[T]](a, b T) T {
	c := a.Clone()
	c.Merge(b)
	return c
}

// equalStates fails t unless a and b encode to the same bytes.
func equalStates[T CRDT[T]](t *rapid.T, what string, a, b T) {
	t.Helper()
	ea, eb := enc(t, a), enc(t, b)
	if !bytes.Equal(ea, eb) {
		t.Fatalf("%s: states differ:\n%x\n%x", what, ea, eb)
	}
}

// clocks hands out timestamps. In sequential mode they increase globally;
// otherwise each replica's clock is its own, skewed by drawn amounts.
type clocks struct {
	t          *rapid.T
	sequential bool
	global     uint64
	per        map[vclock.ReplicaID]uint64
}

func (c *clocks) replica(id vclock.ReplicaID) Replica {
	return Replica{ID: id, Now: func() vclock.Timestamp {
		if c.sequential {
			c.global++
			return vclock.Timestamp(c.global)
		}
		n := max(c.per[id]+1, rapid.Uint64Range(1, 40).Draw(c.t, "clock"))
		c.per[id] = n
		return vclock.Timestamp(n)
	}}
}

// sync advances the clocks of replicas 0..n-1 to the fastest one, as
// hybrid logical clocks do once they have heard from it.
func (c *clocks) sync(n int) {
	top := c.floor(n)
	for i := range n {
		top = max(top, vclock.Timestamp(c.per[replicaID(i)]))
	}
	for i := range n {
		c.per[replicaID(i)] = uint64(top)
	}
}

// floor returns the latest timestamp every clock of replicas 0..n-1 has
// handed out or passed: each clock's next timestamp is above it.
func (c *clocks) floor(n int) vclock.Timestamp {
	f := vclock.Timestamp(c.per[replicaID(0)])
	for i := 1; i < n; i++ {
		f = min(f, vclock.Timestamp(c.per[replicaID(i)]))
	}
	return f
}

func replicaID(i int) vclock.ReplicaID { return vclock.ReplicaID("r" + strconv.Itoa(i)) }

// history is the outcome of a generated multi-replica execution.
type history[T CRDT[T]] struct {
	replicas []T
	deltas   []T // every mutation's delta, in the order made
	pool     []T // reachable states: replicas at several points, deltas
}

// genHistory runs random mutations at random replicas interleaved with
// partial exchanges of full states and deltas, checking the per-mutation
// laws (inflation, delta correctness) as it goes.
func genHistory[T CRDT[T], M any](t *rapid.T, s Spec[T, M]) history[T] {
	n := rapid.IntRange(1, 4).Draw(t, "replicas")
	h := history[T]{}
	for range n {
		h.replicas = append(h.replicas, s.New())
	}
	clk := &clocks{t: t, per: map[vclock.ReplicaID]uint64{}}
	steps := rapid.IntRange(0, 16).Draw(t, "steps")
	for range steps {
		i := rapid.IntRange(0, n-1).Draw(t, "at")
		switch rapid.IntRange(0, 3).Draw(t, "step") {
		case 0, 1: // mutate
			before := h.replicas[i].Clone()
			d := s.Mutate(t, h.replicas[i], clk.replica(replicaID(i)), nil)
			after := h.replicas[i]
			equalStates(t, "inflation: mutated state joined with its old state", join(after, before), after)
			equalStates(t, "delta: old state joined with the delta", join(before, d), after)
			h.deltas = append(h.deltas, d)
			h.pool = append(h.pool, d)
		case 2: // merge another replica's full state
			j := rapid.IntRange(0, n-1).Draw(t, "from")
			h.replicas[i].Merge(h.replicas[j].Clone())
		case 3: // merge some delta, possibly old or already seen
			if len(h.deltas) > 0 {
				k := rapid.IntRange(0, len(h.deltas)-1).Draw(t, "delta")
				h.replicas[i].Merge(h.deltas[k])
			}
		}
		h.pool = append(h.pool, h.replicas[i].Clone())
	}
	h.pool = append(h.pool, s.New())
	return h
}

// Laws checks every law on generated histories of s. See the package
// documentation for the list.
func Laws[T CRDT[T], M any](t rapid.TB, s Spec[T, M]) {
	t.Helper()
	rapid.Check(t, func(t *rapid.T) { CheckOnce(t, s) })
}

// CheckOnce checks every law on one generated history. Laws runs it under
// rapid.Check; it is exported for callers that drive rapid themselves.
func CheckOnce[T CRDT[T], M any](t *rapid.T, s Spec[T, M]) {
	h := genHistory(t, s)
	pick := func(label string) T {
		return h.pool[rapid.IntRange(0, len(h.pool)-1).Draw(t, label)]
	}
	a, b, c := pick("a"), pick("b"), pick("c")

	equalStates(t, "commutativity", join(a, b), join(b, a))
	equalStates(t, "associativity", join(join(a, b), c), join(a, join(b, c)))
	equalStates(t, "idempotence", join(a, a), a)
	equalStates(t, "identity", join(a, s.New()), a)
	equalStates(t, "identity (left)", join(s.New(), a), a)
	ab := join(a, b)
	equalStates(t, "inflation", join(ab, a), ab)

	// Round trip: decode, re-encode, same bytes; and the decoded state
	// merges like the original.
	for _, x := range []T{a, ab} {
		e := enc(t, x)
		y := s.New()
		if err := y.UnmarshalBinary(e); err != nil {
			t.Fatalf("decode of %x: %v", e, err)
		}
		if e2 := enc(t, y); !bytes.Equal(e, e2) {
			t.Fatalf("round trip changed bytes:\n%x\n%x", e, e2)
		}
		equalStates(t, "decoded state merges like the original", join(y, b), join(x, b))
	}

	checkDelivery(t, s, h)
	if s.NewModel != nil {
		checkModel(t, s)
	}
}

// checkDelivery delivers every delta of h to a fresh replica in a random
// order with duplicates, dropping some and retransmitting them later, and
// requires the result to equal the join of all replicas' states.
func checkDelivery[T CRDT[T], M any](t *rapid.T, s Spec[T, M], h history[T]) {
	want := s.New()
	for _, r := range h.replicas {
		want.Merge(r)
	}
	got := s.New()
	order := rapid.Permutation(indices(len(h.deltas))).Draw(t, "order")
	var dropped []int
	for _, k := range order {
		switch rapid.IntRange(0, 3).Draw(t, "fate") {
		case 0:
			dropped = append(dropped, k)
			continue
		case 1:
			got.Merge(h.deltas[k])
		}
		got.Merge(h.deltas[k])
	}
	for _, k := range rapid.Permutation(dropped).Draw(t, "retransmit") {
		got.Merge(h.deltas[k])
	}
	equalStates(t, "convergence: all deltas in any order vs join of replicas", got, want)
}

func indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// checkModel runs mutations at random replicas, each delivered to all
// replicas at once (a sequential execution), against the model.
func checkModel[T CRDT[T], M any](t *rapid.T, s Spec[T, M]) {
	n := rapid.IntRange(1, 3).Draw(t, "model replicas")
	rs := make([]T, n)
	for i := range rs {
		rs[i] = s.New()
	}
	m := s.NewModel()
	clk := &clocks{t: t, sequential: true}
	steps := rapid.IntRange(0, 12).Draw(t, "model steps")
	for range steps {
		i := rapid.IntRange(0, n-1).Draw(t, "model at")
		d := s.Mutate(t, rs[i], clk.replica(replicaID(i)), &m)
		for j := range rs {
			if j != i {
				rs[j].Merge(d)
			}
		}
		for _, r := range rs {
			s.Check(t, r, m)
		}
	}
}

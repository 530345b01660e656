package crdttest

import (
	"bytes"
	"testing"

	"github.com/distkit/distkit/crdt"
	"github.com/distkit/distkit/vclock"
	"pgregory.net/rapid"
)

// Cluster runs a rapid state machine of 2 to 4 replicas of s. Each replica
// mutates its state, adds the delta to a crdt.DeltaBuffer and sends its
// peers delta intervals (or full states) as encoded bytes over a network
// that loses, duplicates and reorders messages; receivers merge, forward
// through their own buffer and acknowledge. Replicas restart from their
// encodings with a fresh buffer, and, when s has Compact, compact after a
// full exchange. After every step: each state round-trips through its
// encoding and has only grown, and every delivered interval gave the same
// state as merging the sender's full state would have. At the end, after
// the network drains, all replicas are equal.
func Cluster[T CRDT[T], M any](t *testing.T, s Spec[T, M]) {
	t.Helper()
	rapid.Check(t, func(t *rapid.T) {
		c := newCluster(t, s)
		t.Repeat(map[string]func(*rapid.T){
			"mutate":    c.mutate,
			"send":      c.send,
			"deliver":   c.deliver,
			"drop":      c.drop,
			"duplicate": c.duplicate,
			"restart":   c.restart,
			"compact":   c.compact,
			"":          c.invariants,
		})
		c.quiesce(t)
		for i := 1; i < len(c.nodes); i++ {
			equalStates(t, "final convergence", c.nodes[i].state, c.nodes[0].state)
		}
	})
}

type node[T CRDT[T]] struct {
	state T
	prev  T
	buf   *crdt.DeltaBuffer[T]
}

type message[T CRDT[T]] struct {
	from, to int
	ack      bool
	seq      uint64
	payload  []byte
	snapshot T // the sender's full state when the interval was cut
}

type cluster[T CRDT[T], M any] struct {
	s      Spec[T, M]
	nodes  []*node[T]
	net    []message[T]
	clk    *clocks
	starts uint64
}

func newCluster[T CRDT[T], M any](t *rapid.T, s Spec[T, M]) *cluster[T, M] {
	c := &cluster[T, M]{s: s, clk: &clocks{t: t, per: map[vclock.ReplicaID]uint64{}}}
	n := rapid.IntRange(2, 4).Draw(t, "replicas")
	for range n {
		c.nodes = append(c.nodes, &node[T]{state: s.New(), prev: s.New(), buf: c.newBuffer(t)})
	}
	return c
}

func (c *cluster[T, M]) newBuffer(t *rapid.T) *crdt.DeltaBuffer[T] {
	c.starts += 1 << 20
	max := rapid.IntRange(1, 8).Draw(t, "max deltas")
	b, err := crdt.NewDeltaBuffer[T](crdt.DeltaBufferConfig{MaxDeltas: max, Start: c.starts})
	if err != nil {
		t.Fatalf("NewDeltaBuffer: %v", err)
	}
	return b
}

func (c *cluster[T, M]) pick(t *rapid.T, label string) int {
	return rapid.IntRange(0, len(c.nodes)-1).Draw(t, label)
}

func (c *cluster[T, M]) mutate(t *rapid.T) {
	i := c.pick(t, "replica")
	n := c.nodes[i]
	d := c.s.Mutate(t, n.state, c.clk.replica(replicaID(i)), nil)
	n.buf.Add(d)
}

func (c *cluster[T, M]) send(t *rapid.T) {
	i, j := c.pick(t, "from"), c.pick(t, "to")
	if i == j {
		t.Skip("self")
	}
	c.prepare(t, i, j)
}

func (c *cluster[T, M]) prepare(t *rapid.T, i, j int) bool {
	n := c.nodes[i]
	msg, seq, _, ok := n.buf.Prepare(replicaID(j), n.state)
	if !ok {
		return false
	}
	c.net = append(c.net, message[T]{from: i, to: j, seq: seq, payload: enc(t, msg), snapshot: n.state.Clone()})
	return true
}

func (c *cluster[T, M]) deliver(t *rapid.T) {
	if len(c.net) == 0 {
		t.Skip("nothing in flight")
	}
	k := rapid.IntRange(0, len(c.net)-1).Draw(t, "message")
	m := c.net[k]
	c.net = append(c.net[:k], c.net[k+1:]...)
	c.receive(t, m)
}

func (c *cluster[T, M]) receive(t *rapid.T, m message[T]) {
	n := c.nodes[m.to]
	if m.ack {
		n.buf.Ack(replicaID(m.from), m.seq)
		return
	}
	d := c.s.New()
	if err := d.UnmarshalBinary(m.payload); err != nil {
		t.Fatalf("decode message: %v", err)
	}
	viaFull := join(n.state, m.snapshot)
	before := enc(t, n.state)
	n.state.Merge(d)
	equalStates(t, "delta interval merge equals full-state merge", n.state, viaFull)
	// Forward what arrived, so that peers of this replica learn it too,
	// but only if it was news: forwarding everything would echo deltas
	// between replicas forever.
	if !bytes.Equal(before, enc(t, n.state)) {
		n.buf.Add(d)
	}
	c.net = append(c.net, message[T]{from: m.to, to: m.from, ack: true, seq: m.seq})
}

func (c *cluster[T, M]) drop(t *rapid.T) {
	if len(c.net) == 0 {
		t.Skip("nothing in flight")
	}
	k := rapid.IntRange(0, len(c.net)-1).Draw(t, "message")
	c.net = append(c.net[:k], c.net[k+1:]...)
}

func (c *cluster[T, M]) duplicate(t *rapid.T) {
	if len(c.net) == 0 {
		t.Skip("nothing in flight")
	}
	k := rapid.IntRange(0, len(c.net)-1).Draw(t, "message")
	c.net = append(c.net, c.net[k])
}

func (c *cluster[T, M]) restart(t *rapid.T) {
	i := c.pick(t, "replica")
	n := c.nodes[i]
	st := c.s.New()
	if err := st.UnmarshalBinary(enc(t, n.state)); err != nil {
		t.Fatalf("restart: %v", err)
	}
	n.state = st
	n.buf = c.newBuffer(t)
}

// quiesce delivers every message in flight, then runs full rounds of
// send, deliver and acknowledge until no replica has anything to send.
func (c *cluster[T, M]) quiesce(t *rapid.T) {
	for len(c.net) > 0 {
		m := c.net[0]
		c.net = c.net[1:]
		c.receive(t, m)
	}
	for round := 0; ; round++ {
		if round > 4*len(c.nodes)+8 {
			t.Fatalf("replication did not quiesce")
		}
		sent := false
		for i := range c.nodes {
			for j := range c.nodes {
				if i != j && c.prepare(t, i, j) {
					sent = true
				}
			}
		}
		if !sent {
			return
		}
		for len(c.net) > 0 {
			m := c.net[0]
			c.net = c.net[1:]
			c.receive(t, m)
		}
	}
}

func (c *cluster[T, M]) compact(t *rapid.T) {
	if c.s.Compact == nil {
		t.Skip("no compaction")
	}
	c.quiesce(t)
	all := make([]T, len(c.nodes))
	for i, n := range c.nodes {
		all[i] = n.state.Clone()
	}
	for _, n := range c.nodes {
		if !rapid.Bool().Draw(t, "compact here") {
			continue
		}
		before := c.s.Value(n.state)
		c.s.Compact(n.state, all)
		if after := c.s.Value(n.state); after != before {
			t.Fatalf("compaction changed the value from %s to %s", before, after)
		}
		// Compaction may shrink the state: restart the growth check. It
		// changed the state outside the delta buffer, so record the
		// result as a delta: intervals must still carry every change for
		// the delta-equals-full-state check.
		n.prev = n.state.Clone()
		n.buf.Add(n.state.Clone())
	}
}

func (c *cluster[T, M]) invariants(t *rapid.T) {
	for i, n := range c.nodes {
		e := enc(t, n.state)
		y := c.s.New()
		if err := y.UnmarshalBinary(e); err != nil {
			t.Fatalf("replica %d: decode: %v", i, err)
		}
		if !bytes.Equal(enc(t, y), e) {
			t.Fatalf("replica %d: round trip changed bytes", i)
		}
		equalStates(t, "replica state only grows", join(n.state, n.prev), n.state)
		n.prev = n.state.Clone()
	}
}

package crdttest

import (
	"bytes"
	"cmp"
	"slices"
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
// full exchange; when s has CompactBelow, they compact at any time at the
// stability frontier the run's history allows. After every step: each
// state round-trips through its encoding and has only grown, every
// delivered interval gave the same state as merging the sender's full
// state would have, and, for CompactBelow types, each replica's value is
// that of its uncompacted shadow (the join of everything it has seen). At
// the end, after the network drains, all replicas are equal (for
// CompactBelow types: equal in value, and equal in bytes once every
// replica has compacted at the final frontier), and their value is that of
// the join of every write made.
func Cluster[T CRDT[T], M any](t *testing.T, s Spec[T, M]) {
	t.Helper()
	if (s.Compact != nil || s.CompactBelow != nil) && s.Value == nil {
		t.Fatal("crdttest: a Spec with Compact or CompactBelow needs Value")
	}
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
		c.finish(t)
	})
}

// finish checks the replicas after the final exchange.
func (c *cluster[T, M]) finish(t *rapid.T) {
	if c.tracksShadows() {
		all := c.s.New()
		for _, n := range c.nodes {
			all.Merge(n.shadow)
		}
		want := c.s.Value(all)
		for i, n := range c.nodes {
			if got := c.s.Value(n.state); got != want {
				t.Fatalf("replica %d converged to %s, but every write joined gives %s", i, got, want)
			}
		}
	}
	if c.s.CompactBelow != nil {
		// A compacted tombstone does not travel, so replicas that
		// compacted at different times may differ in tombstones only.
		// Once every write is stable, compacting everywhere removes
		// them all.
		c.clk.sync(len(c.nodes))
		f := c.stableFrontier(t)
		if f != c.clk.floor(len(c.nodes)) {
			t.Fatalf("after the final exchange the frontier is %d, not every write (%d)", f, c.clk.floor(len(c.nodes)))
		}
		for _, n := range c.nodes {
			c.s.CompactBelow(n.state, f)
		}
	}
	for i := 1; i < len(c.nodes); i++ {
		equalStates(t, "final convergence", c.nodes[i].state, c.nodes[0].state)
	}
}

type node[T CRDT[T]] struct {
	state T
	prev  T
	buf   *crdt.DeltaBuffer[T]
	// shadow is what state would be without compaction: the join of
	// this replica's writes and of the shadows of the senders of
	// everything it received. Kept only for types that compact.
	shadow T
}

type message[T CRDT[T]] struct {
	from, to int
	ack      bool
	seq      uint64
	payload  []byte
	snapshot T // the sender's full state when the interval was cut
	shadow   T // the sender's shadow then, for types that compact
}

// write is one mutation's delta and the latest timestamp it drew.
type write[T CRDT[T]] struct {
	delta T
	ts    vclock.Timestamp
}

type cluster[T CRDT[T], M any] struct {
	s      Spec[T, M]
	nodes  []*node[T]
	net    []message[T]
	clk    *clocks
	starts uint64
	writes []write[T] // every stamped mutation, for CompactBelow types
	// stable is the latest frontier compacted at: every write stamped at
	// or before it was seen everywhere, so later holders need not show it.
	stable vclock.Timestamp
}

func newCluster[T CRDT[T], M any](t *rapid.T, s Spec[T, M]) *cluster[T, M] {
	c := &cluster[T, M]{s: s, clk: &clocks{t: t, per: map[vclock.ReplicaID]uint64{}}}
	n := rapid.IntRange(2, 4).Draw(t, "replicas")
	for range n {
		c.nodes = append(c.nodes, &node[T]{state: s.New(), prev: s.New(), buf: c.newBuffer(t), shadow: s.New()})
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
	r := c.clk.replica(replicaID(i))
	var ts vclock.Timestamp
	now := r.Now
	r.Now = func() vclock.Timestamp {
		x := now()
		ts = max(ts, x)
		return x
	}
	d := c.s.Mutate(t, n.state, r, nil)
	n.buf.Add(d)
	if c.tracksShadows() {
		n.shadow.Merge(d)
	}
	if c.s.CompactBelow != nil && ts > 0 {
		c.writes = append(c.writes, write[T]{delta: d.Clone(), ts: ts})
	}
}

// tracksShadows reports whether the cluster keeps uncompacted shadows to
// check compaction against. Only CompactBelow types do: their deltas are
// the write itself, so a shadow joined with the delta made on the
// compacted state is what the uncompacted replica would hold. A causal
// type's delta carries the dots the mutation superseded in its own store,
// which compaction changed, so its shadow would not be.
func (c *cluster[T, M]) tracksShadows() bool {
	return c.s.CompactBelow != nil && c.s.Value != nil
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
	m := message[T]{from: i, to: j, seq: seq, payload: enc(t, msg), snapshot: n.state.Clone()}
	if c.tracksShadows() {
		m.shadow = n.shadow.Clone()
	}
	c.net = append(c.net, m)
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
	if c.s.CompactBelow != nil {
		// The sender's full state may still hold timestamps the
		// receiver has compacted away; the two agree once both forget
		// what the frontier lets them.
		got := n.state.Clone()
		c.s.CompactBelow(got, c.stable)
		c.s.CompactBelow(viaFull, c.stable)
		equalStates(t, "delta interval merge equals full-state merge (both compacted)", got, viaFull)
	} else {
		equalStates(t, "delta interval merge equals full-state merge", n.state, viaFull)
	}
	if c.tracksShadows() {
		n.shadow.Merge(m.shadow)
	}
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
	if c.s.CompactBelow != nil {
		c.compactBelow(t)
		return
	}
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

// compactBelow compacts some replicas at the stability frontier, without
// draining the network first. Optionally the clocks first catch up with
// the fastest one, as hybrid logical clocks do once they hear from it, so
// that the frontier can pass writes made at slow replicas.
func (c *cluster[T, M]) compactBelow(t *rapid.T) {
	if rapid.Bool().Draw(t, "sync clocks") {
		c.clk.sync(len(c.nodes))
	}
	f := c.stableFrontier(t)
	c.stable = f
	for _, n := range c.nodes {
		if !rapid.Bool().Draw(t, "compact here") {
			continue
		}
		before := c.s.Value(n.state)
		c.s.CompactBelow(n.state, f)
		if after := c.s.Value(n.state); after != before {
			t.Fatalf("compaction at %d changed the value from %s to %s", f, before, after)
		}
		// Compaction shrank the state: restart the growth check. The
		// buffer's deltas may hold what was dropped, and intervals cut
		// from them would no longer match the full state, so the
		// replica starts a new buffer, as after a restart: peers get
		// its full state next.
		n.prev = n.state.Clone()
		n.buf = c.newBuffer(t)
	}
}

// stableFrontier returns the largest timestamp f, at or after the last
// one, such that every write stamped at or before f has been seen by
// every replica (it is below their uncompacted shadows), by every message
// in flight and by everything the delta buffers would send now, and that
// no replica will stamp a write at or before f (every clock has passed
// it). A message or interval may omit a key altogether; it then counts as
// not having seen that key's writes, which is stricter than needed.
func (c *cluster[T, M]) stableFrontier(t *rapid.T) vclock.Timestamp {
	var holders []T
	for i, n := range c.nodes {
		holders = append(holders, n.shadow)
		for j := range c.nodes {
			if j == i {
				continue
			}
			if msg, _, _, ok := n.buf.Prepare(replicaID(j), n.state); ok {
				holders = append(holders, msg)
			}
		}
	}
	for _, m := range c.net {
		if !m.ack {
			d := c.s.New()
			if err := d.UnmarshalBinary(m.payload); err != nil {
				t.Fatalf("decode message: %v", err)
			}
			holders = append(holders, d)
		}
	}
	ws := slices.Clone(c.writes)
	slices.SortFunc(ws, func(a, b write[T]) int { return cmp.Compare(a.ts, b.ts) })
	floor := c.clk.floor(len(c.nodes))
	f := c.stable
	for i := 0; i < len(ws); {
		ts := ws[i].ts
		for ; i < len(ws) && ws[i].ts == ts; i++ {
			if ts <= c.stable {
				continue
			}
			for _, h := range holders {
				if !seen(h, ws[i].delta) {
					return max(c.stable, min(f, floor))
				}
			}
		}
		f = ts
	}
	return max(c.stable, floor)
}

// seen reports whether state h has seen delta d: joining d changes nothing.
func seen[T CRDT[T]](h, d T) bool {
	a, errA := h.MarshalBinary()
	b, errB := join(h, d).MarshalBinary()
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

func (c *cluster[T, M]) invariants(t *rapid.T) {
	for i, n := range c.nodes {
		if c.tracksShadows() {
			if got, want := c.s.Value(n.state), c.s.Value(n.shadow); got != want {
				t.Fatalf("replica %d: value %s, but without compaction it would be %s", i, got, want)
			}
		}
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

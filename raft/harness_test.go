package raft

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// This file is a small deterministic cluster harness: messages sit in one
// in-flight list until a test delivers, drops, duplicates or reorders them,
// and every node's batches go through explicit ready and persist steps so a
// crash between them loses exactly the unsynced writes. After every step the
// harness can check the Raft safety properties across the whole cluster.

type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

type simNode struct {
	id      NodeID
	core    *Core
	store   simStore
	rd      *Ready // taken by ready, not yet persisted
	up      bool
	applied []Entry // this incarnation's state machine
	commit  uint64  // last seen commit index, to check it never goes back
	restart int
	// verified is the log as of the last check: only entries that differ
	// from it need the (index, term) lookup again.
	verified []Entry
}

type cluster struct {
	t     tb
	ids   []NodeID
	nodes map[NodeID]*simNode
	list  []*simNode // nodes in ids order
	net   []Message
	// cut[a][b] blocks messages from a to b.
	cut      map[NodeID]map[NodeID]bool
	cfgTweak func(*Config)
	mutation mutation

	// Cluster-wide records for the invariants.
	leaders   map[uint64]NodeID // term -> leader
	committed []committedEntry  // index-1 -> entry known committed
	appliedG  []Entry           // index-1 -> entry applied by anyone
	byIDTerm  map[[2]uint64][]byte
	acked     []Entry // entries whose proposer applied them
	// proposals maps (index, term) to the node whose client proposed it.
	proposals map[[2]uint64]NodeID
	// reads maps a read's reference to who asked and the highest index of
	// a write acknowledged before it was asked.
	reads     map[uint64]readReq
	readsDone int
	transfers int
	ref       uint64
	seq       int
	trace     *strings.Builder
	// sink, if set, receives outgoing messages instead of the harness's own
	// network (the simulator adapter routes them into internal/sim).
	sink func(Message)
	// syncTicks makes tick actions tick every node at once (lease reads
	// are only safe under bounded clock drift).
	syncTicks bool
	// onBatch, if set, sees each batch after its entries are applied.
	onBatch func(sn *simNode, rd *Ready)
}

type committedEntry struct {
	e Entry
	// term is the smallest current term of a node that saw the entry
	// committed: every leader of a later term must hold it.
	term uint64
}

var traceAll *strings.Builder

// simStore is what the harness needs of a node's storage: the core's reads
// plus the Persist step, snapshots and compaction.
type simStore interface {
	Storage
	Save(Persist) error
	CreateSnapshot(i uint64, cs ConfState, data []byte) error
	Compact(i uint64) error
}

// openStore returns node id's storage: a new one when old is nil, else the
// storage to restart on after a crash with old. MemoryStorage survives a
// crash as it is; walstorage_test.go swaps in one that reopens a WAL.
var openStore = func(t tb, id NodeID, old simStore) simStore {
	if old != nil {
		return old
	}
	return NewMemoryStorage()
}

func newCluster(t tb, n int, tweak func(*Config)) *cluster {
	c := &cluster{t: t, nodes: map[NodeID]*simNode{}, cut: map[NodeID]map[NodeID]bool{},
		leaders: map[uint64]NodeID{}, byIDTerm: map[[2]uint64][]byte{}, proposals: map[[2]uint64]NodeID{}, reads: map[uint64]readReq{}, cfgTweak: tweak, trace: traceAll}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, NodeID(fmt.Sprintf("n%d", i)))
	}
	for i, id := range c.ids {
		sn := &simNode{id: id, store: openStore(t, id, nil)}
		c.nodes[id] = sn
		c.list = append(c.list, sn)
		c.start(sn, uint64(i+1))
	}
	return c
}

func (c *cluster) config(sn *simNode, seed uint64) Config {
	cfg := Config{ID: sn.id, Voters: c.ids, Storage: sn.store, Seed: seed}
	if c.cfgTweak != nil {
		c.cfgTweak(&cfg)
	}
	return cfg
}

func (c *cluster) start(sn *simNode, seed uint64) {
	c.t.Helper()
	core, err := New(c.config(sn, seed))
	if err != nil {
		c.t.Fatalf("New(%s): %v", sn.id, err)
	}
	core.mutation = c.mutation
	sn.core, sn.rd, sn.up, sn.applied, sn.commit = core, nil, true, nil, core.log.committed
	if s, err := sn.store.Snapshot(); err == nil && !s.IsEmpty() {
		c.restoreSnapshot(sn, s)
	}
}

// restoreSnapshot replaces a node's state machine with a snapshot's. The
// harness's snapshot data is the whole applied sequence, so each restored
// entry is checked against what every node applied.
func (c *cluster) restoreSnapshot(sn *simNode, s Snapshot) {
	m, err := DecodeMessage(s.Data)
	if err != nil {
		c.t.Fatalf("%s: snapshot data: %v", sn.id, err)
	}
	if uint64(len(m.Entries)) != s.Meta.Index {
		c.t.Fatalf("%s: snapshot at %d holds %d entries", sn.id, s.Meta.Index, len(m.Entries))
	}
	sn.applied = nil
	for _, e := range m.Entries {
		c.apply(sn, e)
	}
}

// snapshot makes a node snapshot its state machine at its applied index and
// compact its log up to lag entries before that.
func (c *cluster) snapshot(sn *simNode, lag uint64) {
	if !sn.up || len(sn.applied) == 0 {
		return
	}
	idx := uint64(len(sn.applied))
	data := AppendMessage(nil, &Message{Type: MsgApp, Entries: sn.applied})
	if err := sn.store.CreateSnapshot(idx, sn.core.ConfStateAt(idx), data); err != nil {
		return // not newer than the last one
	}
	c.logf("snapshot %s at %d", sn.id, idx)
	if idx > lag {
		_ = sn.store.Compact(idx - lag)
	}
}

func (c *cluster) node(i int) *simNode { return c.nodes[c.ids[i]] }

func (c *cluster) logf(format string, args ...any) {
	if c.trace != nil {
		fmt.Fprintf(c.trace, format+"\n", args...)
	}
}

// enqueue puts messages on the network.
func (c *cluster) enqueue(ms []Message) {
	for _, m := range ms {
		c.logf("send %s->%s %s t%d i%d lt%d c%d rej=%v hint=%d ents=%d", m.From, m.To, m.Type, m.Term, m.Index, m.LogTerm, m.Commit, m.Reject, m.RejectHint, len(m.Entries))
		if c.sink != nil {
			c.sink(m)
			continue
		}
		c.net = append(c.net, m)
	}
}

// ready takes a node's next batch and sends the messages that need not wait.
func (c *cluster) ready(sn *simNode) {
	if !sn.up || sn.rd != nil {
		return
	}
	rd := sn.core.Ready()
	if rd == nil {
		return
	}
	sn.rd = rd
	c.enqueue(rd.Messages)
}

// persist completes a node's outstanding batch: persist, send, apply, advance.
func (c *cluster) persist(sn *simNode) {
	c.t.Helper()
	if !sn.up || sn.rd == nil {
		return
	}
	rd := sn.rd
	if err := sn.store.Save(rd.Persist); err != nil {
		c.t.Fatalf("%s: save: %v", sn.id, err)
	}
	c.enqueue(rd.Persisted())
	if s := rd.Persist.Snapshot; s != nil {
		c.restoreSnapshot(sn, *s)
	}
	for _, e := range rd.Apply {
		c.apply(sn, e)
	}
	for _, rs := range rd.ReadStates {
		req, ok := c.reads[rs.Ref]
		if !ok || req.node != sn.id {
			c.t.Fatalf("%s: read state for unknown read %d", sn.id, rs.Ref)
		}
		// Linearizability of reads: the read index covers every write
		// acknowledged before the read was asked.
		if rs.Index < req.minIndex {
			c.t.Fatalf("stale read: %s read %d at index %d, but index %d was acknowledged before", sn.id, rs.Ref, rs.Index, req.minIndex)
		}
		// A duplicated request or answer may confirm a read twice; the
		// request stays on record so both are checked.
		c.readsDone++
	}
	for _, pr := range rd.Proposals {
		if pr.Err == nil {
			c.proposals[[2]uint64{pr.Index, pr.Term}] = sn.id
		}
	}
	if rd.Transfer != nil {
		c.transfers++
		if err := rd.Transfer.Err; err != nil && !errors.Is(err, ErrTransferTimeout) && !errors.Is(err, ErrTransferLost) {
			c.t.Fatalf("%s: transfer result %v", sn.id, err)
		}
	}
	if c.onBatch != nil {
		c.onBatch(sn, rd)
	}
	sn.rd = nil
	if err := sn.core.Advance(rd); err != nil {
		c.t.Fatalf("%s: advance: %v", sn.id, err)
	}
}

func (c *cluster) apply(sn *simNode, e Entry) {
	c.t.Helper()
	if want := uint64(len(sn.applied)) + 1; e.Index != want {
		c.t.Fatalf("%s applied index %d, want %d", sn.id, e.Index, want)
	}
	sn.applied = append(sn.applied, e)
	c.logf("apply %s %d/%d %q", sn.id, e.Index, e.Term, e.Data)
	if int(e.Index) <= len(c.appliedG) {
		g := c.appliedG[e.Index-1]
		if g.Term != e.Term || !bytes.Equal(g.Data, e.Data) {
			c.t.Fatalf("state machine safety: %s applied %d/%d %q, another node applied %d/%d %q", sn.id, e.Index, e.Term, e.Data, g.Index, g.Term, g.Data)
		}
	} else {
		c.appliedG = append(c.appliedG, e)
	}
	if c.proposals[[2]uint64{e.Index, e.Term}] == sn.id {
		// The node whose client proposed it applied it: the client would
		// be told it succeeded.
		c.acked = append(c.acked, e)
	}
}

// cycle runs ready then persist on a node.
func (c *cluster) cycle(sn *simNode) {
	c.t.Helper()
	c.ready(sn)
	c.persist(sn)
}

func (c *cluster) cycleAll() {
	c.t.Helper()
	for _, id := range c.ids {
		c.cycle(c.nodes[id])
	}
}

func (c *cluster) blocked(from, to NodeID) bool { return c.cut[from][to] }

// deliver removes message i from the network and steps its receiver.
func (c *cluster) deliver(i int) {
	c.t.Helper()
	m := c.net[i]
	c.net = slices.Delete(c.net, i, i+1)
	sn := c.nodes[m.To]
	if sn == nil || !sn.up || c.blocked(m.From, m.To) {
		return
	}
	c.logf("recv %s->%s %s t%d", m.From, m.To, m.Type, m.Term)
	if err := sn.core.Step(m); err != nil {
		c.t.Fatalf("%s: step %s: %v", sn.id, m.Type, err)
	}
}

// deliverAll delivers everything in flight, in order, until the network is
// quiet or rounds run out, processing batches as it goes.
func (c *cluster) deliverAll(rounds int) {
	c.t.Helper()
	for r := 0; r < rounds; r++ {
		c.cycleAll()
		if len(c.net) == 0 {
			return
		}
		for len(c.net) > 0 {
			c.deliver(0)
		}
	}
	c.cycleAll()
}

func (c *cluster) tick(sn *simNode) {
	if sn.up {
		sn.core.Tick()
	}
}

func (c *cluster) tickAll() {
	for _, id := range c.ids {
		c.tick(c.nodes[id])
	}
}

// propose asks a node to propose data; it records the proposal if accepted.
func (c *cluster) propose(sn *simNode, data []byte) error {
	if !sn.up {
		return ErrNotLeader
	}
	idx, term, err := sn.core.Propose(data)
	if err == nil {
		c.proposals[[2]uint64{idx, term}] = sn.id
		c.logf("propose %s %d/%d %q", sn.id, idx, term, data)
	}
	return err
}

type readReq struct {
	node     NodeID
	minIndex uint64
}

// read asks a node for a linearizable read and records what it must see.
func (c *cluster) read(sn *simNode) {
	if sn.up {
		c.ref++
		_ = c.readRef(sn, c.ref)
	}
}

// readRef asks sn for a read with the given reference, recording it.
func (c *cluster) readRef(sn *simNode, ref uint64) error {
	minIndex := uint64(0)
	for _, a := range c.acked {
		minIndex = max(minIndex, a.Index)
	}
	err := sn.core.ReadIndex(ref)
	if err == nil {
		c.reads[ref] = readReq{node: sn.id, minIndex: minIndex}
	}
	return err
}

// crash stops a node, losing its unpersisted batch and in-memory state.
func (c *cluster) crash(sn *simNode) {
	if !sn.up {
		return
	}
	c.logf("crash %s", sn.id)
	sn.up, sn.core, sn.rd, sn.applied = false, nil, nil, nil
	// Entries that lived only in this node's memory are gone and may be
	// reused (a leader whose term was not yet durable may win the same term
	// again; it sent nothing meanwhile). Forget the (index, term) records
	// and let the next check rebuild them from what still exists anywhere,
	// messages in flight included when they arrive.
	c.byIDTerm = map[[2]uint64][]byte{}
	for _, o := range c.list {
		o.verified = nil
	}
}

func (c *cluster) restart(sn *simNode) {
	c.t.Helper()
	if sn.up {
		return
	}
	sn.restart++
	c.logf("restart %s", sn.id)
	sn.store = openStore(c.t, sn.id, sn.store)
	c.start(sn, uint64(sn.restart)*1000+uint64(slices.Index(c.ids, sn.id)+1))
}

// isolate cuts a node off from every other node, both ways.
func (c *cluster) isolate(id NodeID) {
	for _, o := range c.ids {
		if o != id {
			c.setCut(id, o, true)
			c.setCut(o, id, true)
		}
	}
}

func (c *cluster) setCut(a, b NodeID, v bool) {
	if c.cut[a] == nil {
		c.cut[a] = map[NodeID]bool{}
	}
	c.cut[a][b] = v
}

func (c *cluster) heal() { c.cut = map[NodeID]map[NodeID]bool{} }

func (c *cluster) leader() *simNode {
	var best *simNode
	for _, id := range c.ids {
		sn := c.nodes[id]
		if sn.up && sn.core.state == StateLeader && (best == nil || sn.core.term > best.core.term) {
			best = sn
		}
	}
	return best
}

// logOf returns a node's whole log as the core sees it, or the stored log
// for a node that is down. Compacted positions hold placeholders with term
// 0 (real terms start at 1), which the checks skip.
func (c *cluster) logOf(sn *simNode) []Entry {
	var first, last uint64
	var ents []Entry
	var err error
	if !sn.up {
		first, _ = sn.store.FirstIndex()
		last, _ = sn.store.LastIndex()
		ents, err = sn.store.Entries(first, last+1, ^uint64(0))
	} else {
		first, last = sn.core.log.firstIndex(), sn.core.log.lastIndex()
		ents, err = sn.core.log.entries(first, last+1, ^uint64(0))
	}
	if err != nil {
		c.t.Fatalf("%s: log [%d, %d]: %v", sn.id, first, last, err)
	}
	if first == 1 {
		return ents
	}
	out := make([]Entry, first-1, last)
	for k := range out {
		out[k].Index = uint64(k + 1)
	}
	return append(out, ents...)
}

// checkInvariants checks the Raft safety properties across the cluster.
func (c *cluster) checkInvariants() {
	logs := make([][]Entry, len(c.ids))
	for i, id := range c.ids {
		sn := c.list[i]
		logs[i] = c.logOf(sn)
		same := 0
		for same < len(logs[i]) && same < len(sn.verified) &&
			sn.verified[same].Term == logs[i][same].Term && sn.verified[same].Index == logs[i][same].Index {
			same++
		}
		for j := same; j < len(logs[i]); j++ {
			e := logs[i][j]
			if e.Index != uint64(j+1) {
				c.t.Fatalf("%s: log position %d holds index %d", id, j+1, e.Index)
			}
			if e.Term == 0 {
				continue // compacted
			}
			// Log matching, part one: one (index, term) names one entry.
			k := [2]uint64{e.Index, e.Term}
			if d, ok := c.byIDTerm[k]; ok {
				if !bytes.Equal(d, e.Data) {
					c.t.Fatalf("log matching: %s holds %d/%d %q, another node held %q", id, e.Index, e.Term, e.Data, d)
				}
			} else {
				c.byIDTerm[k] = e.Data
			}
		}
		sn.verified = append(sn.verified[:0], logs[i]...)
		// A changed entry must never be one known committed.
		for j := same; j < len(logs[i]) && j < len(c.committed); j++ {
			if sn.up && uint64(j+1) <= sn.commit && logs[i][j].Term != 0 && logs[i][j].Term != c.committed[j].e.Term {
				c.t.Fatalf("%s replaced committed entry %d/%d with term %d", id, j+1, c.committed[j].e.Term, logs[i][j].Term)
			}
		}
		if !sn.up {
			continue
		}
		st := sn.core.Status()
		// Election safety: one leader per term.
		if st.State == StateLeader {
			if l, ok := c.leaders[st.Term]; ok && l != id {
				c.t.Fatalf("election safety: %s and %s both led term %d", l, id, st.Term)
			}
			c.leaders[st.Term] = id
		}
		// Monotonic commit within an incarnation, never past the log.
		if st.Commit < sn.commit {
			c.t.Fatalf("%s: commit went back from %d to %d", id, sn.commit, st.Commit)
		}
		if st.Commit > st.LastIndex {
			c.t.Fatalf("%s: commit %d beyond last index %d", id, st.Commit, st.LastIndex)
		}
		prev := sn.commit
		sn.commit = st.Commit
		// Record what this node newly knows committed; it must agree with
		// what every other node knew. A node's term only grows, so the term
		// at which it first sees an index committed is its lowest.
		for idx := prev + 1; idx <= st.Commit; idx++ {
			e := logs[i][idx-1]
			if e.Term == 0 {
				// Known only through a snapshot: its applied state is
				// checked when restored.
				if int(idx) <= len(c.committed) {
					ce := &c.committed[idx-1]
					ce.term = min(ce.term, st.Term)
				}
				continue
			}
			if int(idx) <= len(c.committed) {
				ce := &c.committed[idx-1]
				if ce.e.Term != e.Term || !bytes.Equal(ce.e.Data, e.Data) {
					c.t.Fatalf("state machine safety: %s committed %d/%d %q, earlier %d/%d %q", id, idx, e.Term, e.Data, idx, ce.e.Term, ce.e.Data)
				}
				ce.term = min(ce.term, st.Term)
			} else if int(idx) == len(c.committed)+1 {
				c.committed = append(c.committed, committedEntry{e: e, term: st.Term})
			}
		}
	}
	// Log matching, part two: logs that agree on an entry agree on all
	// entries before it.
	for a := range logs {
		for b := a + 1; b < len(logs); b++ {
			la, lb := logs[a], logs[b]
			n := min(len(la), len(lb))
			lastSame := -1
			for j := n - 1; j >= 0; j-- {
				if la[j].Term == lb[j].Term && la[j].Term != 0 {
					lastSame = j
					break
				}
			}
			for j := 0; j < lastSame; j++ {
				if la[j].Term != lb[j].Term && la[j].Term != 0 && lb[j].Term != 0 {
					c.t.Fatalf("log matching: %s and %s agree at %d but differ at %d", c.ids[a], c.ids[b], lastSame+1, j+1)
				}
			}
		}
	}
	// Leader completeness: a leader of a later term holds every committed
	// entry.
	for i, id := range c.ids {
		sn := c.list[i]
		if !sn.up || sn.core.state != StateLeader {
			continue
		}
		for _, ce := range c.committed {
			if sn.core.term <= ce.term {
				continue
			}
			if int(ce.e.Index) > len(logs[i]) || (logs[i][ce.e.Index-1].Term != ce.e.Term && logs[i][ce.e.Index-1].Term != 0) {
				c.t.Fatalf("leader completeness: %s leads term %d without committed entry %d/%d", id, sn.core.term, ce.e.Index, ce.e.Term)
			}
		}
	}
	// At most one configuration change is pending in a leader's log.
	for i, sn := range c.list {
		if !sn.up || sn.core.state != StateLeader {
			continue
		}
		pending := 0
		for j := sn.core.log.committed; j < uint64(len(logs[i])); j++ {
			if logs[i][j].Type == EntryConfChange {
				pending++
			}
		}
		if pending > 1 {
			c.t.Fatalf("%s leads with %d uncommitted configuration changes", sn.id, pending)
		}
	}
	// No acknowledged entry is lost.
	for _, a := range c.acked {
		if int(a.Index) > len(c.committed) || c.committed[a.Index-1].e.Term != a.Term {
			c.t.Fatalf("acknowledged entry %d/%d %q is not committed", a.Index, a.Term, a.Data)
		}
		for i, id := range c.ids {
			if sn := c.list[i]; sn.up && sn.core.log.committed >= a.Index {
				if t := logs[i][a.Index-1].Term; t != a.Term && t != 0 {
					c.t.Fatalf("acknowledged entry %d/%d missing on %s", a.Index, a.Term, id)
				}
			}
		}
	}
}

// stabilize heals the network, restarts crashed nodes and runs the cluster
// until it has a leader that commits a new entry everywhere. It fails if the
// cluster does not recover within a bounded number of ticks.
func (c *cluster) stabilize(maxTicks int) {
	c.t.Helper()
	c.heal()
	for _, id := range c.ids {
		c.restart(c.nodes[id])
	}
	marker := []byte(fmt.Sprintf("final-%d", c.seq))
	c.seq++
	proposedIn := uint64(0) // the term the marker was last proposed in
	for tick := 0; tick < maxTicks; tick++ {
		c.deliverAll(50)
		c.checkInvariants()
		// A proposal may be lost with its leader's term: propose again to
		// each new leader until it commits.
		if l := c.leader(); l != nil && l.core.term > proposedIn && !c.allApplied(marker) {
			if err := c.propose(l, marker); err == nil {
				proposedIn = l.core.term
				c.deliverAll(50)
				c.checkInvariants()
			}
		}
		if proposedIn > 0 && c.allApplied(marker) {
			return
		}
		c.tickAll()
	}
	var b strings.Builder
	for _, id := range c.ids {
		st := c.nodes[id].core.Status()
		fmt.Fprintf(&b, "%s: %+v; ", id, st)
	}
	c.t.Fatalf("cluster did not converge within %d ticks: %s", maxTicks, b.String())
}

// allApplied reports whether every node applied an entry with data marker
// and all acknowledged entries.
func (c *cluster) allApplied(marker []byte) bool {
	l := c.leader()
	if l == nil {
		return false
	}
	// Every member of the leader's configuration; removed nodes stop
	// getting entries.
	cs := l.core.conf()
	for _, id := range c.ids {
		sn := c.nodes[id]
		if !slices.Contains(cs.Voters, id) && !slices.Contains(cs.Learners, id) {
			continue
		}
		found := false
		for _, e := range sn.applied {
			if bytes.Equal(e.Data, marker) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
		for _, a := range c.acked {
			if int(a.Index) > len(sn.applied) || sn.applied[a.Index-1].Term != a.Term {
				return false
			}
		}
	}
	return true
}

// electLeader ticks node i until it leads, delivering everything.
func (c *cluster) electLeader(i int) *simNode {
	c.t.Helper()
	sn := c.node(i)
	for n := 0; n < 100; n++ {
		if sn.core.state == StateLeader {
			c.deliverAll(20)
			return sn
		}
		sn.core.Tick()
		c.deliverAll(20)
	}
	c.t.Fatalf("%s did not become leader", sn.id)
	return nil
}

// deliverWhere delivers, in order, the messages in flight that match keep,
// cycling nodes until no matching message is left or rounds run out.
func (c *cluster) deliverWhere(rounds int, keep func(Message) bool) {
	c.t.Helper()
	for r := 0; r < rounds; r++ {
		c.cycleAll()
		i := slices.IndexFunc(c.net, keep)
		if i < 0 {
			return
		}
		for i >= 0 {
			c.deliver(i)
			i = slices.IndexFunc(c.net, keep)
		}
	}
	c.cycleAll()
}

// dropWhere removes the messages in flight that match drop.
func (c *cluster) dropWhere(drop func(Message) bool) {
	c.net = slices.DeleteFunc(c.net, drop)
}

// between matches messages exchanged among the given nodes only.
func between(ids ...NodeID) func(Message) bool {
	return func(m Message) bool { return slices.Contains(ids, m.From) && slices.Contains(ids, m.To) }
}

// campaignUntilLeader ticks node sn (only) and delivers messages matching
// keep until sn leads.
func (c *cluster) campaignUntilLeader(sn *simNode, keep func(Message) bool) {
	c.t.Helper()
	for n := 0; n < 200; n++ {
		if sn.core.state == StateLeader {
			return
		}
		sn.core.Tick()
		c.deliverWhere(20, keep)
		c.checkInvariants()
	}
	c.t.Fatalf("%s did not become leader", sn.id)
}

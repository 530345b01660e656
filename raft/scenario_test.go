package raft

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// figure8 plays the scenario of Raft paper Figure 8 (§5.4.2) on three nodes
// and returns whether the cluster ever committed the old-term entry before
// an entry of the leader's own term.
func figure8(t tb, mut mutation) {
	c := newClusterMut(t, 3, func(cfg *Config) {
		cfg.MaxMsgEntries = 1
		cfg.DisableCheckQuorum = true // keep the old leaders around
	}, mut)
	n1, n2, n3 := c.node(0), c.node(1), c.node(2)
	all := func(Message) bool { return true }
	// Elections reach everyone (so deposed leaders learn the new term), but
	// appends are let through only where the scenario says.
	noApp := func(m Message) bool { return m.Type != MsgApp && m.Type != MsgAppResp }
	c.campaignUntilLeader(n1, all)
	c.deliverAll(20)
	// (a) n1 appends X in its term, replicated nowhere.
	if _, _, err := n1.core.Propose([]byte("X")); err != nil {
		t.Fatalf("propose: %v", err)
	}
	c.cycle(n1)
	c.dropWhere(all)
	// (b) n2 wins the next term with n3's vote; its own no-op reaches no one.
	c.campaignUntilLeader(n2, noApp)
	c.cycle(n2)
	c.dropWhere(all)
	// (c) n1 wins again with n3's vote and replicates X alone to n3.
	c.campaignUntilLeader(n1, noApp)
	c.cycle(n1)
	// n1 probes n3, backs off to X and sends it alone; stop as soon as n1
	// learns that n3 holds X, before n3 gets n1's own no-op.
	for r := 0; r < 50 && n1.core.peer(n3.id).match < 2; r++ {
		c.cycleAll()
		i := slices.IndexFunc(c.net, between(n1.id, n3.id))
		if i < 0 {
			break
		}
		c.deliver(i)
	}
	c.cycle(n1)
	c.checkInvariants()
	c.dropWhere(all)
	// (d) n2 campaigns again: its last term beats X's, so n3 votes for it.
	c.campaignUntilLeader(n2, noApp)
	c.deliverWhere(20, between(n2.id, n3.id))
	c.checkInvariants()
}

// TestFigure8 checks Raft §5.4.2 (Figure 8): a leader does not commit an
// entry of an earlier term by counting its replicas, so a later leader may
// overwrite it safely.
func TestFigure8(t *testing.T) {
	figure8(t, mutNone)
	f := &failTB{}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopHistory); !ok {
					panic(r)
				}
			}
		}()
		figure8(f, mutCommitOldTerm)
	}()
	require.NotEmpty(t, f.msg, "the broken commit rule went unnoticed")
	t.Logf("broken variant caught: %s", f.msg)
}

// readyAll collects every node's read states, proposal results and transfer
// results while delivering everything.
type outcomes struct {
	reads     map[NodeID][]ReadState
	proposals map[NodeID][]ProposalResult
	transfers map[NodeID][]TransferResult
}

// runCollect is deliverAll that also keeps the batch outcomes.
func (c *cluster) runCollect(rounds int) outcomes {
	c.t.Helper()
	o := outcomes{reads: map[NodeID][]ReadState{}, proposals: map[NodeID][]ProposalResult{}, transfers: map[NodeID][]TransferResult{}}
	collect := func() {
		for _, id := range c.ids {
			sn := c.nodes[id]
			if !sn.up {
				continue
			}
			c.ready(sn)
			if sn.rd != nil {
				o.reads[id] = append(o.reads[id], sn.rd.ReadStates...)
				o.proposals[id] = append(o.proposals[id], sn.rd.Proposals...)
				if sn.rd.Transfer != nil {
					o.transfers[id] = append(o.transfers[id], *sn.rd.Transfer)
				}
			}
			c.persist(sn)
		}
	}
	for r := 0; r < rounds; r++ {
		collect()
		if len(c.net) == 0 {
			break
		}
		for len(c.net) > 0 {
			c.deliver(0)
		}
	}
	collect()
	return o
}

// TestReadIndex checks thesis §6.4: a read is answered with the leader's
// commit index only after a quorum confirms the leadership, reads from
// followers are forwarded, and a deposed leader cut off from the quorum
// answers none.
func TestReadIndex(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.electLeader(0)
	require.NoError(t, c.propose(l, []byte("w1")))
	c.deliverAll(20)
	commit := l.core.log.committed

	// Leader reads, two at once: one heartbeat round answers both.
	require.NoError(t, c.readRef(l, 1))
	require.NoError(t, c.readRef(l, 2))
	c.ready(l)
	require.Empty(t, l.rd.ReadStates, "answered before a quorum confirmed")
	heartbeats := 0
	for _, m := range c.net {
		if m.Type == MsgHeartbeat {
			heartbeats++
		}
	}
	require.Equal(t, 2, heartbeats, "one round for both reads")
	c.persist(l)
	o := c.runCollect(20)
	require.Equal(t, []ReadState{{Ref: 1, Index: commit}, {Ref: 2, Index: commit}}, o.reads[l.id])

	// A follower's read is forwarded and answered.
	f := c.node(1)
	require.NoError(t, c.readRef(f, 3))
	o = c.runCollect(20)
	require.Equal(t, []ReadState{{Ref: 3, Index: commit}}, o.reads[f.id])

	// An isolated leader cannot confirm its leadership.
	c.isolate(l.id)
	require.NoError(t, c.readRef(l, 4))
	o = c.runCollect(20)
	require.Empty(t, o.reads[l.id])
}

// TestProposalForwarding checks that a follower's proposal reaches the
// leader and that the follower learns where it landed.
func TestProposalForwarding(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.electLeader(0)
	f := c.node(2)
	require.NoError(t, f.core.ProposeRef(7, []byte("fwd")))
	o := c.runCollect(20)
	require.Len(t, o.proposals[f.id], 1)
	r := o.proposals[f.id][0]
	require.NoError(t, r.Err)
	require.Equal(t, uint64(7), r.Ref)
	c.tickAll()
	c.deliverAll(20)
	require.Equal(t, "fwd", string(f.applied[r.Index-1].Data))
	require.Equal(t, r.Term, f.applied[r.Index-1].Term)

	// A duplicated forwarded proposal is appended once, and each copy is
	// answered with where the first landed.
	require.NoError(t, f.core.ProposeRef(8, []byte("dup")))
	c.cycle(f)
	for i, n := 0, len(c.net); i < n; i++ {
		if c.net[i].Type == MsgProp {
			c.net = append(c.net, c.net[i])
		}
	}
	o = c.runCollect(20)
	require.Len(t, o.proposals[f.id], 2)
	require.Equal(t, o.proposals[f.id][0], o.proposals[f.id][1])
	require.NoError(t, o.proposals[f.id][0].Err)
	dups := 0
	for _, e := range c.logOf(c.node(0)) {
		if string(e.Data) == "dup" {
			dups++
		}
	}
	require.Equal(t, 1, dups)

	// With no leader known, the follower refuses at once.
	c2 := newCluster(t, 3, nil)
	err := c2.node(1).core.ProposeRef(1, []byte("x"))
	var nl *NotLeaderError
	require.ErrorAs(t, err, &nl)
}

// TestLeadershipTransfer checks thesis §3.10: the target takes over within
// one election timeout and the old leader reports success; a transfer to an
// unreachable target reports a timeout instead, and the leader keeps
// leading.
func TestLeadershipTransfer(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.electLeader(0)
	require.NoError(t, c.propose(l, []byte("w")))
	c.deliverAll(20)
	target := c.node(2)
	require.NoError(t, l.core.TransferLeadership(target.id))
	_, _, err := l.core.Propose([]byte("blocked"))
	require.ErrorIs(t, err, ErrTransferInProgress)
	o := c.runCollect(20)
	require.Equal(t, StateLeader, target.core.state)
	require.Equal(t, []TransferResult{{To: target.id}}, o.transfers[l.id])

	// Now target leads; transfer to an isolated node times out.
	c.isolate(c.node(1).id)
	require.NoError(t, target.core.TransferLeadership(c.node(1).id))
	var results []TransferResult
	for i := 0; i < 2*DefaultElectionTicks && len(results) == 0; i++ {
		target.core.Tick()
		o := c.runCollect(20)
		results = append(results, o.transfers[target.id]...)
	}
	require.Len(t, results, 1)
	require.ErrorIs(t, results[0].Err, ErrTransferTimeout)
	require.Equal(t, StateLeader, target.core.state)
	_, _, err = target.core.Propose([]byte("after"))
	require.NoError(t, err)
}

// TestPreVoteNoDisruption checks thesis §9.6: a node partitioned away and
// timing out repeatedly does not raise its term, so on rejoining it does not
// depose the leader.
func TestPreVoteNoDisruption(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.electLeader(0)
	term := l.core.term
	lone := c.node(2)
	c.isolate(lone.id)
	for i := 0; i < 10*DefaultElectionTicks; i++ {
		lone.core.Tick()
		c.deliverAll(5)
		if i%DefaultHeartbeatTicks == 0 {
			l.core.Tick()
			c.node(1).core.Tick()
			c.deliverAll(5)
		}
	}
	require.Equal(t, term, lone.core.term, "pre-vote kept the term")
	c.heal()
	for i := 0; i < 3*DefaultElectionTicks; i++ {
		c.tickAll()
		c.deliverAll(10)
	}
	require.Equal(t, StateLeader, l.core.state)
	require.Equal(t, term, l.core.term)
}

// TestCheckQuorum checks thesis §6.2: a leader cut off from the quorum
// steps down once a whole election timeout passes without hearing from a
// quorum (so within two timeouts of the cut), and followers that hear from their
// leader ignore vote requests (leader stickiness).
func TestCheckQuorum(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.electLeader(0)
	c.isolate(l.id)
	for i := 0; i < 2*DefaultElectionTicks; i++ {
		l.core.Tick()
		c.deliverAll(5)
	}
	require.NotEqual(t, StateLeader, l.core.state)

	// Stickiness: with pre-vote off, a node that campaigns while the others
	// hear from a live leader gets no votes and cannot disturb anyone.
	c2 := newCluster(t, 3, func(cfg *Config) { cfg.DisablePreVote = true })
	l2 := c2.electLeader(0)
	rogue := c2.node(2)
	term := l2.core.term
	rogue.core.campaign(campaignElection)
	c2.deliverAll(10)
	require.Equal(t, StateLeader, l2.core.state)
	require.Equal(t, term, l2.core.term)
	require.Equal(t, StateCandidate, rogue.core.state)
}

// TestUncommittedCap checks that a leader whose followers do not answer
// rejects proposals quickly once MaxUncommittedBytes are pending.
func TestUncommittedCap(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxUncommittedBytes = 1000 })
	l := c.electLeader(0)
	c.isolate(l.id)
	data := make([]byte, 300)
	accepted := 0
	for {
		_, _, err := l.core.Propose(data)
		if err != nil {
			require.ErrorIs(t, err, ErrProposalDropped)
			break
		}
		accepted++
	}
	require.Equal(t, 3, accepted)
	c.heal()
	c.deliverAll(20)
	c.tickAll()
	c.deliverAll(20)
	_, _, err := l.core.Propose(data)
	require.NoError(t, err, "the budget is released on commit")
}

// TestLeaseRead checks the opt-in lease reads of thesis §6.4.1: with a
// quorum-confirmed heartbeat less than an election timeout (minus the drift
// bound) old, the leader answers a read at once; once the lease runs out
// without confirmation, reads fall back to ReadIndex and an isolated leader
// answers none; a leadership transfer ends the lease at once.
func TestLeaseRead(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.LeaseReads = true })
	l := c.electLeader(0)
	l.core.Tick() // a heartbeat round
	c.deliverAll(20)
	require.True(t, l.core.leaseValid())
	require.NoError(t, c.readRef(l, 1))
	c.ready(l)
	require.Equal(t, []ReadState{{Ref: 1, Index: l.core.log.committed}}, l.rd.ReadStates, "answered without a round trip")
	c.persist(l)

	c.isolate(l.id)
	for i := 0; i < DefaultElectionTicks-DefaultLeaseDriftTicks; i++ {
		l.core.Tick()
		c.deliverAll(5)
	}
	require.False(t, l.core.leaseValid(), "the lease outlived its bound")
	require.NoError(t, c.readRef(l, 2))
	o := c.runCollect(20)
	require.Empty(t, o.reads[l.id])

	c.heal()
	c2 := newCluster(t, 3, func(cfg *Config) { cfg.LeaseReads = true })
	l2 := c2.electLeader(0)
	l2.core.Tick()
	c2.deliverAll(20)
	require.True(t, l2.core.leaseValid())
	require.NoError(t, l2.core.TransferLeadership(c2.node(1).id))
	require.False(t, l2.core.leaseValid(), "a transfer must end the lease")

	_, err := New(Config{ID: "a", Voters: []NodeID{"a"}, Storage: NewMemoryStorage(), LeaseReads: true, DisableCheckQuorum: true})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// TestStaleLeaderRead plays the read that ReadIndex exists for (thesis
// §6.4): a leader cut off from the others while they elect a new leader and
// acknowledge a write must not answer a read with its old commit index. The
// broken variant that answers without a quorum round is caught.
func TestStaleLeaderRead(t *testing.T) {
	play := func(t tb, mut mutation) {
		c := newClusterMut(t, 3, func(cfg *Config) { cfg.DisableCheckQuorum = true }, mut)
		x := c.electLeader(0)
		c.isolate(x.id)
		y := c.node(1)
		c.campaignUntilLeader(y, func(Message) bool { return true })
		c.deliverAll(10)
		if err := c.propose(y, []byte("w")); err != nil {
			t.Fatalf("propose: %v", err)
		}
		c.deliverAll(10)
		c.read(x)
		c.cycle(x)
		c.deliverAll(10)
	}
	play(t, mutNone)
	f := &failTB{}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopHistory); !ok {
					panic(r)
				}
			}
		}()
		play(f, mutReadWithoutQuorum)
	}()
	require.Contains(t, f.msg, "stale read")
}

// TestSnapshotTransfer checks Raft §7 with chunked transfer: a follower that
// fell behind a compaction gets the snapshot in chunks, resumes after lost
// chunks from the last acknowledged one, keeps getting heartbeats during the
// transfer, and ends with the same state.
func TestSnapshotTransfer(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotChunkBytes = 8 })
	l := c.electLeader(0)
	lag := c.node(2)
	c.isolate(lag.id)
	for i := 0; i < 20; i++ {
		require.NoError(t, c.propose(l, []byte(fmt.Sprintf("entry-%02d", i))))
		c.deliverAll(10)
	}
	c.snapshot(l, 0)
	first, _ := l.store.FirstIndex()
	require.Greater(t, first, uint64(10), "the leader compacted")
	c.heal()

	chunks, dropped, heartbeats := 0, 0, 0
	for r := 0; r < 400 && len(lag.applied) < len(l.applied); r++ {
		c.cycleAll()
		if len(c.net) == 0 {
			c.tickAll()
			continue
		}
		m := c.net[0]
		switch {
		case m.Type == MsgSnap:
			chunks++
			if chunks%3 == 0 {
				// Lose every third chunk: the transfer must resume.
				c.net = c.net[1:]
				dropped++
				continue
			}
		case m.Type == MsgHeartbeat && m.To == lag.id:
			heartbeats++
		}
		c.deliver(0)
		c.checkInvariants()
	}
	require.Equal(t, len(l.applied), len(lag.applied), "the follower caught up")
	require.Greater(t, dropped, 0)
	require.Greater(t, heartbeats, 0, "heartbeats kept flowing during the transfer")
	snap, _ := l.store.Snapshot()
	require.Greater(t, chunks, len(snap.Data)/8, "sent in chunks")
	c.stabilize(200)
}

// TestSnapshotDue checks that the core asks for a snapshot once
// SnapshotEntries entries were applied since the last one.
func TestSnapshotDue(t *testing.T) {
	st := NewMemoryStorage()
	c, err := New(Config{ID: "a", Voters: []NodeID{"a"}, Storage: st, SnapshotEntries: 5})
	require.NoError(t, err)
	for c.Status().State != StateLeader {
		c.Tick()
	}
	var due []uint64
	run := func() {
		for rd := c.Ready(); rd != nil; rd = c.Ready() {
			require.NoError(t, st.Save(rd.Persist))
			rd.Persisted()
			if rd.SnapshotDue != 0 {
				due = append(due, rd.SnapshotDue)
			}
			require.NoError(t, c.Advance(rd))
		}
	}
	run()
	for i := 0; i < 12; i++ {
		_, _, err := c.Propose([]byte{byte(i)})
		require.NoError(t, err)
		run()
	}
	// 13 entries (the leader's no-op and 12 proposals): asked at 5 and 10.
	require.Equal(t, []uint64{5, 10}, due)
}

// TestLearner checks that a learner receives and applies the log but never
// votes, campaigns or counts toward a quorum.
func TestLearner(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) {
		cfg.Voters = []NodeID{"n1", "n2", "n3"}
		cfg.Learners = []NodeID{"n4"}
	})
	l := c.electLeader(0)
	learner := c.node(3)
	require.NoError(t, c.propose(l, []byte("a")))
	c.deliverAll(20)
	c.tickAll()
	c.deliverAll(20)
	require.Len(t, learner.applied, 2)

	// With both other voters cut off, the learner's acknowledgement does
	// not make a quorum.
	c.isolate(c.node(1).id)
	c.isolate(c.node(2).id)
	commit := l.core.log.committed
	require.NoError(t, c.propose(l, []byte("b")))
	c.deliverAll(20)
	require.Equal(t, commit, l.core.log.committed)
	require.Equal(t, l.core.log.lastIndex(), learner.core.log.lastIndex(), "the learner got the entry")

	// A learner never campaigns.
	for i := 0; i < 5*DefaultElectionTicks; i++ {
		learner.core.Tick()
	}
	require.Equal(t, StateFollower, learner.core.state)
	require.ErrorIs(t, l.core.TransferLeadership(learner.id), ErrInvalidTransfer)
	c.stabilize(300)
}

// TestMembershipSingleServer checks thesis §4.1 single-server changes: a
// joining node learns the full membership from the entry that adds it and
// then votes; a change is validated against the latest configuration,
// including an uncommitted one, and only one may be pending; a leader that
// removes itself steps down once the change commits.
func TestMembershipSingleServer(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) {
		cfg.Voters = []NodeID{"n1", "n2", "n3"}
		if cfg.ID == "n4" {
			cfg.Voters, cfg.Join = nil, true
		}
	})
	l := c.electLeader(0)
	n4 := c.node(3)

	// A joiner knows no membership and never campaigns.
	for i := 0; i < 3*DefaultElectionTicks; i++ {
		n4.core.Tick()
	}
	require.Equal(t, StateFollower, n4.core.state)
	require.Equal(t, uint64(0), n4.core.term)

	_, _, err := l.core.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n4"})
	require.NoError(t, err)
	// The first change is not committed yet: a second must wait.
	_, _, err = l.core.ProposeConfChange(ConfChange{Type: ConfAddVoter, Node: "n4"})
	require.ErrorIs(t, err, ErrConfChangePending)
	c.deliverAll(20)
	require.Equal(t, ConfState{Voters: []NodeID{"n1", "n2", "n3"}, Learners: []NodeID{"n4"}}, n4.core.conf())

	// Promote the learner; adding an existing voter is refused.
	_, _, err = l.core.ProposeConfChange(ConfChange{Type: ConfAddVoter, Node: "n4"})
	require.NoError(t, err)
	c.deliverAll(20)
	_, _, err = l.core.ProposeConfChange(ConfChange{Type: ConfAddVoter, Node: "n2"})
	require.ErrorIs(t, err, ErrInvalidConfChange)
	require.Equal(t, 4, l.core.voters)
	require.True(t, n4.core.isVoter())

	// With four voters the quorum is three: two nodes cannot commit.
	c.isolate("n2")
	c.isolate("n3")
	commit := l.core.log.committed
	require.NoError(t, c.propose(l, []byte("x")))
	c.deliverAll(20)
	require.Equal(t, commit, l.core.log.committed)
	c.heal()
	c.deliverAll(20)
	c.tickAll()
	c.deliverAll(20)
	require.Greater(t, l.core.log.committed, commit)

	// The leader removes itself and steps down once that commits.
	_, _, err = l.core.ProposeConfChange(ConfChange{Type: ConfRemove, Node: l.id})
	require.NoError(t, err)
	require.Equal(t, StateLeader, l.core.state, "still leads until the change commits")
	c.deliverAll(20)
	require.NotEqual(t, StateLeader, l.core.state)
	for i := 0; i < 10*DefaultElectionTicks && c.leader() == nil; i++ {
		c.tickAll()
		c.deliverAll(20)
	}
	nl := c.leader()
	require.NotNil(t, nl)
	require.NotEqual(t, l.id, nl.id)
	require.Equal(t, 3, nl.core.voters)
	c.checkInvariants()
}

// TestRemovedLeaderStillNeeded is the regression test for a deadlock the
// generated histories found (seeded run 397): a leader appends its own
// removal, crashes before anyone else stores it, and restarts. Its latest
// configuration excludes it, but the others still need its vote, which its
// longer log refuses them. Per thesis §4.2.2 it must still campaign while
// the change is uncommitted, without counting its own vote.
func TestRemovedLeaderStillNeeded(t *testing.T) {
	c := newCluster(t, 2, nil)
	l := c.electLeader(0)
	other := c.node(1)
	_, _, err := l.core.ProposeConfChange(ConfChange{Type: ConfRemove, Node: l.id})
	require.NoError(t, err)
	c.cycle(l)
	c.dropWhere(func(Message) bool { return true })
	c.crash(l)
	c.restart(l)
	require.False(t, l.core.isVoter(), "its latest configuration excludes it")
	require.True(t, l.core.canCampaign())
	c.stabilize(300)
	require.Equal(t, StateLeader, other.core.state)
	require.Equal(t, ConfState{Voters: []NodeID{other.id}}, other.core.conf())
	require.False(t, l.core.canCampaign(), "once the removal commits it stays quiet")
}

// TestLearnerAutoPromotion checks thesis §4.2.1: a node added as a voter
// first catches up as a learner, so it never holds up commits, and the
// leader promotes it on its own once its log has caught up.
func TestLearnerAutoPromotion(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) {
		cfg.Voters = []NodeID{"n1", "n2", "n3"}
		if cfg.ID == "n4" {
			cfg.Voters, cfg.Join = nil, true
		}
	})
	l := c.electLeader(0)
	for i := 0; i < 20; i++ {
		require.NoError(t, c.propose(l, []byte{byte(i)}))
	}
	c.deliverAll(20)
	n4 := c.node(3)
	c.isolate(n4.id)
	_, _, err := l.core.ProposeConfChange(ConfChange{Type: ConfAddVoter, Node: n4.id})
	require.NoError(t, err)
	c.deliverAll(20)
	cs := l.core.conf()
	require.Equal(t, []NodeID{"n4"}, cs.Learners, "joins as a learner")
	require.Equal(t, []NodeID{"n4"}, cs.Promote)
	// While it cannot catch up, commits go on without it.
	require.NoError(t, c.propose(l, []byte("more")))
	c.deliverAll(20)
	require.Equal(t, l.core.log.lastIndex(), l.core.log.committed)

	c.heal()
	for i := 0; i < 5 && !slices.Contains(l.core.conf().Voters, n4.id); i++ {
		c.tickAll()
		c.deliverAll(20)
	}
	require.Equal(t, []NodeID{"n1", "n2", "n3", "n4"}, l.core.conf().Voters, "promoted once caught up")
	require.Empty(t, l.core.conf().Promote)
	require.True(t, n4.core.isVoter())
	c.stabilize(200)
}

// TestJointConsensus checks thesis §4.3: replacing two of three voters at
// once goes through a joint configuration whose decisions need a majority
// of the old voters and of the new ones, and the leader then moves the
// cluster on to the new configuration by itself.
func TestJointConsensus(t *testing.T) {
	c := newCluster(t, 5, func(cfg *Config) {
		cfg.Voters = []NodeID{"n1", "n2", "n3"}
		if cfg.ID == "n4" || cfg.ID == "n5" {
			cfg.Voters, cfg.Join = nil, true
		}
	})
	l := c.electLeader(0)
	c.isolate("n4")
	c.isolate("n5")
	idx, _, err := l.core.ProposeConfChanges(
		ConfChange{Type: ConfRemove, Node: "n2"}, ConfChange{Type: ConfRemove, Node: "n3"},
		ConfChange{Type: ConfAddVoter, Node: "n4"}, ConfChange{Type: ConfAddVoter, Node: "n5"})
	require.NoError(t, err)
	joint := l.core.conf()
	require.Equal(t, []NodeID{"n1", "n4", "n5"}, joint.Voters)
	require.Equal(t, []NodeID{"n1", "n2", "n3"}, joint.VotersOutgoing)
	_, _, err = l.core.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n2"})
	require.ErrorIs(t, err, ErrConfChangePending)

	// The old majority alone cannot commit the joint entry.
	c.deliverAll(20)
	require.Less(t, l.core.log.committed, idx)

	c.heal()
	for i := 0; i < 10 && (len(l.core.conf().VotersOutgoing) > 0 || l.core.pendingConfIndex() > l.core.log.committed); i++ {
		c.tickAll()
		c.deliverAll(20)
	}
	final := l.core.conf()
	require.Equal(t, []NodeID{"n1", "n4", "n5"}, final.Voters)
	require.Empty(t, final.VotersOutgoing)
	require.Equal(t, StateLeader, l.core.state)

	// The new majority alone now decides: n2 and n3 are gone.
	c.isolate("n2")
	c.isolate("n3")
	require.NoError(t, c.propose(l, []byte("after")))
	c.deliverAll(20)
	require.Equal(t, l.core.log.lastIndex(), l.core.log.committed)
	c.heal()
	c.checkInvariants()
}

// TestRestartAfterCompactedConfChange is the regression test for a safety
// bug the generated histories found (seeded run 920): a node whose log had
// compacted away a membership change restarted with the bootstrap
// membership instead of the snapshot's, so it counted a removed voter and
// helped elect a second leader over committed entries.
func TestRestartAfterCompactedConfChange(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.electLeader(0)
	_, _, err := l.core.ProposeConfChange(ConfChange{Type: ConfRemove, Node: "n3"})
	require.NoError(t, err)
	c.deliverAll(20)
	require.NoError(t, c.propose(l, []byte("x")))
	c.deliverAll(20)
	c.tickAll()
	c.deliverAll(20)
	f := c.node(1)
	c.snapshot(f, 0)
	first, _ := f.store.FirstIndex()
	require.Greater(t, first, uint64(2), "the conf change was compacted away")
	c.crash(f)
	c.restart(f)
	require.Equal(t, ConfState{Voters: []NodeID{"n1", "n2"}}, f.core.conf())
	c.stabilize(200)
}

// TestLeaseEndsOnTransfer checks that a leadership transfer ends the
// leader's read lease at once (thesis §6.4.1): the target campaigns with
// votes that bypass leader stickiness, so a new leader may commit writes
// before the lease would have run out. The broken variant that keeps the
// lease serves a stale read here and is caught.
func TestLeaseEndsOnTransfer(t *testing.T) {
	play := func(t tb, mut mutation) {
		c := newClusterMut(t, 3, func(cfg *Config) { cfg.LeaseReads = true }, mut)
		x := c.electLeader(0)
		x.core.Tick()
		c.deliverAll(20)
		if !x.core.leaseValid() {
			t.Fatalf("no lease to begin with")
		}
		y := c.node(1)
		if err := x.core.TransferLeadership(y.id); err != nil {
			t.Fatalf("transfer: %v", err)
		}
		c.cycle(x)
		// Only the TimeoutNow leaves x; then x is cut off.
		c.deliverWhere(5, func(m Message) bool { return m.Type == MsgTimeoutNow })
		c.isolate(x.id)
		c.deliverAll(20)
		if y.core.state != StateLeader {
			t.Fatalf("the target did not take over")
		}
		if err := c.propose(y, []byte("w")); err != nil {
			t.Fatalf("propose: %v", err)
		}
		c.deliverAll(20)
		c.read(x)
		c.cycle(x)
	}
	play(t, mutNone)
	f := &failTB{}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopHistory); !ok {
					panic(r)
				}
			}
		}()
		play(f, mutLeaseIgnoresTransfer)
	}()
	require.Contains(t, f.msg, "stale read")
}

package raft

// This file holds linearizable reads by ReadIndex (thesis §6.4): the leader
// notes its commit index, confirms with one heartbeat round to a quorum that
// it still leads, and then any node may serve the read once it has applied
// up to that index. Reads that arrive together share one heartbeat round.

// ReadState is a read the caller may serve once its state machine has
// applied Index: every write acknowledged before the read began is at or
// below it.
type ReadState struct {
	// Ref is the caller's reference given to ReadIndex.
	Ref uint64
	// Index is the commit index the read must wait for.
	Index uint64
}

type pendingRead struct {
	ref   uint64
	index uint64
	// round is the heartbeat round that must reach a quorum; zero until
	// one is assigned.
	round uint64
	// from is the follower that forwarded the read, or None for a local
	// one.
	from NodeID
}

// ReadIndex asks for a linearizable read identified by ref. On the leader,
// and on a follower that forwards it to a known leader, the answer comes as
// a ReadState with the same Ref in a later batch. It fails with a
// NotLeaderError when no leader is known. A forwarded request or its answer
// may be lost with a message; the caller retries after a timeout.
func (c *Core) ReadIndex(ref uint64) error { return c.readIndex(ref, true) }

// readIndex is ReadIndex, serving from the lease only if lease is set (and
// Config.LeaseReads is on): the runtime's ReadIndex always confirms with a
// heartbeat round, its LeaseRead may use the lease.
func (c *Core) readIndex(ref uint64, lease bool) error {
	if c.err != nil {
		return c.err
	}
	switch {
	case lease && c.state == StateLeader && c.leaseValid():
		c.readStates = append(c.readStates, ReadState{Ref: ref, Index: c.log.committed})
	case c.state == StateLeader:
		c.addRead(ref, None)
	case c.lead != None:
		c.send(Message{Type: MsgReadIndex, To: c.lead, Term: c.term, Context: ref})
	default:
		return &NotLeaderError{Leader: None}
	}
	return nil
}

// committedInTerm reports whether the leader has committed an entry of its
// own term: until then its commit index may lag the true one (§6.4 step 1).
func (c *Core) committedInTerm() bool {
	t, ok := c.log.term(c.log.committed)
	return ok && t == c.term
}

func (c *Core) addRead(ref uint64, from NodeID) {
	c.reads = append(c.reads, pendingRead{ref: ref, from: from})
	c.readNeedRound = true
}

// startReadRound gives every read without a round the leader's commit index
// and a new heartbeat round, and broadcasts that round once. It runs when a
// batch is made, so reads that arrived together share one round.
func (c *Core) startReadRound() {
	if !c.readNeedRound || c.state != StateLeader || !c.committedInTerm() {
		return
	}
	c.readNeedRound = false
	c.readRound++
	if c.cfg.LeaseReads {
		c.noteRoundSent()
	}
	for i := range c.reads {
		if c.reads[i].round == 0 {
			c.reads[i].round = c.readRound
			c.reads[i].index = c.log.committed
		}
	}
	if c.self >= 0 {
		c.prs[c.self].readAck = c.readRound
	}
	c.bcastHeartbeat()
	c.releaseReads()
}

// releaseReads answers the reads whose round a quorum has confirmed.
func (c *Core) releaseReads() {
	if len(c.reads) == 0 || !c.hasVoters() {
		return
	}
	confirmed := c.confirmedRound()
	if c.mutation == mutReadWithoutQuorum {
		confirmed = c.readRound
	}
	n := 0
	for n < len(c.reads) && c.reads[n].round != 0 && c.reads[n].round <= confirmed {
		r := c.reads[n]
		if r.from == None {
			c.readStates = append(c.readStates, ReadState{Ref: r.ref, Index: r.index})
		} else {
			c.send(Message{Type: MsgReadIndexResp, To: r.from, Term: c.term, Context: r.ref, Index: r.index})
		}
		n++
	}
	c.reads = c.reads[n:]
	if len(c.reads) == 0 {
		c.reads = nil
	}
}

// dropReads forgets pending reads when leadership ends: they can no longer
// be confirmed, and callers retry after their timeout.
func (c *Core) dropReads() {
	c.reads = nil
	c.readNeedRound = false
	for i := range c.prs {
		c.prs[i].readAck = 0
	}
}

// roundSent records when a heartbeat round went out.
type roundSent struct {
	round, tick uint64
}

func (c *Core) noteRoundSent() {
	if c.self >= 0 {
		c.prs[c.self].readAck = c.readRound
	}
	// Rounds older than an election timeout cannot hold a lease: keep
	// about that many.
	if n := len(c.roundSent); n > 0 && n >= 2*c.cfg.ElectionTicks+2 {
		copy(c.roundSent, c.roundSent[1:])
		c.roundSent = c.roundSent[:n-1]
	}
	c.roundSent = append(c.roundSent, roundSent{round: c.readRound, tick: c.leaderTicks})
}

// leaseValid reports whether a lease read may be answered now: lease reads
// are on, no transfer runs, an entry of this term is committed, and a
// quorum confirmed a heartbeat round sent less than ElectionTicks minus
// LeaseDriftTicks ticks ago.
func (c *Core) leaseValid() bool {
	if !c.cfg.LeaseReads || c.state != StateLeader || (c.transfer.active && c.mutation != mutLeaseIgnoresTransfer) ||
		!c.committedInTerm() || !c.hasVoters() {
		return false
	}
	confirmed := c.confirmedRound()
	for i := len(c.roundSent) - 1; i >= 0; i-- {
		r := c.roundSent[i]
		if r.round > confirmed {
			continue
		}
		// The latest recorded round at or below the confirmed one: the
		// quorum heard a heartbeat sent at r.tick or later.
		return c.leaderTicks-r.tick+uint64(c.cfg.LeaseDriftTicks) < uint64(c.cfg.ElectionTicks)
	}
	return false
}

// confirmedRound is the highest read round a quorum of voters confirmed.
func (c *Core) confirmedRound() uint64 { return c.quorumValue(readAckOf) }

func readAckOf(p *progress) uint64 { return p.readAck }

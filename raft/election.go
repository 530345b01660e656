package raft

// This file holds leader election (Raft §5.2), pre-vote (thesis §9.6) and
// check-quorum with leader stickiness (thesis §6.2, §9.6).

func (c *Core) resetTimers() {
	c.electionElapsed = 0
	c.heartbeatElapsed = 0
	c.randomizedTimeout = c.cfg.ElectionTicks + c.rng.intn(c.cfg.ElectionTicks)
}

func (c *Core) reset(term uint64) {
	if term != c.term {
		c.term = term
		c.vote = None
	}
	c.lead = None
	c.resetTimers()
	for i := range c.prs {
		c.prs[i].vote = 0
	}
}

func (c *Core) becomeFollower(term uint64, lead NodeID) {
	if c.state != StateFollower || term != c.term {
		c.logf("became follower", "new-term", term, "lead", string(lead))
	}
	c.dropReads()
	c.reset(term)
	c.state = StateFollower
	c.lead = lead
	c.uncommittedBytes = 0
}

func (c *Core) becomePreCandidate() {
	// The term and vote stay: a pre-candidate promises nothing.
	c.state = StatePreCandidate
	c.lead = None
	c.resetTimers()
	for i := range c.prs {
		c.prs[i].vote = 0
	}
}

func (c *Core) becomeCandidate() {
	c.reset(c.term + 1)
	c.state = StateCandidate
	c.vote = c.id
}

func (c *Core) becomeLeader() {
	c.reset(c.term)
	c.dropReads()
	c.roundSent = c.roundSent[:0]
	c.state = StateLeader
	c.lead = c.id
	c.uncommittedBytes = 0
	last := c.log.lastIndex()
	for i := range c.prs {
		p := &c.prs[i]
		p.match, p.next = 0, last+1
		p.state = probeState
		p.probeSent = false
		p.recentActive = true
		p.infl.reset()
		p.fwdLen, p.fwdPos = 0, 0
	}
	if c.self >= 0 {
		s := &c.prs[c.self]
		s.match = c.log.stableLast()
		s.state = replicateState
	}
	c.logf("became leader")
	// A leader commits entries of earlier terms only by committing one of
	// its own (Raft §5.4.2), so it appends an empty entry at once.
	c.appendLocal([]Entry{{Term: c.term, Index: last + 1}})
	c.bcastAppend()
	// A single-voter cluster may already have a quorum.
	c.maybeCommit()
}

type campaignKind uint8

const (
	// campaignPreElection starts with a pre-vote unless it is disabled.
	campaignPreElection campaignKind = iota
	// campaignElection is a real election, after a won pre-vote.
	campaignElection
	// campaignTransfer is a real election on the leader's request, whose
	// votes bypass leader stickiness.
	campaignTransfer
)

// campaign starts a pre-vote or a real election.
func (c *Core) campaign(kind campaignKind) {
	if !c.canCampaign() {
		return
	}
	pre := !c.cfg.DisablePreVote && kind == campaignPreElection
	var voteType MsgType
	var term uint64
	if pre {
		c.becomePreCandidate()
		voteType, term = MsgPreVote, c.term+1
	} else {
		c.becomeCandidate()
		voteType, term = MsgVote, c.term
	}
	if c.self >= 0 {
		// Counted only if this node is a voter (tallyVotes checks).
		c.prs[c.self].vote = 1
	}
	if c.tallyVotes(pre, kind) {
		return
	}
	lastIndex, lastTerm := c.log.lastIndex(), c.log.lastTerm()
	for i := range c.prs {
		p := &c.prs[i]
		if !p.votes() || i == c.self {
			continue
		}
		c.send(Message{Type: voteType, To: p.id, Term: term, Index: lastIndex, LogTerm: lastTerm, Force: kind == campaignTransfer})
	}
}

// tallyVotes acts on the votes received so far and reports whether the
// election is decided.
func (c *Core) tallyVotes(pre bool, kind campaignKind) bool {
	result := c.tally(func(p *progress) int8 { return p.vote })
	switch {
	case result > 0:
		if pre {
			c.campaign(campaignElection)
		} else {
			c.becomeLeader()
		}
		return true
	case result < 0:
		c.becomeFollower(c.term, None)
		return true
	}
	return false
}

// handleVoteRequest answers a MsgVote or MsgPreVote whose term is at least
// ours (stepTerm filtered the rest).
func (c *Core) handleVoteRequest(m *Message) {
	pre := m.Type == MsgPreVote
	// We may vote for a candidate we already voted for, or if we have not
	// voted and know no leader this term, or for a pre-vote of a later term.
	canVote := c.vote == m.From ||
		(c.vote == None && c.lead == None) ||
		(pre && m.Term > c.term) ||
		c.mutation == mutDoubleVote
	upToDate := c.log.isUpToDate(m.Index, m.LogTerm) || c.mutation == mutSkipUpToDate
	if pre && c.state == StatePreCandidate && m.Term == c.term+1 && m.From > c.id &&
		m.Index == c.log.lastIndex() && m.LogTerm == c.log.lastTerm() {
		// Two pre-candidates with equal logs for the same term would both
		// win their pre-votes, campaign together and split the vote, costing
		// another election timeout. Break the tie by ID: only the lower one
		// gets this node's pre-vote. Pre-votes change no state, so this is
		// a liveness choice; the lower one campaigns, or fails and leaves
		// the field.
		canVote = false
	}
	respType := MsgVoteResp
	if pre {
		respType = MsgPreVoteResp
	}
	if canVote && upToDate {
		// A granted pre-vote answers with the term asked about, so the
		// pre-candidate does not mistake it for news of a later term.
		c.send(Message{Type: respType, To: m.From, Term: m.Term})
		if !pre {
			c.electionElapsed = 0
			c.vote = m.From
		}
		return
	}
	c.send(Message{Type: respType, To: m.From, Term: c.term, Reject: true})
}

func (c *Core) stepCandidate(m *Message) {
	switch m.Type {
	case MsgApp:
		c.becomeFollower(m.Term, m.From)
		c.handleAppend(m)
	case MsgHeartbeat, MsgSnap:
		c.becomeFollower(m.Term, m.From)
		c.stepFollower(m)
	case MsgProp:
		c.refuseProp(m)
	case MsgVoteResp, MsgPreVoteResp:
		pre := c.state == StatePreCandidate
		if pre != (m.Type == MsgPreVoteResp) {
			return
		}
		p := c.peer(m.From)
		if p == nil || !p.votes() || p.vote != 0 {
			return
		}
		if m.Reject {
			p.vote = -1
		} else {
			p.vote = 1
		}
		c.tallyVotes(pre, campaignElection)
	}
}

func (c *Core) tickLeader() {
	c.leaderTicks++
	c.heartbeatElapsed++
	c.electionElapsed++
	if c.electionElapsed >= c.cfg.ElectionTicks {
		c.electionElapsed = 0
		if !c.cfg.DisableCheckQuorum && !c.checkQuorum() {
			c.logf("stepping down: no quorum heard within the election timeout")
			c.becomeFollower(c.term, None)
			return
		}
	}
	if c.heartbeatElapsed >= c.cfg.HeartbeatTicks {
		c.heartbeatElapsed = 0
		c.bcastHeartbeat()
		c.maybeLeaveJoint()
		c.maybePromote()
	}
}

// checkQuorum reports whether a quorum of voters was heard from since the
// last call, and starts a new round.
func (c *Core) checkQuorum() bool {
	self := c.self
	ok := c.tally(func(p *progress) int8 {
		if p.recentActive || (self >= 0 && p == &c.prs[self]) {
			return 1
		}
		return 0
	}) > 0
	for i := range c.prs {
		c.prs[i].recentActive = false
	}
	return ok
}

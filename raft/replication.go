package raft

// This file holds log replication (Raft §5.3), its flow control and the
// commit rule (§5.4.2, Figure 8).

// bcastAppend sends pending entries to every follower that can take them.
func (c *Core) bcastAppend() {
	for i := range c.prs {
		if i != c.self {
			c.sendAppend(&c.prs[i], false)
		}
	}
}

// bcastCommit tells every follower the new commit index, with entries if
// any are pending for it.
func (c *Core) bcastCommit() {
	for i := range c.prs {
		if i != c.self {
			c.sendAppend(&c.prs[i], true)
		}
	}
}

func (c *Core) bcastHeartbeat() {
	if c.cfg.LeaseReads {
		// Each heartbeat opens a round, so the lease can start at the send
		// time of the latest round a quorum confirmed.
		c.readRound++
		c.noteRoundSent()
	}
	for i := range c.prs {
		if i == c.self {
			continue
		}
		p := &c.prs[i]
		// The follower may not hold entries beyond match yet, so it only
		// learns a commit index it can apply to its log as it is.
		// Every heartbeat carries the latest read round: it was sent after
		// that round began, so its answer confirms the round's reads.
		c.send(Message{Type: MsgHeartbeat, To: p.id, Term: c.term, Commit: min(p.match, c.log.committed), Context: c.readRound})
	}
}

// sendAppend sends the follower an append from p.next if flow control
// allows, with entries if there are any, or empty if sendIfEmpty. It reports
// whether it sent.
func (c *Core) sendAppend(p *progress, sendIfEmpty bool) bool {
	if p.paused(c.cfg.MaxInflightMsgs, c.cfg.MaxInflightBytes) {
		return false
	}
	prevIndex := p.next - 1
	prevTerm, ok := c.log.term(prevIndex)
	if !ok && p.next > c.log.lastIndex()+1 {
		// Beyond our log after a stale acknowledgement: start over from
		// what is known to match.
		p.becomeProbe()
		prevIndex = p.next - 1
		prevTerm, ok = c.log.term(prevIndex)
	}
	if !ok || p.next < c.log.firstIndex() {
		// The follower needs entries we compacted: send the snapshot.
		return c.sendSnapshot(p)
	}
	last := c.log.lastIndex()
	var ents []Entry
	if p.next <= last {
		hi := min(last+1, p.next+uint64(c.cfg.MaxMsgEntries))
		var err error
		ents, err = c.log.entries(p.next, hi, c.cfg.MaxMsgBytes)
		if err != nil {
			if !errUnavailableOrCompacted(err) {
				c.fail(err)
			}
			return false
		}
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	if n := len(ents); n > 0 {
		switch p.state {
		case replicateState:
			size := uint64(0)
			for i := range ents {
				size += uint64(len(ents[i].Data))
			}
			lastSent := ents[n-1].Index
			p.next = lastSent + 1
			p.infl.add(lastSent, size, c.cfg.MaxInflightMsgs)
		case probeState:
			p.probeSent = true
		}
	} else if p.state == probeState {
		p.probeSent = true
	}
	if c.mergeAppend(p.id, prevIndex, prevTerm, ents) {
		return true
	}
	c.send(Message{Type: MsgApp, To: p.id, Term: c.term, Index: prevIndex, LogTerm: prevTerm,
		Commit: c.log.committed, Entries: ents})
	return true
}

// mergeAppend folds an append into the last one queued for the same
// follower in the current batch, when that says the same thing or less: an
// empty append (news of the commit index) after an append ending where it
// starts only refreshes that one's commit index, and an append after an
// empty one at the same position replaces it. Under load this saves a
// message and its answer per follower and batch. It reports whether it
// merged.
func (c *Core) mergeAppend(to NodeID, prevIndex, prevTerm uint64, ents []Entry) bool {
	if c.state != StateLeader || c.durableTerm != c.term {
		return false // the message goes to msgsAfter; keep it simple
	}
	for i := len(c.msgs) - 1; i >= 0; i-- {
		m := &c.msgs[i]
		if m.To != to {
			continue
		}
		if m.Type != MsgApp || m.Term != c.term {
			return false
		}
		switch {
		case len(ents) == 0 && m.Index+uint64(len(m.Entries)) == prevIndex:
			m.Commit = c.log.committed
			return true
		case len(m.Entries) == 0 && m.Index == prevIndex && m.LogTerm == prevTerm:
			m.Entries = ents
			m.Commit = c.log.committed
			return true
		}
		return false
	}
	return false
}

func (c *Core) stepLeader(m *Message) {
	switch m.Type {
	case MsgProp:
		c.handleForwardedProp(m)
		return
	case MsgReadIndex:
		c.addRead(m.Context, m.From)
		return
	}
	p := c.peer(m.From)
	if p == nil {
		return
	}
	switch m.Type {
	case MsgAppResp:
		p.recentActive = true
		c.handleAppResp(p, m)
		c.maybeSendTimeoutNow(p)
		// Last: a promotion or leaving a joint configuration rebuilds the
		// member list p points into.
		c.maybeLeaveJoint()
		if !p.votes() {
			c.maybePromote()
		}
	case MsgSnapResp:
		p.recentActive = true
		c.handleSnapResp(p, m)
	case MsgHeartbeatResp:
		p.recentActive = true
		if p.state == snapshotState {
			// Resume a transfer whose chunk or answer was lost.
			c.sendSnapshot(p)
		}
		if m.Context > p.readAck {
			p.readAck = m.Context
			c.releaseReads()
		}
		p.probeSent = false
		if p.state == replicateState && p.paused(c.cfg.MaxInflightMsgs, c.cfg.MaxInflightBytes) {
			// An append or its answer may have been lost: free one slot so
			// the window cannot stay shut forever.
			p.infl.freeFirst()
		}
		if p.match < c.log.lastIndex() {
			c.sendAppend(p, true)
		}
	}
}

func (c *Core) handleAppResp(p *progress, m *Message) {
	if m.Reject {
		// The follower's hint says where its log may match: skip a whole
		// divergent term per round trip instead of one entry.
		next := m.RejectHint
		if m.LogTerm > 0 {
			next, _ = c.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if p.maybeDecrTo(m.Index, next) {
			if p.state == replicateState {
				p.becomeProbe()
			}
			c.sendAppend(p, true)
		}
		return
	}
	if !p.maybeUpdate(m.Index) {
		return
	}
	switch p.state {
	case probeState:
		p.becomeReplicate()
	case replicateState:
		p.infl.freeLE(m.Index)
	case snapshotState:
		if p.match >= p.snapIndex {
			// Installed: resume ordinary replication after it.
			p.becomeProbe()
		}
	}
	if c.maybeCommit() {
		c.bcastCommit()
	}
	// Fill the window the acknowledgement reopened.
	for c.sendAppend(p, false) {
	}
}

// maybeCommit advances the commit index to the highest index replicated on a
// quorum of voters, if that entry is of the current term.
func (c *Core) maybeCommit() bool {
	if !c.hasVoters() {
		return false
	}
	idx := c.quorumValue(matchOf)
	if idx <= c.log.committed {
		return false
	}
	// Figure 8: counting replicas commits only entries of the current term;
	// earlier entries commit with them.
	if t, ok := c.log.term(idx); !ok || (t != c.term && c.mutation != mutCommitOldTerm) {
		return false
	}
	old := c.log.committed
	c.log.commitTo(idx)
	c.releaseUncommitted(old, c.log.committed)
	c.maybeStepDownRemoved()
	return true
}

// releaseUncommitted subtracts the payload of entries (from, to] from the
// uncommitted budget.
func (c *Core) releaseUncommitted(from, to uint64) {
	if c.uncommittedBytes == 0 {
		return
	}
	for lo := from + 1; lo <= to; {
		ents, err := c.log.entries(lo, to+1, ^uint64(0))
		if err != nil || len(ents) == 0 {
			c.uncommittedBytes = 0
			return
		}
		for i := range ents {
			n := uint64(len(ents[i].Data))
			if n >= c.uncommittedBytes {
				c.uncommittedBytes = 0
				return
			}
			c.uncommittedBytes -= n
		}
		lo = ents[len(ents)-1].Index + 1
	}
}

// handleAppend is a follower's answer to MsgApp.
func (c *Core) handleAppend(m *Message) {
	if n := len(m.Entries); n > 0 && (m.Entries[0].Index != m.Index+1 || m.Entries[n-1].Index != m.Index+uint64(n)) {
		// Not contiguous after Index: a broken sender. Ignore it.
		return
	}
	if m.Index < c.log.committed {
		// Everything up to our commit index matches the leader already.
		c.send(Message{Type: MsgAppResp, To: m.From, Term: c.term, Index: c.log.committed})
		return
	}
	last, ok, appended, err := c.log.maybeAppend(m.Index, m.LogTerm, m.Entries)
	if err != nil {
		c.fail(err)
		return
	}
	if len(appended) > 0 {
		// Conf changes take effect on append; replaced ones are undone.
		c.truncateConf(appended[0].Index)
		c.scanConf(appended)
	}
	if ok {
		c.log.commitTo(min(m.Commit, last))
		c.send(Message{Type: MsgAppResp, To: m.From, Term: c.term, Index: last})
		return
	}
	hintIndex, hintTerm := c.log.findConflictByTerm(m.Index, m.LogTerm)
	c.send(Message{Type: MsgAppResp, To: m.From, Term: c.term, Index: m.Index, Reject: true,
		RejectHint: hintIndex, LogTerm: hintTerm})
}

func matchOf(p *progress) uint64 { return p.match }

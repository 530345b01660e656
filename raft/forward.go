package raft

// This file holds proposal forwarding: a follower sends a proposal to the
// leader, which appends it and answers with where it landed, or why not.
// Unlike a silent drop, every forwarded proposal that reaches a leader is
// answered.

// ProposalResult is the outcome of ProposeRef.
type ProposalResult struct {
	// Ref is the caller's reference given to ProposeRef.
	Ref uint64
	// Index and Term locate the first entry of the proposal when Err is
	// nil. The entries are committed when a batch's Apply holds Index with
	// Term; a different term there means they were lost.
	Index, Term uint64
	// Err is a *NotLeaderError, ErrProposalDropped or
	// ErrTransferInProgress when the leader refused.
	Err error
}

// ProposeRef proposes data under the caller's reference ref. On the leader
// it appends at once; on a follower it forwards the proposal to the leader
// it knows. Either way the outcome arrives as a ProposalResult with the same
// Ref in a later batch. It fails at once with a NotLeaderError when no
// leader is known. A forwarded proposal or its answer may be lost with a
// message: callers time out and retry, so the state machine should drop
// repeated requests (thesis §6.3). The leader appends a duplicate of a
// forwarded proposal only once while it remembers the reference (the last
// 64 appended per follower in its term), and answers every copy with where
// the first landed, so a follower that lost the answer may forward the same
// proposal again under the same reference and learn it.
func (c *Core) ProposeRef(ref uint64, data ...[]byte) error {
	if c.err != nil {
		return c.err
	}
	if c.state == StateLeader {
		index, term, err := c.Propose(data...)
		c.proposals = append(c.proposals, ProposalResult{Ref: ref, Index: index, Term: term, Err: err})
		return nil
	}
	if c.lead == None {
		return &NotLeaderError{Leader: None}
	}
	ents := make([]Entry, len(data))
	for i, d := range data {
		ents[i].Data = d
	}
	c.send(Message{Type: MsgProp, To: c.lead, Term: c.term, Context: ref, Entries: ents})
	return nil
}

// handleForwardedProp is the leader's answer to MsgProp.
func (c *Core) handleForwardedProp(m *Message) {
	p := c.peer(m.From)
	resp := Message{Type: MsgPropResp, To: m.From, Term: c.term, Context: m.Context}
	if p != nil {
		if rec, ok := p.findForward(m.Context); ok {
			// A duplicate (from the network, or the follower asking again
			// after losing the answer): the first copy was appended, so
			// answer again with where it landed.
			resp.Index, resp.LogTerm = rec.index, rec.term
			c.send(resp)
			return
		}
	}
	data := make([][]byte, len(m.Entries))
	for i := range m.Entries {
		data[i] = m.Entries[i].Data
	}
	index, term, err := c.Propose(data...)
	switch {
	case err == nil:
		resp.Index, resp.LogTerm = index, term
		if p != nil {
			p.recordForward(m.Context, index, term)
		}
	case err == ErrProposalDropped:
		resp.Reject, resp.RejectHint = true, propRejectDropped
	case err == ErrTransferInProgress:
		resp.Reject, resp.RejectHint = true, propRejectTransfer
	default:
		resp.Reject, resp.RejectHint = true, propRejectNotLeader
	}
	c.send(resp)
}

// refuseProp answers a MsgProp that reached a node that does not lead.
func (c *Core) refuseProp(m *Message) {
	c.send(Message{Type: MsgPropResp, To: m.From, Term: c.term, Context: m.Context, Reject: true, RejectHint: propRejectNotLeader})
}

// handlePropResp records the leader's answer to a forwarded proposal.
func (c *Core) handlePropResp(m *Message) {
	r := ProposalResult{Ref: m.Context, Index: m.Index, Term: m.LogTerm}
	if m.Reject {
		switch m.RejectHint {
		case propRejectDropped:
			r.Err = ErrProposalDropped
		case propRejectTransfer:
			r.Err = ErrTransferInProgress
		default:
			r.Err = &NotLeaderError{Leader: c.lead}
		}
		r.Index, r.Term = 0, 0
	}
	c.proposals = append(c.proposals, r)
}

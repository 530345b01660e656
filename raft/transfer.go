package raft

// This file holds leadership transfer (thesis §3.10): the leader stops
// taking proposals, brings the target's log up to date, and tells it to
// campaign at once with a vote that voters grant despite leader stickiness.
// The caller learns the outcome within one election timeout.

// TransferResult is the outcome of TransferLeadership.
type TransferResult struct {
	// To is the target.
	To NodeID
	// Err is nil when To became leader, ErrTransferTimeout when nothing
	// happened within one election timeout, and ErrTransferLost when
	// another node became leader.
	Err error
}

type transferState struct {
	active  bool
	to      NodeID
	term    uint64 // the term the transfer started in
	elapsed int
	sent    bool // MsgTimeoutNow sent
}

// TransferLeadership starts handing leadership to the voter to. The outcome
// arrives as a TransferResult in a later batch, at most one election timeout
// (Config.ElectionTicks ticks) later. While the transfer runs, Propose fails
// with ErrTransferInProgress. Calling it again for the same target is a
// no-op; for another target it fails with ErrTransferInProgress.
func (c *Core) TransferLeadership(to NodeID) error {
	if c.err != nil {
		return c.err
	}
	if c.state != StateLeader {
		return &NotLeaderError{Leader: c.lead}
	}
	if c.transfer.active {
		if c.transfer.to == to {
			return nil
		}
		return ErrTransferInProgress
	}
	p := c.peer(to)
	if p == nil || !p.voter || to == c.id {
		return ErrInvalidTransfer
	}
	c.transfer = transferState{active: true, to: to, term: c.term}
	c.maybeSendTimeoutNow(p)
	if !c.transfer.sent {
		c.sendAppend(p, true)
	}
	return nil
}

// maybeSendTimeoutNow tells the target to campaign once its log is up to
// date; until then ordinary replication brings it there.
func (c *Core) maybeSendTimeoutNow(p *progress) {
	if !c.transfer.active || c.transfer.sent || c.state != StateLeader || p.id != c.transfer.to {
		return
	}
	if p.match == c.log.lastIndex() {
		c.transfer.sent = true
		c.send(Message{Type: MsgTimeoutNow, To: p.id, Term: c.term})
	}
}

// checkTransfer finishes a transfer whose outcome is known.
func (c *Core) checkTransfer() {
	t := &c.transfer
	if !t.active {
		return
	}
	switch {
	case c.term > t.term && c.lead == t.to:
		c.finishTransfer(nil)
	case c.term > t.term && c.lead != None:
		c.finishTransfer(ErrTransferLost)
	case t.elapsed >= c.cfg.ElectionTicks:
		c.finishTransfer(ErrTransferTimeout)
	}
}

func (c *Core) finishTransfer(err error) {
	r := TransferResult{To: c.transfer.to, Err: err}
	c.transferResult = &r
	c.transfer = transferState{}
}

package raft

import "fmt"

// Persist is what a batch asks the caller to make durable, in this order:
// the entries (replacing any stored entries from the first one's index on),
// then the ConfState if not nil, then the HardState if not empty.
type Persist struct {
	HardState HardState
	Entries   []Entry
	ConfState *ConfState
	// Snapshot, if not nil, replaces the whole log (persist it first) and
	// the state machine: restore from it in the Apply step, before Apply.
	Snapshot *Snapshot
}

// IsEmpty reports whether there is nothing to persist.
func (p Persist) IsEmpty() bool {
	return p.HardState.IsEmpty() && len(p.Entries) == 0 && p.ConfState == nil && p.Snapshot == nil
}

// Ready is one output batch of a Core. Use it in three ordered steps, then
// hand it back with Advance:
//
//  1. Persist: write rd.Persist durably (for example MemoryStorage.Save,
//     or a WAL append plus fsync). rd.Messages may be sent at any time,
//     even before or while persisting: they depend on nothing unpersisted.
//     This is what lets a leader write its log in parallel with
//     replicating it.
//  2. Send: once the Persist step is durable, call rd.Persisted() and send
//     the messages it returns. They are votes and acknowledgements that
//     promise the persisted state; sending one earlier can lose data.
//  3. Apply: apply rd.Apply to the state machine, in order.
//
// Then call Core.Advance(rd). The core may be stepped, ticked and given
// proposals between Ready and Advance (the persist step may run on another
// goroutine meanwhile), but Ready returns nil until Advance. A Ready and its
// slices are valid until Advance and must not be modified.
type Ready struct {
	// Persist is what to make durable in step 1.
	Persist Persist
	// Messages may be sent at once.
	Messages []Message
	// Apply holds committed entries to apply in step 3.
	Apply []Entry
	// ReadStates are confirmed reads: serve each once the state machine
	// has applied its Index.
	ReadStates []ReadState
	// Proposals are the outcomes of ProposeRef calls.
	Proposals []ProposalResult
	// Transfer is the outcome of a leadership transfer, or nil.
	Transfer *TransferResult
	// SnapshotDue, when not zero, asks the caller to snapshot its state
	// machine at this applied index (after step 3) and to compact the log
	// up to it: Config.SnapshotEntries entries were applied since the last
	// snapshot. It is a request, asked once per threshold crossed.
	SnapshotDue uint64
	// State is the core's state when the batch was made, for callers that
	// track leadership.
	State StateType
	// Lead is the leader known when the batch was made.
	Lead NodeID

	afterPersist []Message
	taken        bool
	lastIndex    uint64
	lastTerm     uint64
	applyTo      uint64
	hardTerm     uint64
}

// Persisted records that the Persist step is durable and returns the
// messages that had to wait for it. Call it once per batch, even if Persist
// is empty, and send what it returns.
func (rd *Ready) Persisted() []Message {
	rd.taken = true
	return rd.afterPersist
}

// IsEmpty reports whether the batch holds nothing to do.
func (rd *Ready) IsEmpty() bool {
	return rd.Persist.IsEmpty() && len(rd.Messages) == 0 && len(rd.Apply) == 0 && len(rd.afterPersist) == 0 &&
		len(rd.ReadStates) == 0 && len(rd.Proposals) == 0 && rd.Transfer == nil
}

// HasReady reports whether Ready would return a batch.
func (c *Core) HasReady() bool {
	if c.outstanding || c.err != nil {
		return false
	}
	return c.hardState() != c.durable || c.pendingConf != nil || len(c.log.unstable) > 0 || c.log.snap != nil ||
		len(c.msgs) > 0 || len(c.msgsAfter) > 0 || c.log.applying < min(c.log.committed, c.log.lastIndex()) ||
		len(c.readStates) > 0 || len(c.proposals) > 0 || c.transferResult != nil ||
		(c.readNeedRound && c.state == StateLeader && c.committedInTerm())
}

func (c *Core) hardState() HardState {
	return HardState{Term: c.term, Vote: c.vote, Commit: c.log.committed}
}

// Ready returns the next output batch, or nil if there is nothing to do or
// the previous batch has not been handed back with Advance.
func (c *Core) Ready() *Ready {
	if !c.HasReady() {
		return nil
	}
	c.startReadRound()
	rd := &c.rd
	*rd = Ready{Messages: rd.Messages[:0], afterPersist: rd.afterPersist[:0], State: c.state, Lead: c.lead,
		ReadStates: rd.ReadStates[:0], Proposals: rd.Proposals[:0]}
	if hs := c.hardState(); hs != c.durable {
		rd.Persist.HardState = hs
		c.durable = hs
	}
	rd.hardTerm = c.durable.Term
	rd.Persist.ConfState, c.pendingConf = c.pendingConf, nil
	if c.log.snap != nil {
		rd.Persist.Snapshot = c.log.snap
	}
	if n := len(c.log.unstable); n > 0 {
		rd.Persist.Entries = c.log.unstable[:n:n]
		rd.lastIndex, rd.lastTerm = c.log.unstable[n-1].Index, c.log.unstable[n-1].Term
	}
	// Committed entries are applied after this batch's entries are durable,
	// so they may come from the unstable part of the log.
	if hi := min(c.log.committed, c.log.lastIndex()); c.log.applying < hi {
		ents, err := c.log.entries(c.log.applying+1, hi+1, c.cfg.MaxApplyBytes)
		if err != nil {
			c.fail(fmt.Errorf("%w: reading committed entries: %w", ErrStorage, err))
			return nil
		}
		rd.Apply = ents
		if n := len(ents); n > 0 {
			c.log.applying = ents[n-1].Index
		}
	}
	rd.applyTo = c.log.applying
	if rd.applyTo >= c.snapHintFrom+c.cfg.SnapshotEntries {
		rd.SnapshotDue = rd.applyTo
		c.snapHintFrom = rd.applyTo
	}
	// Swap the outboxes with the batch's spent buffers, so steady state
	// allocates nothing.
	rd.Messages, c.msgs = c.msgs, rd.Messages
	rd.afterPersist, c.msgsAfter = c.msgsAfter, rd.afterPersist
	rd.ReadStates, c.readStates = c.readStates, rd.ReadStates
	rd.Proposals, c.proposals = c.proposals, rd.Proposals
	rd.Transfer, c.transferResult = c.transferResult, nil
	c.outstanding = true
	return rd
}

// Advance hands back the batch returned by the last Ready call, after its
// three steps are done. It returns ErrBatchMisuse for any other batch or one
// whose Persisted was not called.
func (c *Core) Advance(rd *Ready) error {
	if !c.outstanding || rd != &c.rd {
		return fmt.Errorf("%w: Advance without an outstanding batch", ErrBatchMisuse)
	}
	if !rd.taken {
		return fmt.Errorf("%w: Advance before Persisted", ErrBatchMisuse)
	}
	c.outstanding = false
	c.durableTerm = rd.hardTerm
	if s := rd.Persist.Snapshot; s != nil {
		if c.log.snap == s {
			c.log.snap = nil
		}
		c.log.applied = max(c.log.applied, s.Meta.Index)
	}
	if rd.lastIndex > 0 {
		c.log.stableTo(rd.lastIndex, rd.lastTerm)
	}
	c.log.applied = max(c.log.applied, rd.applyTo)
	// Drop references to entries so the log's memory can be reclaimed.
	clear(rd.Messages)
	clear(rd.afterPersist)
	clear(rd.Proposals)
	rd.Persist = Persist{}
	rd.Apply = nil
	if c.state == StateLeader && c.self >= 0 {
		// The leader's own durable log counts toward its quorum.
		if c.prs[c.self].maybeUpdate(c.log.stableLast()) && c.maybeCommit() {
			c.bcastCommit()
		}
		c.maybeLeaveJoint()
	}
	return c.err
}

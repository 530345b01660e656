package raft

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// This file holds single-server membership changes (thesis §4.1): a change
// is a log entry that takes effect on every node as soon as it is in the
// node's log, committed or not, so a leader validates a new change against
// the latest configuration including uncommitted ones. A leader accepts a
// change only after committing an entry of its own term and while no other
// change is uncommitted, which keeps any two consecutive configurations'
// majorities overlapping (the fix to the single-server bug Ongaro reported
// in 2015). A leader that removes itself steps down once the change commits.

// ConfChangeType says what a ConfChange does. It goes on the wire: append
// only, do not reorder.
type ConfChangeType uint8

const (
	// ConfAddVoter promotes a learner to voter. A node that is not a member
	// yet joins as a learner first and is promoted by the leader once it
	// has caught up, so a slow new server never holds up commits (thesis
	// §4.2.1).
	ConfAddVoter ConfChangeType = iota + 1
	// ConfAddLearner adds a learner.
	ConfAddLearner
	// ConfRemove removes a voter or learner.
	ConfRemove
	// confEnterJoint and confLeaveJoint mark the entries of a joint
	// change; they are not accepted from callers.
	confEnterJoint
	confLeaveJoint
)

// ConfChange is one single-server membership change.
type ConfChange struct {
	Type ConfChangeType
	Node NodeID
}

// confAt is the configuration in force from a conf change entry on.
type confAt struct {
	index uint64
	cs    ConfState
}

// encodeConfEntry encodes a conf change entry: the change, then the whole
// configuration it leads to, so a node that joins with no configuration
// learns the full membership from the entry that adds it.
func encodeConfEntry(cc ConfChange, cs ConfState) []byte {
	b := []byte{byte(cc.Type)}
	b = binary.AppendUvarint(b, uint64(len(cc.Node)))
	b = append(b, cc.Node...)
	for _, ids := range [4][]NodeID{cs.Voters, cs.Learners, cs.Promote, cs.VotersOutgoing} {
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, uint64(len(id)))
			b = append(b, id...)
		}
	}
	return b
}

func decodeConfEntry(b []byte) (ConfChange, ConfState, error) {
	d := decoder{b: b}
	t := ConfChangeType(d.byte())
	node := NodeID(d.bytes())
	var cs ConfState
	cs.Voters = d.ids()
	cs.Learners = d.ids()
	cs.Promote = d.ids()
	cs.VotersOutgoing = d.ids()
	if d.err != nil {
		return ConfChange{}, ConfState{}, d.err
	}
	if t < ConfAddVoter || t > confLeaveJoint || d.off != len(b) {
		return ConfChange{}, ConfState{}, fmt.Errorf("%w: bad conf change entry", ErrCorrupt)
	}
	return ConfChange{Type: t, Node: node}, cs, nil
}

// apply returns cs changed by cc, or an error if cc does not fit cs.
func (cc ConfChange) apply(cs ConfState) (ConfState, error) { return cc.applyMode(cs, false) }

// applyMode is apply; with direct, ConfAddVoter makes a new node a voter at
// once instead of staging it as a learner (joint changes add voters
// directly: the outgoing majority keeps the cluster available meanwhile).
func (cc ConfChange) applyMode(cs ConfState, direct bool) (ConfState, error) {
	isVoter, isLearner := slices.Contains(cs.Voters, cc.Node), slices.Contains(cs.Learners, cc.Node)
	out := cs.clone()
	switch cc.Type {
	case ConfAddVoter:
		if isVoter {
			return cs, fmt.Errorf("%w: %q is already a voter", ErrInvalidConfChange, string(cc.Node))
		}
		if !isLearner && !direct {
			out.Learners = append(out.Learners, cc.Node)
			out.Promote = append(out.Promote, cc.Node)
			break
		}
		out.Learners = slices.DeleteFunc(out.Learners, func(id NodeID) bool { return id == cc.Node })
		out.Promote = slices.DeleteFunc(out.Promote, func(id NodeID) bool { return id == cc.Node })
		out.Voters = append(out.Voters, cc.Node)
	case ConfAddLearner:
		if isVoter || isLearner {
			return cs, fmt.Errorf("%w: %q is already a member", ErrInvalidConfChange, string(cc.Node))
		}
		out.Learners = append(out.Learners, cc.Node)
	case ConfRemove:
		if !isVoter && !isLearner {
			return cs, fmt.Errorf("%w: %q is not a member", ErrInvalidConfChange, string(cc.Node))
		}
		if isVoter && len(cs.Voters) == 1 {
			return cs, fmt.Errorf("%w: cannot remove the last voter", ErrInvalidConfChange)
		}
		out.Voters = slices.DeleteFunc(out.Voters, func(id NodeID) bool { return id == cc.Node })
		out.Learners = slices.DeleteFunc(out.Learners, func(id NodeID) bool { return id == cc.Node })
		out.Promote = slices.DeleteFunc(out.Promote, func(id NodeID) bool { return id == cc.Node })
	default:
		return cs, fmt.Errorf("%w: unknown change type %d", ErrInvalidConfChange, cc.Type)
	}
	return out, nil
}

// ProposeConfChange proposes a membership change on the leader and returns
// where its entry landed. It takes effect on each node as soon as the entry
// is in its log. It fails with ErrConfChangePending while an earlier change
// is uncommitted or the leader has not yet committed an entry of its term,
// and with ErrInvalidConfChange if the change does not fit the latest
// configuration.
func (c *Core) ProposeConfChange(cc ConfChange) (index, term uint64, err error) {
	if c.err != nil {
		return 0, 0, c.err
	}
	if c.state != StateLeader {
		return 0, 0, &NotLeaderError{Leader: c.lead}
	}
	if c.transfer.active {
		return 0, 0, ErrTransferInProgress
	}
	if (!c.committedInTerm() || c.pendingConfIndex() > c.log.committed || len(c.conf().VotersOutgoing) > 0) && c.mutation != mutConfNoWait {
		return 0, 0, ErrConfChangePending
	}
	if cc.Node == None {
		return 0, 0, fmt.Errorf("%w: empty node", ErrInvalidConfChange)
	}
	cs, err := cc.apply(c.conf())
	if err != nil {
		return 0, 0, err
	}
	index = c.log.lastIndex() + 1
	c.appendLocal([]Entry{{Term: c.term, Index: index, Type: EntryConfChange, Data: encodeConfEntry(cc, cs)}})
	c.bcastAppend()
	return index, c.term, nil
}

// conf is the latest configuration in the log.
func (c *Core) conf() ConfState {
	if n := len(c.confLog); n > 0 {
		return c.confLog[n-1].cs
	}
	return c.baseConf
}

// pendingConfIndex is the index of the latest conf change entry, or 0.
func (c *Core) pendingConfIndex() uint64 {
	if n := len(c.confLog); n > 0 {
		return c.confLog[n-1].index
	}
	return 0
}

// ConfStateAt returns the configuration in force at index i, for example to
// store with a snapshot taken at i. i must be at least the index of the
// latest snapshot.
func (c *Core) ConfStateAt(i uint64) ConfState {
	cs := c.baseConf
	for _, ca := range c.confLog {
		if ca.index > i {
			break
		}
		cs = ca.cs
	}
	return cs.clone()
}

// appendLocal appends entries created here (a leader's) and applies the
// conf changes among them.
func (c *Core) appendLocal(ents []Entry) {
	c.log.append(ents)
	c.scanConf(ents)
}

// truncateConf forgets conf changes at or after index i, which the log
// just replaced.
func (c *Core) truncateConf(i uint64) {
	n := len(c.confLog)
	for n > 0 && c.confLog[n-1].index >= i {
		n--
	}
	if n != len(c.confLog) {
		c.confLog = c.confLog[:n]
		c.setConf(c.conf())
	}
}

// scanConf applies the conf changes among newly appended entries.
func (c *Core) scanConf(ents []Entry) {
	changed := false
	for i := range ents {
		if ents[i].Type != EntryConfChange {
			continue
		}
		_, cs, err := decodeConfEntry(ents[i].Data)
		if err != nil {
			continue
		}
		c.confLog = append(c.confLog, confAt{index: ents[i].Index, cs: cs})
		changed = true
	}
	if changed {
		c.setConf(c.conf())
	}
}

// canCampaign reports whether this node may start an election: it is a
// voter in its latest configuration, or that configuration removed it but
// is not committed yet, so the cluster may still need it to finish the
// change (thesis §4.2.2). Its own vote then does not count.
func (c *Core) canCampaign() bool {
	if c.isVoter() {
		return true
	}
	n := len(c.confLog)
	if n == 0 || c.confLog[n-1].index <= c.log.committed {
		return false
	}
	prev := c.baseConf
	if n > 1 {
		prev = c.confLog[n-2].cs
	}
	return slices.Contains(prev.Voters, c.id) || slices.Contains(prev.VotersOutgoing, c.id)
}

// maybeStepDownRemoved makes a leader that is no longer a voter step down
// once the change that removed it is committed.
func (c *Core) maybeStepDownRemoved() {
	if c.state == StateLeader && !c.isVoter() && c.pendingConfIndex() <= c.log.committed {
		c.logf("stepping down: removed from the configuration")
		c.becomeFollower(c.term, None)
	}
}

// maybePromote proposes promoting a learner marked for promotion once its
// log has caught up with the commit index.
func (c *Core) maybePromote() {
	if c.state != StateLeader || c.transfer.active || !c.committedInTerm() || c.pendingConfIndex() > c.log.committed {
		return
	}
	cs := c.conf()
	for _, id := range cs.Promote {
		if p := c.peer(id); p != nil && !p.votes() && p.match >= c.log.committed {
			if _, _, err := c.ProposeConfChange(ConfChange{Type: ConfAddVoter, Node: id}); err == nil {
				c.logf("promoting caught-up learner", "node", string(id))
			}
			return
		}
	}
}

// ProposeConfChanges proposes several membership changes as one, by joint
// consensus (thesis §4.3): the cluster first moves to a joint
// configuration in which every decision needs a majority of the old voters
// and a majority of the new ones, and once that is committed the leader
// moves it on its own to the new configuration. The preconditions and
// errors are ProposeConfChange's. Changes that leave the voters as they are
// need no joint phase and take effect in one step.
func (c *Core) ProposeConfChanges(ccs ...ConfChange) (index, term uint64, err error) {
	if c.err != nil {
		return 0, 0, c.err
	}
	if c.state != StateLeader {
		return 0, 0, &NotLeaderError{Leader: c.lead}
	}
	if c.transfer.active {
		return 0, 0, ErrTransferInProgress
	}
	cur := c.conf()
	if !c.committedInTerm() || c.pendingConfIndex() > c.log.committed || len(cur.VotersOutgoing) > 0 {
		return 0, 0, ErrConfChangePending
	}
	if len(ccs) == 0 {
		return 0, 0, fmt.Errorf("%w: no changes", ErrInvalidConfChange)
	}
	next := cur
	for _, cc := range ccs {
		if cc.Node == None || cc.Type < ConfAddVoter || cc.Type > ConfRemove {
			return 0, 0, fmt.Errorf("%w: bad change %+v", ErrInvalidConfChange, cc)
		}
		if next, err = cc.applyMode(next, true); err != nil {
			return 0, 0, err
		}
	}
	marker := ConfChange{Type: confEnterJoint}
	if sameSet(cur.Voters, next.Voters) {
		marker.Type = ccs[0].Type
	} else {
		next.VotersOutgoing = append([]NodeID(nil), cur.Voters...)
	}
	index = c.log.lastIndex() + 1
	c.appendLocal([]Entry{{Term: c.term, Index: index, Type: EntryConfChange, Data: encodeConfEntry(marker, next)}})
	c.bcastAppend()
	return index, c.term, nil
}

// maybeLeaveJoint moves a committed joint configuration on to its new
// voter set.
func (c *Core) maybeLeaveJoint() {
	cs := c.conf()
	if c.state != StateLeader || len(cs.VotersOutgoing) == 0 || c.pendingConfIndex() > c.log.committed || c.transfer.active {
		return
	}
	next := cs.clone()
	next.VotersOutgoing = nil
	index := c.log.lastIndex() + 1
	c.logf("leaving joint configuration")
	c.appendLocal([]Entry{{Term: c.term, Index: index, Type: EntryConfChange, Data: encodeConfEntry(ConfChange{Type: confLeaveJoint}, next)}})
	c.bcastAppend()
}

func sameSet(a, b []NodeID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range a {
		if !slices.Contains(b, id) {
			return false
		}
	}
	return true
}

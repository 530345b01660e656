package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/distkit/distkit/transport"
)

// maxPropBatchBytes bounds the command bytes submitted under one reference,
// so a forwarded batch stays well below transports' payload limits.
const maxPropBatchBytes = 1 << 20

// flush hands the calls received since the last flush to the core.
func (l *loopState) flush() {
	if l.quorumLost && l.state != StateLeader {
		l.noLeader(l.props)
		l.props = l.props[:0]
		l.noLeader(l.reads)
		l.reads = l.reads[:0]
		l.noLeader(l.leaseReads)
		l.leaseReads = l.leaseReads[:0]
		return
	}
	if len(l.props) > 0 {
		l.flushProposals()
	}
	if len(l.reads) > 0 {
		l.reads = l.flushReads(l.reads, false)
	}
	if len(l.leaseReads) > 0 {
		l.leaseReads = l.flushReads(l.leaseReads, true)
	}
}

// noLeader parks rs until a leader is known, or fails them if none has
// been for too long.
func (l *loopState) noLeader(rs []*request) {
	if l.quorumLost {
		finishAll(rs, errQuorumLostUnsent)
		return
	}
	l.parked = append(l.parked, rs...)
}

func (l *loopState) flushProposals() {
	if l.handedBytes-l.n.apply.appliedBytes.Load() > 2*l.n.cfg.Raft.MaxApplyBytes {
		// The state machine is far behind: hold new proposals here (their
		// callers wait) until it catches up, so the apply queue's memory
		// stays bounded. The next tick or event tries again.
		return
	}
	props := l.props
	l.props = l.props[:0]
	if l.state != StateLeader && l.lead == None {
		l.noLeader(props)
		return
	}
	sessions := l.n.cfg.Sessions
	for len(props) > 0 {
		size, k := 0, 0
		for k < len(props) && (k == 0 || size+len(props[k].data) <= maxPropBatchBytes) {
			size += len(props[k].data) + sessionHeaderLen(sessions, props[k])
			k++
		}
		chunk := props[:k:k]
		props = props[k:]
		datas := l.encodeProposals(chunk)
		ref := l.ref()
		err := l.core.ProposeRef(ref, datas...)
		clear(datas)
		var nl *NotLeaderError
		switch {
		case err == nil:
			reqs := make([]*request, len(chunk))
			copy(reqs, chunk)
			b := &propBatch{local: l.state == StateLeader, ref: ref, seq: l.fwdSent, reqs: reqs, lead: l.lead, term: l.term, tick: l.ticks}
			if !b.local {
				l.fwdSent++
			}
			l.batches[ref] = b
		case errors.As(err, &nl):
			l.noLeader(chunk)
		default:
			finishAll(chunk, err)
			l.fatal(err)
		}
	}
	// Drop the backing array's references to the requests handed on.
	clear(l.props[len(l.props):cap(l.props)])
}

// encodeProposals copies the commands of rs, with their session headers,
// into one new buffer (the log keeps entries' data, and callers may reuse
// their slices) and returns them as slices of it, in a scratch slice valid
// until the next call.
func (l *loopState) encodeProposals(rs []*request) [][]byte {
	sessions := l.n.cfg.Sessions
	size := 0
	for _, r := range rs {
		size += len(r.data) + sessionHeaderLen(sessions, r)
	}
	buf := make([]byte, 0, size)
	datas := l.dataScratch[:0]
	for _, r := range rs {
		start := len(buf)
		buf = appendSessionHeader(buf, sessions, r)
		cmd := len(buf)
		buf = append(buf, r.data...)
		datas = append(datas, buf[start:len(buf):len(buf)])
		// From now on r holds the copy: a caller that gave up may reuse
		// its slice while r is forwarded again or proposed again.
		r.data = buf[cmd:len(buf):len(buf)]
	}
	l.dataScratch = datas
	return datas
}

func (l *loopState) flushReads(reads []*request, lease bool) []*request {
	if l.state != StateLeader && l.lead == None {
		l.noLeader(reads)
		return reads[:0]
	}
	ref := l.ref()
	err := l.core.readIndex(ref, lease)
	var nl *NotLeaderError
	switch {
	case err == nil:
		l.readBatches[ref] = &readBatch{ref: ref, reqs: append([]*request(nil), reads...), lease: lease, tick: l.ticks}
	case errors.As(err, &nl):
		l.noLeader(reads)
	default:
		finishAll(reads, err)
		l.fatal(err)
	}
	clear(reads)
	return reads[:0]
}

// register records a placed proposal (or conf change) until its index is
// applied.
func (l *loopState) register(r *request) {
	if r.index <= l.handedOut {
		// Its entry was handed to the apply goroutine before we learnt
		// where it landed (the leader's answer arrived late): the apply
		// goroutine looks its result up.
		l.n.apply.enqueue(applyItem{late: r})
		return
	}
	if old := l.pending[r.index]; old != nil && old != r {
		// An entry of a later term replaced old's at that index in this
		// node's log: old was lost.
		l.lost(old)
	}
	l.pending[r.index] = r
}

// lost handles a proposal whose entry was replaced by another: it was not
// applied, so proposing it again is safe.
func (l *loopState) lost(r *request) {
	if r.kind == reqConf {
		r.finish(nil, ErrProposalDropped)
		return
	}
	r.index, r.term = 0, 0
	l.props = append(l.props, r)
}

// handleReady carries out one batch of the core.
func (l *loopState) handleReady(rd *Ready) {
	n := l.n
	l.send(rd.Messages)
	for _, pr := range rd.Proposals {
		l.proposalResult(pr)
	}
	for _, rs := range rd.ReadStates {
		l.readState(rs)
	}
	if t := rd.Transfer; t != nil {
		finishAll(l.transfers, t.Err)
		clear(l.transfers)
		l.transfers = l.transfers[:0]
	}
	// Entries committed in an earlier batch are durable here already (and
	// on a quorum): apply them now, in parallel with this batch's disk
	// write, rather than after it. With a MemoryStorage there is no write
	// to overlap, and answering callers a step earlier only makes the
	// leader's batches smaller.
	l.appliedEarly = !n.pers.inline && len(rd.Apply) > 0 && rd.Persist.Snapshot == nil &&
		(len(rd.Persist.Entries) == 0 || rd.Apply[len(rd.Apply)-1].Index < rd.Persist.Entries[0].Index)
	if l.appliedEarly {
		l.handOut(rd.Apply, rd.SnapshotDue)
	}
	switch {
	case rd.Persist.IsEmpty() || (!n.pers.inline && !l.needsSave(&rd.Persist)):
		l.persisted(rd, nil)
		return
	case n.pers.inline:
		l.persisted(rd, n.pers.save(rd))
		return
	}
	l.persisting = true
	n.pers.reqc <- rd
}

// needsSave reports whether p must be written before the batch goes on. A
// HardState that differs from the saved one only in its commit index need
// not be: the commit index is persisted only to shorten restarts (a
// restarted node learns it again from the leader), and skipping it saves
// an fsync on every commit, on the path of every proposal.
func (l *loopState) needsSave(p *Persist) bool {
	if len(p.Entries) > 0 || p.Snapshot != nil || p.ConfState != nil {
		return true
	}
	hs := p.HardState
	return !hs.IsEmpty() && (hs.Term != l.savedTerm || hs.Vote != l.savedVote)
}

// persisted finishes a batch whose Persist step is durable.
func (l *loopState) persisted(rd *Ready, err error) {
	l.persisting = false
	if err != nil {
		l.fatal(fmt.Errorf("%w: %w", ErrStorage, err))
		return
	}
	if hs := rd.Persist.HardState; !hs.IsEmpty() {
		l.savedTerm, l.savedVote = hs.Term, hs.Vote
	}
	l.send(rd.Persisted())
	if s := rd.Persist.Snapshot; s != nil {
		l.restored(s)
	}
	if len(rd.Apply) > 0 && !l.appliedEarly {
		l.handOut(rd.Apply, rd.SnapshotDue)
	}
	if err := l.core.Advance(rd); err != nil {
		l.fatal(err)
	}
	l.n.commit.Store(l.core.log.committed)
}

// restored hands an installed snapshot to the apply goroutine and settles
// the proposals it covers: this node will never apply their entries, so it
// cannot know their results.
func (l *loopState) restored(s *Snapshot) {
	l.n.apply.enqueue(applyItem{snap: s})
	for idx, r := range l.pending {
		if idx <= s.Meta.Index {
			delete(l.pending, idx)
			switch {
			case r.kind == reqConf:
				r.finish(nil, nil)
			case r.session:
				// The session table in the snapshot answers a retry.
				r.index, r.term = 0, 0
				l.props = append(l.props, r)
			default:
				r.finish(nil, ErrOutcomeUnknown)
			}
		}
	}
	l.handedOut = max(l.handedOut, s.Meta.Index)
	l.snapBytes = 0
}

// handOut gives committed entries to the apply goroutine, with the calls
// waiting for them.
func (l *loopState) handOut(ents []Entry, due uint64) {
	item := applyItem{ents: ents}
	if len(l.pending) > 0 {
		for i := range ents {
			e := &ents[i]
			r := l.pending[e.Index]
			if r == nil {
				continue
			}
			delete(l.pending, e.Index)
			if r.term != e.Term {
				l.lost(r)
				continue
			}
			item.waits = append(item.waits, r)
		}
	}
	last := ents[len(ents)-1].Index
	size := uint64(0)
	for i := range ents {
		size += uint64(len(ents[i].Data))
	}
	l.snapBytes += size
	l.handedBytes += size
	if due != 0 || l.snapBytes > l.n.cfg.SnapshotLogBytes {
		l.snapWanted = true
	}
	// A leader sending its snapshot to a follower holds off a new one: the
	// transfer would start over with it, and a follower that needs longer
	// than a snapshot interval to receive one would never catch up. Past
	// four times SnapshotLogBytes the log's memory matters more.
	if l.snapWanted && (!l.sendingSnapshot() || l.snapBytes > 4*l.n.cfg.SnapshotLogBytes) {
		item.snapshot = true
		item.cs = l.core.ConfStateAt(last)
		l.snapBytes = 0
		l.snapWanted = false
	}
	l.handedOut = last
	l.n.apply.enqueue(item)
}

// sendingSnapshot reports whether this node leads and is sending its
// snapshot to a member.
func (l *loopState) sendingSnapshot() bool {
	c := l.core
	if c.state != StateLeader {
		return false
	}
	for i := range c.prs {
		if c.prs[i].state == snapshotState {
			return true
		}
	}
	return false
}

func (l *loopState) proposalResult(pr ProposalResult) {
	b := l.batches[pr.Ref]
	if b == nil {
		return
	}
	delete(l.batches, pr.Ref)
	var nl *NotLeaderError
	switch {
	case pr.Err == nil:
		for i, r := range b.reqs {
			r.index, r.term = pr.Index+uint64(i), pr.Term
			l.register(r)
		}
	case errors.Is(pr.Err, ErrProposalDropped):
		finishAll(b.reqs, pr.Err)
	case errors.As(pr.Err, &nl), errors.Is(pr.Err, ErrTransferInProgress):
		// Not appended anywhere: try again once a leader takes them.
		l.parked = append(l.parked, b.reqs...)
	default:
		finishAll(b.reqs, pr.Err)
	}
}

func (l *loopState) readState(rs ReadState) {
	rb := l.readBatches[rs.Ref]
	if rb == nil {
		return
	}
	delete(l.readBatches, rs.Ref)
	rb.index = rs.Index
	if l.n.applied.Load() >= rs.Index {
		finishAll(rb.reqs, nil)
		return
	}
	l.n.apply.enqueue(applyItem{read: rb})
}

// send encodes and sends messages. A Transport owns the payload it is
// given but never modifies it, so messages that encode to the same bytes
// (a leader's append of the same entries to every follower in step; From
// and To are not encoded) share one buffer: it is encoded and allocated
// once per batch instead of once per follower.
func (l *loopState) send(msgs []Message) {
	n := l.n
	var prev *Message
	var prevBuf []byte
	for i := range msgs {
		m := &msgs[i]
		if m.Type == MsgSnap {
			n.snaps.enqueue(m)
			continue
		}
		var buf []byte
		if prev != nil && sameEncoding(prev, m) {
			buf = prevBuf
		} else {
			buf = AppendMessage(make([]byte, 0, EncodedSize(m)), m)
			prev, prevBuf = m, buf
		}
		if err := n.tr.Send(n.ctx, m.To, buf); err != nil && n.log != nil {
			if errors.Is(err, transport.ErrTooLarge) {
				// Not a passing fault: the message will never get through.
				l.warnTooLarge(m, len(buf), err)
			} else {
				n.log.Debug("raft: send failed", "id", string(n.id), "to", string(m.To), "type", m.Type.String(), "err", err)
			}
		}
	}
}

// sameEncoding reports whether a and b (not snapshot chunks) encode to the
// same bytes. Entries match when they are the same elements of the log,
// which is how the core hands one range to several followers; equal ranges
// in other memory are not looked for.
func sameEncoding(a, b *Message) bool {
	if a.Type != b.Type || a.Term != b.Term || a.LogTerm != b.LogTerm || a.Index != b.Index ||
		a.Commit != b.Commit || a.Reject != b.Reject || a.RejectHint != b.RejectHint ||
		a.Force != b.Force || a.Context != b.Context || len(a.Entries) != len(b.Entries) ||
		a.Snap != nil || b.Snap != nil {
		return false
	}
	return len(a.Entries) == 0 || &a.Entries[0] == &b.Entries[0]
}

// warnTooLarge logs, at most once a second, a message the transport
// refused for its size: Raft.MaxMsgBytes or NodeConfig.MaxCommandBytes is
// above the transport's payload limit.
func (l *loopState) warnTooLarge(m *Message, size int, err error) {
	if time.Since(l.lastTooLargeLog) < time.Second {
		return
	}
	l.lastTooLargeLog = time.Now()
	l.n.log.Warn("raft: transport refused a message as too large; lower Raft.MaxMsgBytes or NodeConfig.MaxCommandBytes",
		"id", string(l.n.id), "to", string(m.To), "type", m.Type.String(), "bytes", size, "err", err)
}

// observe reacts to changes of role and leader since the last look.
func (l *loopState) observe() {
	st := l.core.Status()
	n := l.n
	if st.State == l.state && st.Lead == l.lead && st.Term == l.term {
		return
	}
	wasLeader := l.state == StateLeader
	if n.metrics != nil {
		switch {
		case st.State == StateLeader && !wasLeader:
			n.metrics.Election(st.Term, true)
		case l.state == StateCandidate && st.State != StateLeader:
			n.metrics.Election(l.term, false)
		}
	}
	if n.log != nil && st.Lead != l.lead {
		n.log.Info("raft: leader changed", "id", string(n.id), "term", st.Term, "leader", string(st.Lead))
	}
	oldLead, oldTerm := l.lead, l.term
	l.state, l.lead, l.term = st.State, st.Lead, st.Term
	if wasLeader && st.State != StateLeader && st.Term == oldTerm {
		if l.core.isVoter() {
			// Check-quorum made the leader step down: nothing it holds
			// can be confirmed now, and new calls fail at once until a
			// leader is heard from.
			l.quorumLost = true
			l.failPending(ErrQuorumLost)
		} else {
			l.removed(st.Commit)
		}
	}
	if st.Lead != oldLead || st.Term != oldTerm {
		// Forwarded proposals the old leader never answered: it can no
		// longer answer, and the new leader does not know them.
		for ref, b := range l.batches {
			if !b.local && (b.lead != st.Lead || b.term != st.Term) {
				delete(l.batches, ref)
				l.lostBatch(b)
			}
		}
	}
	if st.State == StateLeader {
		l.heard = l.ticks
		l.everHeard = true
		l.quorumLost = false
	}
	if st.Lead != None {
		for _, r := range l.leaderWaiters {
			r.finish(st.Lead, nil)
		}
		clear(l.leaderWaiters)
		l.leaderWaiters = l.leaderWaiters[:0]
		l.unpark()
	}
}

// removed settles the calls of a leader that removed itself and stepped
// down: entries up to the commit index still apply here, later ones may or
// may not commit without this node, which will not hear of them.
func (l *loopState) removed(commit uint64) {
	for idx, r := range l.pending {
		if idx > commit {
			r.finish(nil, ErrOutcomeUnknown)
			delete(l.pending, idx)
		}
	}
	for ref, b := range l.batches {
		finishAll(b.reqs, ErrOutcomeUnknown)
		delete(l.batches, ref)
	}
	nl := &NotLeaderError{}
	finishAll(l.props, nl)
	l.props = l.props[:0]
	finishAll(l.parked, nl)
	l.parked = nil
}

// failPending fails every call waiting on the cluster (not WaitLeader).
// Calls never handed to the core fail with an error that also matches
// ErrNotLeader, which promises they were not applied.
func (l *loopState) failPending(err error) {
	unsent := err
	if err == ErrQuorumLost {
		unsent = errQuorumLostUnsent
	}
	finishAll(l.props, unsent)
	l.props = l.props[:0]
	finishAll(l.reads, unsent)
	l.reads = l.reads[:0]
	finishAll(l.leaseReads, unsent)
	l.leaseReads = l.leaseReads[:0]
	finishAll(l.parked, unsent)
	l.parked = nil
	for ref, b := range l.batches {
		finishAll(b.reqs, err)
		delete(l.batches, ref)
	}
	for idx, r := range l.pending {
		r.finish(nil, err)
		delete(l.pending, idx)
	}
	for ref, rb := range l.readBatches {
		finishAll(rb.reqs, err)
		delete(l.readBatches, ref)
	}
	finishAll(l.transfers, err)
	l.transfers = l.transfers[:0]
	l.n.apply.failReads(err)
}

// failAll fails everything, WaitLeader calls included; Close calls it once
// the loop has exited.
func (l *loopState) failAll(err error) {
	l.failPending(err)
	finishAll(l.leaderWaiters, err)
	l.leaderWaiters = nil
}

// status builds a NodeStatus from the core; only the loop (or anyone once
// the loop is not running) may call it.
func (l *loopState) status() NodeStatus {
	cs := l.core.Status()
	return NodeStatus{ID: cs.ID, Role: cs.State, Term: cs.Term, Leader: cs.Lead, Commit: cs.Commit,
		Applied: l.n.applied.Load(), LastIndex: cs.LastIndex, Progress: l.core.Progress(nil)}
}

// Session headers. With NodeConfig.Sessions every entry's data starts with
// one byte: 0 for a plain command, 1 for a session command followed by the
// client ID and sequence number as uvarints.
const (
	sessionNone = 0
	sessionReq  = 1
)

func sessionHeaderLen(on bool, r *request) int {
	if !on {
		return 0
	}
	if !r.session {
		return 1
	}
	return 1 + uvarintLen(r.client) + uvarintLen(r.seq)
}

func appendSessionHeader(b []byte, on bool, r *request) []byte {
	if !on {
		return b
	}
	if !r.session {
		return append(b, sessionNone)
	}
	b = append(b, sessionReq)
	b = binary.AppendUvarint(b, r.client)
	return binary.AppendUvarint(b, r.seq)
}

// parseSessionHeader splits an entry's data into its session header and the
// command. ok is false for data that has no valid header.
func parseSessionHeader(b []byte) (session bool, client, seq uint64, cmd []byte, ok bool) {
	if len(b) == 0 {
		return false, 0, 0, nil, false
	}
	switch b[0] {
	case sessionNone:
		return false, 0, 0, b[1:], true
	case sessionReq:
		c, k := binary.Uvarint(b[1:])
		if k <= 0 {
			return false, 0, 0, nil, false
		}
		s, j := binary.Uvarint(b[1+k:])
		if j <= 0 {
			return false, 0, 0, nil, false
		}
		return true, c, s, b[1+k+j:], true
	}
	return false, 0, 0, nil, false
}

// quorumLostUnsentError fails a call that this node never handed to the
// core because no leader was heard from: it matches ErrQuorumLost, and
// ErrNotLeader (as a *NotLeaderError with no leader) to say the command
// was not applied.
type quorumLostUnsentError struct{ nl *NotLeaderError }

var errQuorumLostUnsent error = &quorumLostUnsentError{nl: &NotLeaderError{}}

func (e *quorumLostUnsentError) Error() string {
	return "raft: quorum lost: no leader heard from for an election timeout (not proposed)"
}

func (e *quorumLostUnsentError) Unwrap() []error { return []error{ErrQuorumLost, e.nl} }

package raft

// This file holds snapshot transfer (Raft §7): a follower whose next entry
// the leader has compacted gets the leader's latest snapshot instead, in
// chunks of Config.SnapshotChunkBytes, one in flight at a time. The follower
// acknowledges each chunk with the offset it wants next, so a lost chunk or
// answer resumes from the last acknowledged one (the leader resends on every
// heartbeat answer), and heartbeats keep flowing throughout.

// sendSnapshot starts or continues the transfer of the leader's latest
// snapshot to p. It reports whether it sent a chunk.
func (c *Core) sendSnapshot(p *progress) bool {
	snap, err := c.cfg.Storage.Snapshot()
	if err != nil || snap.IsEmpty() {
		return false
	}
	if p.state != snapshotState || p.snapIndex != snap.Meta.Index {
		p.state = snapshotState
		p.snapIndex = snap.Meta.Index
		p.snapOffset = 0
		p.probeSent = false
		p.infl.reset()
	}
	total := uint64(len(snap.Data))
	off := min(p.snapOffset, total)
	end := min(off+c.cfg.SnapshotChunkBytes, total)
	c.send(Message{Type: MsgSnap, To: p.id, Term: c.term, Commit: c.log.committed,
		Snap: &SnapshotChunk{Meta: snap.Meta, Offset: off, Total: total, Data: snap.Data[off:end:end]}})
	return true
}

// handleSnapResp moves a transfer on after a chunk was acknowledged.
func (c *Core) handleSnapResp(p *progress, m *Message) {
	if p.state != snapshotState || m.Index != p.snapIndex {
		return
	}
	if m.Context > p.snapOffset || m.Reject {
		// The follower says where it stands; a rejection rewinds.
		p.snapOffset = m.Context
		c.sendSnapshot(p)
	}
}

// handleSnapChunk is a follower's handling of MsgSnap.
func (c *Core) handleSnapChunk(m *Message) {
	ch := m.Snap
	if ch == nil {
		return
	}
	if ch.Meta.Index <= c.log.committed {
		// We have all of it already.
		c.snapBuf = nil
		c.send(Message{Type: MsgAppResp, To: m.From, Term: c.term, Index: c.log.committed})
		return
	}
	if c.snapBuf == nil || c.snapBufMeta.Index != ch.Meta.Index || c.snapBufMeta.Term != ch.Meta.Term {
		if ch.Offset != 0 {
			// A transfer we did not see start (or forgot in a crash).
			c.send(Message{Type: MsgSnapResp, To: m.From, Term: c.term, Index: ch.Meta.Index, Reject: true})
			return
		}
		c.snapBuf = make([]byte, 0, min(ch.Total, uint64(len(ch.Data))*4+64))
		c.snapBufMeta = ch.Meta
		c.snapBufMeta.ConfState = ch.Meta.ConfState.clone()
	}
	if ch.Offset != uint64(len(c.snapBuf)) {
		c.send(Message{Type: MsgSnapResp, To: m.From, Term: c.term, Index: ch.Meta.Index, Context: uint64(len(c.snapBuf)),
			Reject: ch.Offset > uint64(len(c.snapBuf))})
		return
	}
	c.snapBuf = append(c.snapBuf, ch.Data...)
	if uint64(len(c.snapBuf)) < ch.Total {
		c.send(Message{Type: MsgSnapResp, To: m.From, Term: c.term, Index: ch.Meta.Index, Context: uint64(len(c.snapBuf))})
		return
	}
	snap := &Snapshot{Meta: c.snapBufMeta, Data: c.snapBuf}
	c.snapBuf = nil
	if c.log.matchTerm(snap.Meta.Index, snap.Meta.Term) {
		// Our log already holds the snapshot's last entry, so it holds
		// everything the snapshot covers: just learn the commit.
		c.log.commitTo(snap.Meta.Index)
	} else {
		c.logf("restoring snapshot", "index", snap.Meta.Index, "snap-term", snap.Meta.Term)
		c.log.restore(snap)
		c.snapHintFrom = max(c.snapHintFrom, snap.Meta.Index)
		c.baseConf = snap.Meta.ConfState.clone()
		c.confLog = nil
		c.setConf(snap.Meta.ConfState)
		c.pendingConf = nil // the snapshot's membership supersedes a bootstrap one
	}
	c.send(Message{Type: MsgAppResp, To: m.From, Term: c.term, Index: snap.Meta.Index})
}

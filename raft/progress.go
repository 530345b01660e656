package raft

// progState is how the leader replicates to one follower.
type progState uint8

const (
	// probeState: the leader does not know where the follower's log matches
	// and sends one append at a time until one is accepted.
	probeState progState = iota
	// replicateState: the follower's log matches up to match; the leader
	// streams appends optimistically, bounded by the inflight window.
	replicateState
	// snapshotState: the follower needs compacted entries and is being
	// sent the snapshot at snapIndex; appends wait until it is installed.
	snapshotState
)

// progress is the leader's view of one member, and a candidate's record of
// its vote. Members live in a small slice: clusters are small and a linear
// scan beats hashing the NodeID.
type progress struct {
	id NodeID
	// voter and voterOut say the member is in the incoming and in the
	// outgoing voter set (the latter only during joint consensus).
	voter, voterOut bool
	// match is the highest index known replicated on the member; next the
	// index of the next entry to send.
	match, next uint64
	state       progState
	// probeSent pauses a probing follower after one append until it
	// answers or a heartbeat response arrives.
	probeSent bool
	// recentActive records a message from the member since the last
	// check-quorum round.
	recentActive bool
	// vote is the member's answer in the current election: 0 none yet,
	// 1 granted, -1 rejected.
	vote int8
	// snapIndex and snapOffset track a snapshot transfer: the snapshot's
	// index and the bytes the follower acknowledged.
	snapIndex, snapOffset uint64
	// readAck is the highest read round the member confirmed.
	readAck uint64
	// fwdSeen remembers the references of the last proposals the member
	// forwarded to this leader, so a network duplicate is appended once.
	fwdSeen [fwdSeenSize]fwdRecord
	fwdLen  int
	fwdPos  int
	infl    inflights
}

// paused reports whether the leader must not send another append now.
func (p *progress) paused(maxMsgs int, maxBytes uint64) bool {
	switch p.state {
	case probeState:
		return p.probeSent
	case snapshotState:
		return true
	}
	return p.infl.count >= maxMsgs || (p.infl.count > 0 && p.infl.bytes >= maxBytes)
}

func (p *progress) becomeProbe() {
	p.state = probeState
	p.next = p.match + 1
	p.probeSent = false
	p.infl.reset()
}

func (p *progress) becomeReplicate() {
	p.state = replicateState
	p.next = p.match + 1
	p.probeSent = false
	p.infl.reset()
}

// maybeUpdate records an acknowledgement up to n and reports whether it was
// news.
func (p *progress) maybeUpdate(n uint64) bool {
	updated := false
	if p.match < n {
		p.match = n
		updated = true
		p.probeSent = false
	}
	p.next = max(p.next, n+1)
	return updated
}

// maybeDecrTo handles a rejection of the append after index rejected, with
// the follower's hint that its log may match at matchHint. It reports false
// for a stale rejection.
func (p *progress) maybeDecrTo(rejected, matchHint uint64) bool {
	if p.state == replicateState {
		if rejected <= p.match {
			return false
		}
		p.next = p.match + 1
		return true
	}
	if p.next-1 != rejected {
		return false
	}
	p.next = max(min(rejected, matchHint+1), p.match+1)
	p.probeSent = false
	return true
}

// inflight is one append in flight: its last index and payload bytes.
type inflight struct {
	index, bytes uint64
}

// inflights is a ring buffer of the appends sent to one follower and not yet
// acknowledged, in index order.
type inflights struct {
	buf   []inflight
	start int
	count int
	bytes uint64
}

func (f *inflights) add(index, bytes uint64, capacity int) {
	if f.buf == nil {
		f.buf = make([]inflight, capacity)
	}
	if f.count == len(f.buf) {
		// Cannot happen while callers honour paused; grow rather than lose
		// track of an append.
		nb := make([]inflight, 2*len(f.buf))
		for i := 0; i < f.count; i++ {
			nb[i] = f.buf[(f.start+i)%len(f.buf)]
		}
		f.buf, f.start = nb, 0
	}
	f.buf[(f.start+f.count)%len(f.buf)] = inflight{index, bytes}
	f.count++
	f.bytes += bytes
}

// freeLE forgets the appends whose last index is at most index.
func (f *inflights) freeLE(index uint64) {
	for f.count > 0 {
		e := &f.buf[f.start]
		if e.index > index {
			return
		}
		f.bytes -= e.bytes
		f.count--
		f.start++
		if f.start == len(f.buf) {
			f.start = 0
		}
	}
}

func (f *inflights) freeFirst() {
	if f.count > 0 {
		f.freeLE(f.buf[f.start].index)
	}
}

func (f *inflights) reset() {
	f.start, f.count, f.bytes = 0, 0, 0
}

// fwdSeenSize is how many forwarded proposal references a leader remembers
// per follower.
const fwdSeenSize = 64

// fwdRecord is where a forwarded proposal landed.
type fwdRecord struct {
	ref, index, term uint64
}

// findForward returns where the forwarded proposal ref landed, if it is
// among the last fwdSeenSize the member forwarded in this term.
func (p *progress) findForward(ref uint64) (fwdRecord, bool) {
	for i := 0; i < p.fwdLen; i++ {
		if p.fwdSeen[i].ref == ref {
			return p.fwdSeen[i], true
		}
	}
	return fwdRecord{}, false
}

// recordForward remembers where the forwarded proposal ref landed,
// forgetting the oldest record when full.
func (p *progress) recordForward(ref, index, term uint64) {
	p.fwdSeen[p.fwdPos] = fwdRecord{ref: ref, index: index, term: term}
	p.fwdPos = (p.fwdPos + 1) % fwdSeenSize
	p.fwdLen = min(p.fwdLen+1, fwdSeenSize)
}

// PeerProgress is a leader's view of one member's replication, for
// monitoring (Core.Progress, Node.Status).
type PeerProgress struct {
	ID NodeID
	// Voter is set for a member that votes (in the incoming or, during
	// joint consensus, the outgoing configuration).
	Voter bool
	// Match is the highest index known replicated on the member; Next the
	// next index the leader will send it.
	Match, Next uint64
	// Inflight is the number of appends sent and not yet acknowledged.
	Inflight int
	// Snapshot is set while the member is being sent a snapshot;
	// SnapshotOffset is how many of its bytes it acknowledged.
	Snapshot       bool
	SnapshotOffset uint64
	// Probing is set while the leader looks for where the member's log
	// matches its own, one append at a time.
	Probing bool
}

// Progress appends the leader's view of every member, this node included,
// to dst and returns it. On a node that does not lead it returns dst
// unchanged: only a leader tracks replication.
func (c *Core) Progress(dst []PeerProgress) []PeerProgress {
	if c.state != StateLeader {
		return dst
	}
	for i := range c.prs {
		p := &c.prs[i]
		dst = append(dst, PeerProgress{ID: p.id, Voter: p.votes(), Match: p.match, Next: p.next,
			Inflight: p.infl.count, Snapshot: p.state == snapshotState, SnapshotOffset: p.snapOffset,
			Probing: p.state == probeState})
	}
	return dst
}

package raft

import "fmt"

// Core is one node's Raft state machine. It performs no I/O, starts no
// goroutine and reads no clock: it changes only when its methods are called,
// and tells the caller what to persist, send and apply through Ready. It is
// not safe for concurrent use.
type Core struct {
	cfg Config
	id  NodeID
	log *raftLog
	rng rng

	term  uint64
	vote  NodeID
	lead  NodeID
	state StateType

	// baseConf is the configuration of the snapshot or bootstrap the log
	// starts from; confLog the conf changes in the log after it, each with
	// the configuration it leads to. The latest one is in force.
	baseConf ConfState
	confLog  []confAt

	// prs holds every member, this node included at index self (or -1 if
	// this node is not a member).
	prs       []progress
	self      int
	voters    int // size of the incoming voter set
	votersOut int // size of the outgoing voter set, 0 unless joint

	electionElapsed   int
	heartbeatElapsed  int
	randomizedTimeout int

	// uncommittedBytes is the payload a leader appended in its term and has
	// not yet seen committed.
	uncommittedBytes uint64

	// durable is the HardState last handed out for persistence; durableTerm
	// the term known to be persisted (after Advance), which gates whether a
	// leader may send before persisting.
	durable     HardState
	durableTerm uint64
	// pendingConf is the membership to persist in the next batch, set when
	// a fresh node bootstraps.
	pendingConf *ConfState

	// msgs may be sent at once; msgsAfter only after the next batch's
	// Persist step is durable.
	msgs      []Message
	msgsAfter []Message

	// Reads waiting for a quorum, the last read round, and results for
	// the next batch.
	reads          []pendingRead
	readRound      uint64
	readNeedRound  bool
	readStates     []ReadState
	proposals      []ProposalResult
	transfer       transferState
	transferResult *TransferResult

	// leaderTicks counts a leader's ticks; roundSent maps recent heartbeat
	// rounds to the leaderTicks they were sent at, for lease reads.
	leaderTicks uint64
	roundSent   []roundSent
	// ticksSinceStart counts ticks after New, saturating at ElectionTicks:
	// with lease reads a restarted node refuses votes until then.
	ticksSinceStart int

	// snapHintFrom is the applied index of the last snapshot known or
	// asked for; Ready asks again SnapshotEntries entries later.
	snapHintFrom uint64

	// snapBuf collects the chunks of an incoming snapshot.
	snapBuf     []byte
	snapBufMeta SnapshotMeta

	rd          Ready
	outstanding bool
	err         error

	scratch []uint64

	// mutation deliberately breaks one safety rule, for tests that prove
	// the generated tests catch it. Always zero outside tests.
	mutation mutation
}

type mutation uint8

const (
	mutNone mutation = iota
	// mutCommitOldTerm commits by counting replicas of an earlier term's
	// entry (breaks the Figure 8 rule).
	mutCommitOldTerm
	// mutDoubleVote grants a vote to any candidate in a term.
	mutDoubleVote
	// mutSkipUpToDate grants votes without the log up-to-date check.
	mutSkipUpToDate
	// mutReadWithoutQuorum answers reads without confirming leadership.
	mutReadWithoutQuorum
	// mutLeaseIgnoresTransfer keeps serving lease reads during a
	// leadership transfer.
	mutLeaseIgnoresTransfer
	// mutConfNoWait accepts a conf change while another is pending.
	mutConfNoWait
	// mutJointOneMajority decides on the incoming voters' majority alone
	// in a joint configuration.
	mutJointOneMajority
)

// Status is a snapshot of a core's state.
type Status struct {
	ID        NodeID
	State     StateType
	Term      uint64
	Vote      NodeID
	Lead      NodeID
	Commit    uint64
	Applied   uint64
	LastIndex uint64
}

// New returns a core for cfg, restoring its state from cfg.Storage.
func New(cfg Config) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Core{cfg: cfg.withDefaults(), id: cfg.ID, self: -1}
	c.cfg.Voters = append([]NodeID(nil), cfg.Voters...)
	c.cfg.Learners = append([]NodeID(nil), cfg.Learners...)
	c.rng = newRNG(cfg.Seed)
	hs, cs, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if cs.IsEmpty() && !cfg.Join {
		if len(cfg.Voters) == 0 {
			return nil, fmt.Errorf("%w: storage holds no configuration and Config.Voters is empty (set Join to join a cluster)", ErrInvalidConfig)
		}
		cs = ConfState{Voters: c.cfg.Voters, Learners: c.cfg.Learners}
		pc := cs.clone()
		c.pendingConf = &pc
	}
	c.log, err = newRaftLog(cfg.Storage, hs.Commit, cfg.Applied)
	if err != nil {
		return nil, err
	}
	c.baseConf = cs.clone()
	c.setConf(cs)
	// Rebuild the configuration from the conf changes in the stored log
	// after the snapshot; older ones are part of the snapshot's.
	snap, err := cfg.Storage.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if first, last := max(c.log.firstIndex(), snap.Meta.Index+1), c.log.lastIndex(); first <= last {
		ents, err := c.log.entries(first, last+1, ^uint64(0))
		if err != nil {
			return nil, fmt.Errorf("%w: reading the log: %w", ErrStorage, err)
		}
		c.scanConf(ents)
	}
	c.snapHintFrom = c.log.applied
	c.term, c.vote = hs.Term, hs.Vote
	c.durable, c.durableTerm = hs, hs.Term
	c.becomeFollower(c.term, None)
	if hs.Term == 0 {
		// A node that never persisted a term never answered a heartbeat
		// (answers wait for the term to be durable), so it holds up no
		// leader's lease and needs no vote fence.
		c.ticksSinceStart = c.cfg.ElectionTicks
	}
	return c, nil
}

// setConf installs a membership, keeping what it knew of members that
// stay.
func (c *Core) setConf(cs ConfState) {
	old := c.prs
	c.prs = make([]progress, 0, len(cs.Voters)+len(cs.VotersOutgoing)+len(cs.Learners))
	c.self, c.voters, c.votersOut = -1, 0, 0
	add := func(id NodeID, voter, voterOut bool) {
		for i := range c.prs {
			if c.prs[i].id == id {
				c.prs[i].voter = c.prs[i].voter || voter
				c.prs[i].voterOut = c.prs[i].voterOut || voterOut
				return
			}
		}
		p := progress{id: id, state: probeState}
		if c.log != nil {
			p.next = c.log.lastIndex() + 1
		}
		p.recentActive = true
		for i := range old {
			if old[i].id == id {
				p = old[i]
			}
		}
		p.voter, p.voterOut = voter, voterOut
		c.prs = append(c.prs, p)
	}
	for _, id := range cs.Voters {
		add(id, true, false)
		c.voters++
	}
	for _, id := range cs.VotersOutgoing {
		add(id, false, true)
		c.votersOut++
	}
	for _, id := range cs.Learners {
		add(id, false, false)
	}
	for i := range c.prs {
		if c.prs[i].id == c.id {
			c.self = i
		}
	}
	if cap(c.scratch) < len(c.prs) {
		c.scratch = make([]uint64, 0, len(c.prs))
	}
}

// peer returns the member with the given id, or nil.
func (c *Core) peer(id NodeID) *progress {
	for i := range c.prs {
		if c.prs[i].id == id {
			return &c.prs[i]
		}
	}
	return nil
}

func (c *Core) isVoter() bool { return c.self >= 0 && c.prs[c.self].votes() }

// Status returns a snapshot of the core's state.
func (c *Core) Status() Status {
	return Status{
		ID: c.id, State: c.state, Term: c.term, Vote: c.vote, Lead: c.lead,
		Commit: c.log.committed, Applied: c.log.applied, LastIndex: c.log.lastIndex(),
	}
}

// Tick advances the core's logical clock by one tick.
func (c *Core) Tick() {
	if c.err != nil {
		return
	}
	if c.transfer.active {
		c.transfer.elapsed++
		defer c.checkTransfer()
	}
	if c.state == StateLeader {
		c.tickLeader()
		return
	}
	if c.ticksSinceStart < c.cfg.ElectionTicks {
		c.ticksSinceStart++
	}
	c.electionElapsed++
	if c.electionElapsed >= c.randomizedTimeout && c.canCampaign() {
		c.campaign(campaignPreElection)
	}
}

// Propose appends data as new entries if this node is the leader, and
// returns the index of the first one; the entries are committed when they
// show up in a batch's Apply with that index and the returned term. The data
// slices are kept, not copied: do not modify them afterwards.
func (c *Core) Propose(data ...[]byte) (index, term uint64, err error) {
	if c.err != nil {
		return 0, 0, c.err
	}
	if c.state != StateLeader {
		return 0, 0, &NotLeaderError{Leader: c.lead}
	}
	if c.transfer.active {
		return 0, 0, ErrTransferInProgress
	}
	size := uint64(0)
	for _, d := range data {
		size += uint64(len(d))
	}
	if c.uncommittedBytes > 0 && c.uncommittedBytes+size > c.cfg.MaxUncommittedBytes {
		return 0, 0, ErrProposalDropped
	}
	c.uncommittedBytes += size
	first := c.log.lastIndex() + 1
	ents := make([]Entry, len(data))
	for i, d := range data {
		ents[i] = Entry{Term: c.term, Index: first + uint64(i), Data: d}
	}
	c.appendLocal(ents)
	c.bcastAppend()
	return first, c.term, nil
}

// Step feeds the core a message received from a peer. Messages from
// unknown or stale senders are ignored, never an error: the network may
// deliver anything. An error means the core found its own state or storage
// inconsistent and has stopped.
func (c *Core) Step(m Message) error {
	if c.err != nil {
		return c.err
	}
	if m.From == c.id || m.Type == msgNone {
		return nil
	}
	if !c.stepTerm(&m) {
		return c.err
	}
	if c.transfer.active {
		defer c.checkTransfer()
	}
	switch m.Type {
	case MsgVote, MsgPreVote:
		c.handleVoteRequest(&m)
		return c.err
	case MsgPropResp:
		c.handlePropResp(&m)
		return c.err
	case MsgReadIndexResp:
		c.readStates = append(c.readStates, ReadState{Ref: m.Context, Index: m.Index})
		return c.err
	}
	switch c.state {
	case StateLeader:
		c.stepLeader(&m)
	case StateCandidate, StatePreCandidate:
		c.stepCandidate(&m)
	default:
		c.stepFollower(&m)
	}
	return c.err
}

// stepTerm applies the term rules common to every role and reports whether
// the message should be processed further.
func (c *Core) stepTerm(m *Message) bool {
	switch {
	case m.Term > c.term:
		if (m.Type == MsgVote || m.Type == MsgPreVote) && !m.Force {
			// Leader stickiness: a follower that heard from a live leader
			// within the election timeout does not help depose it (unless
			// that leader asked for it, in a leadership transfer).
			if !c.cfg.DisableCheckQuorum && c.electionElapsed < c.cfg.ElectionTicks &&
				(c.lead != None || (c.cfg.LeaseReads && c.ticksSinceStart < c.cfg.ElectionTicks)) {
				return false
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote never changes the receiver's term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the term we would campaign in.
		case m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap:
			c.becomeFollower(m.Term, m.From)
		default:
			c.becomeFollower(m.Term, None)
		}
	case m.Term < c.term:
		switch m.Type {
		case MsgApp, MsgHeartbeat, MsgSnap:
			// A deposed leader learns the new term from this answer and
			// steps down; without it, check-quorum and pre-vote could leave
			// it cut off forever.
			c.send(Message{Type: MsgAppResp, To: m.From, Term: c.term})
		case MsgPreVote:
			c.send(Message{Type: MsgPreVoteResp, To: m.From, Term: c.term, Reject: true})
		}
		return false
	}
	return true
}

func (c *Core) stepFollower(m *Message) {
	switch m.Type {
	case MsgApp:
		c.electionElapsed = 0
		c.lead = m.From
		c.handleAppend(m)
	case MsgSnap:
		c.electionElapsed = 0
		c.lead = m.From
		c.handleSnapChunk(m)
	case MsgHeartbeat:
		c.electionElapsed = 0
		c.lead = m.From
		c.log.commitTo(m.Commit)
		c.send(Message{Type: MsgHeartbeatResp, To: m.From, Term: c.term, Context: m.Context})
	case MsgProp:
		// The sender thought we lead. Forwarding again would lose track
		// of who asked, so refuse and let it retry with fresher news.
		c.refuseProp(m)
	case MsgTimeoutNow:
		c.logf("campaigning on leadership transfer", "from", string(m.From))
		c.campaign(campaignTransfer)
	}
}

// send queues m. A leader whose term is durable sends at once: its appends
// and heartbeats promise nothing that a crash could take back. Everything
// else waits until the next batch's Persist step is durable.
func (c *Core) send(m Message) {
	m.From = c.id
	if c.state == StateLeader && c.durableTerm == c.term {
		c.msgs = append(c.msgs, m)
		return
	}
	if n := len(c.msgsAfter); n > 0 && m.Type == MsgAppResp && !m.Reject {
		// Acknowledgements are cumulative: one that follows another to
		// the same leader in the same batch replaces it, which saves a
		// message per append a follower took in the batch.
		if last := &c.msgsAfter[n-1]; last.Type == MsgAppResp && !last.Reject && last.To == m.To && last.Term == m.Term {
			last.Index = max(last.Index, m.Index)
			return
		}
	}
	c.msgsAfter = append(c.msgsAfter, m)
}

func (c *Core) fail(err error) {
	if c.err == nil {
		c.err = err
		c.logf("core stopped", "err", err)
	}
}

func (c *Core) logf(msg string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Info(msg, append([]any{"id", string(c.id), "term", c.term}, args...)...)
	}
}

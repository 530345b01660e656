package raft

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/distkit/distkit/transport"
)

// loopState is what the loop goroutine owns: the core and every call
// waiting on it. Nothing else touches it while the loop runs.
type loopState struct {
	n      *Node
	core   *Core
	exited chan struct{}
	// last is the status published when the loop exits.
	last atomic.Pointer[NodeStatus]

	nextRef uint64
	// fwdSent counts forwarded batches, to know when the leader may have
	// forgotten one's reference.
	fwdSent uint64
	ticks   uint64
	// persisting is set while a batch is out for Save; appliedEarly when
	// its Apply was handed out before the Save.
	persisting   bool
	appliedEarly bool
	// savedTerm and savedVote are the HardState's last saved term and vote.
	savedTerm uint64
	savedVote NodeID

	// props and reads were received since the last flush and go to the
	// core together, so concurrent callers share one batch.
	props      []*request
	reads      []*request
	leaseReads []*request
	// parked calls wait for a leader to be known.
	parked []*request
	// batches are proposals handed to the core, waiting for the leader to
	// say where they landed; pending those placed, waiting to be applied,
	// by index.
	batches map[uint64]*propBatch
	pending map[uint64]*request
	// readBatches are reads waiting for their read index.
	readBatches   map[uint64]*readBatch
	leaderWaiters []*request
	// transfers wait for the running leadership transfer.
	transfers []*request
	// handedOut is the last index given to the apply goroutine;
	// handedBytes the entry bytes given to it so far.
	handedOut   uint64
	handedBytes uint64

	state StateType
	lead  NodeID
	term  uint64
	// heard is the tick this node last heard from a leader (or led);
	// quorumLost is set while that is an election timeout ago.
	heard      uint64
	everHeard  bool
	quorumLost bool
	// snapBytes counts entry bytes handed out since the last snapshot;
	// snapWanted is set while a snapshot is due but held off.
	snapBytes  uint64
	snapWanted bool

	// inSpare is the inbox's other slice, swapped in by takeInbox.
	inSpare         []*request
	dataScratch     [][]byte
	decodeErrs      int
	lastDecodeLog   time.Time
	lastTooLargeLog time.Time
}

// propBatch is proposals submitted to the core under one reference: their
// entries are consecutive from the index the result names.
type propBatch struct {
	// local is set when this node led when it submitted the batch: the
	// core answers it in its next batch, whatever happens.
	local bool
	ref   uint64
	// seq counts the batches this node forwarded before this one.
	seq  uint64
	reqs []*request
	lead NodeID
	term uint64
	tick uint64
}

// readBatch is reads that share one read index.
type readBatch struct {
	ref   uint64
	reqs  []*request
	lease bool
	tick  uint64
	index uint64
}

func (l *loopState) init(n *Node) {
	l.n, l.core = n, n.core
	l.exited = make(chan struct{})
	l.nextRef = randomRef()
	l.batches = make(map[uint64]*propBatch)
	l.pending = make(map[uint64]*request)
	l.readBatches = make(map[uint64]*readBatch)
	st := l.core.Status()
	l.state, l.lead, l.term = st.State, st.Lead, st.Term
	l.savedTerm, l.savedVote = st.Term, st.Vote
	l.handedOut = max(st.Applied, n.applied.Load())
}

func (l *loopState) ref() uint64 {
	l.nextRef++
	return l.nextRef
}

// run is the loop goroutine: the only one that touches the core.
func (n *Node) run() {
	defer n.wg.Done()
	l := &n.loop
	defer l.exit()
	ticker := time.NewTicker(n.cfg.coreTick())
	defer ticker.Stop()
	recv := n.tr.Recv()
	for {
		if !l.persisting {
			if rd := l.core.Ready(); rd != nil {
				l.handleReady(rd)
				if n.ctx.Err() != nil {
					return
				}
				// The batch may have changed the leader or sent lost
				// proposals back to l.props.
				l.observe()
				l.flush()
				continue
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case m, ok := <-recv:
			if !ok {
				recv = nil
				if n.log != nil {
					n.log.Warn("raft: transport closed its receive channel", "id", string(n.id))
				}
				continue
			}
			l.step(m)
			// Take what else has arrived, up to a bound, before the next
			// batch, so one batch answers many messages.
			for i := 0; i < 256; i++ {
				select {
				case m, ok := <-recv:
					if !ok {
						recv = nil
						i = 256
						continue
					}
					l.step(m)
					continue
				default:
				}
				break
			}
		case <-ticker.C:
			l.tick()
		case <-n.in.wake:
			l.takeInbox()
			if len(l.props) < 8 && len(l.pending) >= 8 {
				// Few proposals so far, but many callers are waiting for
				// earlier ones: those just answered are about to propose
				// again. Letting them run first makes one batch of what
				// would be several (half the messages per command with 64
				// proposers, ~15% less time). A lone caller is not held up.
				runtime.Gosched()
				l.takeInbox()
			}
		case res := <-n.pers.donec:
			l.persisted(res.rd, res.err)
		}
		l.observe()
		l.flush()
	}
}

// takeInbox handles every request waiting in the inbox.
func (l *loopState) takeInbox() {
	in := &l.n.in
	in.mu.Lock()
	rs := in.reqs
	in.reqs = l.inSpare[:0]
	in.mu.Unlock()
	for _, r := range rs {
		l.handle(r)
	}
	clear(rs)
	l.inSpare = rs[:0]
}

// exit publishes the final status; Close answers what is left.
func (l *loopState) exit() {
	st := l.status()
	l.last.Store(&st)
	close(l.exited)
}

func (l *loopState) fatal(err error) { l.n.setFatal(err) }

// step feeds the core one message from the transport.
func (l *loopState) step(tm transport.Message) {
	m, err := DecodeMessage(tm.Payload)
	if err != nil {
		l.decodeErrs++
		if lg := l.n.log; lg != nil && time.Since(l.lastDecodeLog) >= time.Second {
			lg.Warn("raft: dropped undecodable messages", "id", string(l.n.id), "from", string(tm.From),
				"count", l.decodeErrs, "err", err)
			l.decodeErrs = 0
			l.lastDecodeLog = time.Now()
		}
		return
	}
	m.From, m.To = tm.From, l.n.id
	if m.Type == MsgSnap && m.Snap != nil && l.n.metrics != nil {
		l.n.metrics.SnapshotBytes(false, len(m.Snap.Data))
	}
	if err := l.core.Step(m); err != nil {
		l.fatal(err)
	}
	if (m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap) && m.From == l.core.lead {
		l.heard = l.ticks
		l.everHeard = true
		l.quorumLost = false
	}
}

func (l *loopState) tick() {
	l.core.Tick()
	l.ticks++
	et := uint64(l.n.cfg.Raft.ElectionTicks)
	l.retryForwarded(et)
	// Reads are idempotent: ask again.
	for ref, rb := range l.readBatches {
		if l.ticks-rb.tick >= et {
			delete(l.readBatches, ref)
			if rb.lease {
				l.leaseReads = append(l.leaseReads, rb.reqs...)
			} else {
				l.reads = append(l.reads, rb.reqs...)
			}
		}
	}
	if l.state == StateLeader {
		l.heard = l.ticks
	} else if l.ticks-l.heard >= l.quorumTimeout(et) && !l.quorumLost {
		// No word from a leader for an election timeout: fail what waits
		// rather than let it hang, and fail new calls at once until a
		// leader is heard from again.
		l.quorumLost = true
		if n := l.n; n.log != nil {
			n.log.Warn("raft: no leader heard from for an election timeout", "id", string(n.id), "term", l.term)
		}
		l.failPending(ErrQuorumLost)
	}
	l.unpark()
}

// quorumTimeout is how long a node may go without hearing from a leader
// before its calls fail with ErrQuorumLost: one election timeout, or three
// for a node that has not heard from any leader since it started, so calls
// made while the first election runs (its timeout is randomized up to two
// election timeouts) wait for it rather than fail.
func (l *loopState) quorumTimeout(et uint64) uint64 {
	if l.everHeard {
		return et
	}
	return 3 * et
}

// retryForwarded forwards again, under the same reference, proposals whose
// answer has not come: the proposal or the answer was lost. The leader
// appends a proposal once per reference and answers a copy with where the
// first landed, as long as it remembers the reference (the last
// fwdSeenSize it appended from this node in its term). Beyond that memory,
// or after two election timeouts, the outcome is unknown.
func (l *loopState) retryForwarded(et uint64) {
	every := max(2, et/4)
	for ref, b := range l.batches {
		age := l.ticks - b.tick
		if b.local || age == 0 || age%every != 0 {
			continue
		}
		if age >= 2*et || l.fwdSent-b.seq >= fwdSeenSize-8 || l.state == StateLeader || l.lead != b.lead || l.term != b.term {
			delete(l.batches, ref)
			l.lostBatch(b)
			continue
		}
		datas := l.encodeProposals(b.reqs)
		if err := l.core.ProposeRef(ref, datas...); err != nil {
			delete(l.batches, ref)
			l.lostBatch(b)
		}
		clear(datas)
	}
}

// lostBatch handles proposals whose placement was never answered: session
// proposals are safe to propose again, others' fate is unknown.
func (l *loopState) lostBatch(b *propBatch) {
	for _, r := range b.reqs {
		if r.session {
			l.props = append(l.props, r)
		} else {
			r.finish(nil, ErrOutcomeUnknown)
		}
	}
}

func (l *loopState) unpark() {
	if len(l.parked) == 0 {
		return
	}
	parked := l.parked
	l.parked = nil
	for _, r := range parked {
		l.handle(r)
	}
}

// handle takes one call from a caller.
func (l *loopState) handle(r *request) {
	if r.start.IsZero() && l.n.metrics != nil && r.kind == reqPropose {
		r.start = time.Now()
	}
	switch r.kind {
	case reqPropose:
		l.props = append(l.props, r)
	case reqRead:
		l.reads = append(l.reads, r)
	case reqLeaseRead:
		l.leaseReads = append(l.leaseReads, r)
	case reqConf:
		if l.state == StateLeader && !l.core.committedInTerm() {
			// A new leader takes changes once it has committed an entry of
			// its term, one round trip away: wait for it rather than fail.
			l.parked = append(l.parked, r)
			return
		}
		index, term, err := l.core.ProposeConfChange(r.cc)
		if err != nil {
			r.finish(nil, err)
			return
		}
		r.index, r.term = index, term
		l.register(r)
	case reqTransfer:
		if len(l.transfers) > 0 && l.transfers[0].to != r.to {
			r.finish(nil, ErrTransferInProgress)
			return
		}
		if len(l.transfers) == 0 {
			if err := l.core.TransferLeadership(r.to); err != nil {
				r.finish(nil, err)
				return
			}
		}
		// Calls for the same target share the one transfer's outcome.
		l.transfers = append(l.transfers, r)
	case reqWaitLeader:
		if l.lead != None {
			r.finish(l.lead, nil)
			return
		}
		l.leaderWaiters = append(l.leaderWaiters, r)
	case reqStatus:
		r.finish(l.status(), nil)
	}
}

package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkit/distkit/transport"
)

// Defaults of the zero NodeConfig fields.
const (
	// DefaultTickInterval is the wall-clock length of one core tick: with
	// the default ElectionTicks (10) the election timeout is 500 ms to 1 s.
	DefaultTickInterval = 50 * time.Millisecond
	// DefaultSnapshotRateBytes bounds the snapshot bytes a node sends per
	// second, so a snapshot to a lagging follower does not starve the
	// replication traffic sharing its links: 64 MiB/s.
	DefaultSnapshotRateBytes = 64 << 20
	// DefaultSnapshotLogBytes is how many bytes of entries may be applied
	// since the last snapshot before the node takes one: 64 MiB.
	DefaultSnapshotLogBytes = 64 << 20
	// DefaultSnapshotKeepEntries is how many entries behind a snapshot the
	// node keeps when it compacts its log, so that a follower slightly
	// behind catches up with entries rather than a whole snapshot.
	DefaultSnapshotKeepEntries = 1024
	// DefaultMaxCommandBytes bounds one command: the transports' default
	// payload limit less room for the message around it.
	DefaultMaxCommandBytes = transport.DefaultMaxPayload - 4096
	// DefaultMaxSessions bounds the client sessions remembered when
	// NodeConfig.Sessions is on; the least recently used is forgotten
	// first, the same way on every node.
	DefaultMaxSessions = 65536
)

// subTicks is how many core ticks a Node makes per TickInterval.
const subTicks = 10

// coreTick is the interval at which the node ticks its core.
func (c *NodeConfig) coreTick() time.Duration {
	if d := c.TickInterval / subTicks; d > 0 {
		return d
	}
	return c.TickInterval
}

// NodeConfig configures a Node. The zero value of every field but
// Transport, Storage, StateMachine and Raft.ID means the documented default.
type NodeConfig struct {
	// Raft configures the core. Its Storage field is ignored: the node
	// sets it to Storage. Raft.Applied is ignored too: the state machine
	// starts from the storage's snapshot.
	Raft Config
	// Transport carries the node's messages. Required. The node does not
	// close it.
	Transport transport.Transport
	// Storage is the node's durable log: a *MemoryStorage or a
	// *WALStorage. Required. The node does not close it.
	Storage NodeStorage
	// StateMachine is the replicated state. Required.
	StateMachine StateMachine
	// TickInterval is the wall-clock length of one tick of the Raft
	// settings: the election timeout is Raft.ElectionTicks ticks
	// (randomized up to twice that), heartbeats go every
	// Raft.HeartbeatTicks ticks. Default 50 ms. The node ticks the core ten
	// times per TickInterval with those settings scaled to match, so
	// randomized election timeouts have a finer grain and split votes are
	// rarer.
	TickInterval time.Duration
	// SnapshotRateBytes bounds the snapshot bytes per second this node
	// sends to followers (a token bucket with one second of burst). Default
	// 64 MiB/s; negative means unlimited.
	SnapshotRateBytes int64
	// SnapshotLogBytes makes the node snapshot its state machine and
	// compact its log once the entries applied since the last snapshot
	// total more than this many bytes. The core also asks for a snapshot
	// every Raft.SnapshotEntries entries. Default 64 MiB.
	SnapshotLogBytes uint64
	// SnapshotKeepEntries is how many entries before a snapshot's index the
	// log keeps when it is compacted. Default 1024.
	SnapshotKeepEntries uint64
	// MaxCommandBytes bounds the size of one command; Propose fails with
	// ErrCommandTooLarge above it. A larger entry would travel alone in an
	// append message the transport refuses, and nothing after it could
	// commit. Keep it below the transport's payload limit (minus a few
	// hundred bytes) if that was lowered, and keep Raft.MaxMsgBytes below
	// that limit too. Default transport.DefaultMaxPayload - 4 KiB.
	MaxCommandBytes int
	// Sessions turns on client sessions (ProposeSession): each entry then
	// carries a small header, and the table of clients' latest requests is
	// part of the replicated state and of snapshots. It must be the same on
	// every node for the cluster's whole life.
	Sessions bool
	// MaxSessions bounds the sessions remembered. Default 65536.
	MaxSessions int
	// Metrics receives measurements; nil means none.
	Metrics Metrics
	// Logger receives the node's notable events; nil means silent. The
	// core logs to Raft.Logger, or to this logger if that is nil.
	Logger *slog.Logger
}

// NodeStorage is what a Node writes its log to. MemoryStorage and
// WALStorage satisfy it. Its methods must be safe for concurrent use: the
// node saves batches on one goroutine while the core reads the log on
// another and snapshots are written on a third. Its snapshots must come
// from a Node (which frames the state machine's bytes with the session
// table): start a Node on an empty storage or on one a Node wrote.
type NodeStorage interface {
	Storage
	// Save makes a batch's Persist step durable.
	Save(p Persist) error
	// CreateSnapshot records the state machine's snapshot at applied index
	// i, with cs, the membership at i.
	CreateSnapshot(i uint64, cs ConfState, data []byte) error
	// Compact discards the log up to and including i.
	Compact(i uint64) error
}

// Validate reports whether c is usable. It does not modify c.
func (c *NodeConfig) Validate() error {
	if c.Transport == nil {
		return fmt.Errorf("%w: Transport is nil", ErrInvalidConfig)
	}
	if c.Storage == nil {
		return fmt.Errorf("%w: Storage is nil", ErrInvalidConfig)
	}
	if c.StateMachine == nil {
		return fmt.Errorf("%w: StateMachine is nil", ErrInvalidConfig)
	}
	if c.TickInterval < 0 {
		return fmt.Errorf("%w: negative TickInterval", ErrInvalidConfig)
	}
	if c.MaxCommandBytes < 0 {
		return fmt.Errorf("%w: negative MaxCommandBytes", ErrInvalidConfig)
	}
	if c.MaxSessions < 0 {
		return fmt.Errorf("%w: negative MaxSessions", ErrInvalidConfig)
	}
	rc := c.Raft
	rc.Storage = c.Storage
	return rc.Validate()
}

func (c *NodeConfig) withDefaults() NodeConfig {
	n := *c
	n.Raft.Storage = c.Storage
	n.Raft.Applied = 0
	if n.Raft.Logger == nil {
		n.Raft.Logger = n.Logger
	}
	n.Raft = n.Raft.withDefaults()
	if n.TickInterval == 0 {
		n.TickInterval = DefaultTickInterval
	}
	// The core runs on sub-ticks: the tick-based settings are scaled so
	// that they keep their length in TickIntervals, while randomized
	// election timeouts are drawn from subTicks times more values, which
	// makes two nodes campaigning at once (a split vote, one more election
	// timeout lost) subTicks times rarer.
	if n.TickInterval/subTicks > 0 {
		n.Raft.ElectionTicks *= subTicks
		n.Raft.HeartbeatTicks *= subTicks
		n.Raft.LeaseDriftTicks *= subTicks
	}
	if n.SnapshotRateBytes == 0 {
		n.SnapshotRateBytes = DefaultSnapshotRateBytes
	}
	if n.SnapshotLogBytes == 0 {
		n.SnapshotLogBytes = DefaultSnapshotLogBytes
	}
	if n.SnapshotKeepEntries == 0 {
		n.SnapshotKeepEntries = DefaultSnapshotKeepEntries
	}
	if n.MaxSessions == 0 {
		n.MaxSessions = DefaultMaxSessions
	}
	if n.MaxCommandBytes == 0 {
		n.MaxCommandBytes = DefaultMaxCommandBytes
	}
	return n
}

// Node runs a Raft core over a Transport, a NodeStorage and the user's
// StateMachine. Its methods are safe for concurrent use. Its goroutines
// start in Start and stop in Close.
type Node struct {
	cfg     NodeConfig
	id      NodeID
	core    *Core
	tr      transport.Transport
	st      NodeStorage
	sm      StateMachine
	log     *slog.Logger
	metrics Metrics

	in   inbox
	reqs requestPool
	// stopc is closed when the node begins to stop; donec when every
	// goroutine has exited and every pending call has been answered.
	stopc chan struct{}
	donec chan struct{}
	ctx   context.Context // cancelled with stopc, for Transport.Send
	stop  context.CancelFunc

	mu       sync.Mutex
	started  bool
	closed   bool
	fatalErr error
	wg       sync.WaitGroup

	// applied is the state machine's applied index, written by the apply
	// goroutine; commit the commit index, written by the loop.
	applied atomic.Uint64
	commit  atomic.Uint64

	loop  loopState
	apply applier
	pers  persister
	snaps snapSender
}

// NewNode validates cfg, opens the core over cfg.Storage and restores the
// state machine from the storage's snapshot, if it holds one. It starts no
// goroutine: call Start.
func NewNode(cfg NodeConfig) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	n := &Node{cfg: c, id: c.Raft.ID, tr: c.Transport, st: c.Storage, sm: c.StateMachine,
		log: c.Logger, metrics: c.Metrics,
		in: inbox{wake: make(chan struct{}, 1)}, stopc: make(chan struct{}), donec: make(chan struct{})}
	n.ctx, n.stop = context.WithCancel(context.Background())
	snap, err := c.Storage.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	n.apply.init(n)
	if !snap.IsEmpty() {
		if err := n.apply.restore(&snap); err != nil {
			return nil, err
		}
	}
	core, err := New(c.Raft)
	if err != nil {
		return nil, err
	}
	n.core = core
	n.applied.Store(snap.Meta.Index)
	n.commit.Store(core.Status().Commit)
	n.loop.init(n)
	return n, nil
}

// ID returns the node's ID.
func (n *Node) ID() NodeID { return n.id }

// Start starts the node's goroutines. It fails with ErrStopped after Close
// and with an error if the node was already started. Calls made before
// Start wait for it.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrStopped
	}
	if n.started {
		return errors.New("raft: node already started")
	}
	n.started = true
	n.pers.start(n)
	n.apply.start()
	n.snaps.start(n)
	n.wg.Add(1)
	go n.run()
	return nil
}

// Close stops the node: every pending call returns ErrStopped, and Close
// waits for the node's goroutines, including a snapshot being written. It
// does not close the Transport or the Storage. It returns the fatal error
// that stopped the node, if any. Close is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		<-n.donec
		return n.fatal()
	}
	n.closed = true
	n.mu.Unlock()
	close(n.stopc)
	n.stop()
	n.in.mu.Lock()
	n.in.closed = true
	n.in.mu.Unlock()
	n.wg.Wait()
	// Answer what the goroutines left behind, and calls still queued.
	n.loop.failAll(n.stoppedErr())
	n.apply.failAll(n.stoppedErr())
	n.in.mu.Lock()
	queued := n.in.reqs
	n.in.reqs = nil
	n.in.mu.Unlock()
	finishAll(queued, n.stoppedErr())
	close(n.donec)
	return n.fatal()
}

func (n *Node) fatal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fatalErr
}

// setFatal records the error that stops the node and begins stopping it.
// The goroutines exit; Close must still be called to wait for them.
func (n *Node) setFatal(err error) {
	n.mu.Lock()
	first := n.fatalErr == nil
	if first {
		n.fatalErr = err
	}
	n.mu.Unlock()
	if first {
		if n.log != nil {
			n.log.Error("raft node stopped", "id", string(n.id), "err", err)
		}
		n.stop()
		// Answer every pending call now rather than when the user gets
		// round to Close; the user's Close returns the same error.
		go n.Close()
	}
}

func (n *Node) stoppedErr() error {
	if err := n.fatal(); err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	return ErrStopped
}

// do hands r to the loop and waits for its answer. Every request that
// enters the inbox is answered exactly once, at the latest by Close, so the
// wait needs no other channel than r's and ctx's: proposers do not contend
// on channels shared by the whole node.
func (n *Node) do(ctx context.Context, r *request) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := n.enqueue(r); err != nil {
		return nil, err
	}
	var rep reply
	if done := ctx.Done(); done == nil {
		rep = <-r.done
	} else {
		select {
		case rep = <-r.done:
		case <-done:
			// The node still holds r and answers it into its buffer
			// later: it must not be reused.
			return nil, ctx.Err()
		}
	}
	n.reqs.put(r)
	return rep.val, rep.err
}

// inbox is where callers leave requests for the loop: a slice under a
// mutex, which the loop takes whole in one critical section, so the
// callers and the loop meet once per batch rather than once per request on
// a channel's lock. wake holds a token while requests may be waiting.
type inbox struct {
	mu     sync.Mutex
	reqs   []*request
	closed bool // set by Close; nothing enters afterwards
	wake   chan struct{}
}

// enqueue leaves r for the loop unless the node is closing. Close sets
// closed before it waits for the loop and then answers what is left, so
// every request that enters is answered.
func (n *Node) enqueue(r *request) error {
	in := &n.in
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return n.stoppedErr()
	}
	in.reqs = append(in.reqs, r)
	first := len(in.reqs) == 1
	in.mu.Unlock()
	if first {
		// The loop takes the whole inbox when it wakes: only the request
		// that finds it empty needs to wake it.
		select {
		case in.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Propose replicates cmd and returns the state machine's Result for it,
// once this node has applied it. A follower forwards cmd to the leader.
// cmd is copied; an empty cmd commits an entry the state machine does not
// see, as a write barrier, and returns nil.
//
// An entry lost in a change of leader (another entry committed at its
// index) is proposed again, as long as ctx allows. Errors:
// ErrProposalDropped when the leader has too many uncommitted bytes;
// ErrQuorumLost when the leader lost its quorum, or this node has not heard
// from a leader for an election timeout (then calls fail at once until it
// does); ErrOutcomeUnknown when this node cannot tell whether the entry was
// applied; ErrCommandTooLarge for a cmd above NodeConfig.MaxCommandBytes;
// ErrStopped; ctx's error.
//
// An error that matches ErrProposalDropped, ErrCommandTooLarge or
// ErrNotLeader guarantees the command was not applied (an ErrQuorumLost
// error for a call that never left this node matches ErrNotLeader too).
// After any other error the command may or may not be applied, now or
// later: use ProposeSession to retry those safely.
func (n *Node) Propose(ctx context.Context, cmd []byte) (any, error) {
	if len(cmd) > n.cfg.MaxCommandBytes {
		return nil, fmt.Errorf("%w: %d bytes, NodeConfig.MaxCommandBytes is %d", ErrCommandTooLarge, len(cmd), n.cfg.MaxCommandBytes)
	}
	r := n.reqs.get(reqPropose)
	r.data = cmd
	return n.do(ctx, r)
}

// ProposeSession is Propose for request seq of client, applied at most once
// however often it is retried (Raft thesis §6.3); it needs
// NodeConfig.Sessions. A client issues its requests one at a time with
// increasing seq and retries a request with the same seq until it gets an
// answer. A retry of the latest applied request returns its Result again
// without applying it, if the result is still known: results that are nil,
// []byte or string survive snapshots, others only in memory (a retry after
// the node restored a snapshot then gets ErrDuplicateRequest). A request
// with seq below the client's latest applied one gets ErrDuplicateRequest.
// Clients beyond NodeConfig.MaxSessions are forgotten least recently used
// first.
func (n *Node) ProposeSession(ctx context.Context, client, seq uint64, cmd []byte) (any, error) {
	if !n.cfg.Sessions {
		return nil, fmt.Errorf("%w: ProposeSession needs NodeConfig.Sessions", ErrInvalidConfig)
	}
	if len(cmd) > n.cfg.MaxCommandBytes {
		return nil, fmt.Errorf("%w: %d bytes, NodeConfig.MaxCommandBytes is %d", ErrCommandTooLarge, len(cmd), n.cfg.MaxCommandBytes)
	}
	r := n.reqs.get(reqPropose)
	r.data = cmd
	r.session, r.client, r.seq = true, client, seq
	return n.do(ctx, r)
}

// ReadIndex is a linearizable read barrier (Raft thesis §6.4): it returns
// once this node's state machine has applied every write acknowledged
// before the call, confirmed by a heartbeat round of the leader. Read the
// state machine after it returns. It works on followers (the leader
// confirms) and fails like Propose when there is no leader.
func (n *Node) ReadIndex(ctx context.Context) error {
	_, err := n.do(ctx, n.reqs.get(reqRead))
	return err
}

// LeaseRead is ReadIndex served from the leader's lease without a
// heartbeat round when Raft.LeaseReads is on and the lease holds (see
// Config.LeaseReads for its clock assumption); otherwise it is ReadIndex.
func (n *Node) LeaseRead(ctx context.Context) error {
	_, err := n.do(ctx, n.reqs.get(reqLeaseRead))
	return err
}

// AddVoter adds id as a voter. It joins as a learner and the leader
// promotes it once it has caught up; AddVoter returns once the change is
// applied on this node, which must be the leader (else a NotLeaderError).
// It fails with ErrConfChangePending while another change is in progress.
func (n *Node) AddVoter(ctx context.Context, id NodeID) error {
	return n.confChange(ctx, ConfChange{Type: ConfAddVoter, Node: id})
}

// AddLearner adds id as a learner: it receives the log but does not vote.
// It returns like AddVoter.
func (n *Node) AddLearner(ctx context.Context, id NodeID) error {
	return n.confChange(ctx, ConfChange{Type: ConfAddLearner, Node: id})
}

// RemoveServer removes the voter or learner id. It returns like AddVoter.
// A leader that removes itself steps down once the change commits.
func (n *Node) RemoveServer(ctx context.Context, id NodeID) error {
	return n.confChange(ctx, ConfChange{Type: ConfRemove, Node: id})
}

func (n *Node) confChange(ctx context.Context, cc ConfChange) error {
	r := n.reqs.get(reqConf)
	r.cc = cc
	_, err := n.do(ctx, r)
	return err
}

// TransferLeadership hands leadership to the voter to and returns once it
// leads, or with ErrTransferTimeout or ErrTransferLost within one election
// timeout. This node must be the leader.
func (n *Node) TransferLeadership(ctx context.Context, to NodeID) error {
	r := n.reqs.get(reqTransfer)
	r.to = to
	_, err := n.do(ctx, r)
	return err
}

// WaitLeader returns the leader's ID once this node knows one. It waits as
// long as ctx allows.
func (n *Node) WaitLeader(ctx context.Context) (NodeID, error) {
	v, err := n.do(ctx, n.reqs.get(reqWaitLeader))
	if err != nil {
		return None, err
	}
	return v.(NodeID), nil
}

// Status returns a snapshot of the node's state. The loop answers it
// between batches; a node that is not running answers from its last state.
func (n *Node) Status() NodeStatus {
	n.mu.Lock()
	if !n.started {
		defer n.mu.Unlock()
		return n.loop.status()
	}
	running := !n.closed && n.fatalErr == nil
	n.mu.Unlock()
	if running {
		if v, err := n.do(context.Background(), n.reqs.get(reqStatus)); err == nil {
			return v.(NodeStatus)
		}
	}
	var st NodeStatus
	select {
	case <-n.loop.exited:
		st = *n.loop.last.Load()
	case <-n.donec:
		st = *n.loop.last.Load()
	}
	st.Stopped = true
	st.Err = n.fatal()
	return st
}

// randomRef returns a start for the references the node gives the core:
// random, so that a restarted node does not reuse references the leader
// still remembers from before the restart.
func randomRef() uint64 { return rand.Uint64() >> 1 }

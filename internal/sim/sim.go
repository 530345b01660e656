package sim

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/distkit/distkit/transport"
)

// NodeID names a simulated node. It is transport.NodeID, so a protocol core
// uses the same identifiers in the simulator as over a real Transport.
type NodeID = transport.NodeID

// Envelope is one outgoing message a node asks the simulator to send. The
// sender is not part of it: like a Transport, the simulator stamps the sender
// itself, so a node cannot speak for another.
type Envelope[M any] struct {
	To  NodeID
	Msg M
}

// Node is what the simulator drives. A pure protocol core plugs in through a
// small adapter that forwards these three calls (see the package example).
//
// The simulator calls a node from a single goroutine, one call at a time, and
// never re-enters it: a message a node sends is never delivered during the
// call that sent it, even with zero delay.
type Node[M any] interface {
	// Deliver hands the node a message that arrived from the node from.
	// The node owns msg from now on, unless Config.Clone is nil and the
	// message was duplicated (see Config.Clone).
	Deliver(from NodeID, msg M)
	// Tick advances the node's logical clock by one tick. Protocol cores
	// count ticks for election and heartbeat timeouts instead of reading a
	// clock.
	Tick()
	// Outbox returns the messages the node wants sent since the previous
	// call and forgets them. The simulator calls it after every Deliver,
	// Tick and Restart, and from Collect. It finishes reading the returned
	// slice before it calls the node again, so the node may hand out its
	// own buffer and reuse the backing array afterwards (Mailbox does).
	Outbox() []Envelope[M]
}

// Crasher is implemented by nodes that care about crashes. A node that does
// not implement it keeps all of its state across a crash, which models a
// process that was paused rather than restarted.
type Crasher interface {
	// Crash is called when the node crashes. The node must drop everything
	// it had not made durable: in-memory state, unsynced writes, pending
	// outgoing messages. The simulator calls no other method until Restart.
	Crash()
	// Restart is called when the node comes back. The node rebuilds its
	// state from whatever survived the crash; messages it sends here (its
	// Outbox is read right after) go out as usual.
	Restart()
}

// Mailbox is a ready-made outbox for adapters: embed it, call Send from the
// adapter, and it provides the Outbox method. Its zero value is ready to use.
type Mailbox[M any] struct {
	buf []Envelope[M]
}

// Send queues msg for the node to. It is sent when the simulator next reads
// the outbox.
func (m *Mailbox[M]) Send(to NodeID, msg M) {
	m.buf = append(m.buf, Envelope[M]{To: to, Msg: msg})
}

// Outbox returns the queued messages and empties the mailbox, reusing its
// buffer for the next batch.
func (m *Mailbox[M]) Outbox() []Envelope[M] {
	out := m.buf
	m.buf = m.buf[:0]
	return out
}

// DefaultTickInterval is the virtual time between two ticks of a node when
// Config.TickInterval is zero.
const DefaultTickInterval = 10 * time.Millisecond

// Config configures a Sim. The zero value is valid: seed 0, a perfect network
// (no delay, loss or duplication) and a tick every DefaultTickInterval.
type Config[M any] struct {
	// Seed seeds the simulator's random number generator (a PCG), which
	// draws every delay, loss, duplication and tick phase. The same seed,
	// nodes and calls give the same run, event for event.
	Seed uint64

	// Network is the link model applied to every directed pair of nodes
	// that SetLink has not overridden. Its zero value is a perfect network:
	// every message arrives after zero delay, in send order.
	Network Link

	// TickInterval is the virtual time between two ticks of the same node.
	// Zero means DefaultTickInterval. Each node's first tick falls at a
	// random point within the first interval after it is added, so nodes
	// do not tick in lock step.
	TickInterval time.Duration
	// NoAutoTick turns off scheduled ticks: nodes are ticked only by Tick.
	// Use it when a test drives time step by step, or for protocols that
	// have no timers.
	NoAutoTick bool

	// Trace, if non-nil, receives one line of text for every event: sends,
	// deliveries, drops, ticks and faults. The same seed and calls give the
	// same bytes. Lines are buffered and written at the latest when the
	// call that produced them (Step, Run, Crash, ...) returns.
	Trace io.Writer
	// Format appends a deterministic rendering of msg to dst for the trace,
	// for example its type and term, or a hash of its encoding. Nil leaves
	// message contents out of the trace. It must not print pointers or
	// anything else that differs between runs, or traces stop matching.
	Format func(dst []byte, msg M) []byte

	// Clone copies a message when the network duplicates it, so that the
	// two copies do not share memory. Nil delivers the same value twice,
	// which is fine for messages that receivers do not modify.
	Clone func(msg M) M
}

// Validate reports whether cfg is usable. It does not modify cfg.
func (cfg *Config[M]) Validate() error {
	if cfg.TickInterval < 0 || cfg.TickInterval > MaxDelay {
		return fmt.Errorf("%w: TickInterval %v outside [0, MaxDelay]", ErrInvalidConfig, cfg.TickInterval)
	}
	if err := cfg.Network.Validate(); err != nil {
		return err
	}
	return nil
}

// Errors returned by the simulator.
var (
	// ErrInvalidConfig is wrapped by Validate and New for a bad Config or Link.
	ErrInvalidConfig = errors.New("sim: invalid config")
	// ErrUnknownNode is returned for a NodeID that was never added.
	ErrUnknownNode = errors.New("sim: unknown node")
	// ErrDuplicateNode is returned by Add for a NodeID already in use.
	ErrDuplicateNode = errors.New("sim: duplicate node")
	// ErrNodeDown is returned by operations that need a running node,
	// such as Tick and Collect on a crashed node.
	ErrNodeDown = errors.New("sim: node down")
	// ErrNoSuchMessage is returned for a pending message ID that is not in
	// flight (never sent, already delivered or dropped).
	ErrNoSuchMessage = errors.New("sim: no such message in flight")
)

// event kinds stored in a slot. Append only: the numbering is internal but
// tests may rely on the relative order of kinds in traces.
const (
	slotMsg uint8 = iota + 1
	slotTick
	slotFunc
)

// slot holds the payload of one queued event.
type slot[M any] struct {
	kind     uint8
	from, to int32 // node indices; to is the ticked node for slotTick
	msg      M
	fn       func()
}

// nodeState is the simulator's bookkeeping for one node.
type nodeState[M any] struct {
	id      NodeID
	node    Node[M]
	crasher Crasher // nil when the node does not implement Crasher
	stats   NodeStats
}

// Sim is a deterministic discrete-event simulator of nodes exchanging
// messages of type M over a faulty network. See the package documentation.
//
// A Sim is not safe for concurrent use.
type Sim[M any] struct {
	cfg  Config[M]
	tick int64 // tick interval in nanoseconds
	rng  *rand.Rand

	now   int64  // virtual time in nanoseconds since the start
	seq   uint64 // last sequence number handed out
	q     queue
	slots []slot[M]
	free  []int32

	nodes []nodeState[M]
	index map[NodeID]int32
	// up and group are per-node fields kept in their own dense slices,
	// because every message reads them for two random nodes: with
	// thousands of nodes that is two cache misses in nodeState, and
	// usually none here.
	up    []bool
	group []int32 // partition group: nodes talk only within a group

	net       Link
	links     map[link]Link
	cuts      map[link]struct{}
	nextGroup int32
	filter    func(from, to NodeID, msg M) bool

	stats Stats
	tr    tracer[M]
}

// New returns a simulator with no nodes at virtual time zero.
func New[M any](cfg Config[M]) (*Sim[M], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tick := cfg.TickInterval
	if tick == 0 {
		tick = DefaultTickInterval
	}
	s := &Sim[M]{
		cfg:   cfg,
		tick:  int64(tick),
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		index: make(map[NodeID]int32),
		net:   cfg.Network,
		tr:    tracer[M]{w: cfg.Trace, format: cfg.Format},
	}
	return s, nil
}

// Add adds a running node. Unless NoAutoTick is set, its first tick is
// scheduled at a random time within one TickInterval from now. Add does not
// read the node's outbox: call Collect once all nodes are added if nodes
// start by sending.
func (s *Sim[M]) Add(id NodeID, n Node[M]) error {
	if _, ok := s.index[id]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateNode, id)
	}
	if n == nil {
		return fmt.Errorf("sim: nil node %q", id)
	}
	i := int32(len(s.nodes))
	c, _ := n.(Crasher)
	s.nodes = append(s.nodes, nodeState[M]{id: id, node: n, crasher: c})
	s.up = append(s.up, true)
	s.group = append(s.group, 0)
	s.index[id] = i
	s.scheduleFirstTick(i)
	return nil
}

// Now returns the virtual time elapsed since the simulator started.
func (s *Sim[M]) Now() time.Duration { return time.Duration(s.now) }

// Nodes returns the IDs of all nodes in the order they were added.
func (s *Sim[M]) Nodes() []NodeID {
	ids := make([]NodeID, len(s.nodes))
	for i := range s.nodes {
		ids[i] = s.nodes[i].id
	}
	return ids
}

// Node returns the node added under id, so that tests can inspect it or
// give it input directly (then call Collect).
func (s *Sim[M]) Node(id NodeID) (Node[M], error) {
	i, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	return s.nodes[i].node, nil
}

// Up reports whether the node is running (added and not crashed).
func (s *Sim[M]) Up(id NodeID) bool {
	i, ok := s.index[id]
	return ok && s.up[i]
}

// Rand returns the simulator's random number generator, for tests that want
// their own random choices (which node to crash, what to propose) to follow
// the same seed. Drawing from it changes the rest of the schedule.
func (s *Sim[M]) Rand() *rand.Rand { return s.rng }

func (s *Sim[M]) lookup(id NodeID) (int32, error) {
	i, ok := s.index[id]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownNode, id)
	}
	return i, nil
}

// Stats counts what happened in a simulation. Every message handed to the
// network is accounted for exactly once:
//
//	Sent + Duplicated == Delivered + Lost + Dropped() + InFlight
type Stats struct {
	// Events is the number of events taken from the queue and executed
	// (deliveries, drops on arrival, ticks, scheduled functions).
	Events int64
	// Sent counts messages handed to the network, from outboxes and Send.
	Sent int64
	// Duplicated counts extra copies the network made of a message,
	// randomly (Link.Duplicate) or through DuplicatePending.
	Duplicated int64
	// Delivered counts messages handed to a node's Deliver.
	Delivered int64
	// Lost counts messages dropped by random loss (Link.Loss).
	Lost int64
	// DroppedPartition counts messages sent over, or arriving on, a link
	// cut by a partition.
	DroppedPartition int64
	// DroppedDown counts messages sent to a node that was down.
	DroppedDown int64
	// DroppedCrash counts messages in flight to a node when it crashed,
	// and messages left unread in a crashing node's outbox.
	DroppedCrash int64
	// DroppedUnknown counts messages addressed to a NodeID never added.
	DroppedUnknown int64
	// DroppedManual counts messages removed with DropPending.
	DroppedManual int64
	// DroppedFilter counts messages the SetFilter function refused.
	DroppedFilter int64
	// InFlight is the number of messages currently queued for delivery.
	InFlight int64
	// Ticks counts Tick calls on nodes, scheduled or manual.
	Ticks int64
	// Crashes and Restarts count node crashes and restarts.
	Crashes, Restarts int64
}

// Dropped returns the number of messages dropped for any reason other than
// random loss.
func (st Stats) Dropped() int64 {
	return st.DroppedPartition + st.DroppedDown + st.DroppedCrash + st.DroppedUnknown + st.DroppedManual + st.DroppedFilter
}

// NodeStats counts what happened to one node.
type NodeStats struct {
	Sent      int64 // messages the node handed to the network
	Delivered int64 // messages delivered to the node
	Ticks     int64
	Crashes   int64
}

// Stats returns the simulation's counters.
func (s *Sim[M]) Stats() Stats { return s.stats }

// NodeStats returns the counters of one node.
func (s *Sim[M]) NodeStats(id NodeID) (NodeStats, error) {
	i, err := s.lookup(id)
	if err != nil {
		return NodeStats{}, err
	}
	return s.nodes[i].stats, nil
}

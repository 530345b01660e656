package memnet

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/distkit/distkit/transport"
)

// Network is an in-process network of Endpoints with scriptable faults. Its
// methods are safe for concurrent use. Create it with New and stop it with
// Close.
type Network struct {
	cfg Config // validated, defaults applied
	log *slog.Logger

	// mu guards everything below. It is held only for short, non-blocking
	// critical sections: channel sends into queues are non-blocking.
	mu          sync.Mutex
	closed      bool
	defaultLink Link
	nodes       map[transport.NodeID]*Endpoint // latest Endpoint per ID, open or closed
	links       map[linkKey]*linkState
	group       map[transport.NodeID]int // partition groups; nil = no partition
	isolated    map[transport.NodeID]bool
	cut         map[linkKey]bool
	crashed     map[transport.NodeID]bool

	// Copies waiting out their delay, ordered by (at, seq), and the one
	// timer that fires for the earliest. timerWG counts scheduled or
	// running timer callbacks so that Close can wait for them.
	pending envelopeHeap
	seq     uint64
	timer   *time.Timer
	timerWG sync.WaitGroup
}

// linkKey names a directed link.
type linkKey struct{ from, to transport.NodeID }

// linkState is the per-link part of the network: its override, its random
// source and its counters.
type linkState struct {
	override *Link
	rng      *rand.Rand
	stats    LinkStats
}

// New returns a Network configured by cfg, or an error if cfg is invalid.
func New(cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Network{
		cfg:         cfg,
		log:         cfg.Logger,
		defaultLink: cfg.Link,
		nodes:       map[transport.NodeID]*Endpoint{},
		links:       map[linkKey]*linkState{},
		isolated:    map[transport.NodeID]bool{},
		cut:         map[linkKey]bool{},
		crashed:     map[transport.NodeID]bool{},
	}, nil
}

// Join adds a node to the network and returns its Endpoint. It fails with
// ErrDuplicateNode if id already has an open Endpoint. An ID whose Endpoint
// was closed may join again: it gets a new Endpoint with a new Recv
// channel, as a process restarted from scratch would. A node that joins while
// its ID is crashed (see Crash) starts crashed.
func (n *Network) Join(id transport.NodeID) (*Endpoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("memnet: join %q: network %w", id, transport.ErrClosed)
	}
	if ep, ok := n.nodes[id]; ok && !ep.closed {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateNode, id)
	}
	ep := &Endpoint{net: n, id: id, ch: make(chan transport.Message, n.cfg.QueueSize)}
	n.nodes[id] = ep
	return ep, nil
}

// Close closes every Endpoint, drops the copies still in flight (counted as
// DroppedClosed) and waits for the network's timer callback to finish. It is
// idempotent. Join fails after Close.
func (n *Network) Close() error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, ep := range n.nodes {
			ep.closeLocked()
		}
		for _, env := range n.pending {
			env.link.stats.InFlight--
			env.link.stats.DroppedClosed++
		}
		n.pending = nil
		if n.timer != nil && n.timer.Stop() {
			// The stopped callback will never run to mark itself done.
			n.timerWG.Done()
		}
	}
	n.mu.Unlock()
	n.timerWG.Wait()
	return nil
}

// SetDefaultLink sets the fault model of every link without an override. It
// applies to messages sent afterwards; copies in flight keep their delay.
func (n *Network) SetDefaultLink(l Link) error {
	if err := l.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.defaultLink = l
	n.log.Info("memnet: default link set", "link", l)
	return nil
}

// SetLink overrides the fault model of the directed link from -> to. It
// applies to messages sent afterwards.
func (n *Network) SetLink(from, to transport.NodeID, l Link) error {
	if err := l.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.linkLocked(from, to).override = &l
	n.log.Info("memnet: link set", "from", from, "to", to, "link", l)
	return nil
}

// ClearLink removes the override of the link from -> to, which then follows
// the default link again.
func (n *Network) ClearLink(from, to transport.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.linkLocked(from, to).override = nil
}

// Partition splits the network into groups: a message between two nodes in
// different groups is dropped, when sent and while in flight. Nodes not named
// in any group form one more group together. An ID named in several groups
// belongs to the last. Partition replaces any previous partition; it does
// not change isolations or one-way cuts. A node can always send to itself.
func (n *Network) Partition(groups ...[]transport.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = map[transport.NodeID]int{}
	for i, g := range groups {
		for _, id := range g {
			n.group[id] = i + 1
		}
	}
	n.dropBlockedLocked()
	n.log.Info("memnet: partition", "groups", groups)
}

// Isolate cuts id off from every other node in both directions, until Heal.
func (n *Network) Isolate(id transport.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[id] = true
	n.dropBlockedLocked()
	n.log.Info("memnet: isolate", "node", id)
}

// Cut drops every message on the directed link from -> to, leaving to -> from
// alone, until Restore or Heal. Cutting a node's link to itself has no
// effect.
func (n *Network) Cut(from, to transport.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[linkKey{from, to}] = true
	n.dropBlockedLocked()
	n.log.Info("memnet: cut", "from", from, "to", to)
}

// Restore undoes Cut(from, to).
func (n *Network) Restore(from, to transport.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, linkKey{from, to})
	n.log.Info("memnet: restore", "from", from, "to", to)
}

// Heal removes the partition, every isolation and every one-way cut. It
// does not restart crashed nodes or change link fault models.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = nil
	clear(n.isolated)
	clear(n.cut)
	n.log.Info("memnet: heal")
}

// Crash crashes node id: the messages in its queue and in flight toward it
// are dropped, its Send fails with transport.ErrCrashed, and nothing is
// delivered to it until Restart. Messages it sent before crashing are
// already on the wire and still arrive. Its Endpoint and Recv channel stay
// the same. Crashing an ID that has not joined yet makes it join crashed.
func (n *Network) Crash(id transport.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.crashed[id] = true
	if ep, ok := n.nodes[id]; ok && !ep.closed {
		ep.wipeLocked()
	}
	n.dropPendingLocked(func(env *envelope) bool { return env.msg.To == id }, func(s *LinkStats) { s.DroppedCrash++ })
	n.log.Info("memnet: crash", "node", id)
}

// Restart brings a crashed node back: its Endpoint sends and receives again,
// starting with an empty queue. Restarting a node that is not crashed does
// nothing.
func (n *Network) Restart(id transport.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.crashed, id)
	n.log.Info("memnet: restart", "node", id)
}

// Crashed reports whether id is crashed.
func (n *Network) Crashed(id transport.NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.crashed[id]
}

// Stats returns the counters of the directed link from -> to.
func (n *Network) Stats(from, to transport.NodeID) LinkStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ls, ok := n.links[linkKey{from, to}]; ok {
		return ls.stats
	}
	return LinkStats{}
}

// TotalStats returns the sum of the counters of every link.
func (n *Network) TotalStats() LinkStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	var total LinkStats
	for _, ls := range n.links {
		total = total.add(ls.stats)
	}
	return total
}

// linkLocked returns the state of the link from -> to, creating it with its
// own random source on first use. Each link's source is seeded from the
// network seed and the link's endpoints, so the decisions on one link do not
// depend on traffic on the others.
func (n *Network) linkLocked(from, to transport.NodeID) *linkState {
	k := linkKey{from, to}
	if ls, ok := n.links[k]; ok {
		return ls
	}
	h := fnv.New64a()
	h.Write([]byte(from))
	h.Write([]byte{0})
	h.Write([]byte(to))
	ls := &linkState{rng: rand.New(rand.NewPCG(n.cfg.Seed, h.Sum64()))}
	n.links[k] = ls
	return ls
}

// blockedLocked reports whether topology faults stop messages from -> to.
func (n *Network) blockedLocked(from, to transport.NodeID) bool {
	if from == to {
		return false
	}
	if n.group != nil && n.group[from] != n.group[to] {
		return true
	}
	return n.isolated[from] || n.isolated[to] || n.cut[linkKey{from, to}]
}

// dropBlockedLocked drops the copies in flight on links that a topology
// change has just cut, as a real network loses the packets on a cable that
// is pulled.
func (n *Network) dropBlockedLocked() {
	n.dropPendingLocked(func(env *envelope) bool {
		return n.blockedLocked(env.msg.From, env.msg.To)
	}, func(s *LinkStats) { s.DroppedPartition++ })
}

package raft_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/raft/wal"
	"github.com/distkit/distkit/transport/memnet"
	"github.com/stretchr/testify/require"
)

// This file is the integration tests' harness: a cluster of raft.Nodes on
// one memnet.Network, each with an itKV state machine and either a real WAL
// in a temporary directory or a MemoryStorage that outlives its node (both
// survive a restart). It must run inside a testing/synctest bubble: the
// network's timer and the nodes' tickers then run on virtual time, and the
// bubble's end proves that Close stopped every goroutine.

// itTick is the tick interval the tests run with: the runtime's default.
const itTick = 50 * time.Millisecond

// itConfig describes a test cluster.
type itConfig struct {
	Size int
	Seed uint64
	// WAL puts every node on a raft.WALStorage in a temporary directory;
	// otherwise each node has a MemoryStorage kept across its restarts.
	WAL  bool
	Sync wal.SyncMode
	// CrashFS puts every node's WAL on its own itCrashFS (implies WAL),
	// whose fsyncs take up to SyncTime (default 2 ms) of virtual time, so
	// that kill cuts the node's power: what it had not fsynced is lost.
	CrashFS  bool
	SyncTime time.Duration
	// SnapshotSyncTime is how long, on CrashFS, the fsync of a snapshot
	// or ConfState file takes (default instant; see itCrashFS).
	SnapshotSyncTime time.Duration
	// Link is the network's default fault model.
	Link memnet.Link
	// MaxPayload is memnet's payload limit; zero means its default.
	MaxPayload int
	// QueueSize is each node's inbound queue on memnet; zero means 4096.
	// A message arriving at a full queue is lost.
	QueueSize int
	// Lockstep starts every node in the same instant, so that their
	// tickers fire together; by default each starts at a random point of
	// the first tick.
	Lockstep bool
	// Tune, if set, adjusts every node's config before NewNode.
	Tune func(id raft.NodeID, cfg *raft.NodeConfig)
	// SMDelay, if set, makes every Apply batch and snapshot write of a
	// node's state machine take that long; it is called with the node's
	// ID for each one, from the node's goroutines.
	SMDelay func(id raft.NodeID) time.Duration
}

// itNode is one member's slot: its durable storage and its current
// incarnation (node, state machine, endpoint), nil while it is down.
type itNode struct {
	id   raft.NodeID
	dir  string
	fs   *itCrashFS // nil: the OS file system
	mem  *raft.MemoryStorage
	join bool

	// Guarded by itCluster.mu.
	ws   *raft.WALStorage
	ep   *memnet.Endpoint
	sm   *itKV
	node *raft.Node
	gen  int
}

type itCluster struct {
	t   testing.TB
	cfg itConfig
	net *memnet.Network
	ids []raft.NodeID // initial voters
	t0  time.Time     // virtual time of creation
	// safety sees every command every state machine applies.
	safety *itSafety

	mu        sync.Mutex
	lostBytes int // unsynced bytes power cuts threw away
	nodes     map[raft.NodeID]*itNode
	order     []raft.NodeID // every member ever added, in order
	retired   map[raft.NodeID]bool
}

// itSeed returns a scenario's seed: DISTKIT_RAFT_NODE_IT_SEED if set, to
// replay or explore other schedules, or def.
func itSeed(def uint64) uint64 {
	return uint64(itEnvInt("DISTKIT_RAFT_NODE_IT_SEED", int(def)))
}

// itIDs returns n node IDs: n1, n2, ...
func itIDs(n int) []raft.NodeID {
	ids := make([]raft.NodeID, n)
	for i := range ids {
		ids[i] = raft.NodeID(fmt.Sprintf("n%d", i+1))
	}
	return ids
}

// newITCluster starts a cluster of cfg.Size voters. Call it inside a
// synctest bubble and defer close. A failing test prints the seed it ran
// with.
func newITCluster(t testing.TB, cfg itConfig) *itCluster {
	t.Helper()
	seed := cfg.Seed
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster seed %d; replay with DISTKIT_RAFT_NODE_IT_SEED=%d", seed, seed)
		}
	})
	mcfg := memnet.Config{Seed: cfg.Seed, Link: cfg.Link, QueueSize: cmp.Or(cfg.QueueSize, 4096), MaxPayload: cfg.MaxPayload}
	t0 := time.Now()
	if itTraceLevel() >= 2 {
		mcfg.Logger = itTraceLogger(t0)
	}
	net, err := memnet.New(mcfg)
	require.NoError(t, err)
	c := &itCluster{t: t, cfg: cfg, net: net, ids: itIDs(cfg.Size), t0: t0, safety: newITSafety(), nodes: map[raft.NodeID]*itNode{}}
	// Start the nodes at different points of a tick, as processes of a
	// real cluster do. Nodes whose tickers run in lockstep time out in the
	// same instant whenever they draw the same election timeout (one
	// chance in ElectionTicks); the failover test covers that case on
	// purpose, with Lockstep.
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x57a9))
	for i, id := range c.ids {
		if i > 0 && !cfg.Lockstep {
			pause(time.Duration(rng.Int64N(int64(itTick))))
		}
		c.add(id, false)
		require.NoError(t, c.start(id), "start %s", id)
	}
	return c
}

// add registers a member slot; join marks a node that starts empty and
// waits to be added by a configuration change.
func (c *itCluster) add(id raft.NodeID, join bool) {
	n := &itNode{id: id, join: join}
	switch {
	case c.cfg.CrashFS:
		n.dir = "/" + string(id)
		n.fs = newITCrashFS(c.cfg.Seed^uint64(len(c.order)+1)<<32, cmp.Or(c.cfg.SyncTime, 2*time.Millisecond))
		n.fs.otherSyncTime = c.cfg.SnapshotSyncTime
	case c.cfg.WAL:
		n.dir = filepath.Join(c.t.TempDir(), string(id))
	default:
		n.mem = raft.NewMemoryStorage()
	}
	c.mu.Lock()
	c.nodes[id] = n
	c.order = append(c.order, id)
	c.mu.Unlock()
}

// nodeSeed gives every incarnation of every node its own core seed.
func (c *itCluster) nodeSeed(id raft.NodeID, gen int) uint64 {
	return c.cfg.Seed*1_000_003 + uint64(slices.Index(c.order, id))*1009 + uint64(gen)
}

// start opens the node's storage and starts a new incarnation of it.
func (c *itCluster) start(id raft.NodeID) error {
	c.mu.Lock()
	n := c.nodes[id]
	if n.node != nil {
		c.mu.Unlock()
		return fmt.Errorf("%s already running", id)
	}
	n.gen++
	gen := n.gen
	seed := c.nodeSeed(id, gen)
	c.mu.Unlock()

	var store raft.NodeStorage = n.mem
	var ws *raft.WALStorage
	if n.dir != "" {
		wcfg := wal.Config{Dir: n.dir, Sync: c.cfg.Sync}
		if n.fs != nil {
			wcfg.FS = n.fs
		}
		var err error
		if ws, err = raft.OpenWALStorage(wcfg); err != nil {
			return fmt.Errorf("open WAL of %s: %w", id, err)
		}
		store = ws
	}
	ep, err := c.net.Join(id)
	if err != nil {
		if ws != nil {
			_ = ws.Close()
		}
		return err
	}
	sm := newITKV()
	sm.safety, sm.id = c.safety, id
	if d := c.cfg.SMDelay; d != nil {
		sm.delay = func() time.Duration { return d(id) }
	}
	cfg := raft.NodeConfig{
		Raft:         raft.Config{ID: id, Seed: seed},
		Transport:    ep,
		Storage:      store,
		StateMachine: sm,
		TickInterval: itTick,
	}
	if n.join {
		cfg.Raft.Join = true
	} else {
		cfg.Raft.Voters = slices.Clone(c.ids)
	}
	if c.cfg.Tune != nil {
		c.cfg.Tune(id, &cfg)
	}
	if itTraceLevel() > 0 {
		cfg.Logger = itTraceLogger(c.t0).With("node", string(id), "gen", gen)
	}
	node, err := raft.NewNode(cfg)
	if err == nil {
		err = node.Start()
		if err != nil {
			_ = node.Close()
		}
	}
	if err != nil {
		_ = ep.Close()
		if ws != nil {
			_ = ws.Close()
		}
		return fmt.Errorf("start %s: %w", id, err)
	}
	c.mu.Lock()
	n.ws, n.ep, n.sm, n.node = ws, ep, sm, node
	c.mu.Unlock()
	return nil
}

// stop closes the node's current incarnation, its endpoint and its WAL, as
// a process that exits does; its storage stays for start. It returns the
// node's Close error (a state machine failure, for instance).
func (c *itCluster) stop(id raft.NodeID) error {
	c.mu.Lock()
	n := c.nodes[id]
	node, ep, ws := n.node, n.ep, n.ws
	n.node, n.ep, n.ws, n.sm = nil, nil, nil, nil
	c.mu.Unlock()
	if node == nil {
		return nil
	}
	err := node.Close()
	_ = ep.Close()
	if ws != nil {
		if werr := ws.Close(); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// kill crashes the node on the network first, so that nothing it does while
// closing reaches anyone, then stops it. The ID stays crashed on the network
// until revive. On a CrashFS cluster it also cuts the node's power before
// stopping it: the storage errors the dying node then meets are expected,
// and not reported.
func (c *itCluster) kill(id raft.NodeID) error {
	c.net.Crash(id)
	c.mu.Lock()
	fs := c.nodes[id].fs
	c.mu.Unlock()
	if fs == nil {
		return c.stop(id)
	}
	lost := fs.crash()
	c.mu.Lock()
	c.lostBytes += lost
	c.mu.Unlock()
	_ = c.stop(id)
	return nil
}

// revive undoes kill: the network delivers to the ID again and the node
// restarts from its storage.
func (c *itCluster) revive(id raft.NodeID) error {
	c.net.Restart(id)
	return c.start(id)
}

// restart stops the node and starts it again from its storage.
func (c *itCluster) restart(id raft.NodeID) error {
	if err := c.stop(id); err != nil {
		return err
	}
	return c.start(id)
}

// close stops every node and the network, reporting Close errors.
func (c *itCluster) close() {
	c.mu.Lock()
	ids := slices.Clone(c.order)
	c.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if err := c.stop(id); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", id, err))
		}
	}
	_ = c.net.Close()
	require.NoError(c.t, errors.Join(errs...))
	require.Empty(c.t, c.safety.errors(), "state machine safety violated")
}

// running returns the node's current incarnation and its state machine, or
// nil if it is down.
func (c *itCluster) running(id raft.NodeID) (*raft.Node, *itKV) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	if n == nil {
		return nil, nil
	}
	return n.node, n.sm
}

// members returns every member ever added, in order.
func (c *itCluster) members() []raft.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

// live returns the members not retired, in order.
func (c *itCluster) live() []raft.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []raft.NodeID
	for _, id := range c.order {
		if !c.retired[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// retire stops a node removed from the cluster for good.
func (c *itCluster) retire(id raft.NodeID) error {
	c.mu.Lock()
	if c.retired == nil {
		c.retired = map[raft.NodeID]bool{}
	}
	c.retired[id] = true
	c.mu.Unlock()
	return c.stop(id)
}

// leader returns the running node that says it leads in the highest term,
// or None.
func (c *itCluster) leader() (raft.NodeID, uint64) {
	var lead raft.NodeID
	var term uint64
	for _, id := range c.members() {
		node, _ := c.running(id)
		if node == nil {
			continue
		}
		st := node.Status()
		if st.Role == raft.StateLeader && st.Term >= term {
			lead, term = id, st.Term
		}
	}
	return lead, term
}

// pause lets d of virtual time pass.
func pause(d time.Duration) {
	<-time.After(d)
}

// waitFor polls cond every step of virtual time until it holds or the
// timeout passes, and reports whether it held.
func waitFor(timeout, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		pause(step)
	}
}

// waitLeader waits for a leader whose term is above minTerm and returns it.
func (c *itCluster) waitLeader(timeout time.Duration, minTerm uint64) raft.NodeID {
	c.t.Helper()
	var lead raft.NodeID
	ok := waitFor(timeout, time.Millisecond, func() bool {
		var term uint64
		lead, term = c.leader()
		return lead != raft.None && term > minTerm
	})
	require.True(c.t, ok, "no leader above term %d within %v", minTerm, timeout)
	return lead
}

// put writes key=value through node via, waiting at most timeout.
func (c *itCluster) put(via raft.NodeID, timeout time.Duration, key, value string) error {
	node, _ := c.running(via)
	if node == nil {
		return fmt.Errorf("%s is down", via)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := node.Propose(ctx, itCmd(key, value))
	return err
}

// putRetry writes key=value, retrying through whichever node leads until it
// is acknowledged or timeout passes. The value must be unique: a retry of a
// write that did land is then a repeat itKV ignores.
func (c *itCluster) putRetry(timeout time.Duration, key, value string) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		via, _ := c.leader()
		if via == raft.None {
			via = c.ids[0]
			for _, id := range c.members() {
				if node, _ := c.running(id); node != nil {
					via = id
					break
				}
			}
		}
		if err = c.put(via, min(time.Until(deadline), 2*time.Second), key, value); err == nil {
			return nil
		}
		pause(10 * time.Millisecond)
	}
	return fmt.Errorf("put %s=%s not acknowledged within %v: %w", key, value, timeout, err)
}

// get reads key linearizably through node via: a ReadIndex (or LeaseRead)
// barrier, then the node's own state machine.
func (c *itCluster) get(via raft.NodeID, timeout time.Duration, key string, lease bool) (string, error) {
	node, sm := c.running(via)
	if node == nil {
		return "", fmt.Errorf("%s is down", via)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	if lease {
		err = node.LeaseRead(ctx)
	} else {
		err = node.ReadIndex(ctx)
	}
	if err != nil {
		return "", err
	}
	return sm.get(key), nil
}

// converge waits until the leader has committed its whole log and every
// running member has applied the same index, at least the leader's commit
// index, with equal state, and returns that state. It fails the test if that does not happen within timeout.
func (c *itCluster) converge(timeout time.Duration) map[string]string {
	c.t.Helper()
	var last string
	var state map[string]string
	ok := waitFor(timeout, 5*time.Millisecond, func() bool {
		lead, _ := c.leader()
		if lead == raft.None {
			last = "no leader"
			return false
		}
		ln, _ := c.running(lead)
		if ln == nil {
			return false
		}
		lst := ln.Status()
		commit := lst.Commit
		if commit < lst.LastIndex {
			// Entries still to commit, such as a new leader's first
			// entry, which commits everything before it.
			last = fmt.Sprintf("leader %s commit %d < last index %d", lead, commit, lst.LastIndex)
			return false
		}
		var applied uint64
		state = nil
		for _, id := range c.members() {
			node, sm := c.running(id)
			if node == nil {
				continue
			}
			a := node.Status().Applied
			_, d := sm.state()
			if a < commit {
				last = fmt.Sprintf("%s applied %d < leader %s commit %d", id, a, lead, commit)
				return false
			}
			if state == nil {
				applied, state = a, d
				continue
			}
			if a != applied || !maps.Equal(d, state) {
				last = fmt.Sprintf("%s applied %d (%d keys), others %d (%d keys)", id, a, len(d), applied, len(state))
				return false
			}
		}
		return true
	})
	require.True(c.t, ok, "cluster did not converge within %v: %s", timeout, last)
	return state
}

// itErrIs reports whether err is one of targets.
func itErrIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// itWriters keep putting fresh keys in the background and remember the
// acknowledged ones, for tests that check no acknowledged write is lost
// across the faults they inject meanwhile.
type itWriters struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	mu   sync.Mutex
	// acked maps each acknowledged key to its value. Read it after halt.
	acked map[string]string
}

// startWriters starts n writers whose keys begin with prefix; each pauses
// every between writes.
func (c *itCluster) startWriters(n int, prefix string, every time.Duration) *itWriters {
	w := &itWriters{stop: make(chan struct{}), acked: map[string]string{}}
	for wr := range n {
		w.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				k, v := fmt.Sprintf("%s%d-%04d", prefix, wr, i), fmt.Sprintf("x%d", i)
				if c.putRetry(10*time.Second, k, v) == nil {
					w.mu.Lock()
					w.acked[k] = v
					w.mu.Unlock()
				}
				pause(every)
			}
		})
	}
	return w
}

// halt stops the writers and waits for them. It is idempotent, so a test
// can defer it and also call it before checking, and a failing test still
// stops its goroutines.
func (w *itWriters) halt() {
	w.once.Do(func() { close(w.stop); w.wg.Wait() })
}

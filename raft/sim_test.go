package raft

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/distkit/distkit/internal/sim"
	"pgregory.net/rapid"
)

// This file runs the cores in internal/sim: a virtual clock ticks every node,
// and the simulated network delays, loses, duplicates and reorders messages,
// partitions nodes and crashes them. The cluster harness still owns the
// cores, their stores and the invariant checks; the adapter below only
// forwards the simulator's calls.

// simAdapter plugs one harness node into the simulator. A batch's Persist
// step completes either at once or only when the node's next event arrives,
// so a crash in between loses exactly the unsynced writes.
type simAdapter struct {
	sim.Mailbox[Message]
	c     *cluster
	sn    *simNode
	rng   rng
	delay bool // persist lazily (at the next event) rather than at once
}

func (a *simAdapter) settle() {
	a.c.persist(a.sn)
	a.c.ready(a.sn)
	if !a.delay || a.rng.intn(2) == 0 {
		a.c.persist(a.sn)
		a.c.ready(a.sn)
	}
}

func (a *simAdapter) Deliver(from NodeID, m Message) {
	a.c.persist(a.sn)
	m.From = from
	if err := a.sn.core.Step(m); err != nil {
		a.c.t.Fatalf("%s: step: %v", a.sn.id, err)
	}
	a.settle()
}

func (a *simAdapter) Tick() {
	a.c.persist(a.sn)
	a.sn.core.Tick()
	a.settle()
}

func (a *simAdapter) Crash() { a.c.crash(a.sn) }

func (a *simAdapter) Restart() {
	a.c.restart(a.sn)
	a.settle()
}

type simCluster struct {
	*cluster
	s        *sim.Sim[Message]
	adapters map[NodeID]*simAdapter
}

func newSimCluster(t tb, seed uint64, n int, tweak func(*Config), lazy bool, trace *strings.Builder) *simCluster {
	c := newCluster(t, n, tweak)
	cfg := sim.Config[Message]{
		Seed:         seed,
		TickInterval: 10 * time.Millisecond,
		Network:      sim.Link{Delay: time.Millisecond, Jitter: 4 * time.Millisecond},
		Format: func(b []byte, m Message) []byte {
			return fmt.Appendf(b, "%s t%d i%d lt%d c%d r%v e%d", m.Type, m.Term, m.Index, m.LogTerm, m.Commit, m.Reject, len(m.Entries))
		},
	}
	if trace != nil {
		cfg.Trace = trace
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	sc := &simCluster{cluster: c, s: s, adapters: map[NodeID]*simAdapter{}}
	c.sink = func(m Message) { sc.adapters[m.From].Send(m.To, m) }
	for i, id := range c.ids {
		a := &simAdapter{c: c, sn: c.nodes[id], rng: newRNG(seed*31 + uint64(i)), delay: lazy}
		sc.adapters[id] = a
		if err := s.Add(id, a); err != nil {
			t.Fatalf("sim.Add: %v", err)
		}
	}
	return sc
}

// proposeToLeader proposes data on the current leader, if any, and hands
// the resulting messages to the simulator.
func (sc *simCluster) proposeToLeader(data []byte) {
	l := sc.leader()
	if l == nil {
		return
	}
	if sc.propose(l, data) == nil {
		sc.adapters[l.id].settle()
		if err := sc.s.Collect(l.id); err != nil {
			sc.t.Fatalf("collect: %v", err)
		}
	}
}

// steps runs up to n simulator events, checking the invariants after each.
func (sc *simCluster) steps(n int) {
	sc.t.Helper()
	for i := 0; i < n; i++ {
		if _, ok := sc.s.Step(); !ok {
			return
		}
		sc.checkInvariants()
	}
}

// converge heals everything and runs until a fresh entry and every
// acknowledged entry are applied on all nodes.
func (sc *simCluster) converge(limit time.Duration) {
	sc.t.Helper()
	sc.s.Heal()
	_ = sc.s.SetNetwork(sim.Link{Delay: time.Millisecond, Jitter: 4 * time.Millisecond})
	for _, id := range sc.ids {
		if !sc.s.Up(id) {
			if err := sc.s.Restart(id); err != nil {
				sc.t.Fatalf("restart: %v", err)
			}
		}
	}
	sc.seq++
	marker := []byte(fmt.Sprintf("final-%d", sc.seq))
	deadline := sc.s.Now() + limit
	proposedIn := uint64(0)
	for sc.s.Now() < deadline {
		if l := sc.leader(); l != nil && l.core.term > proposedIn && !sc.allApplied(marker) {
			sc.proposeToLeader(marker)
			proposedIn = l.core.term
		}
		if sc.allApplied(marker) {
			return
		}
		sc.steps(50)
	}
	var b strings.Builder
	for _, id := range sc.ids {
		if sn := sc.nodes[id]; sn.up {
			fmt.Fprintf(&b, "%s: %+v; ", id, sn.core.Status())
		}
	}
	sc.t.Fatalf("no convergence within %v of virtual time: %s", limit, b.String())
}

// TestSimHistories is the rapid state-machine test run through
// internal/sim: rapid draws the fault schedule (event steps, proposals,
// partitions, isolation, heals, crashes, restarts, lossy and duplicating
// network phases) and the safety properties are checked after every
// simulator event.
func TestSimHistories(t *testing.T) {
	n := historyCount() / 5
	per := 100
	for run := 0; run*per < n; run++ {
		t.Run(fmt.Sprintf("batch%d", run), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				seed := rapid.Uint64().Draw(rt, "seed")
				size := []int{3, 5}[rapid.IntRange(0, 1).Draw(rt, "nodes")]
				lazy := rapid.Bool().Draw(rt, "lazyPersist")
				maxEnts := rapid.IntRange(1, 8).Draw(rt, "maxMsgEntries")
				sc := newSimCluster(rt, seed, size, func(cfg *Config) {
					cfg.ElectionTicks = 10
					cfg.MaxMsgEntries = maxEnts
					cfg.MaxInflightMsgs = 4
					cfg.SnapshotChunkBytes = 16
				}, lazy, nil)
				node := func(rt *rapid.T) NodeID { return sc.ids[rapid.IntRange(0, size-1).Draw(rt, "node")] }
				rt.Repeat(map[string]func(*rapid.T){
					"": func(*rapid.T) { sc.checkInvariants() },
					"steps": func(rt *rapid.T) {
						sc.steps(rapid.IntRange(1, 200).Draw(rt, "events"))
					},
					"propose": func(rt *rapid.T) {
						sc.seq++
						sc.proposeToLeader([]byte(fmt.Sprintf("p%d", sc.seq)))
					},
					"partition": func(rt *rapid.T) {
						var a, b []NodeID
						for _, id := range sc.ids {
							if rapid.Bool().Draw(rt, "side") {
								a = append(a, id)
							} else {
								b = append(b, id)
							}
						}
						_ = sc.s.Partition(a, b)
					},
					"isolate": func(rt *rapid.T) { _ = sc.s.Isolate(node(rt)) },
					"isolateLeader": func(rt *rapid.T) {
						if l := sc.leader(); l != nil {
							_ = sc.s.Isolate(l.id)
						}
					},
					"crashLeader": func(rt *rapid.T) {
						if l := sc.leader(); l != nil {
							_ = sc.s.Crash(l.id)
						}
					},
					"heal": func(rt *rapid.T) { sc.s.Heal() },
					"snapshot": func(rt *rapid.T) {
						sc.snapshot(sc.nodes[node(rt)], uint64(rapid.IntRange(0, 2).Draw(rt, "compactLag")))
					},
					"crash": func(rt *rapid.T) { _ = sc.s.Crash(node(rt)) },
					"restart": func(rt *rapid.T) {
						if id := node(rt); !sc.s.Up(id) {
							_ = sc.s.Restart(id)
						}
					},
					"lossy": func(rt *rapid.T) {
						_ = sc.s.SetNetwork(sim.Link{
							Delay: time.Millisecond, Jitter: 20 * time.Millisecond,
							TailProb: 0.05, TailMean: 50 * time.Millisecond,
							Loss:      float64(rapid.IntRange(0, 30).Draw(rt, "lossPct")) / 100,
							Duplicate: float64(rapid.IntRange(0, 10).Draw(rt, "dupPct")) / 100,
						})
					},
				})
				sc.converge(60 * time.Second)
			})
		})
	}
}

// TestSimDeterminism runs one seeded simulation twice and compares the
// simulator's traces byte for byte.
func TestSimDeterminism(t *testing.T) {
	run := func() string {
		var tr strings.Builder
		sc := newSimCluster(t, 42, 5, nil, true, &tr)
		_ = sc.s.SetNetwork(sim.Link{Delay: time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.1, Duplicate: 0.05})
		for i := 0; i < 40; i++ {
			sc.steps(100)
			sc.seq++
			sc.proposeToLeader([]byte(fmt.Sprintf("p%d", sc.seq)))
			if i == 10 {
				_ = sc.s.Crash(sc.ids[0])
			}
			if i == 20 {
				_ = sc.s.Restart(sc.ids[0])
				_ = sc.s.Isolate(sc.ids[1])
			}
		}
		sc.converge(60 * time.Second)
		return tr.String()
	}
	a, b := run(), run()
	if a != b {
		t.Fatalf("two runs of one seed produced different traces")
	}
	if len(a) == 0 {
		t.Fatalf("empty trace")
	}
}

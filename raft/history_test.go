package raft

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// This file generates random histories of a whole cluster under faults and
// checks the Raft safety properties after every step. The same action set
// runs under rapid (shrinking, replay from -rapid.seed) and under a plain
// seeded driver (for the mutation and determinism checks).

// chooser draws labelled choices: rapid draws or a seeded generator.
type chooser interface {
	intn(n int, label string) int
}

type rapidChooser struct{ t *rapid.T }

func (r rapidChooser) intn(n int, label string) int {
	return rapid.IntRange(0, n-1).Draw(r.t, label)
}

type seedChooser struct{ r rng }

func (s *seedChooser) intn(n int, _ string) int { return s.r.intn(n) }

type historyAction struct {
	name   string
	weight int
	run    func(c *cluster, ch chooser)
}

func pickNode(c *cluster, ch chooser) *simNode { return c.node(ch.intn(len(c.ids), "node")) }

var historyActions = []historyAction{
	{"tick", 6, func(c *cluster, ch chooser) {
		sn := pickNode(c, ch)
		if c.syncTicks {
			// Lease reads assume clocks that drift apart by at most
			// LeaseDriftTicks: every node ticks together.
			c.tickAll()
			return
		}
		c.tick(sn)
	}},
	{"tickAll", 12, func(c *cluster, ch chooser) { c.tickAll() }},
	{"propose", 6, func(c *cluster, ch chooser) {
		sn := pickNode(c, ch)
		if l := c.leader(); l != nil && ch.intn(4, "toLeader") > 0 {
			sn = l
		}
		c.seq++
		_ = c.propose(sn, []byte(fmt.Sprintf("p%d", c.seq)))
	}},
	{"read", 3, func(c *cluster, ch chooser) { c.read(pickNode(c, ch)) }},
	{"readLeaders", 2, func(c *cluster, ch chooser) {
		// Clients ask whoever claims to lead, deposed leaders included.
		for _, sn := range c.list {
			if sn.up && sn.core.state == StateLeader {
				c.read(sn)
			}
		}
	}},
	{"proposeRef", 3, func(c *cluster, ch chooser) {
		sn := pickNode(c, ch)
		if sn.up {
			c.seq++
			c.ref++
			_ = sn.core.ProposeRef(c.ref, []byte(fmt.Sprintf("f%d", c.seq)))
		}
	}},
	{"confChange", 2, func(c *cluster, ch chooser) {
		if l := c.leader(); l != nil {
			cc := ConfChange{Type: ConfChangeType(1 + ch.intn(3, "changeType")), Node: pickNode(c, ch).id}
			if _, _, err := l.core.ProposeConfChange(cc); err == nil {
				c.logf("conf change %s %v", l.id, cc)
			}
		}
	}},
	{"jointChange", 2, func(c *cluster, ch chooser) {
		if l := c.leader(); l != nil {
			ccs := make([]ConfChange, 1+ch.intn(3, "changes"))
			for i := range ccs {
				ccs[i] = ConfChange{Type: ConfChangeType(1 + ch.intn(3, "changeType")), Node: pickNode(c, ch).id}
			}
			if _, _, err := l.core.ProposeConfChanges(ccs...); err == nil {
				c.logf("joint change %s %v", l.id, ccs)
			}
		}
	}},
	{"transfer", 1, func(c *cluster, ch chooser) {
		if l := c.leader(); l != nil {
			_ = l.core.TransferLeadership(pickNode(c, ch).id)
		}
	}},
	{"ready", 4, func(c *cluster, ch chooser) { c.ready(pickNode(c, ch)) }},
	{"persist", 4, func(c *cluster, ch chooser) { c.persist(pickNode(c, ch)) }},
	{"cycle", 6, func(c *cluster, ch chooser) { c.cycle(pickNode(c, ch)) }},
	{"deliver", 12, func(c *cluster, ch chooser) {
		// Any message may go next: this is where reordering comes from.
		if len(c.net) > 0 {
			c.deliver(ch.intn(len(c.net), "msg"))
		}
	}},
	{"deliverFirst", 6, func(c *cluster, ch chooser) {
		for n := ch.intn(8, "count"); n >= 0 && len(c.net) > 0; n-- {
			c.deliver(0)
		}
	}},
	{"round", 10, func(c *cluster, ch chooser) {
		// A burst of ordinary progress: every node handles its batch and a
		// random subset of the network is delivered in random order.
		c.cycleAll()
		for n := ch.intn(len(c.net)+1, "count"); n > 0 && len(c.net) > 0; n-- {
			c.deliver(ch.intn(len(c.net), "msg"))
		}
		c.cycleAll()
	}},
	{"settle", 3, func(c *cluster, ch chooser) {
		// Everything in flight arrives in order (partitions still apply):
		// writes get acknowledged, so stale reads have something to miss.
		c.deliverAll(10)
	}},
	{"snapshot", 2, func(c *cluster, ch chooser) {
		c.snapshot(pickNode(c, ch), uint64(ch.intn(3, "compactLag")))
	}},
	{"drop", 2, func(c *cluster, ch chooser) {
		if len(c.net) > 0 {
			i := ch.intn(len(c.net), "msg")
			c.net = append(c.net[:i], c.net[i+1:]...)
		}
	}},
	{"duplicate", 2, func(c *cluster, ch chooser) {
		if len(c.net) > 0 {
			c.net = append(c.net, c.net[ch.intn(len(c.net), "msg")])
		}
	}},
	{"partition", 2, func(c *cluster, ch chooser) {
		// Split the cluster in two at a random point of a random order.
		c.heal()
		side := make(map[NodeID]bool)
		for _, id := range c.ids {
			side[id] = ch.intn(2, "side") == 1
		}
		for _, a := range c.ids {
			for _, b := range c.ids {
				if side[a] != side[b] {
					c.setCut(a, b, true)
				}
			}
		}
	}},
	{"isolate", 2, func(c *cluster, ch chooser) { c.isolate(pickNode(c, ch).id) }},
	{"isolateLeader", 2, func(c *cluster, ch chooser) {
		if l := c.leader(); l != nil {
			c.isolate(l.id)
		}
	}},
	{"crashLeader", 1, func(c *cluster, ch chooser) {
		if l := c.leader(); l != nil {
			c.crash(l)
		}
	}},
	{"proposeIsolate", 2, func(c *cluster, ch chooser) {
		// Leave entries on the leader alone: the divergent logs that the
		// commit rule and the up-to-date check exist for.
		if l := c.leader(); l != nil {
			c.seq++
			_ = c.propose(l, []byte(fmt.Sprintf("p%d", c.seq)))
			c.cycle(l)
			c.isolate(l.id)
		}
	}},
	{"dropFrom", 1, func(c *cluster, ch chooser) {
		id := pickNode(c, ch).id
		c.net = slices.DeleteFunc(c.net, func(m Message) bool { return m.From == id })
	}},
	{"elect", 3, func(c *cluster, ch chooser) {
		// A directed election: the chosen node times out and only election
		// messages move, so logs stay divergent across leader changes.
		sn := pickNode(c, ch)
		isVote := func(m Message) bool {
			switch m.Type {
			case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
				return true
			}
			return false
		}
		// Sometimes every node but the leaders ticks along: a leader that
		// is paused (a long GC, a stalled disk) while the others move on.
		others := ch.intn(2, "othersTick") == 0
		for r := 0; r < 30 && sn.up && sn.core.state != StateLeader; r++ {
			if c.syncTicks {
				c.tickAll()
			} else {
				sn.core.Tick()
				if others {
					for _, o := range c.list {
						if o != sn && o.up && o.core.state != StateLeader {
							o.core.Tick()
						}
					}
				}
			}
			c.deliverWhere(10, isVote)
		}
	}},
	{"heal", 3, func(c *cluster, ch chooser) { c.heal() }},
	{"crash", 1, func(c *cluster, ch chooser) { c.crash(pickNode(c, ch)) }},
	{"restart", 3, func(c *cluster, ch chooser) {
		var down []*simNode
		for _, id := range c.ids {
			if !c.nodes[id].up {
				down = append(down, c.nodes[id])
			}
		}
		if len(down) > 0 {
			c.restart(down[ch.intn(len(down), "down")])
		}
	}},
}

// newHistoryCluster draws the cluster shape and flow-control limits, small
// enough that batching, windows and back-off all come into play.
func newHistoryCluster(t tb, ch chooser, mut mutation, narrow bool) *cluster {
	n := []int{3, 5}[ch.intn(2, "nodes")]
	maxEnts := 1 + ch.intn(4, "maxMsgEntries")
	prevote := ch.intn(4, "disablePreVote") == 0
	cq := ch.intn(4, "disableCheckQuorum") == 0
	lease := !cq && ch.intn(2, "leaseReads") == 0
	chunk := uint64(1 + ch.intn(64, "snapshotChunkBytes"))
	learner := n == 5 && ch.intn(3, "learner") == 0
	// Some 5-node histories start with three voters; the other two join
	// when a membership change adds them.
	joiners := n == 5 && !learner && ch.intn(2, "joiners") == 0
	if narrow {
		// The narrow profile: three nodes, one entry per append, no pre-vote
		// or check-quorum. Divergent logs and old-term acknowledgements
		// come up far more often, so broken variants are caught in fewer
		// seeds.
		n, maxEnts, prevote, cq, lease, learner, joiners = 3, 1, true, true, false, false, false
	}
	inflight := 1 + ch.intn(3, "maxInflight")
	tweak := func(cfg *Config) {
		cfg.ElectionTicks = 4
		cfg.HeartbeatTicks = 1
		cfg.MaxMsgEntries = maxEnts
		cfg.MaxInflightMsgs = inflight
		cfg.DisablePreVote = prevote
		cfg.DisableCheckQuorum = cq
		cfg.LeaseReads = lease
		cfg.SnapshotChunkBytes = chunk
		if learner {
			// Four voters and a learner that must never count.
			cfg.Voters = append([]NodeID(nil), cfg.Voters[:4]...)
			cfg.Learners = []NodeID{"n5"}
		}
		if joiners {
			cfg.Voters = []NodeID{"n1", "n2", "n3"}
			if !slices.Contains(cfg.Voters, cfg.ID) {
				cfg.Voters, cfg.Join = nil, true
			}
		}
	}
	c := newClusterMut(t, n, tweak, mut)
	c.syncTicks = lease
	return c
}

func newClusterMut(t tb, n int, tweak func(*Config), mut mutation) *cluster {
	c := newCluster(t, n, tweak)
	c.mutation = mut
	for _, id := range c.ids {
		c.nodes[id].core.mutation = mut
	}
	return c
}

// runSeeded runs one history from a seed with weighted actions.
func runSeeded(t tb, seed uint64, steps int, mut mutation, narrow, trace bool) *cluster {
	ch := &seedChooser{r: newRNG(seed)}
	c := newHistoryCluster(t, ch, mut, narrow)
	if trace {
		c.trace = new(strings.Builder)
	}
	total := 0
	for _, a := range historyActions {
		total += a.weight
	}
	for s := 0; s < steps; s++ {
		w := ch.intn(total, "action")
		for _, a := range historyActions {
			if w < a.weight {
				c.logf("-- %s", a.name)
				a.run(c, ch)
				break
			}
			w -= a.weight
		}
		c.checkInvariants()
	}
	c.stabilize(400)
	return c
}

// historyCount is the number of generated histories a test run checks:
// DISTKIT_RAFT_HISTORIES, or 500 (250 with -short).
func historyCount() int {
	if v, err := strconv.Atoi(os.Getenv("DISTKIT_RAFT_HISTORIES")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 250
	}
	return 500
}

// TestHistories is the rapid state-machine test: random schedules of ticks,
// proposals, batch steps, deliveries in any order, drops, duplicates,
// partitions, heals and crash-restarts that lose unsynced writes, with the
// safety properties checked after every action and a recovery check at the
// end of each history.
func TestHistories(t *testing.T) {
	// Each rapid.Check runs -rapid.checks histories (100 by default).
	n := historyCount()
	per := 100
	for run := 0; run*per < n; run++ {
		t.Run(fmt.Sprintf("batch%d", run), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				ch := rapidChooser{rt}
				c := newHistoryCluster(rt, ch, mutNone, false)
				actions := map[string]func(*rapid.T){
					"": func(*rapid.T) { c.checkInvariants() },
				}
				for _, a := range historyActions {
					a := a
					for w := 0; w < a.weight; w++ {
						actions[fmt.Sprintf("%s%d", a.name, w)] = func(rt *rapid.T) { a.run(c, rapidChooser{rt}) }
					}
				}
				for r := 0; r < 8; r++ {
					rt.Repeat(actions)
				}
				c.stabilize(400)
			})
		})
	}
}

package raft

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/distkit/distkit/internal/sim"
)

// This file checks linearizability end to end: clients run a key-value
// workload of writes (proposals, forwarded from whichever node the client
// talks to) and ReadIndex reads against a simulated cluster under
// partitions, loss, duplication, reordering and crashes, and porcupine
// checks the recorded history against a sequential key-value store.

type kvInput struct {
	write bool
	key   string
	value string
}

var kvModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.write {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.write {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %v", in.key, output)
	},
}

// kvClient runs one operation at a time against one node.
type kvClient struct {
	id     int
	node   NodeID
	busy   bool
	write  bool
	key    string
	value  string
	ref    uint64
	call   int64
	index  uint64 // write: where it landed; read: the read index
	term   uint64
	known  bool // index (and term) known
	giveUp int64
}

type linRun struct {
	sc      *simCluster
	clients []*kvClient
	ops     []porcupine.Operation
	rng     rng
	ref     uint64
}

// kvValue returns the value of key in a node's applied state. Like a real
// service with request IDs (thesis §6.3), the store applies each write once:
// values are unique per write, so a repeat of one (a retried or duplicated
// request appended twice) is ignored.
func kvValue(sn *simNode, key string) string {
	v := ""
	seen := map[string]bool{}
	for _, e := range sn.applied {
		k, val, ok := strings.Cut(string(e.Data), "=")
		if !ok || k != key || seen[val] {
			continue
		}
		seen[val] = true
		v = val
	}
	return v
}

func (r *linRun) now() int64 { return int64(r.sc.s.Now()) }

func (r *linRun) finish(cl *kvClient, output any, ret int64) {
	r.ops = append(r.ops, porcupine.Operation{ClientId: cl.id,
		Input: kvInput{write: cl.write, key: cl.key, value: cl.value}, Call: cl.call, Output: output, Return: ret})
	cl.busy = false
}

// start begins a new operation on an idle client.
func (r *linRun) start(cl *kvClient) {
	sn := r.sc.nodes[cl.node]
	if !sn.up {
		return
	}
	r.ref++
	cl.busy, cl.known, cl.ref = true, false, r.ref
	cl.write = r.rng.intn(2) == 0
	cl.key = fmt.Sprintf("k%d", r.rng.intn(2))
	cl.call = r.now()
	cl.giveUp = cl.call + int64(2*time.Second)
	var err error
	if cl.write {
		cl.value = fmt.Sprintf("v%d", r.ref)
		err = sn.core.ProposeRef(cl.ref, []byte(cl.key+"="+cl.value))
	} else {
		cl.value = ""
		err = r.sc.readRef(sn, cl.ref)
	}
	if err != nil {
		cl.busy = false // refused at once: it never happened
		return
	}
	r.sc.adapters[cl.node].settle()
	_ = r.sc.s.Collect(cl.node)
}

// onBatch records proposal results and read indexes for the clients.
func (r *linRun) onBatch(sn *simNode, rd *Ready) {
	for _, cl := range r.clients {
		if !cl.busy || cl.node != sn.id {
			continue
		}
		for _, p := range rd.Proposals {
			if cl.write && p.Ref == cl.ref {
				if p.Err != nil {
					cl.busy = false
				} else {
					cl.index, cl.term, cl.known = p.Index, p.Term, true
				}
			}
		}
		for _, rs := range rd.ReadStates {
			if !cl.write && rs.Ref == cl.ref && !cl.known {
				cl.index, cl.known = rs.Index, true
			}
		}
	}
}

// poll completes operations whose outcome the client's node now knows.
func (r *linRun) poll() {
	for _, cl := range r.clients {
		if !cl.busy {
			continue
		}
		sn := r.sc.nodes[cl.node]
		switch {
		case !sn.up:
			// The node crashed: a write may or may not have happened; a
			// read simply never returned.
			r.abandon(cl)
		case cl.known && uint64(len(sn.applied)) >= cl.index:
			if cl.write {
				if sn.applied[cl.index-1].Term == cl.term {
					r.finish(cl, nil, r.now())
				} else {
					cl.busy = false // lost with its leader's term: never happened
				}
			} else {
				r.finish(cl, kvValue(sn, cl.key), r.now())
			}
		case r.now() > cl.giveUp:
			r.abandon(cl)
		}
	}
}

func (r *linRun) abandon(cl *kvClient) {
	if cl.write {
		// Unknown outcome: it may take effect at any time from now on.
		r.finish(cl, nil, int64(1)<<62)
		return
	}
	cl.busy = false
}

func runLinearizability(t tb, seed uint64, size int) ([]porcupine.Operation, *simCluster) {
	// Odd seeds of each size use lease reads (see TestLinearizability).
	lease := seed%4 >= 2
	sc := newSimCluster(t, seed, size, func(cfg *Config) { cfg.MaxMsgEntries = 4; cfg.LeaseReads = lease; cfg.SnapshotChunkBytes = 64 }, true, nil)
	r := &linRun{sc: sc, rng: newRNG(seed ^ 0x5eed)}
	for i, id := range sc.ids {
		r.clients = append(r.clients, &kvClient{id: i, node: id})
	}
	sc.onBatch = r.onBatch
	lossy := sim.Link{Delay: time.Millisecond, Jitter: 15 * time.Millisecond, TailProb: 0.02, TailMean: 40 * time.Millisecond,
		Loss: 0.05, Duplicate: 0.03}
	_ = sc.s.SetNetwork(lossy)
	end := 4 * time.Second
	for sc.s.Now() < end {
		sc.steps(20)
		r.poll()
		for _, cl := range r.clients {
			if !cl.busy && r.rng.intn(3) == 0 {
				r.start(cl)
			}
		}
		switch r.rng.intn(400) {
		case 0:
			var a, b []NodeID
			for _, id := range sc.ids {
				if r.rng.intn(2) == 0 {
					a = append(a, id)
				} else {
					b = append(b, id)
				}
			}
			_ = sc.s.Partition(a, b)
		case 1, 2:
			sc.s.Heal()
		case 3:
			_ = sc.s.Crash(sc.ids[r.rng.intn(size)])
		case 4, 5:
			for _, id := range sc.ids {
				if !sc.s.Up(id) {
					_ = sc.s.Restart(id)
				}
			}
		case 6:
			if l := sc.leader(); l != nil {
				_ = sc.s.Isolate(l.id)
			}
		case 7, 8, 9:
			sc.snapshot(sc.list[r.rng.intn(size)], uint64(r.rng.intn(3)))
		}
	}
	sc.converge(60 * time.Second)
	for i := 0; i < 20; i++ {
		sc.steps(50)
		r.poll()
	}
	for _, cl := range r.clients {
		if cl.busy {
			r.abandon(cl)
		}
	}
	return r.ops, sc
}

// linSeeds is the number of seeds TestLinearizability checks:
// DISTKIT_RAFT_LIN_SEEDS, or 40 (10 with -short, 6 under the race detector,
// which slows the checker down some forty times).
func linSeeds() int {
	if v, err := strconv.Atoi(os.Getenv("DISTKIT_RAFT_LIN_SEEDS")); err == nil && v > 0 {
		return v
	}
	if raceEnabled {
		return 6
	}
	if testing.Short() {
		return 10
	}
	return 40
}

// TestLinearizability runs the key-value workload on 3- and 5-node
// simulated clusters and requires every history to be linearizable.
func TestLinearizability(t *testing.T) {
	n := linSeeds()
	total, completed := 0, 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		size := 3 + 2*int(seed%2)
		ops, _ := runLinearizability(t, seed, size)
		total++
		completed += len(ops)
		res, info := porcupine.CheckOperationsVerbose(kvModel, ops, 10*time.Second)
		if res != porcupine.Ok {
			path := fmt.Sprintf("%s/lin-seed-%d.html", t.TempDir(), seed)
			_ = porcupine.VisualizePath(kvModel, info, path)
			t.Fatalf("seed %d (%d nodes): history of %d operations is %s; visualization at %s", seed, size, len(ops), res, path)
		}
	}
	t.Logf("%d seeds, %d operations, 0 violations", total, completed)
}

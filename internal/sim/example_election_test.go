package sim_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/distkit/distkit/internal/sim"
)

// vote is the message of a toy leader election, the election half of Raft
// without logs.
type vote struct {
	Kind    string // "request", "grant", "heartbeat"
	Term    int
	Granted bool
}

// elector is a pure election core and its simulator adapter in one: it
// counts ticks instead of reading a clock and draws its timeouts from its
// own seeded generator. Term and votedFor are durable (they survive Crash);
// everything else is lost.
type elector struct {
	self  sim.NodeID
	peers []sim.NodeID
	rng   *rand.Rand

	term     int        // durable
	votedFor sim.NodeID // durable

	leader  bool
	votes   int
	elapsed int
	timeout int
	sim.Mailbox[vote]
}

func newElector(self sim.NodeID, peers []sim.NodeID, seed uint64) *elector {
	e := &elector{self: self, peers: peers, rng: rand.New(rand.NewPCG(seed, uint64(len(self))+uint64(self[1])))}
	e.resetTimeout()
	return e
}

func (e *elector) resetTimeout() { e.elapsed, e.timeout = 0, 10+e.rng.IntN(10) }

func (e *elector) broadcast(v vote) {
	for _, p := range e.peers {
		if p != e.self {
			e.Send(p, v)
		}
	}
}

func (e *elector) Tick() {
	if e.leader {
		e.broadcast(vote{Kind: "heartbeat", Term: e.term})
		return
	}
	if e.elapsed++; e.elapsed >= e.timeout {
		e.term++
		e.votedFor, e.votes = e.self, 1
		e.resetTimeout()
		e.broadcast(vote{Kind: "request", Term: e.term})
	}
}

func (e *elector) Deliver(from sim.NodeID, v vote) {
	if v.Term > e.term {
		e.term, e.votedFor, e.leader = v.Term, "", false
	}
	if v.Term < e.term {
		return
	}
	switch v.Kind {
	case "request":
		granted := e.votedFor == "" || e.votedFor == from
		if granted {
			e.votedFor = from
			e.resetTimeout()
		}
		e.Send(from, vote{Kind: "grant", Term: e.term, Granted: granted})
	case "grant":
		if v.Granted && !e.leader && e.votedFor == e.self {
			if e.votes++; e.votes > len(e.peers)/2 {
				e.leader = true
				e.broadcast(vote{Kind: "heartbeat", Term: e.term})
			}
		}
	case "heartbeat":
		e.resetTimeout()
	}
}

// Crash loses everything but the durable term and vote.
func (e *elector) Crash() { e.leader, e.votes = false, 0 }

func (e *elector) Restart() { e.resetTimeout() }

// A toy leader election runs on five nodes over a lossy network. The leader
// crashes at 1 s; the others elect a new one in a later term, and the old
// leader rejoins as a follower when it restarts.
func Example_election() {
	ids := []sim.NodeID{"n1", "n2", "n3", "n4", "n5"}
	s, err := sim.New(sim.Config[vote]{
		Seed:    3,
		Network: sim.Link{Delay: 2 * time.Millisecond, Jitter: 8 * time.Millisecond, Loss: 0.05},
	})
	if err != nil {
		panic(err)
	}
	nodes := map[sim.NodeID]*elector{}
	for _, id := range ids {
		nodes[id] = newElector(id, ids, 3)
		_ = s.Add(id, nodes[id])
	}
	leader := func() (sim.NodeID, int) {
		for _, id := range ids {
			if n := nodes[id]; n.leader && s.Up(id) {
				return id, n.term
			}
		}
		return "", 0
	}

	s.RunUntil(func() bool { id, _ := leader(); return id != "" }, time.Second)
	first, term := leader()
	fmt.Printf("%v: leader %s in term %d\n", s.Now().Round(time.Millisecond), first, term)

	s.Run(time.Second)
	_ = s.Crash(first)
	s.RunUntil(func() bool { id, _ := leader(); return id != "" }, 2*time.Second)
	second, term2 := leader()
	fmt.Printf("%v: leader %s in term %d\n", s.Now().Round(time.Millisecond), second, term2)

	_ = s.Restart(first)
	s.RunFor(time.Second)
	fmt.Printf("%v: %s restarted as a follower=%v in term %d\n", s.Now().Round(time.Millisecond), first, !nodes[first].leader, nodes[first].term)
	// Output:
	// 101ms: leader n3 in term 1
	// 1.142s: leader n1 in term 2
	// 2.142s: n3 restarted as a follower=true in term 2
}

package sim_test

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/distkit/distkit/internal/sim"
)

// rumor is the message of a toy flooding protocol.
type rumor struct {
	Text string
	Hops int
}

// flood is a pure protocol core, shaped like distkit's real ones: input by
// method calls, output collected from a slice, no clock, no goroutines, no
// I/O. A node that hears a rumor for the first time forwards it to every
// peer.
type flood struct {
	self  sim.NodeID
	peers []sim.NodeID
	heard bool
	out   []floodMsg
}

type floodMsg struct {
	To sim.NodeID
	R  rumor
}

func (f *flood) Start(text string) { f.receive(rumor{Text: text}) }

func (f *flood) Step(r rumor) { f.receive(r) }

func (f *flood) receive(r rumor) {
	if f.heard {
		return
	}
	f.heard = true
	for _, p := range f.peers {
		if p != f.self {
			f.out = append(f.out, floodMsg{To: p, R: rumor{Text: r.Text, Hops: r.Hops + 1}})
		}
	}
}

// ReadMessages returns and forgets the core's outgoing messages.
func (f *flood) ReadMessages() []floodMsg {
	out := f.out
	f.out = nil
	return out
}

// floodNode is the whole adapter between the core and the simulator.
type floodNode struct {
	core *flood
	sim.Mailbox[rumor]
}

func (n *floodNode) Deliver(_ sim.NodeID, r rumor) { n.core.Step(r); n.flush() }
func (n *floodNode) Tick()                         {} // The flooding core has no timers.
func (n *floodNode) flush() {
	for _, m := range n.core.ReadMessages() {
		n.Send(m.To, m.R)
	}
}

// A flooding protocol runs on five nodes over a network with 1-5 ms of
// delay, while one node is cut off by a partition that heals at 50 ms.
func Example() {
	ids := []sim.NodeID{"a", "b", "c", "d", "e"}
	s, err := sim.New(sim.Config[rumor]{
		Seed:       1,
		Network:    sim.Link{Delay: time.Millisecond, Jitter: 4 * time.Millisecond},
		NoAutoTick: true,
	})
	if err != nil {
		panic(err)
	}
	nodes := map[sim.NodeID]*floodNode{}
	for _, id := range ids {
		nodes[id] = &floodNode{core: &flood{self: id, peers: ids}}
		if err := s.Add(id, nodes[id]); err != nil {
			panic(err)
		}
	}
	_ = s.Isolate("e")
	s.At(50*time.Millisecond, s.Heal)

	// Give node a its input directly, then let the simulator collect what
	// it sends.
	nodes["a"].core.Start("hello")
	nodes["a"].flush()
	_ = s.Collect("a")

	s.Run(time.Second)
	for _, id := range ids {
		fmt.Printf("%s heard=%v\n", id, nodes[id].core.heard)
	}
	st := s.Stats()
	fmt.Printf("sent=%d delivered=%d partitioned=%d\n", st.Sent, st.Delivered, st.DroppedPartition)
	// Output:
	// a heard=true
	// b heard=true
	// c heard=true
	// d heard=true
	// e heard=false
	// sent=16 delivered=12 partitioned=4
}

// pinger counts pongs and pings its peer on every tick.
type pinger struct {
	peer  sim.NodeID
	pongs int
	sim.Mailbox[string]
}

func (p *pinger) Deliver(from sim.NodeID, msg string) {
	if msg == "ping" {
		p.Send(from, "pong")
		return
	}
	p.pongs++
}

func (p *pinger) Tick() { p.Send(p.peer, "ping") }

// The trace records every event with its virtual time. Here two nodes ping
// each other over a 3 ms link; node b crashes at 6 ms, which drops the
// messages in flight to it and every later message sent to it.
func Example_trace() {
	s, _ := sim.New(sim.Config[string]{
		Seed:         7,
		Network:      sim.Link{Delay: 3 * time.Millisecond},
		TickInterval: 10 * time.Millisecond,
		Trace:        os.Stdout,
		Format:       func(b []byte, m string) []byte { return append(b, m...) },
	})
	_ = s.Add("a", &pinger{peer: "b"})
	_ = s.Add("b", &pinger{peer: "a"})
	s.At(6*time.Millisecond, func() { _ = s.Crash("b") })
	s.Run(16 * time.Millisecond)
	// Output:
	// 0.002617031 tick b
	// 0.002617031 send b>a #4 at=0.005617031 ping
	// 0.005107577 tick a
	// 0.005107577 send a>b #6 at=0.008107577 ping
	// 0.005617031 deliver b>a #4 ping
	// 0.005617031 send a>b #8 at=0.008617031 pong
	// 0.006000000 func #3
	// 0.006000000 crash b
	// 0.006000000 drop a>b #6 crash ping
	// 0.006000000 drop a>b #8 crash pong
	// 0.015107577 tick a
	// 0.015107577 drop a>b down ping
}

// A test can take over the network and choose each delivery itself.
func ExampleSim_Pending() {
	s, _ := sim.New(sim.Config[string]{NoAutoTick: true})
	_ = s.Add("a", &pinger{peer: "b"})
	_ = s.Add("b", &pinger{peer: "a"})
	_ = s.Send("a", "b", "first")
	_ = s.Send("a", "b", "second")

	// Deliver the later message first, and drop the other.
	p := s.Pending()
	ev, _ := s.DeliverPending(p[1].ID)
	fmt.Println(ev.Kind, ev.From, ev.To, ev.Msg)
	_ = s.DropPending(p[0].ID)
	fmt.Println(len(s.Pending()), s.Stats().DroppedManual)
	fmt.Println(slices.Equal(s.Nodes(), []sim.NodeID{"a", "b"}))
	// Output:
	// deliver a b second
	// 0 1
	// true
}

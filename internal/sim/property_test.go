package sim_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/distkit/distkit/internal/sim"
)

// machine drives two simulators with the same seed through the same random
// sequence of actions, checking them against a naive model of the network's
// connectivity and node liveness, and against each other: their traces must
// stay identical byte for byte.
type machine struct {
	ids    []sim.NodeID
	sims   [2]*sim.Sim[token]
	traces [2]*bytes.Buffer
	nodes  [2][]*hopper

	// The model: which nodes are up, each node's partition group, and the
	// one-way cuts. It is updated by the actions, independently of the
	// simulator's own bookkeeping.
	up        map[sim.NodeID]bool
	group     map[sim.NodeID]int
	cuts      map[[2]sim.NodeID]bool
	nextGroup int

	lastNow      time.Duration
	traceChecked int
	delivered    [2]int
	violation    string
}

func newMachine(t *rapid.T) *machine {
	n := rapid.IntRange(1, 5).Draw(t, "nodes")
	seed := rapid.Uint64().Draw(t, "seed")
	autoTick := rapid.Bool().Draw(t, "autoTick")
	m := &machine{
		ids:   nodeIDs(n),
		up:    map[sim.NodeID]bool{},
		group: map[sim.NodeID]int{},
		cuts:  map[[2]sim.NodeID]bool{},
	}
	for k := range m.sims {
		m.traces[k] = &bytes.Buffer{}
		s, err := sim.New(sim.Config[token]{
			Seed: seed,
			Network: sim.Link{
				Delay: time.Millisecond, Jitter: 3 * time.Millisecond,
				TailProb: 0.1, TailMean: 10 * time.Millisecond,
				Loss: 0.1, Duplicate: 0.1,
			},
			TickInterval: 5 * time.Millisecond,
			NoAutoTick:   !autoTick,
			Trace:        m.traces[k],
			Format:       formatToken,
		})
		require.NoError(t, err)
		m.sims[k] = s
		for i, id := range m.ids {
			h := &hopper{ids: m.ids, rng: uint64(i) + 1, tickHops: 1}
			k := k
			h.onDeliver = func(from sim.NodeID, _ token) {
				m.delivered[k]++
				if !m.connected(from, id) || !m.up[id] {
					m.violation = fmt.Sprintf("delivered %s>%s: connected=%v up=%v", from, id, m.connected(from, id), m.up[id])
				}
			}
			m.nodes[k] = append(m.nodes[k], h)
			require.NoError(t, s.Add(id, h))
		}
	}
	for _, id := range m.ids {
		m.up[id] = true
	}
	return m
}

func (m *machine) connected(a, b sim.NodeID) bool {
	return m.group[a] == m.group[b] && !m.cuts[[2]sim.NodeID{a, b}]
}

// both applies the same call to both simulators and requires the same error.
func (m *machine) both(t *rapid.T, f func(s *sim.Sim[token]) error) error {
	err0 := f(m.sims[0])
	err1 := f(m.sims[1])
	require.Equal(t, fmt.Sprint(err0), fmt.Sprint(err1))
	return err0
}

func (m *machine) node(t *rapid.T, label string) sim.NodeID {
	return rapid.SampledFrom(m.ids).Draw(t, label)
}

// pending draws the index of an in-flight message, or skips the action when
// nothing is in flight.
func (m *machine) pending(t *rapid.T) uint64 {
	p := m.sims[0].Pending()
	if len(p) == 0 {
		t.Skip("nothing in flight")
	}
	return p[rapid.IntRange(0, len(p)-1).Draw(t, "pending")].ID
}

func (m *machine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"": m.check,
		"send": func(t *rapid.T) {
			from := m.node(t, "from")
			to := m.node(t, "to")
			if rapid.IntRange(0, 9).Draw(t, "unknownTo") == 0 {
				to = "ghost"
			}
			tk := token{ID: rapid.Uint32().Draw(t, "id"), Hops: rapid.Uint32Range(0, 3).Draw(t, "hops")}
			err := m.both(t, func(s *sim.Sim[token]) error { return s.Send(from, to, tk) })
			if m.up[from] {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, sim.ErrNodeDown)
			}
		},
		"step": func(t *rapid.T) {
			e0, ok0 := m.sims[0].Step()
			e1, ok1 := m.sims[1].Step()
			require.Equal(t, ok0, ok1)
			require.Equal(t, e0, e1)
		},
		"runFor": func(t *rapid.T) {
			d := time.Duration(rapid.Int64Range(0, int64(20*time.Millisecond)).Draw(t, "d"))
			require.Equal(t, m.sims[0].RunFor(d), m.sims[1].RunFor(d))
		},
		"deliverPending": func(t *rapid.T) {
			id := m.pending(t)
			e0, err0 := m.sims[0].DeliverPending(id)
			e1, err1 := m.sims[1].DeliverPending(id)
			require.NoError(t, err0)
			require.NoError(t, err1)
			require.Equal(t, e0, e1)
		},
		"dropPending": func(t *rapid.T) {
			id := m.pending(t)
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { return s.DropPending(id) }))
		},
		"duplicatePending": func(t *rapid.T) {
			id := m.pending(t)
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { _, err := s.DuplicatePending(id); return err }))
		},
		"tick": func(t *rapid.T) {
			id := m.node(t, "node")
			err := m.both(t, func(s *sim.Sim[token]) error { return s.Tick(id) })
			if !m.up[id] {
				require.ErrorIs(t, err, sim.ErrNodeDown)
			}
		},
		"crash": func(t *rapid.T) {
			id := m.node(t, "node")
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { return s.Crash(id) }))
			m.up[id] = false
		},
		"restart": func(t *rapid.T) {
			id := m.node(t, "node")
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { return s.Restart(id) }))
			m.up[id] = true
		},
		"partition": func(t *rapid.T) {
			groups := make([][]sim.NodeID, rapid.IntRange(1, 3).Draw(t, "groups"))
			assign := map[sim.NodeID]int{}
			for _, id := range m.ids {
				// 0 leaves the node unnamed: it joins the leftover group.
				g := rapid.IntRange(0, len(groups)).Draw(t, "group")
				if g > 0 {
					groups[g-1] = append(groups[g-1], id)
				}
				assign[id] = g
			}
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { return s.Partition(groups...) }))
			m.group = assign
			m.nextGroup = len(groups) + 1
		},
		"isolate": func(t *rapid.T) {
			id := m.node(t, "node")
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { return s.Isolate(id) }))
			m.nextGroup = max(m.nextGroup, len(m.ids)) + 1
			m.group[id] = 1000 + m.nextGroup
		},
		"cut": func(t *rapid.T) {
			a, b := m.node(t, "from"), m.node(t, "to")
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { return s.Cut(a, b) }))
			m.cuts[[2]sim.NodeID{a, b}] = true
		},
		"uncut": func(t *rapid.T) {
			a, b := m.node(t, "from"), m.node(t, "to")
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { return s.Uncut(a, b) }))
			delete(m.cuts, [2]sim.NodeID{a, b})
		},
		"heal": func(t *rapid.T) {
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { s.Heal(); return nil }))
			clear(m.group)
			clear(m.cuts)
		},
		"filter": func(t *rapid.T) {
			mod := rapid.Uint32Range(0, 3).Draw(t, "mod")
			f := func(_, _ sim.NodeID, m token) bool { return mod == 0 || m.ID%mod != 0 }
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { s.SetFilter(f); return nil }))
		},
		"setLink": func(t *rapid.T) {
			a, b := m.node(t, "from"), m.node(t, "to")
			l := sim.Link{
				Delay:     time.Duration(rapid.Int64Range(0, int64(5*time.Millisecond)).Draw(t, "delay")),
				Jitter:    time.Duration(rapid.Int64Range(0, int64(5*time.Millisecond)).Draw(t, "jitter")),
				Loss:      rapid.Float64Range(0, 1).Draw(t, "loss"),
				Duplicate: rapid.Float64Range(0, 1).Draw(t, "dup"),
			}
			require.NoError(t, m.both(t, func(s *sim.Sim[token]) error { return s.SetLink(a, b, l) }))
		},
	}
}

// check is the invariant run after every action.
func (m *machine) check(t *rapid.T) {
	require.Empty(t, m.violation)
	s := m.sims[0]
	st := s.Stats()
	require.Equal(t, st, m.sims[1].Stats())
	// Both traces only grow: compare what was added since the last check.
	a, b := m.traces[0].Bytes(), m.traces[1].Bytes()
	require.Equal(t, a[m.traceChecked:], b[m.traceChecked:], "same seed and calls, different trace")
	m.traceChecked = len(a)
	require.Equal(t, st.Sent+st.Duplicated, st.Delivered+st.Lost+st.Dropped()+st.InFlight, "a message went missing: %+v", st)
	require.Equal(t, int(st.Delivered), m.delivered[0])

	require.GreaterOrEqual(t, s.Now(), m.lastNow, "the clock went back")
	m.lastNow = s.Now()

	p := s.Pending()
	require.Len(t, p, int(st.InFlight))
	for i, msg := range p {
		require.GreaterOrEqual(t, msg.At, s.Now(), "a message is due in the past")
		require.True(t, m.up[msg.To], "a message is in flight to a crashed node")
		if i > 0 {
			prev := p[i-1]
			require.True(t, prev.At < msg.At || prev.At == msg.At && prev.ID < msg.ID, "Pending out of order")
		}
	}
	var sent, delivered int64
	for _, a := range m.ids {
		require.Equal(t, m.up[a], s.Up(a))
		for _, b := range m.ids {
			require.Equal(t, m.connected(a, b), s.Connected(a, b), "%s>%s", a, b)
		}
		ns, err := s.NodeStats(a)
		require.NoError(t, err)
		sent += ns.Sent
		delivered += ns.Delivered
	}
	require.Equal(t, st.Sent, sent, "Send counts against the sender, like outbox messages")
	require.Equal(t, st.Delivered, delivered)
}

func TestSimStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine(t)
		t.Repeat(m.actions())
	})
}

// TestReplayFromSeed checks that a run driven only by the clock is a pure
// function of the seed and the scripted faults: every seed replays its
// trace exactly, and different seeds give different schedules.
func TestReplayFromSeed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		n := rapid.IntRange(2, 6).Draw(t, "nodes")
		crashAt := time.Duration(rapid.Int64Range(0, int64(50*time.Millisecond)).Draw(t, "crashAt"))
		run := func(seed uint64) []byte {
			var buf bytes.Buffer
			ids := nodeIDs(n)
			s, _ := newHopSim(t, sim.Config[token]{
				Seed: seed, Trace: &buf, Format: formatToken,
				TickInterval: 5 * time.Millisecond,
				Network:      sim.Link{Jitter: 2 * time.Millisecond, Loss: 0.05, Duplicate: 0.05},
			}, ids, 2)
			s.At(crashAt, func() { _ = s.Crash(ids[0]) })
			s.At(crashAt+10*time.Millisecond, func() { _ = s.Restart(ids[0]) })
			s.Run(100 * time.Millisecond)
			return buf.Bytes()
		}
		a, b := run(seed), run(seed)
		require.Equal(t, a, b)
		require.False(t, slices.Equal(a, run(seed+1)), "seeds %d and %d gave the same trace", seed, seed+1)
	})
}

package sim_test

import (
	"fmt"
	"strconv"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/internal/sim"
)

// token is the message of the hop workload: a token that is forwarded to a
// random peer until its hop count runs out.
type token struct {
	ID   uint32
	Hops uint32
}

func formatToken(b []byte, t token) []byte {
	b = append(b, 't')
	b = strconv.AppendUint(b, uint64(t.ID), 10)
	b = append(b, '/')
	return strconv.AppendUint(b, uint64(t.Hops), 10)
}

// hopper forwards every token it receives to a peer chosen by its own
// seeded xorshift generator, and on every tick sends a token of its own if
// ticking is part of the workload. It is deterministic, allocation-free in
// steady state, and implements Crasher by forgetting its volatile counter.
type hopper struct {
	ids       []sim.NodeID
	rng       uint64
	tickHops  uint32
	nextToken uint32
	received  int
	crashed   bool
	crashes   int
	restarts  int
	out       []sim.Envelope[token]
	// onDeliver, if set, checks every delivery (tests use it to assert
	// that a crashed node receives nothing).
	onDeliver func(from sim.NodeID, t token)
}

func (h *hopper) next() uint64 {
	h.rng ^= h.rng << 13
	h.rng ^= h.rng >> 7
	h.rng ^= h.rng << 17
	return h.rng
}

func (h *hopper) peer() sim.NodeID { return h.ids[h.next()%uint64(len(h.ids))] }

func (h *hopper) Deliver(from sim.NodeID, t token) {
	if h.crashed {
		panic("delivery to a crashed node")
	}
	if h.onDeliver != nil {
		h.onDeliver(from, t)
	}
	h.received++
	if t.Hops > 0 {
		h.out = append(h.out, sim.Envelope[token]{To: h.peer(), Msg: token{ID: t.ID, Hops: t.Hops - 1}})
	}
}

func (h *hopper) Tick() {
	if h.crashed {
		panic("tick of a crashed node")
	}
	if h.tickHops > 0 {
		h.nextToken++
		h.out = append(h.out, sim.Envelope[token]{To: h.peer(), Msg: token{ID: h.nextToken, Hops: h.tickHops}})
	}
}

func (h *hopper) Outbox() []sim.Envelope[token] {
	out := h.out
	h.out = h.out[:0]
	return out
}

func (h *hopper) Crash()   { h.crashed = true; h.crashes++; h.received = 0; h.out = h.out[:0] }
func (h *hopper) Restart() { h.crashed = false; h.restarts++ }

// tb is what the helpers need from *testing.T, *testing.B and *rapid.T.
type tb interface {
	require.TestingT
	Helper()
}

// nodeIDs returns n node IDs "n0", "n1", ...
func nodeIDs(n int) []sim.NodeID {
	ids := make([]sim.NodeID, n)
	for i := range ids {
		ids[i] = sim.NodeID(fmt.Sprintf("n%d", i))
	}
	return ids
}

// newHopSim builds a simulator with one hopper per ID.
func newHopSim(t tb, cfg sim.Config[token], ids []sim.NodeID, tickHops uint32) (*sim.Sim[token], []*hopper) {
	t.Helper()
	s, err := sim.New(cfg)
	require.NoError(t, err)
	hs := make([]*hopper, len(ids))
	for i, id := range ids {
		hs[i] = &hopper{ids: ids, rng: uint64(i)*0x9e3779b97f4a7c15 + 1, tickHops: tickHops}
		require.NoError(t, s.Add(id, hs[i]))
	}
	return s, hs
}

// seedTokens makes every node send perNode tokens of hops hops: each token
// then costs hops+1 sends in total.
func seedTokens(t tb, s *sim.Sim[token], ids []sim.NodeID, hs []*hopper, perNode int, hops uint32) {
	t.Helper()
	for i, id := range ids {
		for k := 0; k < perNode; k++ {
			hs[i].out = append(hs[i].out, sim.Envelope[token]{To: hs[i].peer(), Msg: token{ID: uint32(i*perNode + k), Hops: hops}})
		}
		require.NoError(t, s.Collect(id))
	}
}

package sim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/internal/sim"
)

// hopRun simulates nodes hoppers that forward perNode tokens each, hops
// times, over a jittery network (so delivery order is shuffled and the queue
// holds nodes*perNode messages at once). It returns the number of messages
// delivered, which is nodes*perNode*(hops+1).
func hopRun(t testing.TB, nodes, perNode int, hops uint32, seed uint64) int64 {
	ids := nodeIDs(nodes)
	s, hs := newHopSim(t, sim.Config[token]{
		Seed:       seed,
		NoAutoTick: true,
		Network:    sim.Link{Delay: time.Millisecond, Jitter: 9 * time.Millisecond},
	}, ids, 0)
	seedTokens(t, s, ids, hs, perNode, hops)
	for s.Stats().InFlight > 0 {
		s.RunFor(time.Second)
	}
	st := s.Stats()
	require.Equal(t, st.Sent, st.Delivered, "a perfect network delivers everything")
	return st.Delivered
}

// TestScale runs 10,000 nodes exchanging 1,000,000 messages and requires it
// to finish in 20 s. Under the race detector, or with -short, it runs a
// tenth of that with a proportionally shorter limit.
func TestScale(t *testing.T) {
	nodes, perNode, limit := 10_000, 10, 20*time.Second
	if raceEnabled || testing.Short() {
		nodes, limit = 1_000, 20*time.Second
	}
	const hops = 9
	start := time.Now()
	n := hopRun(t, nodes, perNode, hops, 1)
	elapsed := time.Since(start)
	require.Equal(t, int64(nodes*perNode*(hops+1)), n)
	t.Logf("%d nodes, %d messages in %v: %.0f msgs/s", nodes, n, elapsed, float64(n)/elapsed.Seconds())
	require.Less(t, elapsed, limit)
}

// BenchmarkFlood is the scale benchmark: one op is 10,000 nodes exchanging
// 1,000,000 messages, reported as msgs/s.
func BenchmarkFlood(b *testing.B) {
	for _, size := range []struct{ nodes, perNode int }{{100, 100}, {10_000, 10}} {
		b.Run(fmt.Sprintf("nodes=%d", size.nodes), func(b *testing.B) {
			b.ReportAllocs()
			var msgs int64
			for b.Loop() {
				msgs += hopRun(b, size.nodes, size.perNode, 9, 1)
			}
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
		})
	}
}

// BenchmarkStep measures the steady-state cost of one delivery: a message
// popped, delivered, and its successor routed and pushed.
func BenchmarkStep(b *testing.B) {
	ids := nodeIDs(1000)
	s, hs := newHopSim(b, sim.Config[token]{NoAutoTick: true, Network: sim.Link{Jitter: time.Millisecond}}, ids, 0)
	seedTokens(b, s, ids, hs, 10, 1<<31)
	b.ReportAllocs()
	for b.Loop() {
		s.Step()
	}
}

// TestStepDoesNotAllocate checks the claim of the package doc: in steady
// state the simulator allocates nothing per message.
func TestStepDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ids := nodeIDs(100)
	s, hs := newHopSim(t, sim.Config[token]{Network: sim.Link{Jitter: time.Millisecond, Loss: 0.01, Duplicate: 0.01}}, ids, 1)
	seedTokens(t, s, ids, hs, 10, 1<<31)
	s.RunFor(100 * time.Millisecond) // Grow the heap, slab and outboxes.
	allocs := testing.AllocsPerRun(10_000, func() { s.Step() })
	require.Zero(t, allocs)
}

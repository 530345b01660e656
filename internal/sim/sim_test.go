package sim_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/internal/sim"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  sim.Config[int]
		ok   bool
	}{
		{"zero", sim.Config[int]{}, true},
		{"full", sim.Config[int]{Seed: 3, TickInterval: time.Second, Network: sim.Link{
			Delay: time.Millisecond, Jitter: time.Millisecond, TailProb: 0.1, TailMean: time.Second, Loss: 1, Duplicate: 0.5}}, true},
		{"negative tick", sim.Config[int]{TickInterval: -1}, false},
		{"negative delay", sim.Config[int]{Network: sim.Link{Delay: -1}}, false},
		{"negative jitter", sim.Config[int]{Network: sim.Link{Jitter: -1}}, false},
		{"negative tail", sim.Config[int]{Network: sim.Link{TailMean: -1}}, false},
		{"loss above one", sim.Config[int]{Network: sim.Link{Loss: 1.5}}, false},
		{"negative dup", sim.Config[int]{Network: sim.Link{Duplicate: -0.1}}, false},
		{"huge delay", sim.Config[int]{Network: sim.Link{Jitter: sim.MaxDelay + 1}}, false},
		{"huge tick", sim.Config[int]{TickInterval: sim.MaxDelay + 1}, false},
		{"NaN tail prob", sim.Config[int]{Network: sim.Link{TailProb: math.NaN()}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.cfg
			err := tt.cfg.Validate()
			_, newErr := sim.New(tt.cfg)
			if tt.ok {
				require.NoError(t, err)
				require.NoError(t, newErr)
			} else {
				require.ErrorIs(t, err, sim.ErrInvalidConfig)
				require.ErrorIs(t, newErr, sim.ErrInvalidConfig)
			}
			require.Equal(t, fmt.Sprint(before), fmt.Sprint(tt.cfg), "Validate must not mutate")
		})
	}
}

// chaosTrace runs a hop workload under every kind of fault, scripted at
// fixed virtual times, and returns the full trace.
func chaosTrace(t *testing.T, seed uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	ids := nodeIDs(7)
	s, _ := newHopSim(t, sim.Config[token]{
		Seed:   seed,
		Trace:  &buf,
		Format: formatToken,
		Network: sim.Link{
			Delay: time.Millisecond, Jitter: 5 * time.Millisecond,
			TailProb: 0.05, TailMean: 50 * time.Millisecond,
			Loss: 0.05, Duplicate: 0.05,
		},
	}, ids, 3)
	require.NoError(t, s.SetLink(ids[0], ids[1], sim.Link{Delay: 20 * time.Millisecond, Loss: 0.5}))
	s.At(100*time.Millisecond, func() { require.NoError(t, s.Partition(ids[:3], ids[3:5])) })
	s.At(150*time.Millisecond, func() { require.NoError(t, s.Cut(ids[5], ids[6])) })
	s.At(200*time.Millisecond, func() { require.NoError(t, s.Crash(ids[2])) })
	s.At(250*time.Millisecond, s.Heal)
	s.At(300*time.Millisecond, func() { require.NoError(t, s.Restart(ids[2])) })
	s.At(320*time.Millisecond, func() { require.NoError(t, s.Isolate(ids[4])) })
	s.Run(400 * time.Millisecond)
	for range 50 {
		if _, ok := s.Step(); !ok {
			break
		}
	}
	require.NoError(t, s.TraceErr())
	st := s.Stats()
	require.Positive(t, st.Delivered)
	require.Positive(t, st.Lost)
	require.Positive(t, st.Duplicated)
	require.Positive(t, st.DroppedPartition)
	require.Positive(t, st.DroppedCrash+st.DroppedDown)
	return buf.Bytes()
}

func TestSameSeedSameTrace(t *testing.T) {
	a := chaosTrace(t, 42)
	b := chaosTrace(t, 42)
	require.Greater(t, len(a), 10_000, "the trace should record a busy run")
	require.Equal(t, sha256.Sum256(a), sha256.Sum256(b), "same seed, different trace")
}

func TestDifferentSeedDifferentSchedule(t *testing.T) {
	a := chaosTrace(t, 1)
	for seed := uint64(2); seed < 6; seed++ {
		require.NotEqual(t, sha256.Sum256(a), sha256.Sum256(chaosTrace(t, seed)), "seed %d", seed)
	}
}

// senders adds n hoppers without ticks and returns the simulator.
func quietSim(t *testing.T, n int, cfg sim.Config[token]) (*sim.Sim[token], []*hopper, []sim.NodeID) {
	cfg.NoAutoTick = true
	ids := nodeIDs(n)
	s, hs := newHopSim(t, cfg, ids, 0)
	return s, hs, ids
}

func TestLossRate(t *testing.T) {
	const n = 20_000
	s, hs, ids := quietSim(t, 2, sim.Config[token]{Seed: 9, Network: sim.Link{Loss: 0.3}})
	for i := range n {
		require.NoError(t, s.Send(ids[0], ids[1], token{ID: uint32(i)}))
	}
	s.Run(time.Second)
	st := s.Stats()
	rate := float64(st.Lost) / n
	// Binomial standard deviation: sqrt(0.3*0.7/20000) ~ 0.0032; allow 5 sigma.
	require.InDelta(t, 0.3, rate, 0.016)
	require.Equal(t, int64(n)-st.Lost, st.Delivered)
	require.Equal(t, int(st.Delivered), hs[1].received)
}

func TestDuplicateRate(t *testing.T) {
	const n = 20_000
	clones := 0
	s, hs, ids := quietSim(t, 2, sim.Config[token]{
		Seed:    10,
		Network: sim.Link{Duplicate: 0.2, Jitter: time.Millisecond},
		Clone:   func(m token) token { clones++; return m },
	})
	for i := range n {
		require.NoError(t, s.Send(ids[0], ids[1], token{ID: uint32(i)}))
	}
	s.Run(time.Second)
	st := s.Stats()
	require.InDelta(t, 0.2, float64(st.Duplicated)/n, 0.015)
	require.Equal(t, int(st.Duplicated), clones)
	require.Equal(t, int64(n)+st.Duplicated, st.Delivered)
	require.Equal(t, int(st.Delivered), hs[1].received)
}

func TestDelayDistribution(t *testing.T) {
	const n = 20_000
	s, _, ids := quietSim(t, 2, sim.Config[token]{Seed: 11, Network: sim.Link{Delay: 10 * time.Millisecond, Jitter: 4 * time.Millisecond}})
	for i := range n {
		require.NoError(t, s.Send(ids[0], ids[1], token{ID: uint32(i)}))
	}
	var sum time.Duration
	minD, maxD := time.Hour, time.Duration(0)
	reordered := 0
	for k, p := range s.Pending() {
		d := p.At - s.Now()
		sum += d
		minD, maxD = min(minD, d), max(maxD, d)
		if p.Msg.ID != uint32(k) {
			reordered++
		}
	}
	require.GreaterOrEqual(t, minD, 10*time.Millisecond)
	require.LessOrEqual(t, maxD, 14*time.Millisecond)
	require.InDelta(t, float64(12*time.Millisecond), float64(sum/n), float64(100*time.Microsecond))
	require.Greater(t, reordered, n/2, "jitter should reorder most messages")

	// With no jitter, messages keep their send order even at equal times.
	s2, hs2, ids2 := quietSim(t, 2, sim.Config[token]{Network: sim.Link{Delay: time.Millisecond}})
	var got []uint32
	hs2[1].onDeliver = func(_ sim.NodeID, tk token) { got = append(got, tk.ID) }
	for i := range 100 {
		require.NoError(t, s2.Send(ids2[0], ids2[1], token{ID: uint32(i)}))
	}
	s2.Run(time.Second)
	require.Len(t, got, 100)
	for i, id := range got {
		require.Equal(t, uint32(i), id)
	}
}

func TestLongTail(t *testing.T) {
	const n = 20_000
	s, _, ids := quietSim(t, 2, sim.Config[token]{Seed: 12, Network: sim.Link{
		Delay: time.Millisecond, TailProb: 0.1, TailMean: 100 * time.Millisecond}})
	for i := range n {
		require.NoError(t, s.Send(ids[0], ids[1], token{ID: uint32(i)}))
	}
	tailed := 0
	var tailSum time.Duration
	for _, p := range s.Pending() {
		if d := p.At - s.Now(); d > time.Millisecond {
			tailed++
			tailSum += d - time.Millisecond
		}
	}
	require.InDelta(t, 0.1, float64(tailed)/n, 0.015)
	require.InDelta(t, float64(100*time.Millisecond), float64(tailSum)/float64(tailed), float64(10*time.Millisecond))
}

func TestPartitionBlocksAndHeals(t *testing.T) {
	s, hs, ids := quietSim(t, 4, sim.Config[token]{Network: sim.Link{Delay: 10 * time.Millisecond}})
	// In flight across the future partition: dropped on arrival.
	require.NoError(t, s.Send(ids[0], ids[2], token{ID: 1}))
	require.NoError(t, s.Send(ids[0], ids[1], token{ID: 2}))
	require.NoError(t, s.Partition(ids[:2])) // {n0 n1} and the rest {n2 n3}
	require.False(t, s.Connected(ids[0], ids[2]))
	require.False(t, s.Connected(ids[3], ids[1]))
	require.True(t, s.Connected(ids[0], ids[1]))
	require.True(t, s.Connected(ids[2], ids[3]))
	// Sent across the partition: dropped at once.
	require.NoError(t, s.Send(ids[3], ids[1], token{ID: 3}))
	require.NoError(t, s.Send(ids[2], ids[3], token{ID: 4}))
	s.RunFor(time.Second)
	require.Equal(t, []int{0, 1, 0, 1}, received(hs))
	st := s.Stats()
	require.Equal(t, int64(2), st.DroppedPartition)

	s.Heal()
	require.True(t, s.Connected(ids[0], ids[2]))
	require.NoError(t, s.Send(ids[3], ids[1], token{ID: 5}))
	s.RunFor(time.Second)
	require.Equal(t, []int{0, 2, 0, 1}, received(hs))

	require.Error(t, s.Partition([]sim.NodeID{ids[0]}, []sim.NodeID{ids[0]}), "node in two groups")
	require.ErrorIs(t, s.Partition([]sim.NodeID{"nope"}), sim.ErrUnknownNode)
}

func received(hs []*hopper) []int {
	out := make([]int, len(hs))
	for i, h := range hs {
		out[i] = h.received
	}
	return out
}

func TestCutIsOneWay(t *testing.T) {
	s, hs, ids := quietSim(t, 2, sim.Config[token]{})
	require.NoError(t, s.Cut(ids[0], ids[1]))
	require.NoError(t, s.Send(ids[0], ids[1], token{}))
	require.NoError(t, s.Send(ids[1], ids[0], token{}))
	s.RunFor(time.Second)
	require.Equal(t, []int{1, 0}, received(hs))
	require.NoError(t, s.Uncut(ids[0], ids[1]))
	require.NoError(t, s.Send(ids[0], ids[1], token{}))
	s.RunFor(time.Second)
	require.Equal(t, []int{1, 1}, received(hs))
}

func TestIsolate(t *testing.T) {
	s, hs, ids := quietSim(t, 3, sim.Config[token]{})
	require.NoError(t, s.Partition(ids[:2]))
	require.NoError(t, s.Isolate(ids[0]))
	for _, a := range ids {
		for _, b := range ids {
			require.NoError(t, s.Send(a, b, token{}))
		}
	}
	s.RunFor(time.Second)
	// n0 hears only itself, n1 only itself (n2 is in the other group), n2 itself.
	require.Equal(t, []int{1, 1, 1}, received(hs))
	s.Heal()
	require.True(t, s.Connected(ids[0], ids[2]))
}

func TestCrashDropsAndRestarts(t *testing.T) {
	s, hs, ids := quietSim(t, 2, sim.Config[token]{Network: sim.Link{Delay: 10 * time.Millisecond}})
	require.NoError(t, s.Send(ids[0], ids[1], token{ID: 1}))
	require.NoError(t, s.Send(ids[1], ids[0], token{ID: 2}))
	// Leave something unread in n1's outbox: the crash must discard it.
	hs[1].out = append(hs[1].out, sim.Envelope[token]{To: ids[0], Msg: token{ID: 3}})
	hs[1].crashed = false
	require.NoError(t, s.Crash(ids[1]))
	require.Equal(t, 1, hs[1].crashes)
	require.False(t, s.Up(ids[1]))
	require.NoError(t, s.Crash(ids[1]), "crashing a crashed node is a no-op")
	require.Equal(t, 1, hs[1].crashes)

	require.ErrorIs(t, s.Tick(ids[1]), sim.ErrNodeDown)
	require.ErrorIs(t, s.Collect(ids[1]), sim.ErrNodeDown)
	require.ErrorIs(t, s.Send(ids[1], ids[0], token{}), sim.ErrNodeDown)
	require.NoError(t, s.Send(ids[0], ids[1], token{ID: 4})) // dropped: n1 is down
	s.RunFor(time.Second)                                    // hopper panics on delivery while crashed
	require.Equal(t, []int{1, 0}, received(hs), "n1's message sent before the crash still arrives")
	st := s.Stats()
	require.Equal(t, int64(2), st.DroppedCrash, "one in flight, one unread in the outbox")
	require.Equal(t, int64(1), st.DroppedDown)

	require.NoError(t, s.Restart(ids[1]))
	require.Equal(t, 1, hs[1].restarts)
	require.NoError(t, s.Restart(ids[1]))
	require.Equal(t, 1, hs[1].restarts, "restarting a running node is a no-op")
	require.NoError(t, s.Send(ids[0], ids[1], token{ID: 5}))
	s.RunFor(time.Second)
	require.Equal(t, []int{1, 1}, received(hs))
	ns, err := s.NodeStats(ids[1])
	require.NoError(t, err)
	require.Equal(t, sim.NodeStats{Sent: 2, Delivered: 1, Crashes: 1}, ns)
}

func TestTicks(t *testing.T) {
	ids := nodeIDs(3)
	s, hs := newHopSim(t, sim.Config[token]{Seed: 5, TickInterval: 10 * time.Millisecond}, ids, 0)
	s.Run(time.Second)
	for _, id := range ids {
		ns, err := s.NodeStats(id)
		require.NoError(t, err)
		require.Equal(t, int64(100), ns.Ticks, "one tick per interval, first within the first interval")
	}
	// A crashed node does not tick; after a restart it ticks again.
	require.NoError(t, s.Crash(ids[0]))
	s.RunFor(time.Second)
	ns, _ := s.NodeStats(ids[0])
	require.Equal(t, int64(100), ns.Ticks)
	require.NoError(t, s.Restart(ids[0]))
	s.RunFor(time.Second)
	ns, _ = s.NodeStats(ids[0])
	require.Equal(t, int64(200), ns.Ticks)
	require.NoError(t, s.Tick(ids[1]))
	ns, _ = s.NodeStats(ids[1])
	require.Equal(t, int64(301), ns.Ticks)
	require.Equal(t, int64(200+301+300), s.Stats().Ticks)
	_ = hs

	// NoAutoTick: no tick unless asked.
	s2, _ := newHopSim(t, sim.Config[token]{NoAutoTick: true}, ids, 0)
	require.Zero(t, s2.Run(time.Hour))
	require.Equal(t, time.Hour, s2.Now())
}

func TestStepAndRunUntil(t *testing.T) {
	s, hs, ids := quietSim(t, 2, sim.Config[token]{Network: sim.Link{Delay: time.Millisecond}})
	_, ok := s.Step()
	require.False(t, ok, "empty queue")
	require.NoError(t, s.Send(ids[0], ids[1], token{ID: 7, Hops: 3}))
	ev, ok := s.Step()
	require.True(t, ok)
	require.Equal(t, sim.KindDeliver, ev.Kind)
	require.Equal(t, ids[0], ev.From)
	require.Equal(t, ids[1], ev.To)
	require.Equal(t, token{ID: 7, Hops: 3}, ev.Msg)
	require.Equal(t, time.Millisecond, ev.Time)
	require.Equal(t, time.Millisecond, s.Now())

	done := s.RunUntil(func() bool { return hs[1].received+hs[0].received == 3 }, time.Second)
	require.True(t, done)
	require.Equal(t, 2*time.Millisecond+time.Millisecond, s.Now(), "clock stays at the stopping event")
	require.False(t, s.RunUntil(func() bool { return false }, time.Second))
	require.Equal(t, time.Second, s.Now())

	// At in the past runs now; After runs later; both in order.
	var order []int
	s.At(0, func() { order = append(order, 1) })
	s.After(time.Millisecond, func() { order = append(order, 3) })
	s.At(s.Now(), func() { order = append(order, 2) })
	ev, _ = s.Step()
	require.Equal(t, sim.KindFunc, ev.Kind)
	require.Equal(t, time.Second, ev.Time)
	s.RunFor(time.Second)
	require.Equal(t, []int{1, 2, 3}, order)
	require.Equal(t, "tick", sim.KindTick.String())
	require.Equal(t, "Kind(9)", sim.Kind(9).String())
}

func TestManualNetwork(t *testing.T) {
	s, hs, ids := quietSim(t, 3, sim.Config[token]{Network: sim.Link{Delay: time.Second}})
	for i := range 3 {
		require.NoError(t, s.Send(ids[0], ids[1], token{ID: uint32(i)}))
	}
	p := s.Pending()
	require.Len(t, p, 3)
	for i := 1; i < len(p); i++ {
		require.Less(t, p[i-1].ID, p[i].ID)
	}
	dup, err := s.DuplicatePending(p[0].ID)
	require.NoError(t, err)
	require.NoError(t, s.DropPending(p[1].ID))
	ev, err := s.DeliverPending(p[2].ID)
	require.NoError(t, err)
	require.Equal(t, sim.KindDeliver, ev.Kind)
	require.Equal(t, time.Duration(0), s.Now(), "manual delivery does not move the clock")
	_, err = s.DeliverPending(p[2].ID)
	require.ErrorIs(t, err, sim.ErrNoSuchMessage)
	require.ErrorIs(t, s.DropPending(12345), sim.ErrNoSuchMessage)
	_, err = s.DuplicatePending(12345)
	require.ErrorIs(t, err, sim.ErrNoSuchMessage)

	// A manual delivery across a partition is dropped.
	require.NoError(t, s.Isolate(ids[1]))
	ev, err = s.DeliverPending(dup)
	require.NoError(t, err)
	require.Equal(t, sim.KindDrop, ev.Kind)
	s.Heal()
	s.RunFor(2 * time.Second)
	require.Equal(t, []int{0, 2, 0}, received(hs))
	st := s.Stats()
	require.Equal(t, sim.Stats{
		Events: 3, Sent: 3, Duplicated: 1, Delivered: 2,
		DroppedPartition: 1, DroppedManual: 1,
	}, st)
}

func TestErrors(t *testing.T) {
	s, _, ids := quietSim(t, 2, sim.Config[token]{})
	require.ErrorIs(t, s.Add(ids[0], &hopper{}), sim.ErrDuplicateNode)
	require.Error(t, s.Add("x", nil))
	_, err := s.Node("x")
	require.ErrorIs(t, err, sim.ErrUnknownNode)
	n, err := s.Node(ids[0])
	require.NoError(t, err)
	require.NotNil(t, n)
	for _, f := range []func() error{
		func() error { return s.Crash("x") },
		func() error { return s.Restart("x") },
		func() error { return s.Tick("x") },
		func() error { return s.Collect("x") },
		func() error { return s.Isolate("x") },
		func() error { return s.Cut("x", ids[0]) },
		func() error { return s.Uncut(ids[0], "x") },
		func() error { return s.Send("x", ids[0], token{}) },
		func() error { return s.SetLink(ids[0], "x", sim.Link{}) },
		func() error { _, err := s.NodeStats("x"); return err },
	} {
		require.ErrorIs(t, f(), sim.ErrUnknownNode)
	}
	require.ErrorIs(t, s.SetLink(ids[0], ids[1], sim.Link{Loss: 2}), sim.ErrInvalidConfig)
	require.ErrorIs(t, s.SetNetwork(sim.Link{Jitter: -1}), sim.ErrInvalidConfig)
	require.False(t, s.Up("x"))
	require.False(t, s.Connected("x", ids[0]))

	// A message to a node never added is dropped and counted.
	require.NoError(t, s.Send(ids[0], "x", token{}))
	require.Equal(t, int64(1), s.Stats().DroppedUnknown)
}

func TestSetLinkOverrides(t *testing.T) {
	s, hs, ids := quietSim(t, 3, sim.Config[token]{Seed: 3})
	require.NoError(t, s.SetLink(ids[0], ids[1], sim.Link{Loss: 1}))
	require.NoError(t, s.SetLink(ids[0], ids[2], sim.Link{Delay: time.Hour}))
	for range 10 {
		require.NoError(t, s.Send(ids[0], ids[1], token{}))
		require.NoError(t, s.Send(ids[0], ids[2], token{}))
		require.NoError(t, s.Send(ids[1], ids[0], token{}))
	}
	s.RunFor(time.Minute)
	require.Equal(t, []int{10, 0, 0}, received(hs))
	s.RunFor(time.Hour)
	require.Equal(t, []int{10, 0, 10}, received(hs))
	s.ResetLinks()
	require.NoError(t, s.SetNetwork(sim.Link{Delay: time.Millisecond}))
	require.NoError(t, s.Send(ids[0], ids[1], token{}))
	s.RunFor(time.Second)
	require.Equal(t, []int{10, 1, 10}, received(hs))
}

// errWriter fails every write.
type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) { w.n++; return 0, sim.ErrInvalidConfig }

func TestTraceWriterError(t *testing.T) {
	w := &errWriter{}
	ids := nodeIDs(2)
	s, _ := newHopSim(t, sim.Config[token]{Trace: w}, ids, 1)
	s.Run(time.Second)
	require.ErrorIs(t, s.TraceErr(), sim.ErrInvalidConfig)
	require.Equal(t, 1, w.n, "tracing stops after the first error")
	require.Positive(t, s.Stats().Delivered, "the simulation carries on")
}

func TestFilter(t *testing.T) {
	s, hs, ids := quietSim(t, 2, sim.Config[token]{})
	s.SetFilter(func(from, to sim.NodeID, m token) bool { return !(from == ids[0] && m.ID%2 == 1) })
	for i := range 10 {
		require.NoError(t, s.Send(ids[0], ids[1], token{ID: uint32(i)}))
		require.NoError(t, s.Send(ids[1], ids[0], token{ID: uint32(i)}))
	}
	s.RunFor(time.Second)
	require.Equal(t, []int{10, 5}, received(hs))
	require.Equal(t, int64(5), s.Stats().DroppedFilter)
	require.Equal(t, int64(5), s.Stats().Dropped())
	s.SetFilter(nil)
	require.NoError(t, s.Send(ids[0], ids[1], token{ID: 1}))
	s.RunFor(time.Second)
	require.Equal(t, []int{10, 6}, received(hs))
}

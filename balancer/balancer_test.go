package balancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/hashring"
)

func eps(names ...string) []Endpoint {
	out := make([]Endpoint, len(names))
	for i, n := range names {
		out[i] = Endpoint{Name: n}
	}
	return out
}

var allPolicies = []Policy{RoundRobin, WeightedRoundRobin, LeastOutstanding, PowerOfTwoChoices, ConsistentHash}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{Policy: Policy(99)},
		{DecayTime: -1},
		{FailureLatency: -time.Second},
		{MaxOutstanding: -1},
		{Epsilon: -0.5},
		{VirtualNodes: -1},
		{Endpoints: []Endpoint{{Name: ""}}},
		{Endpoints: []Endpoint{{Name: "a", Weight: -1}}},
		// Two weights near MaxInt overflowed WeightedRoundRobin's sums.
		{Endpoints: []Endpoint{{Name: "a", Weight: math.MaxInt}, {Name: "b", Weight: math.MaxInt}}},
		{Endpoints: []Endpoint{{Name: "a", Weight: MaxWeight + 1}}},
		{Endpoints: eps("a", "a")},
	}
	for _, cfg := range bad {
		require.ErrorIs(t, cfg.Validate(), ErrInvalidConfig, "%+v", cfg)
		_, err := New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
	require.NoError(t, Config{}.Validate())
	require.Equal(t, "PowerOfTwoChoices", PowerOfTwoChoices.String())
	require.Equal(t, "Policy(9)", Policy(9).String())
}

func TestEmptyAndAllDown(t *testing.T) {
	for _, p := range allPolicies {
		t.Run(p.String(), func(t *testing.T) {
			b, err := New(Config{Policy: p})
			require.NoError(t, err)
			_, err = b.Pick("k")
			require.ErrorIs(t, err, ErrNoEndpoints)
			require.NoError(t, b.SetEndpoints(eps("a", "b")...))
			require.NoError(t, b.SetHealthy("a", false))
			require.NoError(t, b.SetHealthy("b", false))
			_, err = b.Pick("k")
			require.ErrorIs(t, err, ErrAllDown)
			require.ErrorIs(t, b.SetHealthy("zzz", true), ErrUnknownEndpoint)
			require.NoError(t, b.SetHealthy("b", true))
			pk, err := b.Pick("k")
			require.NoError(t, err)
			require.Equal(t, "b", pk.Endpoint)
			b.Done(pk, time.Millisecond, nil)
			b.Done(Pick{}, time.Millisecond, nil) // ignored
			for _, st := range b.Status() {
				require.Zero(t, st.Outstanding, st.Name)
			}
		})
	}
}

func TestRoundRobinOrder(t *testing.T) {
	b, err := New(Config{Endpoints: eps("a", "b", "c")})
	require.NoError(t, err)
	var got []string
	for range 6 {
		p, err := b.Pick("")
		require.NoError(t, err)
		got = append(got, p.Endpoint)
	}
	require.Equal(t, "a b c a b c", strings.Join(got, " "))
}

// TestSmoothWRRSequence checks nginx's documented sequence for weights
// 5, 1, 1: the heavy endpoint's picks are spread out, not bunched.
func TestSmoothWRRSequence(t *testing.T) {
	b, err := New(Config{Policy: WeightedRoundRobin, Endpoints: []Endpoint{{"a", 5}, {"b", 1}, {"c", 1}}})
	require.NoError(t, err)
	var got []string
	for range 14 {
		p, err := b.Pick("")
		require.NoError(t, err)
		got = append(got, p.Endpoint)
	}
	require.Equal(t, "a a b a c a a a a b a c a a", strings.Join(got, " "))
}

func TestLeastOutstanding(t *testing.T) {
	b, err := New(Config{Policy: LeastOutstanding, Endpoints: eps("a", "b", "c")})
	require.NoError(t, err)
	p1, _ := b.Pick("")
	p2, _ := b.Pick("")
	p3, _ := b.Pick("")
	require.ElementsMatch(t, []string{"a", "b", "c"}, []string{p1.Endpoint, p2.Endpoint, p3.Endpoint})
	b.Done(p2, time.Millisecond, nil)
	p4, _ := b.Pick("")
	require.Equal(t, p2.Endpoint, p4.Endpoint)
}

func TestP2CAvoidsSlowAndFailing(t *testing.T) {
	clock := time.Unix(0, 0)
	b, err := New(Config{Policy: PowerOfTwoChoices, Seed: 1, Endpoints: eps("fast", "slow", "failing"), Now: func() time.Time { return clock }})
	require.NoError(t, err)
	count := map[string]int{}
	for range 3000 {
		p, err := b.Pick("")
		require.NoError(t, err)
		count[p.Endpoint]++
		clock = clock.Add(time.Millisecond)
		switch p.Endpoint {
		case "fast":
			b.Done(p, time.Millisecond, nil)
		case "slow":
			b.Done(p, 20*time.Millisecond, nil)
		default:
			b.Done(p, time.Microsecond, errors.New("boom"))
		}
	}
	t.Logf("picks: %v", count)
	// P2C draws pairs: fast wins both pairs it is in (2/3 of draws), slow
	// wins the slow-failing pair, and failing almost never wins.
	require.Greater(t, count["fast"], 1900)
	require.Less(t, count["failing"], 30)
	st := b.Status()
	require.Equal(t, time.Second, st[2].Latency, "a failure counts as FailureLatency")
}

// TestP2CRecoversIdleEndpoint checks that an endpoint whose average went up
// gets tried again once DecayTime has passed without samples.
func TestP2CRecoversIdleEndpoint(t *testing.T) {
	clock := time.Unix(0, 0)
	b, err := New(Config{Policy: PowerOfTwoChoices, Seed: 3, DecayTime: time.Second, Endpoints: eps("a", "b"), Now: func() time.Time { return clock }})
	require.NoError(t, err)
	pa := Pick{Endpoint: "a", ep: b.snap.Load().up[0]}
	pa.ep.outstanding.Add(1)
	b.Done(pa, time.Second, nil) // a looks slow
	picks := map[string]int{}
	for range 200 {
		p, _ := b.Pick("")
		picks[p.Endpoint]++
		clock = clock.Add(50 * time.Millisecond)
		b.Done(p, 10*time.Millisecond, nil)
	}
	t.Logf("picks: %v", picks)
	require.Positive(t, picks["a"], "a was never retried")
	require.Greater(t, picks["b"], picks["a"])
}

func TestConsistentHashAffinity(t *testing.T) {
	b, err := New(Config{Policy: ConsistentHash, Endpoints: eps("a", "b", "c"), VirtualNodes: 100})
	require.NoError(t, err)
	first, err := b.Pick("user-1")
	require.NoError(t, err)
	b.Done(first, time.Millisecond, nil)
	for range 10 {
		p, err := b.Pick("user-1")
		require.NoError(t, err)
		require.Equal(t, first.Endpoint, p.Endpoint, "sticky while lightly loaded")
		b.Done(p, time.Millisecond, nil)
	}
	// With a hard cap of one request per endpoint, concurrent requests for
	// one key spread out, and a fourth is refused.
	c, err := New(Config{Policy: ConsistentHash, Endpoints: eps("a", "b", "c"), MaxOutstanding: 1, VirtualNodes: 100})
	require.NoError(t, err)
	seen := map[string]bool{}
	var held []Pick
	for range 3 {
		p, err := c.Pick("hot-key")
		require.NoError(t, err)
		seen[p.Endpoint] = true
		held = append(held, p)
	}
	require.Len(t, seen, 3)
	_, err = c.Pick("hot-key")
	require.ErrorIs(t, err, ErrOverloaded)
	// An endpoint marked down while it holds a request still gets its load
	// released.
	require.NoError(t, c.SetHealthy(held[0].Endpoint, false))
	for _, p := range held {
		c.Done(p, time.Millisecond, nil)
	}
	p, err := c.Pick("hot-key")
	require.NoError(t, err)
	require.NotEqual(t, held[0].Endpoint, p.Endpoint)
}

func TestSetEndpointsKeepsHealth(t *testing.T) {
	b, err := New(Config{Endpoints: eps("a", "b")})
	require.NoError(t, err)
	require.NoError(t, b.SetHealthy("a", false))
	require.NoError(t, b.SetEndpoints(eps("a", "b", "c")...))
	st := b.Status()
	require.False(t, st[0].Up)
	require.True(t, st[2].Up)
	require.ErrorIs(t, b.SetEndpoints(eps("x", "x")...), ErrInvalidConfig)
}

// TestConcurrent picks and finishes from several goroutines while
// endpoints churn and flap; run under -race. Every Pick must be a healthy
// member of some snapshot and in-flight counts must return to zero.
func TestConcurrent(t *testing.T) {
	for _, p := range allPolicies {
		t.Run(p.String(), func(t *testing.T) {
			b, err := New(Config{Policy: p, Endpoints: eps("a", "b", "c", "d"), VirtualNodes: 50})
			require.NoError(t, err)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 500 {
						pk, err := b.Pick(fmt.Sprint(g, i%17))
						if err != nil {
							if !errors.Is(err, ErrAllDown) {
								t.Error(err)
							}
							continue
						}
						b.Done(pk, time.Duration(i)*time.Microsecond, nil)
					}
				})
			}
			for i := range 50 {
				_ = b.SetHealthy("b", i%2 == 0)
				if i%10 == 0 {
					_ = b.SetEndpoints(eps("a", "b", "c", "d", "e")[:4+i%2]...)
				}
			}
			wg.Wait()
			for _, st := range b.Status() {
				require.Zero(t, st.Outstanding, st.Name)
			}
		})
	}
}

// TestLoggerOutsideLock logs health changes through a handler that calls
// back into the Balancer: it would deadlock if the logger ran under the
// writers' mutex.
func TestLoggerOutsideLock(t *testing.T) {
	var b *Balancer
	h := &reentrantHandler{check: func() { _ = b.SetEndpoints(b.statusEndpoints()...) }}
	var err error
	b, err = New(Config{Endpoints: eps("a", "b"), Logger: slog.New(h)})
	require.NoError(t, err)
	require.NoError(t, b.SetHealthy("a", false))
	require.NoError(t, b.SetHealthy("a", false)) // no change, no log
	require.Equal(t, 1, h.calls)
}

func (b *Balancer) statusEndpoints() []Endpoint {
	var out []Endpoint
	for _, st := range b.Status() {
		out = append(out, Endpoint{Name: st.Name, Weight: st.Weight})
	}
	return out
}

type reentrantHandler struct {
	check func()
	calls int
}

func (h *reentrantHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *reentrantHandler) Handle(context.Context, slog.Record) error {
	h.calls++
	h.check()
	return nil
}
func (h *reentrantHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *reentrantHandler) WithGroup(string) slog.Handler      { return h }

// TestConsistentHashRingFollowsHealth checks that the affinity ring always
// holds exactly the healthy endpoints with their weights, whether changes
// arrive one at a time or all at once.
func TestConsistentHashRingFollowsHealth(t *testing.T) {
	b, err := New(Config{Policy: ConsistentHash, VirtualNodes: 10, Endpoints: []Endpoint{{"a", 1}, {"b", 2}, {"c", 1}}})
	require.NoError(t, err)
	ring := func() map[string]float64 {
		out := map[string]float64{}
		for _, n := range b.bounded.Nodes() {
			out[n.ID] = n.Weight
		}
		return out
	}
	require.Equal(t, map[string]float64{"a": 1, "b": 2, "c": 1}, ring())
	require.NoError(t, b.SetHealthy("b", false))
	require.Equal(t, map[string]float64{"a": 1, "c": 1}, ring())
	require.NoError(t, b.SetEndpoints(Endpoint{"a", 3}, Endpoint{"b", 2}, Endpoint{"d", 1}))
	require.Equal(t, map[string]float64{"a": 3, "d": 1}, ring())
	many := make([]Endpoint, 20)
	for i := range many {
		many[i] = Endpoint{Name: fmt.Sprint("e", i)}
	}
	require.NoError(t, b.SetEndpoints(many...))
	require.Len(t, ring(), 20)
}

// TestCancelRecordsNoSample checks that a pick released with Cancel frees its
// in-flight slot (and its bounded-load slot) without a latency sample, where
// Done with an error would make the endpoint look as slow as FailureLatency.
func TestCancelRecordsNoSample(t *testing.T) {
	for _, p := range allPolicies {
		t.Run(p.String(), func(t *testing.T) {
			b, err := New(Config{Policy: p, Endpoints: eps("a"), Seed: 1})
			require.NoError(t, err)
			pk, err := b.Pick("k")
			require.NoError(t, err)
			b.Done(pk, 5*time.Millisecond, nil)
			before := b.Status()[0].Latency
			for range 100 {
				pk, err = b.Pick("k")
				require.NoError(t, err)
				require.Equal(t, int64(1), b.Status()[0].Outstanding)
				b.Cancel(pk)
			}
			st := b.Status()[0]
			require.Equal(t, int64(0), st.Outstanding)
			require.Equal(t, before, st.Latency, "Cancel must not record a latency sample")
			if p == ConsistentHash {
				require.Equal(t, int64(0), b.bounded.Total(), "Cancel must release the bounded-load slot")
			}
			b.Cancel(Pick{}) // the zero Pick is ignored
			var _ Picker = b
		})
	}
}

// TestFailedSetEndpointsChangesNothing checks that SetEndpoints failing on an
// endpoint the ring cannot place leaves the balancer as it was: before, the
// ring had already dropped the endpoints the call removed, so an endpoint
// still up in the snapshot was never picked again.
func TestFailedSetEndpointsChangesNothing(t *testing.T) {
	b, err := New(Config{Policy: ConsistentHash, Endpoints: eps("a", "b", "c")})
	require.NoError(t, err)
	picked := func() map[string]int {
		got := map[string]int{}
		for i := range 3000 {
			p, err := b.Pick(fmt.Sprint("key-", i))
			require.NoError(t, err)
			got[p.Endpoint]++
			b.Done(p, time.Millisecond, nil)
		}
		return got
	}
	before := picked()
	require.Len(t, before, 3)
	// Weight 1e6 needs more virtual nodes than the ring allows.
	err = b.SetEndpoints(Endpoint{Name: "a"}, Endpoint{Name: "b", Weight: 1e6})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Equal(t, before, picked(), "a failed SetEndpoints must not change placement")
	require.Len(t, b.Status(), 3)
}

// TestPickHashWaitsForPreemptedWriter holds the writers' mutex with the ring
// updated and the snapshot not yet published, as a SetEndpoints preempted
// between the two would. A ConsistentHash Pick must wait for the publication
// instead of giving up with ErrAllDown while a healthy endpoint exists.
func TestPickHashWaitsForPreemptedWriter(t *testing.T) {
	b, err := New(Config{Policy: ConsistentHash, Endpoints: eps("a")})
	require.NoError(t, err)
	b.mu.Lock()
	// The writer's first half: the ring now holds only "x", which the
	// published snapshot does not have yet.
	require.NoError(t, b.bounded.Set(hashring.Node{ID: "x"}))
	got := make(chan error, 1)
	go func() {
		p, err := b.Pick("k")
		if err == nil && p.Endpoint != "x" {
			err = fmt.Errorf("picked %q", p.Endpoint)
		}
		got <- err
	}()
	// Give the Pick time to exhaust any bounded number of retries. Yielding
	// (not sleeping) cannot make the fixed code fail: it only makes the old
	// one fail reliably.
	for range 2000 {
		runtime.Gosched()
	}
	select {
	case err := <-got:
		b.mu.Unlock()
		require.NoError(t, err, "Pick returned before the writer finished")
	default:
	}
	// The writer's second half.
	require.NoError(t, b.publishLocked([]endpoint{{Endpoint: Endpoint{Name: "x"}, up: true, st: &epState{name: "x"}}}))
	b.mu.Unlock()
	require.NoError(t, <-got)
}

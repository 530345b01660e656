package balancer

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestSmoothWRRProportions: over every cycle of W picks (W the total
// weight) each endpoint is picked exactly its weight, and at every prefix of
// t picks no endpoint has more than one pick above its share t*w/W.
func TestSmoothWRRProportions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		weights := rapid.SliceOfN(rapid.IntRange(1, 10), 1, 8).Draw(t, "weights")
		var es []Endpoint
		total := 0
		for i, w := range weights {
			es = append(es, Endpoint{Name: fmt.Sprint("e", i), Weight: w})
			total += w
		}
		b, err := New(Config{Policy: WeightedRoundRobin, Endpoints: es})
		require.NoError(t, err)
		cycles := rapid.IntRange(1, 4).Draw(t, "cycles")
		count := make(map[string]int)
		for step := 1; step <= cycles*total; step++ {
			p, err := b.Pick("")
			require.NoError(t, err)
			count[p.Endpoint]++
			for _, e := range es {
				// count*W <= step*w + W, i.e. count <= step*w/W + 1.
				require.LessOrEqual(t, count[e.Name]*total, step*e.Weight+total, "%s after %d picks", e.Name, step)
			}
			if step%total == 0 {
				for _, e := range es {
					require.Equal(t, step/total*e.Weight, count[e.Name], "%s at end of cycle", e.Name)
				}
			}
		}
	})
}

// TestHealthAndLeastModel drives every policy through random picks,
// completions, health changes and endpoint changes against a model. A down
// or removed endpoint is never picked, Pick errors exactly when the model
// has no healthy endpoint, and LeastOutstanding always picks an endpoint
// with the fewest requests in flight.
func TestHealthAndLeastModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		policy := rapid.SampledFrom(allPolicies).Draw(t, "policy")
		names := []string{"a", "b", "c", "d", "e"}
		b, err := New(Config{Policy: policy, Seed: 7, Endpoints: eps(names[:3]...), VirtualNodes: 20})
		require.NoError(t, err)
		member := map[string]bool{"a": true, "b": true, "c": true}
		up := map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true}
		inflight := map[string]int64{}
		var held []Pick
		t.Repeat(map[string]func(*rapid.T){
			"pick": func(t *rapid.T) {
				key := rapid.StringN(0, 4, -1).Draw(t, "key")
				p, err := b.Pick(key)
				healthy := 0
				var least int64 = -1
				for n := range member {
					if up[n] {
						healthy++
						if least < 0 || inflight[n] < least {
							least = inflight[n]
						}
					}
				}
				if healthy == 0 {
					require.Error(t, err)
					if len(member) == 0 {
						require.ErrorIs(t, err, ErrNoEndpoints)
					} else {
						require.ErrorIs(t, err, ErrAllDown)
					}
					return
				}
				require.NoError(t, err)
				require.True(t, member[p.Endpoint] && up[p.Endpoint], "picked %s: member %v up %v", p.Endpoint, member[p.Endpoint], up[p.Endpoint])
				if policy == LeastOutstanding {
					require.Equal(t, least, inflight[p.Endpoint], "picked %s", p.Endpoint)
				}
				inflight[p.Endpoint]++
				held = append(held, p)
			},
			"done": func(t *rapid.T) {
				if len(held) == 0 {
					t.Skip("nothing in flight")
				}
				i := rapid.IntRange(0, len(held)-1).Draw(t, "which")
				p := held[i]
				held = append(held[:i], held[i+1:]...)
				if rapid.IntRange(0, 3).Draw(t, "cancel") == 0 {
					b.Cancel(p)
				} else {
					b.Done(p, time.Duration(rapid.IntRange(1, 1000).Draw(t, "latency")), nil)
				}
				inflight[p.Endpoint]--
			},
			"health": func(t *rapid.T) {
				n := rapid.SampledFrom(names).Draw(t, "name")
				v := rapid.Bool().Draw(t, "up")
				err := b.SetHealthy(n, v)
				if !member[n] {
					require.ErrorIs(t, err, ErrUnknownEndpoint)
					return
				}
				require.NoError(t, err)
				up[n] = v
			},
			"membership": func(t *rapid.T) {
				set := rapid.SliceOfDistinct(rapid.SampledFrom(names), rapid.ID[string]).Draw(t, "members")
				require.NoError(t, b.SetEndpoints(eps(set...)...))
				for n := range member {
					if !contains(set, n) {
						up[n] = true // a re-added endpoint starts healthy
					}
				}
				member = map[string]bool{}
				for _, n := range set {
					member[n] = true
				}
			},
			"": func(t *rapid.T) {
				for _, st := range b.Status() {
					require.Equal(t, inflight[st.Name], st.Outstanding, st.Name)
					require.Equal(t, up[st.Name], st.Up, st.Name)
				}
				if policy == ConsistentHash {
					// Every Done and Cancel gave its key back to the ring, even for an
					// endpoint that went down or away meanwhile.
					var sum int64
					for _, n := range inflight {
						sum += n
					}
					require.Equal(t, sum, b.bounded.Total(), "keys held on the ring")
				}
			},
		})
	})
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestP2CCostIsFinite feeds PowerOfTwoChoices latencies of every size,
// zero, negative and the largest Duration included, failures, and a clock
// that can step backwards: the latency average must stay a finite,
// non-negative number (positive once sampled), and every cost too.
func TestP2CCostIsFinite(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := time.Unix(1000, 0)
		b, err := New(Config{
			Policy: PowerOfTwoChoices, Seed: 3, Endpoints: eps("a", "b", "c"),
			DecayTime: time.Duration(rapid.Int64Range(1, int64(time.Hour)).Draw(t, "decay")),
			Now:       func() time.Time { return now },
		})
		require.NoError(t, err)
		latencies := rapid.OneOf(
			rapid.Int64Range(-1000, 1000),
			rapid.Int64Range(math.MaxInt64-1000, math.MaxInt64),
			rapid.Int64(),
		)
		for range rapid.IntRange(1, 50).Draw(t, "requests") {
			p, err := b.Pick("")
			require.NoError(t, err)
			now = now.Add(time.Duration(rapid.Int64Range(-int64(time.Second), int64(time.Minute)).Draw(t, "step")))
			var failure error
			if rapid.Bool().Draw(t, "failed") {
				failure = errors.New("boom")
			}
			b.Done(p, time.Duration(latencies.Draw(t, "latency")), failure)
			s := b.snap.Load()
			for _, e := range s.up {
				avg := math.Float64frombits(e.ewma.Load())
				require.False(t, math.IsNaN(avg) || math.IsInf(avg, 0) || avg < 0, "average %v", avg)
				c := b.cost(e, b.lastNow.Load())
				require.False(t, math.IsNaN(c) || math.IsInf(c, 0) || c < 0, "cost %v", c)
			}
			for _, st := range b.Status() {
				require.GreaterOrEqual(t, st.Latency, time.Duration(0), st.Name)
			}
		}
	})
}

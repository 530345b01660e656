package balancer

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fleet simulation is a discrete-event simulation on a virtual clock:
// no goroutines, no sleeps, the same figures on every run. Requests arrive
// as a Poisson stream; each backend serves up to simWorkers requests at
// once and queues the rest; service times are exponential around the
// backend's mean, and backend 0 is ten times slower than the others.
const (
	simBackends = 10
	simWorkers  = 4
	simRequests = 20000
	simRate     = 300.0 // requests per second, about 23% of fleet capacity
	simFast     = 10 * time.Millisecond
	simSlow     = 10 * simFast
)

type simEvent struct {
	at      time.Duration
	arrival bool
	backend int
	start   time.Duration // arrival time of the request, for completions
	pick    Pick
}

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || (q[i].at == q[j].at && !q[i].arrival && q[j].arrival)
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type simResult struct {
	slowShare     float64
	p50, p99, max time.Duration
}

func simulateFleet(t *testing.T, policy Policy, seed uint64) simResult {
	var now time.Duration
	epoch := time.Unix(1_700_000_000, 0)
	names := make([]Endpoint, simBackends)
	index := map[string]int{}
	for i := range names {
		names[i] = Endpoint{Name: fmt.Sprintf("backend-%d", i)}
		index[names[i].Name] = i
	}
	b, err := New(Config{Policy: policy, Seed: seed, Endpoints: names, Now: func() time.Time { return epoch.Add(now) }})
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(seed, 99))
	service := func(backend int) time.Duration {
		mean := simFast
		if backend == 0 {
			mean = simSlow
		}
		return time.Duration(rng.ExpFloat64() * float64(mean))
	}
	busy := make([]int, simBackends)
	waiting := make([][]simEvent, simBackends)
	var q simQueue
	heap.Push(&q, simEvent{at: 0, arrival: true})
	arrived, toSlow := 0, 0
	var latencies []time.Duration
	start := func(e simEvent) {
		busy[e.backend]++
		heap.Push(&q, simEvent{at: now + service(e.backend), backend: e.backend, start: e.start, pick: e.pick})
	}
	for q.Len() > 0 {
		e := heap.Pop(&q).(simEvent)
		now = e.at
		if e.arrival {
			arrived++
			if arrived < simRequests {
				heap.Push(&q, simEvent{at: now + time.Duration(rng.ExpFloat64()/simRate*float64(time.Second)), arrival: true})
			}
			p, err := b.Pick("")
			require.NoError(t, err)
			be := index[p.Endpoint]
			if be == 0 {
				toSlow++
			}
			req := simEvent{backend: be, start: now, pick: p}
			if busy[be] < simWorkers {
				start(req)
			} else {
				waiting[be] = append(waiting[be], req)
			}
			continue
		}
		latency := now - e.start
		latencies = append(latencies, latency)
		b.Done(e.pick, latency, nil)
		busy[e.backend]--
		if len(waiting[e.backend]) > 0 {
			next := waiting[e.backend][0]
			waiting[e.backend] = waiting[e.backend][1:]
			start(next)
		}
	}
	slices.Sort(latencies)
	return simResult{
		slowShare: float64(toSlow) / simRequests,
		p50:       latencies[len(latencies)/2],
		p99:       latencies[len(latencies)*99/100],
		max:       latencies[len(latencies)-1],
	}
}

// TestFleetSimulation: with one backend ten times slower, power of two
// choices with a latency average sends it far fewer requests than round
// robin and keeps the fleet's p99 latency lower.
func TestFleetSimulation(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rr := simulateFleet(t, RoundRobin, seed)
		p2c := simulateFleet(t, PowerOfTwoChoices, seed)
		lo := simulateFleet(t, LeastOutstanding, seed)
		for _, r := range []struct {
			name string
			res  simResult
		}{{"RoundRobin", rr}, {"PowerOfTwoChoices", p2c}, {"LeastOutstanding", lo}} {
			t.Logf("seed %d %-18s slow backend got %5.2f%% of requests; fleet p50 %v p99 %v max %v",
				seed, r.name, 100*r.res.slowShare, r.res.p50.Round(time.Microsecond), r.res.p99.Round(time.Microsecond), r.res.max.Round(time.Microsecond))
		}
		require.Less(t, p2c.slowShare, rr.slowShare/3, "P2C should starve the slow backend")
		require.Less(t, p2c.p99, rr.p99, "P2C should lower the fleet's p99")
	}
}

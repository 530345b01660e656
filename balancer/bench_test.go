package balancer

import (
	"fmt"
	"testing"
	"time"
)

func benchBalancer(b *testing.B, p Policy, n int) *Balancer {
	es := make([]Endpoint, n)
	for i := range es {
		es[i] = Endpoint{Name: fmt.Sprintf("10.0.0.%d:80", i), Weight: 1 + i%3}
	}
	bl, err := New(Config{Policy: p, Endpoints: es})
	if err != nil {
		b.Fatal(err)
	}
	// Give P2C real latency averages, as in steady traffic.
	for range 4 * n {
		pk, err := bl.Pick("warm")
		if err != nil {
			b.Fatal(err)
		}
		bl.Done(pk, time.Duration(1+len(pk.Endpoint))*time.Millisecond, nil)
	}
	return bl
}

var benchKeys = func() []string {
	out := make([]string, 1024)
	for i := range out {
		out[i] = fmt.Sprintf("user:%d", i*7919)
	}
	return out
}()

// BenchmarkPick measures Pick alone: the cost on the request path before
// the request is sent. Outstanding counts grow during the run, which
// changes no policy's work per pick.
func BenchmarkPick(b *testing.B) {
	for _, p := range []Policy{RoundRobin, WeightedRoundRobin, LeastOutstanding, PowerOfTwoChoices} {
		for _, n := range []int{10, 100} {
			bl := benchBalancer(b, p, n)
			b.Run(fmt.Sprintf("%s/n=%d", p, n), func(b *testing.B) {
				b.ReportAllocs()
				i, cpu := 0, cpuNow()
				for b.Loop() {
					if _, err := bl.Pick(""); err != nil {
						b.Fatal(err)
					}
					i++
				}
				reportCPU(b, cpu, i)
			})
		}
	}
}

// BenchmarkPickDone measures a whole request's accounting: Pick, then Done
// with a latency. For P2C, Done reads the clock (time.Now) once.
func BenchmarkPickDone(b *testing.B) {
	for _, p := range allPolicies {
		bl := benchBalancer(b, p, 10)
		b.Run(p.String(), func(b *testing.B) {
			b.ReportAllocs()
			i, cpu := 0, cpuNow()
			for b.Loop() {
				pk, err := bl.Pick(benchKeys[i&1023])
				if err != nil {
					b.Fatal(err)
				}
				bl.Done(pk, time.Millisecond, nil)
				i++
			}
			reportCPU(b, cpu, i)
		})
	}
}

// BenchmarkPickParallel is BenchmarkPick from GOMAXPROCS goroutines.
func BenchmarkPickParallel(b *testing.B) {
	for _, p := range []Policy{RoundRobin, PowerOfTwoChoices} {
		bl := benchBalancer(b, p, 10)
		b.Run(p.String(), func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuNow()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bl.Pick(""); err != nil {
						b.Fatal(err)
					}
				}
			})
			reportCPU(b, cpu, b.N)
		})
	}
}

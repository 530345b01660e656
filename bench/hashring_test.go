package bench

import (
	"fmt"
	"testing"

	jump "github.com/dgryski/go-jump"
	"github.com/distkit/distkit/hashring"
	"github.com/stathat/consistent"
)

// hashringKeys are the short string keys both sides look up.
var hashringKeys = func() []string {
	out := make([]string, 1024)
	for i := range out {
		out[i] = fmt.Sprintf("user:%d", i*7919)
	}
	return out
}()

func hashringNodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%d", i)
	}
	return out
}

// BenchmarkRingGet looks up one owner per short string key on a ring of n
// nodes: distkit's default Ring (2000 points per node, xxhash) against
// stathat/consistent's default (20 points per node, crc32). distkit keeps
// 100 times more points for balance (peak-to-mean 1.07 against 1.65 at
// n=100) and still has to be at most half stathat's time.
func BenchmarkRingGet(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		names := hashringNodeNames(n)
		b.Run(fmt.Sprintf("n=%d/distkit", n), func(b *testing.B) {
			var r hashring.Ring
			nodes := make([]hashring.Node, len(names))
			for i, name := range names {
				nodes[i] = hashring.Node{ID: name}
			}
			// Set builds the ring in one sort; n Adds would merge n times.
			if err := r.Set(nodes...); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i, cpu := 0, hashringCPUNow()
			for b.Loop() {
				if _, err := r.Get(hashringKeys[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			hashringReportCPU(b, cpu, i)
		})
		b.Run(fmt.Sprintf("n=%d/stathat", n), func(b *testing.B) {
			c := consistent.New()
			for _, name := range names {
				c.Add(name)
			}
			b.ReportAllocs()
			i, cpu := 0, hashringCPUNow()
			for b.Loop() {
				if _, err := c.Get(hashringKeys[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			hashringReportCPU(b, cpu, i)
		})
	}
}

// BenchmarkJump maps short string keys to one of n buckets: both sides hash
// the key with the same XXH64 and run jump consistent hash, so this compares
// the jump implementations. (hashring.JumpString, the one-call form, costs
// one extra function call over this.)
func BenchmarkJump(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("n=%d/distkit", n), func(b *testing.B) {
			b.ReportAllocs()
			i, cpu := 0, hashringCPUNow()
			for b.Loop() {
				hashring.Jump(hashring.Hash(hashringKeys[i&1023]), n)
				i++
			}
			hashringReportCPU(b, cpu, i)
		})
		b.Run(fmt.Sprintf("n=%d/dgryski", n), func(b *testing.B) {
			b.ReportAllocs()
			i, cpu := 0, hashringCPUNow()
			for b.Loop() {
				jump.Hash(hashring.Hash(hashringKeys[i&1023]), n)
				i++
			}
			hashringReportCPU(b, cpu, i)
		})
	}
}

// TestHashringJumpMatchesDgryski checks that the two jump implementations
// agree, so BenchmarkJump compares the same work.
func TestHashringJumpMatchesDgryski(t *testing.T) {
	for i, k := range hashringKeys {
		n := 1 + i*37%5000
		h := hashring.Hash(k)
		if got, want := hashring.Jump(h, n), int(jump.Hash(h, n)); got != want {
			t.Fatalf("key %q, %d buckets: distkit %d, dgryski %d", k, n, got, want)
		}
	}
}

// TestHashringBalanceVsStathat reports the exact keyspace share of the
// busiest node at n=100 for distkit's default ring, and a sampled figure
// for stathat's default (which exposes no ring positions).
func TestHashringBalanceVsStathat(t *testing.T) {
	names := hashringNodeNames(100)
	var r hashring.Ring
	c := consistent.New()
	for _, name := range names {
		if err := r.Add(name, 1); err != nil {
			t.Fatal(err)
		}
		c.Add(name)
	}
	peak := 0.0
	for _, s := range r.Shares() {
		peak = max(peak, s*100)
	}
	const samples = 200000
	count := map[string]int{}
	for i := range samples {
		o, err := c.Get(fmt.Sprintf("user:%d", i))
		if err != nil {
			t.Fatal(err)
		}
		count[o]++
	}
	statPeak := 0
	for _, v := range count {
		statPeak = max(statPeak, v)
	}
	t.Logf("n=100 peak-to-mean: distkit %.3f (exact), stathat %.3f (%d sampled keys)", peak, float64(statPeak)*100/samples, samples)
	if peak > 1.10 {
		t.Fatalf("distkit peak-to-mean %.3f > 1.10", peak)
	}
}

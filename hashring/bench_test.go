package hashring

import (
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// benchKeys are the short string keys every lookup benchmark cycles
// through, the same shape as in bench/.
var benchKeys = testKeys(1024)

func BenchmarkRingGet(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		var r Ring
		if err := r.Set(nodeNames("node", n)...); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i, cpu := 0, cpuNow()
			for b.Loop() {
				if _, err := r.Get(benchKeys[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportCPU(b, cpu, i)
			st := r.Status()
			b.ReportMetric(float64(st.Bytes)/float64(st.VirtualNodes), "B/vnode")
		})
	}
}

// BenchmarkRingGetParallel measures lookup throughput with one goroutine
// per GOMAXPROCS; compare its ns/op with BenchmarkRingGet at the same n.
func BenchmarkRingGetParallel(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		var r Ring
		if err := r.Set(nodeNames("node", n)...); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuNow()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := r.Get(benchKeys[i&1023]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			// CPU time per lookup summed over all goroutines: equal to the
			// serial figure when lookups share nothing, so throughput
			// grows with the cores actually available.
			reportCPU(b, cpu, b.N)
		})
	}
}

func BenchmarkRingGetN3(b *testing.B) {
	var r Ring
	if err := r.Set(nodeNames("node", 100)...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	dst := make([]string, 0, 3)
	i := 0
	for b.Loop() {
		dst = r.AppendNHash(dst[:0], Hash(benchKeys[i&1023]), 3)
		i++
	}
}

func BenchmarkRingAdd(b *testing.B) {
	var r Ring
	if err := r.Set(nodeNames("node", 100)...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Add("extra", 1); err != nil {
			b.Fatal(err)
		}
		r.Remove("extra")
	}
}

func BenchmarkJump(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i, cpu := 0, cpuNow()
			for b.Loop() {
				JumpString(benchKeys[i&1023], n)
				i++
			}
			reportCPU(b, cpu, i)
		})
	}
}

func BenchmarkRendezvousGet(b *testing.B) {
	for _, n := range []int{10, 100} {
		var r Rendezvous
		if err := r.Set(nodeNames("node", n)...); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i, cpu := 0, cpuNow()
			for b.Loop() {
				if _, err := r.Get(benchKeys[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportCPU(b, cpu, i)
		})
	}
}

func BenchmarkMaglevGet(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		var m Maglev
		if err := m.Set(nodeNames("node", n)...); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i, cpu := 0, cpuNow()
			for b.Loop() {
				if _, err := m.Get(benchKeys[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportCPU(b, cpu, i)
		})
	}
}

// BenchmarkMaglevBuild times a full table build at the default table size
// (M=131101 at n=1000) and at M=65537, the size of the research note's
// reference measurement. The impl=textbook rows run refBuildMaglev, the
// plain paper algorithm (probe each preference list until a free slot,
// modulo per step) on the same nodes: a fixed yardstick in the same run,
// so a slow machine shows up in both rows and the ratio stays meaningful.
func BenchmarkMaglevBuild(b *testing.B) {
	for _, n := range []int{100, 1000} {
		nodes, err := normalizeNodes(nodeNames("node", n))
		if err != nil {
			b.Fatal(err)
		}
		sizes := []int{MaglevConfig{}.tableSize(n)}
		if n == 1000 {
			sizes = append(sizes, 65537)
		}
		for _, size := range sizes {
			for _, impl := range []struct {
				name  string
				build func([]Node, int) []uint32
			}{{"distkit", buildMaglev}, {"textbook", refBuildMaglev}} {
				b.Run(fmt.Sprintf("n=%d/M=%d/impl=%s", n, size, impl.name), func(b *testing.B) {
					b.ReportAllocs()
					i, cpu := 0, cpuNow()
					for b.Loop() {
						impl.build(nodes, size)
						i++
					}
					reportCPU(b, cpu, i)
				})
			}
		}
	}
}

func BenchmarkBoundedAcquireRelease(b *testing.B) {
	bd, err := NewBounded(BoundedConfig{})
	if err != nil {
		b.Fatal(err)
	}
	if err := bd.Set(nodeNames("node", 100)...); err != nil {
		b.Fatal(err)
	}
	// Hold some load so bounds are in play.
	for _, k := range benchKeys {
		if _, err := bd.Acquire(k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n, err := bd.Acquire(benchKeys[i&1023])
		if err != nil {
			b.Fatal(err)
		}
		if err := bd.Release(n); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkHash is the XXH64 of a short key that every string lookup above
// includes, to separate hashing from placement.
func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	i, cpu := 0, cpuNow()
	var sink uint64
	for b.Loop() {
		sink += Hash(benchKeys[i&1023])
		i++
	}
	reportCPU(b, cpu, i)
	_ = sink
}

// BenchmarkMaglevGetHash is Maglev's lookup for an already hashed key.
func BenchmarkMaglevGetHash(b *testing.B) {
	var m Maglev
	if err := m.Set(nodeNames("node", 100)...); err != nil {
		b.Fatal(err)
	}
	hashes := make([]uint64, len(benchKeys))
	for i, k := range benchKeys {
		hashes[i] = Hash(k)
	}
	b.ReportAllocs()
	i, cpu := 0, cpuNow()
	for b.Loop() {
		if _, err := m.GetHash(hashes[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportCPU(b, cpu, i)
}

// BenchmarkReference runs fixed yardsticks that do not depend on this
// package's code, so that a figure from a loaded machine can be read
// against the research note's calibration (resilience-hashing.md, section
// 4) measured on a quiet one:
//
//   - xxhash: xxhash.Sum64String of the key, the floor of every string
//     lookup here.
//   - hrw-splitmix/n=N: the note's reference rendezvous, 20 / 107 ns at
//     n=10 / 100 there: XXH64 of the key, then for every node the splitmix64
//     finalizer of key hash xor node hash, keeping the maximum.
//   - xor-max/n=100: the cheapest possible O(n) scan, xor and compare per
//     node with no mixing, the floor of any rendezvous loop.
//   - clock: a chain of 1000 dependent 64-bit multiplies, 3 cycles each on
//     the Intel cores this was tuned on, so 3000 cycles per op. Its
//     eff-GHz metric is the clock rate the process actually got per second
//     of CPU time: 2.5 on an idle core of the 2.5 GHz VM, less when other
//     work on the host slows every figure alike. Multiply any cpu-ns/op
//     by eff-GHz to read it in cycles.
//
// BenchmarkJump/n=10 is a further yardstick: it is the paper's algorithm,
// equal in cost to dgryski/go-jump (bench/), 19 ns in the note.
func BenchmarkReference(b *testing.B) {
	b.Run("xxhash", func(b *testing.B) {
		b.ReportAllocs()
		i, cpu := 0, cpuNow()
		var sink uint64
		for b.Loop() {
			sink += xxhash.Sum64String(benchKeys[i&1023])
			i++
		}
		reportCPU(b, cpu, i)
		_ = sink
	})
	for _, n := range []int{10, 100} {
		nodeHashes := make([]uint64, n)
		for j := range nodeHashes {
			nodeHashes[j] = xxhash.Sum64String(fmt.Sprintf("node-%d", j))
		}
		b.Run(fmt.Sprintf("hrw-splitmix/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i, cpu := 0, cpuNow()
			sink := 0
			for b.Loop() {
				h := xxhash.Sum64String(benchKeys[i&1023])
				best, bestScore := 0, uint64(0)
				for j, nh := range nodeHashes {
					if sc := refSplitmix(h ^ nh); sc > bestScore {
						best, bestScore = j, sc
					}
				}
				sink += best
				i++
			}
			reportCPU(b, cpu, i)
			_ = sink
		})
	}
	b.Run("clock", func(b *testing.B) {
		x := uint64(benchKeys[0][0]) | 1
		i, cpu := 0, cpuNow()
		for b.Loop() {
			x = refChain(x)
			i++
		}
		reportCPU(b, cpu, i)
		if used := cpuNow() - cpu; used > 0 {
			b.ReportMetric(3000*float64(i)/float64(used), "eff-GHz")
		}
		refSink = x
	})
	b.Run("xor-max/n=100", func(b *testing.B) {
		xs := make([]uint64, 100)
		for j := range xs {
			xs[j] = refSplitmix(uint64(j))
		}
		b.ReportAllocs()
		i, cpu := 0, cpuNow()
		sink := 0
		for b.Loop() {
			h := refSplitmix(uint64(i))
			best, bestScore := 0, uint64(0)
			for j, x := range xs {
				if sc := x ^ h; sc > bestScore {
					best, bestScore = j, sc
				}
			}
			sink += best
			i++
		}
		reportCPU(b, cpu, i)
		_ = sink
	})
}

// refSink keeps the clock chain's result alive.
var refSink uint64

// refChain is the clock yardstick's work: 1000 dependent multiplies, in a
// function of its own so that x stays in a register (the body of a b.Loop
// loop keeps its variables in memory).
//
//go:noinline
func refChain(x uint64) uint64 {
	for range 1000 {
		x *= 0x9e3779b97f4a7c15
	}
	return x
}

// refSplitmix is the splitmix64 finalizer, written out here rather than
// calling mix64 so that the reference stays fixed if the package changes.
func refSplitmix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

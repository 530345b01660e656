package hashring

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// speedupRound does ops lookups on one goroutine, then ops lookups on each
// of two goroutines at once, every goroutine locked to its OS thread, and
// returns three figures for the parallel phase against the serial one:
//
//   - wall: the throughput ratio in wall time, 2*serial/parallel elapsed.
//     This is the speedup item 2 asks for, but only the machine decides
//     how far it can go: it is capped by cores.
//   - cores: the cores the parallel phase actually got, the two threads'
//     CPU time over its wall time. On an idle 2-core machine it is close to
//     2 and wall is then the code's speedup; when the scheduler grants the
//     process less (other processes, or Linux autogroup giving each session
//     one share), wall cannot exceed cores, whatever the code.
//   - cpu: 2 * serial thread CPU time / the busier parallel thread's CPU
//     time: the throughput two dedicated cores would give if nothing but
//     CPU time mattered. Contention that burns CPU (a contended cache line)
//     lowers it, but only while the threads really overlap (cores > 1),
//     and time spent blocked on a lock is not CPU time at all, so it is a
//     supporting figure, never the proof. The control rows of
//     BenchmarkParallelSpeedup (a shared mutex, a shared counter) show how
//     much each figure can tell on the machine at hand, and the
//     registers-only row how much wall-speedup it grants at best.
func speedupRound(ops int, lookup func(i int)) (wall, cpu, cores float64, ok bool) {
	run := func(start *sync.WaitGroup, out *time.Duration, okOut *bool) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start.Wait()
		c0, ok0 := threadCPUNow()
		for i := range ops {
			lookup(i)
		}
		c1, ok1 := threadCPUNow()
		*out, *okOut = c1-c0, ok0 && ok1
	}
	var serialCPU time.Duration
	var serialOK bool
	var start sync.WaitGroup
	t0 := time.Now()
	done := make(chan struct{})
	go func() { run(&start, &serialCPU, &serialOK); close(done) }()
	<-done
	serialWall := time.Since(t0)

	var parCPU [2]time.Duration
	var parOK [2]bool
	var wg sync.WaitGroup
	start.Add(1)
	for g := range 2 {
		wg.Go(func() { run(&start, &parCPU[g], &parOK[g]) })
	}
	t1 := time.Now()
	start.Done()
	wg.Wait()
	parWall := time.Since(t1)

	wall = 2 * float64(serialWall) / float64(parWall)
	busier := max(parCPU[0], parCPU[1])
	if !serialOK || !parOK[0] || !parOK[1] || busier <= 0 {
		return wall, 0, 0, false
	}
	cores = float64(parCPU[0]+parCPU[1]) / float64(parWall)
	return wall, 2 * float64(serialCPU) / float64(busier), cores, true
}

// speedupRow is one row of the speedup benchmarks: a lookup and how many
// lookups per goroutine make a round.
type speedupRow struct {
	name string
	ops  int // keeps each phase near 20 ms of CPU on the 2-core machine
	get  func(string) (string, error)
	keys int // lookups cycle through benchKeys[:keys]; 0 means all 1,024
	// blocks marks a row whose threads wait on each other, so that its
	// rounds hardly ever get both cores' worth of CPU time.
	blocks bool
}

// lookup returns the function a speedup round calls with 0, 1, 2, ...
func (r speedupRow) lookup() func(int) {
	mask := len(benchKeys) - 1
	if r.keys != 0 {
		mask = r.keys - 1 // a power of two
	}
	return func(i int) {
		if _, err := r.get(benchKeys[i&mask]); err != nil {
			panic(err)
		}
	}
}

// speedupRows builds the structures at n=100 and returns the rows.
//
// control-memory-ring-footprint is the ring lookup's memory traffic without
// the ring: the key's hash, then two dependent reads at random positions in
// arrays the size of the ring's prefix table and points, no branch on the
// data. It shows how far the machine scales code that misses the L1 cache
// the way the ring does. The -16-keys rows cycle through 16 keys instead of
// 1,024, so that every line a lookup reads stays in the L1 cache: the same
// code with the memory system taken out.
func speedupRows(b *testing.B) []speedupRow {
	if _, ok := threadCPUNow(); !ok {
		b.Skip("per-thread CPU time is not available on this platform")
	}
	ring, mag, hrw := new(Ring), new(Maglev), new(Rendezvous)
	nodes := nodeNames("node", 100)
	for _, set := range []func(...Node) error{ring.Set, mag.Set, hrw.Set} {
		if err := set(nodes...); err != nil {
			b.Fatal(err)
		}
	}
	return []speedupRow{
		{"ring", 400_000, ring.Get, 0, false},
		{"ring-16-keys", 400_000, ring.Get, 16, false},
		{"maglev", 1_000_000, mag.Get, 0, false},
		{"rendezvous", 100_000, hrw.Get, 0, false},
		{"jump", 400_000, jumpGet(100), 0, false},
		{"control-memory-ring-footprint", 400_000, footprintGet(ring.load()), 0, false},
		{"control-memory-ring-footprint-16-keys", 400_000, footprintGet(ring.load()), 16, false},
		{"control-mutex-ring", 400_000, lockedGet(ring.Get), 0, true},
		{"control-shared-counter-ring", 400_000, countedGet(ring.Get), 0, false},
		{"control-registers-only", 400_000, registersOnlyGet, 0, false},
		{"control-mul-throughput", 400_000, mulThroughputGet, 0, false},
	}
}

// overlapCores is the cores-granted figure from which a round counts as
// one where the two threads really ran at once.
const overlapCores = 1.9

// BenchmarkParallelSpeedup measures how lookup throughput scales from one
// goroutine to two (the target machine's 2 cores) for each lookup
// structure, serial and parallel interleaved in one process so that load
// from other processes hits both sides alike. Each b.Loop iteration is one
// serial-then-parallel round of the row's ops lookups per goroutine; the
// metrics are medians over rounds (ns/op is the time of a round and means
// nothing on its own). Read wall-speedup only when cores-granted is close
// to 2, and against the control-registers-only row of the same run, which
// no code can beat; see speedupRound. On a shared machine few rounds get
// both cores, so overlapped-wall-speedup is the median over only the rounds
// where the two threads really ran at once (cores-granted >= 1.9), and
// overlapped-rounds says how many there were; with none, both are 0 and
// the row says nothing. BenchmarkParallelSpeedupInterleaved runs the same
// rows in turn, round by round, for comparisons between rows.
func BenchmarkParallelSpeedup(b *testing.B) {
	for _, row := range speedupRows(b) {
		b.Run(fmt.Sprintf("%s/n=100", row.name), func(b *testing.B) {
			lookup := row.lookup()
			var walls, cpus, cores, overlapped []float64
			for b.Loop() {
				wall, cpu, c, ok := speedupRound(row.ops, lookup)
				if !ok {
					b.Fatal("thread CPU time unavailable")
				}
				walls, cpus, cores = append(walls, wall), append(cpus, cpu), append(cores, c)
				if c >= overlapCores {
					overlapped = append(overlapped, wall)
				}
			}
			b.ReportMetric(median(cpus), "cpu-speedup")
			b.ReportMetric(median(walls), "wall-speedup")
			b.ReportMetric(median(cores), "cores-granted")
			b.ReportMetric(median(overlapped), "overlapped-wall-speedup")
			b.ReportMetric(float64(len(overlapped)), "overlapped-rounds")
		})
	}
}

// BenchmarkParallelSpeedupInterleaved runs one round of every row per
// b.Loop iteration, so that all rows see the same moments of a shared
// machine, and reports for each row the median wall-speedup over its rounds
// that got both cores (metric <row>-wall-speedup, 0 when none did) and, as
// overlapped-rounds-min, the fewest such rounds any row had, leaving out
// the mutex control, whose waiting thread burns no CPU time. On a busy
// 2-core machine run it for minutes (-benchtime 100x or more): then a row
// that scales worse than another in the same run does so for a reason.
func BenchmarkParallelSpeedupInterleaved(b *testing.B) {
	rows := speedupRows(b)
	lookups := make([]func(int), len(rows))
	for i, row := range rows {
		lookups[i] = row.lookup()
	}
	overlapped := make([][]float64, len(rows))
	for b.Loop() {
		for i, row := range rows {
			wall, _, cores, ok := speedupRound(row.ops, lookups[i])
			if !ok {
				b.Fatal("thread CPU time unavailable")
			}
			if cores >= overlapCores {
				overlapped[i] = append(overlapped[i], wall)
			}
		}
	}
	fewest := math.MaxInt
	for i, row := range rows {
		b.ReportMetric(median(overlapped[i]), row.name+"-wall-speedup")
		if !row.blocks {
			fewest = min(fewest, len(overlapped[i]))
		}
	}
	b.ReportMetric(float64(fewest), "overlapped-rounds-min")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// lockedGet and countedGet are negative controls for the speedup figure:
// the same lookup behind one shared mutex, and the same lookup bumping one
// shared atomic counter (a cache line the two cores pass back and forth).
// Neither should reach a cpu-speedup near 2 when the two threads really run
// at once.
func lockedGet(get func(string) (string, error)) func(string) (string, error) {
	var mu sync.Mutex
	return func(k string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		return get(k)
	}
}

// registersOnlyGet is the positive control: about 40 ns of dependent
// multiplies in registers, touching no memory at all, so nothing in the
// code can keep two threads from running at full speed. Its wall-speedup
// is what the machine grants to perfectly parallel code at that moment
// (fewer cores than two, or a lower clock with both cores busy), the
// ceiling for the ring, maglev and rendezvous rows.
func registersOnlyGet(k string) (string, error) {
	x := uint64(len(k)) | 1
	for range 40 {
		x *= 0x9e3779b97f4a7c15
	}
	if x == 0 { // never: x is odd, and so is every product of odd numbers
		return "", ErrNoNodes
	}
	return k, nil
}

// mulThroughputGet is registersOnlyGet's 40 multiplies as eight
// independent chains of five: one thread alone keeps the core's multiplier
// busy every cycle. Where the two threads are hyperthreads of one physical
// core they share that multiplier and this row scales to about 1x, while
// the latency-bound registers-only row still scales to 2x; on two separate
// cores both reach 2x.
func mulThroughputGet(k string) (string, error) {
	a, b, c, d := uint64(len(k))|1, uint64(3), uint64(5), uint64(7)
	e, f, g, h := uint64(9), uint64(11), uint64(13), uint64(15)
	for range 5 {
		a *= 0x9e3779b97f4a7c15
		b *= 0x9e3779b97f4a7c15
		c *= 0x9e3779b97f4a7c15
		d *= 0x9e3779b97f4a7c15
		e *= 0x9e3779b97f4a7c15
		f *= 0x9e3779b97f4a7c15
		g *= 0x9e3779b97f4a7c15
		h *= 0x9e3779b97f4a7c15
	}
	if a&b&c&d&e&f&g&h == 0 { // never: every factor and product is odd
		return "", ErrNoNodes
	}
	return k, nil
}

func countedGet(get func(string) (string, error)) func(string) (string, error) {
	var n atomic.Int64
	return func(k string) (string, error) {
		n.Add(1)
		return get(k)
	}
}

// jumpGet is JumpString over n buckets shaped as a lookup.
func jumpGet(n int) func(string) (string, error) {
	return func(k string) (string, error) {
		if JumpString(k, n) < 0 {
			return "", ErrNoNodes
		}
		return k, nil
	}
}

// footprintGet is the control-memory-ring-footprint lookup for ring
// snapshot s: XXH64 of the key, a read at a random index of an array as
// large as s.table, then a read at an index derived from that value in an
// array as large as s.pairs. It writes nothing.
func footprintGet(s *ringSnapshot) func(string) (string, error) {
	table := make([]uint32, len(s.table))
	pairs := make([]uint64, len(s.pairs))
	for i := range table {
		table[i] = uint32(i)
	}
	for i := range pairs {
		pairs[i] = uint64(i) | 1
	}
	return func(k string) (string, error) {
		h := Hash(k)
		x := table[reduce(h, uint64(len(table)))]
		if pairs[(uint64(x)^h>>40)%uint64(len(pairs))] == 0 { // never: every entry is odd
			return "", ErrNoNodes
		}
		return k, nil
	}
}

package crdt_test

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/distkit/distkit/crdt"
)

// addSizes are the set sizes the Add benchmarks sweep: a table in the
// L2 cache (1,000 elements, 46 KB), one that fills much of it (10,000,
// 370 KB), and one that does not fit (100,000, 6 MB), where every Add
// waits for main memory, as BenchmarkMapGetSetBaseline does.
var addSizes = []int{1_000, 10_000, 100_000}

func sizes(b *testing.B, f func(b *testing.B, n int)) {
	for _, n := range addSizes {
		b.Run("elements="+strconv.Itoa(n), func(b *testing.B) { f(b, n) })
	}
}

// addBenchSet returns the set the Add benchmarks add to, n elements at a
// replica that knows 20 replicas, and its elements.
func addBenchSet(n int) (*crdt.AWSet[string], []string) {
	s := new(crdt.AWSet[string])
	for i := range 20 {
		s.Add(crdt.ReplicaID("r"+strconv.Itoa(i)), "seed")
	}
	elems := make([]string, n)
	for i := range elems {
		elems[i] = "e" + strconv.Itoa(i)
		s.Add("r0", elems[i])
	}
	return s, elems
}

// BenchmarkAWSetAdd measures Add re-adding the elements of a set at a
// replica that knows 20 replicas. The delta is dropped, so the inlined
// Add builds it on the stack (BenchmarkAWSetAddKeepDelta keeps it).
func BenchmarkAWSetAdd(b *testing.B) {
	sizes(b, func(b *testing.B, n int) {
		s, elems := addBenchSet(n)
		b.ReportAllocs()
		reportCPU(b)
		i := 0
		for b.Loop() {
			s.Add("r7", elems[i%len(elems)])
			i++
		}
	})
}

// BenchmarkAWSetAddKeepDelta is BenchmarkAWSetAdd for a caller that keeps
// every delta (to ship it through a DeltaBuffer): Add then allocates it.
// It repeats BenchmarkAWSetAdd's loop rather than sharing it behind a
// flag: with both calls in one loop, the dropped delta was allocated too
// (1 allocation per Add in both benchmarks).
func BenchmarkAWSetAddKeepDelta(b *testing.B) {
	sizes(b, func(b *testing.B, n int) {
		s, elems := addBenchSet(n)
		b.ReportAllocs()
		reportCPU(b)
		i := 0
		for b.Loop() {
			keptDelta = s.Add("r7", elems[i%len(elems)])
			i++
		}
	})
}

var keptDelta *crdt.AWSet[string]

// baselineMap returns an n-entry Go map for the baselines to update, and
// its keys, shaped like BenchmarkAWSetAdd's elements.
func baselineMap(n int) (map[string]crdt.Dot, []string) {
	m := make(map[string]crdt.Dot)
	elems := make([]string, n)
	for i := range elems {
		elems[i] = "e" + strconv.Itoa(i)
		m[elems[i]] = crdt.Dot{ID: "r0", Counter: uint64(i + 1)}
	}
	return m, elems
}

// bumpEntry is the baselines' map update: one lookup and one store, as an
// Add must do. It returns the stored value.
func bumpEntry(m map[string]crdt.Dot, e string) crdt.Dot {
	d := m[e]
	d.Counter++
	m[e] = d
	return d
}

// BenchmarkMapGetSetBaseline is the floor for BenchmarkAWSetAdd: one
// lookup and one store in a Go map of as many entries, as Add must do,
// with no causal bookkeeping and no delta.
func BenchmarkMapGetSetBaseline(b *testing.B) {
	sizes(b, func(b *testing.B, n int) {
		m, elems := baselineMap(n)
		b.ReportAllocs()
		reportCPU(b)
		i := 0
		for b.Loop() {
			bumpEntry(m, elems[i%len(elems)])
			i++
		}
	})
}

// BenchmarkMapGetSetKeepBaseline is the floor for
// BenchmarkAWSetAddKeepDelta: BenchmarkMapGetSetBaseline plus what keeping
// a delta costs whatever its content, one fresh 112-byte block holding
// pointers per operation, kept until the next one replaces it. On a
// 2-core machine that allocation (its share of the collector's cycles,
// and memory not yet in cache) costs about the same time at every size:
// about as much as the map operation at 100,000 entries, several times
// as much at 1,000.
func BenchmarkMapGetSetKeepBaseline(b *testing.B) {
	sizes(b, func(b *testing.B, n int) {
		m, elems := baselineMap(n)
		b.ReportAllocs()
		reportCPU(b)
		i := 0
		for b.Loop() {
			e := elems[i%len(elems)]
			d := bumpEntry(m, e)
			keptBlock = &deltaSized{e: e, dots: [2]crdt.Dot{d, d}}
			i++
		}
	})
}

// deltaSized is a 112-byte block with pointers, an Add delta's size.
type deltaSized struct {
	e    string
	dots [2]crdt.Dot
	_    [6]uint64
}

var keptBlock *deltaSized

// disjointSets returns two sets of n elements each, written by disjoint
// halves of 20 replicas.
func disjointSets(n int) (*crdt.AWSet[string], *crdt.AWSet[string]) {
	var a, c crdt.AWSet[string]
	for i := range n {
		a.Add(crdt.ReplicaID("r"+strconv.Itoa(i%10)), "a"+strconv.Itoa(i))
		c.Add(crdt.ReplicaID("r"+strconv.Itoa(10+i%10)), "b"+strconv.Itoa(i))
	}
	return &a, &c
}

// BenchmarkAWSetMergeDisjoint merges two disjoint 100,000-element sets
// written by 20 replicas (riak_dt PR #110's case). In the shared-history
// cases both sets first merged one common element, so their contexts
// overlap and the merge cannot take the plain-union shortcut.
func BenchmarkAWSetMergeDisjoint(b *testing.B) {
	for _, shared := range []bool{false, true} {
		for _, n := range []int{10_000, 100_000} {
			name := strconv.Itoa(n)
			if shared {
				name += "-shared-history"
			}
			b.Run(name, func(b *testing.B) { benchMergeDisjoint(b, n, shared) })
		}
	}
}

func benchMergeDisjoint(b *testing.B, n int, shared bool) {
	a, c := disjointSets(n)
	if shared {
		var common crdt.AWSet[string]
		common.Add("r20", "common")
		a.Merge(&common)
		c.Merge(&common)
	}
	// Clone and collect garbage outside the timed region, so
	// that the CPU time measured around each merge is the
	// merge's own, not the collector's work on earlier
	// iterations' copies.
	var cpu int64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		x := a.Clone()
		runtime.GC()
		start := cpuNanos()
		b.StartTimer()
		x.Merge(c)
		b.StopTimer()
		cpu += cpuNanos() - start
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkMapUnionBaseline is the floor for BenchmarkAWSetMergeDisjoint:
// copying 100,000 entries into a 100,000-entry Go map, with no causal
// checks at all.
func BenchmarkMapUnionBaseline(b *testing.B) {
	mk := func(prefix string) map[string]crdt.Dot {
		m := make(map[string]crdt.Dot)
		for i := range 100_000 {
			m[prefix+strconv.Itoa(i)] = crdt.Dot{ID: "r", Counter: uint64(i + 1)}
		}
		return m
	}
	a, c := mk("a"), mk("b")
	var cpu int64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		x := make(map[string]crdt.Dot)
		for k, v := range a {
			x[k] = v
		}
		runtime.GC()
		start := cpuNanos()
		b.StartTimer()
		for k, v := range c {
			x[k] = v
		}
		b.StopTimer()
		cpu += cpuNanos() - start
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkGCounterMerge merges two 64-replica counters that differ in
// every entry.
func BenchmarkGCounterMerge(b *testing.B) {
	var x, y crdt.GCounter
	for i := range 64 {
		id := crdt.ReplicaID(fmt.Sprintf("replica-%02d", i))
		x.Inc(id, uint64(i))
		y.Inc(id, uint64(64-i))
	}
	b.ReportAllocs()
	reportCPU(b)
	for b.Loop() {
		x.Merge(&y)
	}
}

// BenchmarkORMapJoin joins two 1,000-key OR-maps of PN-counters that each
// updated every key concurrently.
func BenchmarkORMapJoin(b *testing.B) {
	var x, y crdt.ORMap[string, *crdt.PNCounter]
	for i := range 1000 {
		k := "k" + strconv.Itoa(i)
		x.Update(k, func(c *crdt.PNCounter) *crdt.PNCounter { return c.Inc("a", 1) })
		y.Update(k, func(c *crdt.PNCounter) *crdt.PNCounter { return c.Inc("b", 1) })
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		z := x.Clone()
		b.StartTimer()
		z.Merge(&y)
	}
}

// BenchmarkAWSetEncode encodes a 10,000-element set.
func BenchmarkAWSetEncode(b *testing.B) {
	a, _ := disjointSets(10_000)
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = a.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAWSetMergeAddDelta merges the delta of one Add into a replica
// holding 100,000 elements, which has merged every earlier delta: the cost
// of applying one update in delta sync. Only the merge is timed; its
// wall-clock ns/op is the figure, as a few microseconds are too short to
// read process CPU time around.
func BenchmarkAWSetMergeAddDelta(b *testing.B) {
	var src crdt.AWSet[string]
	elems := make([]string, 100_000)
	for i := range elems {
		elems[i] = "e" + strconv.Itoa(i)
		src.Add("r0", elems[i])
	}
	dst := src.Clone()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		d := src.Add("r1", elems[i*97%len(elems)])
		i++
		b.StartTimer()
		dst.Merge(d)
	}
}

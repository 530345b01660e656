package vclock

import (
	"fmt"
	"strings"
	"testing"
)

// benchIDs returns n replica IDs shaped like host names. Each call builds new
// strings, so two vectors built from two calls share no string storage, as
// when one of them was decoded from the network: comparisons must look at
// the bytes rather than stop at equal pointers.
func benchIDs(n, offset int) []ReplicaID {
	ids := make([]ReplicaID, n)
	for i := range ids {
		ids[i] = ReplicaID(strings.Clone(fmt.Sprintf("node-%02d.dc1", i+offset)))
	}
	return ids
}

// benchPair returns two 16-entry vectors. With overlap 16 they cover the same
// replicas (the common case: a fixed replica set) and are concurrent, which
// forces Compare to look at every entry; with overlap 8 each has 8 replicas
// the other lacks.
func benchPair(overlap int) (VersionVector, VersionVector) {
	var a, b VersionVector
	for i, id := range benchIDs(16, 0) {
		a.Set(id, uint64(100+i))
	}
	for i, id := range benchIDs(16, 16-overlap) {
		c := uint64(100 + i + 16 - overlap)
		if i == 0 {
			c += 10 // b ahead on its first replica
		} else if i == 15 {
			c -= 10 // and behind on its last, so a ∥ b
		}
		b.Set(id, c)
	}
	return a, b
}

var sinkOrdering Ordering

func BenchmarkVersionVectorCompare(b *testing.B) {
	for _, overlap := range []int{16, 8} {
		x, y := benchPair(overlap)
		b.Run(fmt.Sprintf("entries=16/overlap=%d", overlap), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			for b.Loop() {
				sinkOrdering = x.Compare(y)
			}
		})
	}
	x, y := benchPair(16)
	y = x.Clone()
	for _, id := range benchIDs(16, 0) {
		y.Increment(id) // y strictly after x: no early exit possible
	}
	b.Run("entries=16/before", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		for b.Loop() {
			sinkOrdering = x.Compare(y)
		}
	})
}

func BenchmarkVersionVectorMerge(b *testing.B) {
	for _, overlap := range []int{16, 8} {
		x, y := benchPair(overlap)
		b.Run(fmt.Sprintf("entries=16/overlap=%d", overlap), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			dst := VersionVector{entries: make([]entry, 0, 32)}
			for b.Loop() {
				// Restore the receiver each time so every iteration does
				// a full merge; the copy is part of the measured cost.
				dst.entries = append(dst.entries[:0], x.entries...)
				dst.Merge(y)
			}
		})
	}
	// Merge alone: receivers restored in batches with the timer stopped,
	// so that no copy is timed. This is the figure Merge's target is read
	// against; the sub-benchmarks above time the copy too. cpu-ns/op is
	// not reported here, since process CPU time would count the restores.
	for _, overlap := range []int{16, 8} {
		x, y := benchPair(overlap)
		b.Run(fmt.Sprintf("entries=16/overlap=%d/untimed-restore", overlap), func(b *testing.B) {
			b.ReportAllocs()
			// 512 receivers of 32 entries of 32 bytes fit in L2, as one
			// receiver does in the timed-copy benchmarks.
			const batch = 512
			dsts := make([]VersionVector, batch)
			restore := func() {
				for i := range dsts {
					if dsts[i].entries == nil {
						dsts[i].entries = make([]entry, 0, 32)
					}
					dsts[i].entries = append(dsts[i].entries[:0], x.entries...)
				}
			}
			restore()
			k := 0
			for b.Loop() {
				if k == batch {
					b.StopTimer()
					restore()
					k = 0
					b.StartTimer()
				}
				dsts[k].Merge(y)
				k++
			}
			if got := dsts[0].Len(); got != 16+16-overlap {
				b.Fatalf("merged vector has %d entries, want %d", got, 16+16-overlap)
			}
		})
	}
	// The restoring copy alone, to subtract from the figures above for
	// Merge's own cost.
	x, _ := benchPair(16)
	b.Run("entries=16/copy-only", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		dst := VersionVector{entries: make([]entry, 0, 32)}
		for b.Loop() {
			dst.entries = append(dst.entries[:0], x.entries...)
		}
		sinkUint = uint64(len(dst.entries))
	})
}

// BenchmarkVersionVectorMergeRepeated merges the same vector into a
// receiver over the same replicas again and again. Every iteration does the
// full walk and takes every maximum, like the first, so no restoring copy is
// needed: this is Merge's own cost.
func BenchmarkVersionVectorMergeRepeated(b *testing.B) {
	x, y := benchPair(16)
	b.ReportAllocs()
	cpuTimer(b)
	for b.Loop() {
		x.Merge(y)
	}
}

func BenchmarkVersionVectorIncrement(b *testing.B) {
	x, _ := benchPair(16)
	id := benchIDs(16, 0)[9]
	b.ReportAllocs()
	cpuTimer(b)
	for b.Loop() {
		x.Increment(id)
	}
}

// BenchmarkRepresentation measures the sorted slice against a map (the
// mapVV oracle) on the same work, to justify the representation.
func BenchmarkRepresentation(b *testing.B) {
	for _, n := range []int{4, 16, 64} {
		var x, y VersionVector
		for i, id := range benchIDs(n, 0) {
			x.Set(id, uint64(100+i))
		}
		for i, id := range benchIDs(n, 0) {
			y.Set(id, uint64(100+i+(i%2)*2-1))
		}
		mx, my := toMap(x), toMap(y)
		b.Run(fmt.Sprintf("Compare/entries=%d/slice", n), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			for b.Loop() {
				sinkOrdering = x.Compare(y)
			}
		})
		b.Run(fmt.Sprintf("Compare/entries=%d/map", n), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			for b.Loop() {
				sinkOrdering = mx.compare(my)
			}
		})
		b.Run(fmt.Sprintf("Merge/entries=%d/slice", n), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			dst := VersionVector{entries: make([]entry, 0, n)}
			for b.Loop() {
				dst.entries = append(dst.entries[:0], x.entries...)
				dst.Merge(y)
			}
		})
		b.Run(fmt.Sprintf("Merge/entries=%d/map", n), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			dst := make(mapVV, n)
			for b.Loop() {
				clear(dst)
				for id, c := range mx {
					dst[id] = c
				}
				dst.merge(my)
			}
		})
		b.Run(fmt.Sprintf("Get/entries=%d/slice", n), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			ids := benchIDs(n, 0)
			var s uint64
			for i := 0; b.Loop(); i++ {
				s += x.Get(ids[i%n])
			}
			sinkUint = s
		})
		b.Run(fmt.Sprintf("Get/entries=%d/map", n), func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			ids := benchIDs(n, 0)
			var s uint64
			for i := 0; b.Loop(); i++ {
				s += mx[ids[i%n]]
			}
			sinkUint = s
		})
	}
}

var sinkUint uint64

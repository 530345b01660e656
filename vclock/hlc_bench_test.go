package vclock

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mutexHLC is the textbook HLC behind a mutex, as the baseline the
// lock-free HLC is measured against.
type mutexHLC struct {
	mu    sync.Mutex
	last  uint64
	clock func() time.Time
}

func (h *mutexHLC) now() Timestamp {
	pt := uint64(h.clock().UnixMilli()) << logicalBits
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = max(pt, h.last+1)
	return Timestamp(h.last)
}

// BenchmarkHLCNowMutexBaseline runs the mutex baseline with the fixed
// clock, to set beside BenchmarkHLCNow/clock=fixed.
func BenchmarkHLCNowMutexBaseline(b *testing.B) {
	fixed := time.UnixMilli(1_800_000_000_000)
	h := &mutexHLC{clock: func() time.Time { return fixed }}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		for b.Loop() {
			sinkTS = h.now()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		b.RunParallel(func(pb *testing.PB) {
			var t Timestamp
			for pb.Next() {
				t = h.now()
			}
			sinkTS = t
		})
	})
}

var sinkTS Timestamp

// BenchmarkHLCNow measures Now with the default system clock (one monotonic
// clock read per call), with an injected clock that costs almost nothing
// (the cost of the HLC itself), and with time.Now injected (what a naive
// HLC that reads the wall clock on every call would pay). Set
// clock=system beside BenchmarkClockRead/time.Since, its floor: the
// difference is what Now costs beyond reading the clock.
// testdata/clockread.c measures the same clock reads from C, without Go's
// overhead.
func BenchmarkHLCNow(b *testing.B) {
	fixed := time.UnixMilli(1_800_000_000_000)
	for _, bc := range []struct {
		name  string
		clock func() time.Time
	}{
		{"clock=system", nil},
		{"clock=fixed", func() time.Time { return fixed }},
		{"clock=time.Now", time.Now},
	} {
		h, err := NewHLC(HLCConfig{Clock: bc.clock})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			for b.Loop() {
				sinkTS = h.Now()
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			cpuTimer(b)
			b.RunParallel(func(pb *testing.PB) {
				var t Timestamp
				for pb.Next() {
					t = h.Now()
				}
				sinkTS = t
			})
		})
	}
}

func BenchmarkHLCUpdate(b *testing.B) {
	h, _ := NewHLC(HLCConfig{})
	remote := h.Now()
	b.ReportAllocs()
	cpuTimer(b)
	for b.Loop() {
		ts, err := h.Update(remote)
		if err != nil {
			b.Fatal(err)
		}
		sinkTS = ts
	}
}

var sinkInt int64

// BenchmarkClockRead measures the physical clock reads an HLC can build on,
// as the floor under BenchmarkHLCNow/clock=system: time.Since reads only the
// monotonic clock, time.Now reads the wall and the monotonic clock.
// "time.Since+atomic.Add" adds the one atomic read-modify-write that any
// lock-free HLC needs to issue unique timestamps, so it is the least an HLC
// reading the clock on every call can cost; Now costs a few nanoseconds
// more. On a virtual machine whose clocksource is tsc, one time.Since is a
// vDSO clock_gettime of about 30 ns, which alone uses up a 30 ns budget for
// Now.
func BenchmarkClockRead(b *testing.B) {
	start := time.Now()
	b.Run("time.Since", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		for b.Loop() {
			sinkInt += int64(time.Since(start))
		}
	})
	b.Run("time.Now", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		for b.Loop() {
			sinkInt += time.Now().UnixMilli()
		}
	})
	b.Run("time.Since+atomic.Add", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		var last atomic.Int64
		for b.Loop() {
			sinkInt += int64(time.Since(start)) + last.Add(1)
		}
	})
	// The same reads from every core at once: the floor under
	// BenchmarkHLCNow/clock=system/parallel. The clock read alone scales
	// with the cores; the shared atomic add, which any HLC issuing unique
	// timestamps needs, does not, and after a clock read (the vDSO orders
	// its TSC read behind earlier instructions, so the core cannot overlap
	// the two) each add waits for the counter's cache line to come over
	// from the other core.
	b.Run("time.Since/parallel", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		b.RunParallel(func(pb *testing.PB) {
			var sum int64
			for pb.Next() {
				sum += int64(time.Since(start))
			}
			atomic.AddInt64(&sinkInt, sum)
		})
	})
	b.Run("time.Since+atomic.Add/parallel", func(b *testing.B) {
		b.ReportAllocs()
		cpuTimer(b)
		var counter paddedCounter
		b.RunParallel(func(pb *testing.PB) {
			var sum int64
			for pb.Next() {
				sum += int64(time.Since(start)) + counter.n.Add(1)
			}
			atomic.AddInt64(&sinkInt, sum)
		})
	})
}

// paddedCounter is a counter on a cache line of its own, as HLC.last is.
type paddedCounter struct {
	_ [cacheLine]byte
	n atomic.Int64
	_ [cacheLine - 8]byte
}

package vclock

import (
	"testing"
	"time"
)

var sinkTS Timestamp

// BenchmarkHLCNow measures Now with the default system clock (one monotonic
// clock read per call), with an injected clock that costs almost nothing
// (the cost of the HLC itself), and with time.Now injected (what a naive
// HLC that reads the wall clock on every call would pay).
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

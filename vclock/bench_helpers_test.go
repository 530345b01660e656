package vclock

import "testing"

// cpuTimer measures the process CPU time the rest of the benchmark function
// uses and reports it per operation as the cpu-ns/op metric. Unlike ns/op it
// does not count time spent waiting for a CPU, so it stays meaningful on a
// machine shared with other work. In parallel benchmarks it sums the CPU
// time of all goroutines.
func cpuTimer(b *testing.B) {
	start := processCPU()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

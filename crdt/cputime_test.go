package crdt_test

import (
	"syscall"
	"testing"
)

// reportCPU reports the process CPU time spent from now until the
// benchmark ends, per operation, as cpu-ns/op. On a shared machine the
// wall-clock ns/op also counts time spent waiting for a CPU; CPU time does
// not, so it is the figure to compare with the targets.
func reportCPU(b *testing.B) {
	start := cpuNanos()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

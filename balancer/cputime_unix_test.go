//go:build unix

package balancer

import (
	"syscall"
	"testing"
	"time"
)

// cpuNow returns the CPU time (user + system) the test process has used.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ns/op metric: process CPU time per iteration since
// start. On a machine shared with other work, ns/op (wall time) grows with
// the load while cpu-ns/op stays close to the cost of the operation, so the
// two together say how much of a slow figure is waiting for a core.
// Meaningful only for serial, allocation-free benchmarks.
func reportCPU(b *testing.B, start time.Duration, iterations int) {
	if iterations > 0 {
		b.ReportMetric(float64(cpuNow()-start)/float64(iterations), "cpu-ns/op")
	}
}

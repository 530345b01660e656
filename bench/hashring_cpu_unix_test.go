//go:build unix

package bench

import (
	"syscall"
	"testing"
	"time"
)

// hashringCPUNow returns the CPU time (user + system) the process has used.
func hashringCPUNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hashringReportCPU adds a cpu-ns/op metric (process CPU time per
// iteration since start). On a shared machine ns/op includes time spent
// waiting for a core; cpu-ns/op mostly does not, so the ratio of two
// cpu-ns/op figures is steadier than the ratio of their ns/op.
func hashringReportCPU(b *testing.B, start time.Duration, iterations int) {
	if iterations > 0 {
		b.ReportMetric(float64(hashringCPUNow()-start)/float64(iterations), "cpu-ns/op")
	}
}

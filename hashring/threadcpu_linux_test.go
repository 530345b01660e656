//go:build linux

package hashring

import (
	"syscall"
	"time"
)

// threadCPUNow returns the CPU time the calling OS thread has used, or
// false where it cannot be measured. Callers lock their goroutine to its
// thread first.
func threadCPUNow() (time.Duration, bool) {
	const rusageThread = 1 // RUSAGE_THREAD, Linux only
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

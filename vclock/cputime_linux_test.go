package vclock

import "syscall"

// processCPU returns the user and system CPU time this process has used, in
// nanoseconds. Benchmarks report it per operation as cpu-ns/op: on a machine
// shared with other work, wall-clock ns/op includes the time the benchmark
// spent waiting for a CPU, and CPU time does not.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// clockread measures what one clock read costs on this machine, from C, as
// the floor under vclock's BenchmarkClockRead and BenchmarkHLCNow: Go adds a
// switch to the system stack around the same vDSO call. Build and run:
//
//	gcc -O2 -o /tmp/clockread vclock/testdata/clockread.c && /tmp/clockread
//	cat /sys/devices/system/clocksource/clocksource0/current_clocksource
//
// The _COARSE clocks are cheap because they read a value the kernel updates
// once a tick (their resolution, printed last, is the tick: often 4 ms),
// which is too coarse for an HLC's milliseconds. rdtscp is the raw TSC read
// a vDSO clock_gettime builds on. Times are CPU time of the thread, like the
// cpu-ns/op of the Go benchmarks, so that other load on the machine inflates
// them less.
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double ns(struct timespec s, struct timespec e, long n) {
	return ((e.tv_sec - s.tv_sec) * 1e9 + (e.tv_nsec - s.tv_nsec)) / n;
}

static double bench(clockid_t id, long n) {
	struct timespec s, e, t;
	long sink = 0;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &s);
	for (long i = 0; i < n; i++) {
		clock_gettime(id, &t);
		sink += t.tv_nsec;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &e);
	if (sink == 42) puts("");
	return ns(s, e, n);
}

static double brdtscp(long n) {
	struct timespec s, e;
	unsigned long long sink = 0;
	unsigned aux;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &s);
	for (long i = 0; i < n; i++) sink += __rdtscp(&aux);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &e);
	if (sink == 42) puts("");
	return ns(s, e, n);
}

int main(void) {
	const long n = 20000000;
	for (int r = 0; r < 3; r++)
		printf("ns per call: MONOTONIC %.1f  REALTIME %.1f  MONOTONIC_COARSE %.1f  REALTIME_COARSE %.1f  rdtscp %.1f\n",
		       bench(CLOCK_MONOTONIC, n), bench(CLOCK_REALTIME, n), bench(CLOCK_MONOTONIC_COARSE, n),
		       bench(CLOCK_REALTIME_COARSE, n), brdtscp(n));
	struct timespec res;
	clock_getres(CLOCK_REALTIME_COARSE, &res);
	printf("CLOCK_REALTIME_COARSE resolution: %ld ns\n", res.tv_nsec);
	return 0;
}

//go:build !race

package sim_test

// raceEnabled reports whether the race detector is on; it slows the
// simulator about tenfold, so scale tests shrink under it.
const raceEnabled = false

//go:build race

package detector

// raceEnabled shrinks the statistical tests under the race detector, which
// slows them about tenfold; the figures in the documentation come from the
// full runs without -race.
const raceEnabled = true

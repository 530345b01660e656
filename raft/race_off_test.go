//go:build !race

package raft

// raceEnabled is true when the race detector is on; the slowest tests scale
// their budgets down then, and run in full without it.
const raceEnabled = false

//go:build race

package raft_test

// itRace is true when the race detector is on; the seed-range tests run
// fewer seeds by default then.
const itRace = true

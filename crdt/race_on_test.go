//go:build race

package crdt_test

// raceEnabled reports whether the race detector is on. It turns off the
// runtime's tiny allocator, so that every short key costs a 16-byte block
// instead of a share of one, and allocation bounds must allow for that.
const raceEnabled = true

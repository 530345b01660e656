// Package crdttest is the law suite every CRDT of package crdt runs, and
// that a user's own CRDT can run too.
//
// A Spec describes a type: how to make an empty state and how to draw and
// apply one random mutation. From that, Laws generates multi-replica
// histories (concurrent mutations, partial exchanges of states and deltas)
// and checks, on the states those histories reach:
//
//   - merge is commutative, associative and idempotent, with the empty
//     state as identity (compared by canonical bytes);
//   - every mutation inflates the state, and its delta merged into the old
//     state gives the new one;
//   - delivering every delta in any order, with duplicates, and with drops
//     made good by a later retransmission, converges to the join of all
//     replicas;
//   - decoding an encoding and encoding again gives the same bytes;
//   - with a model, a sequential execution matches the naive model after
//     every operation.
//
// Cluster runs a rapid state machine of replicas that replicate through
// crdt.DeltaBuffer over a lossy, duplicating, reordering network, restart
// from their encodings, compact their metadata (Spec.Compact after a full
// exchange; Spec.CompactBelow at any time, at the stability frontier the
// run's history allows, checked against uncompacted shadows so that a
// compaction that resurrects a removed element fails), and must converge.
//
// # Usage
//
//	func TestAWSetLaws(t *testing.T) {
//		crdttest.Laws(t, crdttest.Spec[*crdt.AWSet[string], map[string]bool]{...})
//	}
//
// The number of cases is rapid's -rapid.checks flag (default 100; the crdt
// package's tests raise it to 1,000 for the laws).
//
// # Concurrency
//
// Laws and Cluster run one case at a time; a Spec's functions are never
// called concurrently.
package crdttest

// Package vclock provides logical clocks: Lamport clocks, version vectors,
// dotted version vectors with a DVV set for sibling values, and hybrid
// logical clocks. They let replicas tell "happened before" from
// "concurrent" without synchronised physical clocks.
//
// # Which clock to pick
//
//	Need                                               Use             Size
//	A total order of events, cheap; no concurrency      Lamport         8 bytes
//	  detection (e.g. op IDs, last-writer-wins ties)
//	Exact happened-before / concurrent between replica  VersionVector   one entry per replica
//	  states or events; the causal context of CRDTs
//	Versioning one key in a replicated store while      DVVSet          one entry per replica
//	  keeping every concurrent write as a sibling                       plus the live siblings
//	Tagging one value with its exact causal history     DVV             a dot plus a vector
//	Timestamps close to wall time that still respect    HLC             8 bytes
//	  causality (MVCC, snapshot reads, LWW registers)
//
// A Lamport clock or an HLC orders every pair of events but cannot say that
// two were concurrent, so neither should decide what is safe to garbage
// collect. A version vector can, at the price of one entry per replica.
//
// # Replica IDs
//
// Replicas are named by ReplicaID, a string type. A string is what users
// already have (a host name, a transport.NodeID, a UUID), it orders the same
// way on every machine, which the canonical encodings and Lamport ties need,
// and it needs no registry mapping names to small integers, which every
// replica would have to agree on. A named type rather than a bare string
// keeps signatures self-describing; converting from transport.NodeID or a
// string is one explicit conversion, and untyped constants need none.
// Version vectors intern the IDs they store, so that comparing two vectors
// over the same replicas compares string pointers, not bytes.
//
// # Usage
//
// Version vectors track what a replica has seen:
//
//	var a, b vclock.VersionVector
//	a.Increment("r1")
//	b.Increment("r2")
//	a.Compare(b) // vclock.Concurrent
//	a.Merge(b)   // a is now {r1:1 r2:1}
//
// A Dot names one event; the crdt package builds its causal contexts from
// Dots and VersionVectors.
//
// # Concurrency
//
// Lamport and HLC are safe for concurrent use: they are updated with atomic
// compare-and-swap and take no lock. VersionVector, DVV and DVVSet are plain
// values, like Go maps and slices: any number of goroutines may read one,
// but a goroutine that changes it must have it to itself.
//
// # Encoding
//
// Every type has MarshalBinary, UnmarshalBinary and AppendBinary. Encodings
// start with a version byte, are canonical (equal values give equal bytes,
// and decoders reject every other form), never panic on any input, bound
// their allocations by the input's length, and report bad input with an
// error wrapping ErrCorrupt.
package vclock

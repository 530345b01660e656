// Package crdt provides conflict-free replicated data types: values that
// replicas update independently, without coordination, and that converge
// to the same state once every replica has seen every update, whatever the
// order, duplication or delay of the messages that carried them.
//
// Every causal type is built on one dot kernel: a state is a dot store
// (which events are still in effect) plus a causal context (every event the
// replica has seen: a version vector and the out-of-order dots beside it,
// compacted as gaps fill). One join, written once, merges any two such
// states, which is what lets removes work without tombstones and lets maps
// nest any causal type. The kernel follows Almeida, Shoker and Baquero,
// "Delta State Replicated Data Types" (2018), and riak_dt's ORSWOT and map.
//
// # Types
//
//	Type             Semantics under concurrency                         Pick it for
//	GCounter         increments from all replicas sum                    counts that only grow (views, events)
//	PNCounter        increments and decrements sum                       quantities, likes, stock deltas
//	BoundedCounter   never below zero: replicas spend rights they hold   inventory, quotas, seats
//	GSet[E]          union of adds; no removes                           append-only membership
//	TwoPSet[E]       remove wins forever; a removed element never returns   one-shot tokens, revocation lists
//	LWWSet[E]        latest timestamp per element wins; Bias breaks ties   sets where wall-clock order is right
//	AWSet[E]         add wins over a concurrent remove (ORSWOT)           the general-purpose set
//	RWSet[E]         remove wins over a concurrent add                    blocklists, "deleted" must stick
//	LWWRegister[V]   latest timestamp wins, ties by replica ID            settings, profile fields
//	MVRegister[V]    keeps every concurrent write until one supersedes them   values users must reconcile
//	EWFlag           enable wins                                         feature switches, "seen" marks
//	DWFlag           disable wins                                        kill switches
//	ORMap[K, V]      per-key causal value; remove resets, concurrent updates survive   documents, carts, nested state
//	LWWMap[K, V]     per-key latest timestamp wins                        key-value configuration
//
// Each type's doc comment gives its concurrency semantics in full. Causal
// types (AWSet, RWSet, MVRegister, EWFlag, DWFlag, PNCounter, ORMap) can be
// ORMap values, nested to any depth. LWW types take vclock.Timestamp values
// from a vclock.HLC; the types themselves read no clock.
//
// # Usage
//
// A replica applies mutations locally and ships what they return, a delta,
// to the other replicas, which Merge it. Merge also accepts a whole state,
// so anti-entropy can always fall back to exchanging full states:
//
//	var a, b crdt.AWSet[string]
//	d := a.Add("replica-a", "milk") // a changes; d is the delta
//	b.Merge(d)                      // b learns the add
//	b.Merge(b.Remove("milk"))       // removing what b has seen
//
// Replica IDs (vclock.ReplicaID) must be unique per writer and stable
// across restarts of that writer's state.
//
// DeltaBuffer keeps the deltas a replica has not yet seen acknowledged by
// each peer and hands out, per peer, their join (a delta interval) or the
// full state once the peer has fallen too far behind. examples/crdtservice
// is a complete replicated HTTP service built that way.
//
// Every state has a deterministic binary encoding (MarshalBinary: equal
// states give equal bytes) whose decoder never panics and bounds its
// allocations by the input length; JSON (MarshalJSON) shows the value, not
// the metadata. Stats reports the size of a state.
//
// # Metadata and garbage collection
//
// AWSet, EWFlag, MVRegister, PNCounter and ORMap keep no tombstones: their
// metadata is one context entry per replica plus one dot per live value
// (tests assert an AWSet of one element added and removed 1,000,000 times
// across three replicas encodes in 23 bytes). RWSet, DWFlag, LWWSet and
// LWWMap must remember removals; CompactTombstones drops them once the
// caller's stability frontier says every replica has seen them. A retired
// replica leaves a context entry behind; Prune moves its live dots to a
// live replica, after which every replica can ForgetReplica it.
//
// # Concurrency
//
// The types are plain data structures, like Go maps: not safe for
// concurrent use. Guard a state and its DeltaBuffer with one mutex. A delta
// returned by a mutator is a fresh value that shares no memory with the
// state, and Merge never changes or retains its argument.
//
// # Performance
//
// The keyed types (AWSet, GSet, LWWMap, ORMap) keep their entries in an
// open-addressing hash table of their own rather than a Go map: decoding
// sizes it exactly, and entries move between tables by stored hash. An
// AWSet's entries hold no pointers besides the element (a packed dot: its
// counter and the index of its replica in a small per-set table of
// replica IDs). An Add probes the table once: with 10,000 elements or
// fewer the table stays in the CPU caches, and at 100,000 (6 MB) each Add
// waits for main memory once, as updating a Go map of that size does
// (the Add benchmarks and BenchmarkMapGetSetBaseline sweep these sizes).
// Its delta is one allocation of 112 bytes (the delta's AWSet, 64 bytes,
// and room for its context: the new dot and the one it superseded),
// which a caller that drops the delta (one that ships whole states) does
// not pay, as Add is inlined and the delta then stays in the caller's
// frame. A caller that keeps every delta pays for the allocation and the
// collector's work it brings, 140 to 240 ns at any set size on a 2-core
// machine: about as much as the Add itself at 100,000 elements, and one
// and a half to three times as much at 10,000 or fewer, as for any 112-byte
// allocation a loop keeps (BenchmarkMapGetSetKeepBaseline, which sweeps
// the same sizes).
//
// Merging a state costs time linear in both stores and hashes no element
// again; states whose contexts share no event merge as a plain union.
// Merging a mutator's delta into a large set or OR-map costs time in the
// size of the delta when the dots the delta supersedes are held at the
// delta's own keys, which is the case for adds and updates delivered once;
// a remove delta, or a delta whose superseded dots the receiver no longer
// holds (a duplicate, or an add of an element the receiver removed), costs
// a scan of the receiver's entries. The package benchmarks (bench_test.go)
// measure each case beside a plain Go map doing the same work.
//
// # Guarantees and limits
//
// Convergence, commutativity, associativity and idempotence of Merge, delta
// correctness and encoding round trips are checked for every type by the
// law suite in crdttest, on generated multi-replica histories, and the
// suite is shown to catch deliberately broken joins. Element and value
// types encode when they are strings, byte slices, booleans, integers or
// floats (or named types over them), or implement
// encoding.BinaryMarshaler and encoding.BinaryUnmarshaler; other types
// return ErrUnsupportedType when encoded. Map keys must not be NaN. LWW
// types are only as right as their timestamps: a replica whose clock runs
// ahead wins, which is what LWW means.
package crdt

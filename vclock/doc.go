// Package vclock provides logical clocks: Lamport clocks, version vectors,
// dotted version vectors with a DVV set for sibling values, and hybrid
// logical clocks. They let replicas tell "happened before" from
// "concurrent" without synchronised physical clocks.
//
// # Which clock to pick
//
//	Need                                        Use            Size
//	------------------------------------------  -------------  ---------------------------
//	A total order of events; cheap. Cannot      Lamport,       8 bytes (+ the replica ID)
//	tell concurrent events apart.               LamportTime
//	Exact happened-before or concurrent         VersionVector  one entry per replica
//	between replica states; the causal
//	context of CRDTs (crdt builds on it).
//	The concurrent versions (siblings) of one   DVVSet         one entry per server plus
//	key in a replicated key-value store.                       the live siblings
//	The exact causal history of one version.    DVV            a dot plus a vector
//	Timestamps near wall time that respect      HLC,           8 bytes
//	causality: MVCC, snapshot reads,            Timestamp
//	last-writer-wins registers.
//
// Lamport times and HLC timestamps order every pair of events, so they
// cannot say that two were concurrent, and must not decide what is safe to
// garbage collect; a version vector can, at the price of one entry per
// replica.
//
// # Replica IDs
//
// Replicas are named by ReplicaID, a string type. A string is what users
// already have (a host name, a transport.NodeID, a UUID); it orders the same
// way on every machine, which canonical encodings and Lamport ties need; and
// it needs no registry mapping names to small integers that every replica
// would have to agree on. A named type rather than a bare string keeps
// signatures self-describing, converting from transport.NodeID or a string
// is one explicit conversion, and untyped constants need none. Vectors and
// DVV sets intern the IDs they store, so comparing two vectors over the same
// replicas compares string pointers, not bytes. A vector also keeps the
// first eight bytes of each ID as an integer beside it, so that ordering two
// different replicas is one integer comparison unless their IDs share those
// eight bytes: IDs that differ early (UUIDs, host names differing in the
// first label) make Compare and Merge fastest.
//
// # Usage
//
// Version vectors track what a replica has seen; a Dot names one event:
//
//	var a, b vclock.VersionVector
//	a.Increment("r1")           // returns the dot r1:1
//	b.Increment("r2")
//	a.Compare(b)                // vclock.Concurrent
//	a.Merge(b)                  // a is {r1:1 r2:1}
//	a.Contains(vclock.Dot{ID: "r2", Counter: 1}) // true
//
// A key-value store keeps each key's siblings in a DVVSet: reads return
// Values and Context, a write passes back the context the client read, and
// replicas merge with Sync:
//
//	var key vclock.DVVSet[[]byte]
//	ctx := key.Context()
//	key.Update(ctx, "server-1", []byte("v1"))
//	key.Sync(fromOtherServer)
//	key.Values()
//
// A hybrid logical clock stamps events and messages:
//
//	hlc, err := vclock.NewHLC(vclock.HLCConfig{MaxOffset: 250 * time.Millisecond})
//	ts := hlc.Now()                  // for a local event or an outgoing message
//	ts, err = hlc.Update(remoteTS)   // on receipt; errors.Is(err, vclock.ErrClockOffset)
//
// # Hybrid logical timestamps
//
// A Timestamp packs 48 bits of wall time in Unix milliseconds (enough until
// the year 10889) above 16 bits of logical counter, so integer order is
// timestamp order and incrementing a full logical part carries into the
// wall part rather than overflowing. TimestampParts is the struct form. The
// clock follows Kulkarni et al.: Now returns max(physical, last+1), Update
// returns max(physical, last+1, remote+1), both as one atomic
// compare-and-swap (Now within one millisecond as an atomic add). It
// guarantees that timestamps from one clock strictly increase, that a
// receive is after the send, and that while every replica's physical clock
// is within ε of true time the wall part stays within 2ε of the local
// physical clock and the logical part counts at most the events of the last
// 2ε. It rejects remote timestamps more than MaxOffset ahead of the local
// physical clock with an *OffsetError instead of absorbing them.
//
// # Concurrency
//
// Lamport and HLC are safe for concurrent use; they take no locks. An HLC's
// Now and Update are lock-free: one atomic read-modify-write of a 64-bit
// word plus a physical clock read. Timestamps from one HLC are unique and
// strictly increasing across all its callers, so every Now writes that one
// shared word, and callers on many cores issue timestamps about as fast
// in total as one caller, not faster (the word sits on a cache line of its
// own, so they contend for nothing else; BenchmarkHLCNow and
// BenchmarkClockRead have parallel rows). A program that needs more
// timestamps a second than that can take one per batch of events, or give
// independent components HLCs of their own, whose timestamps are then
// ordered with each other only through Update. VersionVector, DVV and DVVSet are plain
// values, like Go maps and slices: any number of goroutines may read one,
// but a goroutine that changes it must have it to itself, and a copy made by
// assignment shares storage with the original (use Clone).
//
// # Encoding
//
// Every type has a binary encoding (MarshalBinary, UnmarshalBinary,
// AppendBinary; DVVSet.Encode and DecodeDVVSet with a Codec for its
// values). Encodings start with a version byte and are canonical: equal
// values give equal bytes, and decoders reject every other form. Decoders
// never panic, bound their allocations by the input's length, and report
// bad input with an error wrapping ErrCorrupt. ReadVersionVector and
// ReadDot decode from the front of a longer buffer, for formats that embed
// them.
//
// # Limits
//
// Version vectors grow by one entry per replica that ever wrote; nothing
// here prunes retired replicas (Set(id, 0) removes an entry by hand, which
// is only safe once no state mentions the replica). Lamport.Observe rejects
// remote times above MaxLamportTime so that no peer can push a clock to
// overflow. HLC timestamps have millisecond resolution and are only as good
// as the clock-skew bound: if real skew exceeds MaxOffset, updates are
// rejected.
package vclock

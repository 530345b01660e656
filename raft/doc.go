// Package raft is the Raft consensus algorithm: a pure, deterministic state
// machine (Core) at the heart of distkit's replicated log, and Node, the
// runtime that runs it over a transport.Transport with a durable log and the
// application's StateMachine. Most users want Node: see "Node: the runtime"
// below and examples/kvstore for a complete replicated service.
//
// A Core holds one node's Raft state. It performs no I/O, starts no
// goroutine, reads no clock and draws randomness only from Config.Seed: it
// changes only when the caller feeds it messages (Step), logical time (Tick)
// or proposals (Propose), and it reports what to do through one output batch
// at a time (Ready). The same seed and inputs give the same outputs, byte for
// byte, which is what lets distkit test it over millions of generated fault
// schedules and replay any failure from its seed.
//
// What the core implements: leader election with randomized timeouts;
// pre-vote (thesis §9.6) and check-quorum on by default, so a rejoining
// partitioned node does not depose a healthy leader and a follower that
// heard from its leader within the election timeout ignores vote requests;
// pipelined, batched replication with per-follower flow control in messages
// and bytes; conflict back-off that skips a whole term per round trip; a
// fast-failing cap on uncommitted bytes; the commit rule of Raft §5.4.2
// (Figure 8): only entries of the leader's term commit by counting replicas;
// batched ReadIndex reads (thesis §6.4) served by the leader and forwarded
// from followers; proposals forwarded from followers and answered with where
// they landed (ProposeRef); opt-in lease reads (Config.LeaseReads) with an
// explicit clock-drift bound, ended by a leadership transfer and otherwise
// falling back to ReadIndex; leadership transfer (thesis §3.10) that
// reports success or a typed reason within one election timeout; and
// snapshots (Raft §7): the core asks for one every Config.SnapshotEntries
// applied entries, and sends a follower that needs compacted entries the
// latest snapshot in chunks (default 1 MiB) that resume from the last
// acknowledged one, while heartbeats keep flowing.
//
// # Usage
//
// Create a Core per node over a Storage (MemoryStorage, or WALStorage from
// OpenWALStorage for a crash-safe log on disk),
// then loop: feed it what happens, and carry out its batches.
//
//	core, err := raft.New(raft.Config{ID: "n1", Voters: ids, Storage: store, Seed: seed})
//	...
//	// On a timer:           core.Tick()
//	// On a message:         core.Step(msg)  (msg.From from the transport)
//	// On a client write:    index, term, err := core.Propose(data)
//	for rd := core.Ready(); rd != nil; rd = core.Ready() {
//		send(rd.Messages)              // any time: they need nothing durable
//		store.Save(rd.Persist)         // 1. persist (sync)
//		send(rd.Persisted())           // 2. then send votes and acks
//		restore(rd.Persist.Snapshot)   // 3. if set, then apply committed
//		apply(rd.Apply)                //    entries in order
//		due := rd.SnapshotDue          // optional: snapshot and compact
//		core.Advance(rd)
//	}
//
// The three steps are ordered: a message returned by Persisted promises
// state in that batch's Persist, so it must not leave before the Persist is
// durable, and the API hands it out only on that acknowledgement. Messages in
// rd.Messages (a leader's appends and heartbeats) depend on nothing
// unpersisted, so a leader writes its log in parallel with replicating it
// (thesis §10.2.1). The core may be stepped, ticked and given proposals while
// a batch is being persisted; Ready returns nil until Advance. An entry
// proposed at (index, term) is committed when a batch's Apply holds an entry
// with that index and term; a different term at that index means it was lost
// with its leader's term and may be retried.
//
// # Concurrency
//
// A Core is not safe for concurrent use: the caller serializes its method
// calls (the runtime Node does it on one goroutine). A Ready and the slices
// in it are valid until Advance and must not be modified; entries' Data are
// shared with the log and must never be modified. MemoryStorage is safe for
// concurrent use.
//
// # Guarantees and limits
//
// Under any loss, duplication, reordering or delay of messages and any
// crash that loses unpersisted batches, the core keeps Raft's safety
// properties: at most one leader per term, log matching, leader
// completeness, identical applied sequences on all nodes, and no loss of an
// entry that a leader applied. The generated tests in this package check
// each after every step of every history. Liveness needs a quorum that can
// talk and ticks that keep coming. Lease reads add a clock assumption: if a
// node's ticks outrun the leader's by more than LeaseDriftTicks within an
// election timeout (a leader paused by a long GC, say), a lease read may be
// stale; the generated tests run lease histories with clocks that keep that
// bound. One batch is outstanding at a time: its Persist step may run
// concurrently with Step, Tick and Propose, but the next batch waits for
// Advance.
//
// A ReadState's Index covers every write acknowledged before ReadIndex was
// called; the caller serves the read once it has applied that index.
// Forwarded proposals and reads, and their answers, travel as ordinary
// messages and may be lost: callers time out and retry.
//
// Membership changes are single-server (thesis §4.1): ProposeConfChange adds
// a voter (which joins as a learner and is promoted by the leader once it
// has caught up, thesis §4.2.1), adds a learner, promotes one, or removes a
// member; a change takes effect on each node as soon as it is in its log,
// is validated against the latest configuration including uncommitted
// ones, waits until the leader has committed an entry of its term and no
// other change is pending, and a leader that removes itself steps down once
// the change commits. A node started with Config.Join waits to be added.
//
// ProposeConfChanges changes several members at once by joint consensus
// (thesis §4.3): while the joint configuration is in force every decision
// needs a majority of the old voters and of the new, and the leader moves
// the cluster on to the new configuration once the joint one commits.
//
// Propose on a follower returns a NotLeaderError naming the leader;
// ProposeRef forwards instead.
//
// # Node: the runtime
//
// Most users embed a Node rather than a Core. A Node runs a Core over a
// transport.Transport (transport/tcpnet between processes, transport/memnet
// in tests), a NodeStorage (WALStorage on disk, MemoryStorage in memory)
// and the application's StateMachine, and turns the core's batches into
// blocking calls that take a context:
//
//	node, err := raft.NewNode(raft.NodeConfig{
//		Raft:         raft.Config{ID: "n1", Voters: ids, Seed: seed},
//		Transport:    tr,    // e.g. a tcpnet.Transport
//		Storage:      store, // e.g. from raft.OpenWALStorage
//		StateMachine: sm,    // your Apply, Snapshot, Restore
//	})
//	...
//	err = node.Start()
//	defer node.Close()
//	result, err := node.Propose(ctx, cmd) // on any node: followers forward
//	err = node.ReadIndex(ctx)             // then read sm: linearizable
//
// One goroutine owns the core; it batches the calls that arrive together
// into one proposal and one read round, sends the leader's appends at once,
// saves each batch on a persist goroutine (so the leader's fsync overlaps
// replication), and hands committed entries to an apply goroutine, so a
// slow state machine delays results and reads but not consensus. Propose
// returns the state machine's Result for its entry as applied on the
// calling node, matched by index and term; an entry lost in a change of
// leader is proposed again. Calls fail fast rather than hang: with
// ErrQuorumLost when check-quorum deposes the leader or no leader has been
// heard from for an election timeout, and with ErrStopped when the node
// closes. Client sessions (NodeConfig.Sessions, ProposeSession) apply a
// retried request once, with the session table replicated and carried in
// snapshots. The node snapshots its state machine every
// Config.SnapshotEntries entries or NodeConfig.SnapshotLogBytes bytes,
// compacts its log keeping NodeConfig.SnapshotKeepEntries behind the
// snapshot, sends snapshots to followers at NodeConfig.SnapshotRateBytes,
// and restores its state machine from a snapshot the leader sends. Status
// reports the role, term, leader, commit and applied indexes and, on the
// leader, each member's replication; NodeConfig.Metrics receives
// measurements and NodeConfig.Logger notable events.
//
// A Node's methods are safe for concurrent use. StateMachine documents
// which of its methods may run concurrently.
//
// # Wire format
//
// AppendMessage and DecodeMessage encode messages in a versioned, canonical
// binary format (see codec.go); DecodeMessage never panics and bounds its
// allocations by the input's length.
package raft

// Package sim is a deterministic discrete-event simulator for distkit's pure
// protocol cores (Raft, PBFT, SWIM and gossip). It runs many nodes in one
// goroutine on a virtual clock, over a network model that delays, loses,
// duplicates and reorders messages, partitions the nodes and crashes and
// restarts them. Everything random comes from one seeded generator, so a seed
// replays a run exactly, event for event and trace byte for trace byte: a
// failure found under one seed is a failure you can step through.
//
// # Model
//
// A Sim[M] moves messages of the user's type M (a protocol's message struct,
// or []byte) between nodes identified by transport.NodeID. It keeps a virtual
// clock and a queue of events ordered by time and then by sequence number, so
// two events at the same instant always run in the order they were
// scheduled. There are three kinds of event: the arrival of a message, the
// tick of a node, and a function scheduled with At or After. Nothing happens
// between events, and the clock jumps from one event to the next.
//
// Nodes are driven through the three-method Node interface: Deliver a
// message, Tick (one unit of logical time; cores count ticks instead of
// reading a clock), and Outbox, which the simulator reads after each call to
// collect what the node wants to send. Each message a node sends goes through
// the network model when it is collected:
//
//   - dropped if the destination was never added, the SetFilter function
//     refuses it, a partition or one-way cut separates the two nodes, or the
//     destination is down;
//   - lost with probability Link.Loss;
//   - otherwise queued to arrive after Link.Delay, plus uniform jitter, plus
//     sometimes an exponential long tail; messages overtake each other when
//     their delays say so;
//   - duplicated with probability Link.Duplicate, the copy with its own
//     delay.
//
// A message is delivered only if the link is still up when it arrives.
// Crash drops every message in flight to the node and its unread outbox,
// stops its ticks, and calls its Crash method if it implements Crasher, so
// the core can lose what it had not made durable; Restart calls Restart and
// resumes the ticks.
//
// # Usage
//
// Write an adapter that forwards the three Node calls to the core (the
// package examples do it for a flooding protocol and a toy leader election in
// a dozen lines each; embed a Mailbox if the core hands out messages one at a
// time), add one per node, script faults and run:
//
//	s, err := sim.New(sim.Config[raftpb.Message]{
//		Seed:    seed,
//		Network: sim.Link{Delay: time.Millisecond, Jitter: 4 * time.Millisecond, Loss: 0.01},
//		Format:  func(b []byte, m raftpb.Message) []byte { return fmt.Appendf(b, "%v t%d", m.Type, m.Term) },
//		Trace:   &traceBuf,
//	})
//	for _, id := range ids {
//		s.Add(id, newAdapter(id, ids, seed))
//	}
//	s.At(2*time.Second, func() { s.Partition(ids[:2], ids[2:]) })
//	s.At(5*time.Second, func() { s.Heal() })
//	s.At(6*time.Second, func() { s.Crash(ids[0]) })
//	s.Run(10 * time.Second)
//
// Run(until), RunFor(d) and RunUntil(stop, deadline) run many events; Step
// runs one and returns it. Faults can also be applied directly between
// steps (Partition, Isolate, Cut, Heal, Crash, Restart, SetLink, and
// SetFilter for targeted drops such as "lose every heartbeat from n1"), and the
// network's every move can be left to the test: Pending lists the messages
// in flight and DeliverPending, DropPending and DuplicatePending act on one
// of them, while Tick ticks one node. Set Config.NoAutoTick for that style, so
// that time passes only when the test says. A rapid state machine built from
// these actions shrinks a failing schedule to a short one.
//
// Config.Trace receives one text line per event (sends with their arrival
// time, deliveries, drops with their reason, ticks, faults), with message
// contents rendered by Config.Format. Compare two traces, or their hashes, to
// check that a core is deterministic; read one to see what went wrong.
// Stats and NodeStats count messages by fate.
//
// # Determinism
//
// The same Config (Seed included), the same nodes added in the same order and
// the same sequence of calls give the same run. That holds only if the nodes
// are deterministic too: they must take randomness from a seed (Rand hands
// out the simulator's own generator), never read the wall clock, never
// start goroutines and never iterate over a Go map where the order matters.
// The trace makes a violation visible: two runs of one seed whose traces
// differ point at the first event where they part.
//
// # Concurrency
//
// A Sim is not safe for concurrent use, and it calls its nodes from the
// goroutine that calls it, one call at a time. Nodes must not call the Sim
// from inside Deliver, Tick, Outbox, Crash or Restart; functions scheduled
// with At may call anything except Step and the Run methods. Independent
// Sims can run in parallel.
//
// # Performance
//
// Events live in a slice-backed 4-ary heap of 24-byte entries pointing into
// a recycled slab of payloads, so steady-state simulation allocates nothing
// per message beyond what nodes allocate themselves (a test checks that a
// step allocates nothing). With the trace off, ten thousand nodes exchange a
// million messages in about a second of CPU time on a 2-core virtual
// machine; BenchmarkFlood reports the rate in msgs/s. The trace formats a
// line or two per event, so leave it off in large runs.
//
// # Limits
//
// The simulator models a network of messages and crash-stop-restart
// failures. It does not model byte streams, bandwidth or queue overflow, nor
// corrupt a message's contents (a test can: DropPending the original and Send
// a modified copy from the same sender). A node's disk is the node's business:
// Crasher tells it when to forget what it had not synced.
package sim

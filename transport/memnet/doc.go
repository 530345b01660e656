// Package memnet is an in-process network with fault injection: the chaos
// monkey and partition test harness for code built on transport.Transport.
//
// Give each node of your service an Endpoint from one Network instead of a
// real transport, then script the faults your service must survive: lossy,
// duplicating, slow and reordering links, network partitions, one-way link
// cuts, crashes and restarts, full queues. Every random decision comes from
// the network's seed, so a failing run can be replayed. Run the test under
// testing/synctest and latency costs no wall-clock time.
//
// # Usage
//
//	net, err := memnet.New(memnet.Config{
//		Seed: 42,
//		Link: memnet.Link{Loss: 0.05, Latency: 2 * time.Millisecond, Jitter: time.Millisecond},
//	})
//	if err != nil { ... }
//	defer net.Close()
//	a, _ := net.Join("a") // *Endpoint implements transport.Transport
//	b, _ := net.Join("b")
//	c, _ := net.Join("c")
//	// ... start your service's nodes on a, b and c ...
//
//	net.Partition([]transport.NodeID{"a"}, []transport.NodeID{"b", "c"})
//	// ... check that the majority side carries on and "a" steps down ...
//	net.Heal()
//
//	net.Crash("b")   // b's queue and in-flight messages are lost; its Send fails
//	net.Restart("b") // same Endpoint, same Recv channel, empty queue
//
//	net.Cut("a", "c") // one-way: a's messages to c are dropped, c's to a arrive
//	net.SetLink("c", "a", memnet.Link{Duplicate: 0.5, Reorder: 0.2})
//	fmt.Println(net.Stats("a", "c").DroppedPartition)
//
// # Faults
//
// Each directed link, including a node's link to itself, has a Link fault
// model: Config.Link by default, replaced per link by SetLink. A Send on a
// link draws whether the message is lost, whether it is duplicated, and a
// delay for each copy (Latency, plus up to Jitter, plus up to ReorderDelay
// with probability Reorder; the sum saturates at the largest Duration, so a
// delay near math.MaxInt64 means "never in practice" rather than wrapping
// to an immediate delivery). Copies with a zero delay go straight into the
// receiver's queue before Send returns; the rest wait on a timer. So a zero
// Config is a synchronous, lossless, in-order network, and nonzero delays
// reorder messages as a real network does.
//
// Topology faults (Partition, Isolate, Cut) are checked when a message is
// sent and again when it arrives, so cutting a link also loses the messages
// in flight on it. A node can always reach itself. Heal removes all of them.
//
// Crash(id) empties the node's queue, drops what is in flight toward it, and
// makes its Send fail with transport.ErrCrashed until Restart(id). The
// Endpoint and its Recv channel survive the crash, so the code reading it
// keeps running; model a process restart by having that code reset its own
// state. Messages the node sent before crashing were already on the wire
// and still arrive. For a node that restarts from nothing, Close its Endpoint
// and Join the same ID again.
//
// Each node's inbound queue (its Recv channel) holds Config.QueueSize
// messages; a copy arriving at a full queue is dropped. Send never blocks and
// returns nil for every dropped message, since a real sender would not know.
// Stats and TotalStats count every fate, by cause.
//
// # Reproducibility
//
// Each link has its own random source, seeded from Config.Seed and the
// link's two node IDs, and every Send draws the same number of values from
// it whatever the settings. So, for the same seed and the same Link settings,
// the k-th Send on a link gets the same loss, duplication and delay
// decisions, however Sends on other links interleave with it. Copies due at
// the same instant arrive in the order they were sent.
//
// What memnet cannot fix is the order of Sends made by racing goroutines: if
// two goroutines send on the same link at once, which one is k-th depends on
// the scheduler. A program whose Sends happen in a deterministic order (one
// goroutine per link, or goroutines that take turns through messages, as
// protocol nodes under testing/synctest do) sees the same deliveries and the
// same statistics on every run. Delays are measured with the time package,
// so they are exact in virtual time under synctest and approximate in real
// time.
//
// # Concurrency
//
// Network and Endpoint are safe for concurrent use. memnet blocks only on
// channels and holds its one mutex only for short, non-blocking sections,
// so code using it runs under testing/synctest; create the Network inside
// the synctest bubble so that its timer runs on the bubble's clock. An
// Endpoint starts no goroutines; the Network runs at most one timer callback
// at a time, and Close waits for it.
//
// # Limits
//
// memnet is for tests. One mutex serialises all Sends on a Network, every
// payload is copied (so a receiver may modify its copy and a sender may send
// the same buffer to many peers), and Send with a nonzero delay allocates.
// It does not model bandwidth, message size or congestion.
package memnet

// Package transporttest is the conformance suite for transport.Transport
// implementations. Every Transport in distkit (memnet, tcpnet) passes it, and a
// user who writes their own Transport (QUIC, a message bus, a test double) can
// run it to check that the protocols built on distkit will see the behaviour
// they assume.
//
// # Usage
//
// Write a Factory that builds one connected Transport per node ID, all able
// to reach each other, and call Run from a test:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T, ids []transport.NodeID) []transport.Transport {
//			net, err := memnet.New(memnet.Config{})
//			require.NoError(t, err)
//			t.Cleanup(func() { net.Close() })
//			out := make([]transport.Transport, len(ids))
//			for i, id := range ids {
//				ep, err := net.Join(id)
//				require.NoError(t, err)
//				out[i] = ep
//			}
//			return out
//		}, transporttest.Options{})
//	}
//
// The Factory registers its own cleanup with t.Cleanup; the suite also calls
// Close on every Transport it was given, so Close must be idempotent.
//
// # What is checked
//
// Each case is a subtest, so a failure names the rule it broke:
//
//   - Delivery: on a fault-free transport every message sent arrives, exactly
//     once, with equal payload bytes. Order is not checked: the delivery
//     contract allows reordering.
//   - FromAndTo: Message.From is the sender and Message.To the receiver.
//   - SendToSelf: a node can send to itself.
//   - UnknownPeer: Send to an ID the transport cannot address returns an
//     error wrapping transport.ErrUnknownPeer. "Unknown" means not addressable
//     at all (absent from a TCP address book, never joined an in-memory
//     network), not "currently unreachable".
//   - TooLarge: a payload of MaxPayload+1 bytes returns transport.ErrTooLarge
//     and nothing is delivered; MaxPayload bytes exactly are delivered.
//   - SendAfterClose, RecvClosedAfterClose, CloseIdempotent, and
//     SendToClosedPeer (sending to a closed peer neither panics nor breaks the
//     sender's other links).
//   - ConcurrentSenders: several goroutines on several nodes send at once
//     (run the suite under -race) and every message arrives.
//   - PayloadOwnership: one buffer sent to several nodes arrives intact at
//     each even when one receiver overwrites its copy, and the sender's
//     buffer is never modified.
//   - NoLeakedGoroutines: after Close, no goroutine the transports started is
//     left running.
//
// # Limits
//
// The suite assumes a fault-free transport: it treats any loss or duplication
// as a failure. It sends at most 256 messages toward one node before reading
// them, so a transport's queues must hold that many. It never waits with
// time.Sleep: every wait blocks on a Recv channel, bounded by a generous
// timeout (30 s) so a lost message fails the test instead of hanging it.
//
// The goroutine leak check compares against the goroutines that existed when
// the case started. Tests running in parallel with the suite in the same
// binary (t.Parallel) may start goroutines it mistakes for leaks, so run Run
// from a test that is not parallel with goroutine-starting tests.
//
// # Concurrency
//
// Run does not call t.Parallel; its cases run one after another. The Factory
// is called once per case, from the case's goroutine.
package transporttest

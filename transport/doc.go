// Package transport defines how distkit's protocols talk to each other: a
// NodeID, a Message, and the three-method Transport interface that every
// network implementation satisfies.
//
// Protocols (raft, pbft, gossip) depend only on this package. Concrete
// networks live in subpackages: memnet is an in-process network with fault
// injection for tests, tcpnet is a real TCP network with optional mutual TLS,
// and transporttest is the conformance suite both of them pass.
//
// # Delivery contract
//
// Delivery is best effort. A message handed to Send may be lost, delivered
// more than once, delayed for an arbitrary time, or delivered out of order
// relative to other messages, including messages on the same link. Send
// returning nil means only that the transport accepted the message, not that
// the peer received it. Every protocol built on a Transport must be correct
// under all of this; distkit's protocols are tested against memnet's fault
// injection to prove it.
//
// Send never blocks on the network. It either places the message in a bounded
// queue or returns an error (for example ErrQueueFull). It may block only until
// ctx is done.
//
// # Sender identity
//
// Message.From is set by the receiving side of the transport, never by the
// sender. A node cannot claim to be another: memnet stamps the sending
// Transport's own ID, and tcpnet takes it from the connection handshake, which
// with mutual TLS is bound to the peer's certificate.
//
// # Payload ownership
//
// The caller gives up the payload slice when it calls Send: after Send
// returns, whatever its result, the caller must not modify the slice, because
// the transport may still be reading it. The transport never modifies it.
// A payload received from Recv belongs to the receiver, which may keep or
// modify it; the transport does not reuse it.
//
// # Size limit
//
// Every Transport has a maximum payload size (memnet and tcpnet default to
// DefaultMaxPayload, 16 MiB). Send returns an error wrapping ErrTooLarge for a
// larger payload and sends nothing. Protocols that move large things
// (snapshots) split them into chunks well below the limit.
//
// # Concurrency
//
// A Transport is safe for concurrent use: any number of goroutines may call
// Send at once, and Close may be called at any time, more than once. Recv
// returns the same channel on every call; it is closed when Close completes.
package transport

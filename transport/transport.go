package transport

import (
	"context"
	"errors"
)

// NodeID names a node. It is opaque to transports except as a map key; tcpnet
// with mutual TLS checks it against the peer's certificate.
type NodeID string

// Message is one payload delivered by a Transport.
type Message struct {
	// From is the sender, set by the transport from the connection it
	// arrived on, never taken from the payload.
	From NodeID
	// To is the receiving node, the owner of the Transport that delivered it.
	To NodeID
	// Payload is the message body. It belongs to the receiver.
	Payload []byte
}

// Transport sends and receives messages for one node. See the package
// documentation for the delivery contract.
type Transport interface {
	// Send queues payload for delivery to the node to. It is best effort and
	// never blocks on the network beyond a bounded queue. The caller must
	// not modify payload after Send is called.
	Send(ctx context.Context, to NodeID, payload []byte) error
	// Recv returns the channel of received messages. The same channel is
	// returned on every call; Close closes it.
	Recv() <-chan Message
	// Close stops the transport and waits for its goroutines. It is
	// idempotent: later calls return nil.
	Close() error
}

// DefaultMaxPayload is the default maximum payload size of distkit's
// transports: 16 MiB.
const DefaultMaxPayload = 16 << 20

// Errors returned by transports. Implementations wrap them with detail;
// callers test with errors.Is.
var (
	// ErrClosed is returned by Send after Close.
	ErrClosed = errors.New("transport: closed")
	// ErrUnknownPeer is returned by Send to a node the transport cannot
	// reach at all (not in its address book or not on its network).
	ErrUnknownPeer = errors.New("transport: unknown peer")
	// ErrTooLarge is returned by Send for a payload above the transport's
	// maximum payload size.
	ErrTooLarge = errors.New("transport: payload too large")
	// ErrQueueFull is returned by Send when the bounded queue toward the
	// peer is full and the transport is configured to reject rather than
	// drop.
	ErrQueueFull = errors.New("transport: send queue full")
	// ErrCrashed is returned by Send on a node that a fault injector has
	// crashed (memnet's Crash). The node's Transport stays usable after a
	// restart.
	ErrCrashed = errors.New("transport: node crashed")
	// ErrCorrupt is returned for bytes from the network that do not form a
	// valid frame or handshake.
	ErrCorrupt = errors.New("transport: corrupt input")
)

package transporttest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/transporttest"
)

// refNet is the simplest Transport that can pass the suite: a map of
// buffered channels. It checks the suite itself, independently of memnet and
// tcpnet, so a bug in a case shows up here first.
type refNet struct {
	mu    sync.Mutex
	nodes map[transport.NodeID]*refNode
	max   int
}

type refNode struct {
	net    *refNet
	id     transport.NodeID
	ch     chan transport.Message
	closed bool // guarded by net.mu
}

func (n *refNode) Send(ctx context.Context, to transport.NodeID, payload []byte) error {
	if len(payload) > n.net.max {
		return fmt.Errorf("ref: %d bytes: %w", len(payload), transport.ErrTooLarge)
	}
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	if n.closed {
		return transport.ErrClosed
	}
	dst, ok := n.net.nodes[to]
	if !ok {
		return fmt.Errorf("ref: %q: %w", to, transport.ErrUnknownPeer)
	}
	if dst.closed {
		return nil
	}
	m := transport.Message{From: n.id, To: to, Payload: append([]byte(nil), payload...)}
	select {
	case dst.ch <- m:
		return nil
	default:
		return transport.ErrQueueFull
	}
}

func (n *refNode) Recv() <-chan transport.Message { return n.ch }

func (n *refNode) Close() error {
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	if !n.closed {
		n.closed = true
		close(n.ch)
	}
	return nil
}

func TestReferenceTransport(t *testing.T) {
	const maxPayload = 1 << 16
	transporttest.Run(t, func(t *testing.T, ids []transport.NodeID) []transport.Transport {
		net := &refNet{nodes: map[transport.NodeID]*refNode{}, max: maxPayload}
		out := make([]transport.Transport, len(ids))
		for i, id := range ids {
			n := &refNode{net: net, id: id, ch: make(chan transport.Message, 1024)}
			net.nodes[id] = n
			out[i] = n
		}
		t.Cleanup(func() {
			for _, tr := range out {
				_ = tr.Close()
			}
		})
		return out
	}, transporttest.Options{MaxPayload: maxPayload})
}

package tcpnet

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/distkit/distkit/transport"
)

func TestSendRecvBothWays(t *testing.T) {
	a, b := newNode(t, "a", nil), newNode(t, "b", nil)
	link(t, a, b)
	ctx := context.Background()
	for i := range 100 {
		require.NoError(t, a.Send(ctx, "b", fmt.Appendf(nil, "a%d", i)))
		require.NoError(t, b.Send(ctx, "a", fmt.Appendf(nil, "b%d", i)))
	}
	// One connection per direction keeps each direction in order.
	for i := range 100 {
		m := recv(t, b)
		require.Equal(t, transport.Message{From: "a", To: "b", Payload: fmt.Appendf(nil, "a%d", i)}, m)
		m = recv(t, a)
		require.Equal(t, transport.Message{From: "b", To: "a", Payload: fmt.Appendf(nil, "b%d", i)}, m)
	}
	st := a.Status()
	require.Equal(t, uint64(100), st.Peers["b"].Sent)
	require.Equal(t, uint64(100), st.Received)
	require.Equal(t, uint64(1), st.Peers["b"].Connects)
}

func TestEmptyAndMaxSizePayloads(t *testing.T) {
	const maxSize = 200 << 10 // above the read chunk, to cover incremental reads
	a := newNode(t, "a", func(c *Config) { c.MaxFrameSize = maxSize })
	b := newNode(t, "b", func(c *Config) { c.MaxFrameSize = maxSize })
	link(t, a, b)
	big := make([]byte, maxSize)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, a.Send(context.Background(), "b", []byte{}))
	require.NoError(t, a.Send(context.Background(), "b", big))
	require.Empty(t, recv(t, b).Payload)
	require.Equal(t, big, recv(t, b).Payload)
	err := a.Send(context.Background(), "b", make([]byte, maxSize+1))
	require.ErrorIs(t, err, transport.ErrTooLarge)
}

func TestSendToSelf(t *testing.T) {
	a := newNode(t, "a", nil)
	require.NoError(t, a.Send(context.Background(), "a", []byte("me")))
	require.Equal(t, transport.Message{From: "a", To: "a", Payload: []byte("me")}, recv(t, a))
}

func TestSendErrors(t *testing.T) {
	a := newNode(t, "a", nil)
	require.ErrorIs(t, a.Send(context.Background(), "nobody", nil), transport.ErrUnknownPeer)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, a.Send(ctx, "a", nil), context.Canceled)

	require.NoError(t, a.SetPeer("b", "127.0.0.1:1"))
	a.RemovePeer("b")
	require.ErrorIs(t, a.Send(context.Background(), "b", nil), transport.ErrUnknownPeer)
	require.ErrorIs(t, a.SetPeer("a", "127.0.0.1:1"), ErrInvalidConfig)
	require.ErrorIs(t, a.SetPeer("", "127.0.0.1:1"), ErrInvalidConfig)
	require.ErrorIs(t, a.SetPeer("b", ""), ErrInvalidConfig)
}

func TestCloseIsIdempotentAndClosesRecv(t *testing.T) {
	a, b := newNode(t, "a", nil), newNode(t, "b", nil)
	link(t, a, b)
	require.NoError(t, a.Send(context.Background(), "b", []byte("x")))
	recv(t, b)
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	_, ok := <-b.Recv()
	require.False(t, ok)
	require.ErrorIs(t, b.Send(context.Background(), "a", nil), transport.ErrClosed)
	require.ErrorIs(t, b.SetPeer("c", "127.0.0.1:1"), transport.ErrClosed)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no id":         {},
		"long id":       {NodeID: transport.NodeID(make([]byte, 256))},
		"long cluster":  {NodeID: "a", ClusterName: string(make([]byte, 256))},
		"negative":      {NodeID: "a", SendQueueSize: -1},
		"negative cap":  {NodeID: "a", MaxPendingPerIP: -1},
		"backoff":       {NodeID: "a", BackoffBase: 2, BackoffMax: 1},
		"policy":        {NodeID: "a", QueuePolicy: 9},
		"peer addr":     {NodeID: "a", Peers: map[transport.NodeID]string{"b": ""}},
		"negative time": {NodeID: "a", ReadTimeout: -1},
	} {
		t.Run(name, func(t *testing.T) {
			before := fmt.Sprint(cfg)
			require.ErrorIs(t, cfg.Validate(), ErrInvalidConfig)
			require.Equal(t, before, fmt.Sprint(cfg), "Validate must not modify the config")
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
	_, err := New(Config{NodeID: "a", ListenAddr: "256.0.0.1:0"})
	require.Error(t, err)
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestQueueDropOldestThenPeerAppears(t *testing.T) {
	logs := newLogSink()
	a := newNode(t, "a", func(c *Config) {
		c.SendQueueSize = 4
		c.Logger = logs.logger()
	})
	b := newNode(t, "b", nil)
	require.NoError(t, a.SetPeer("b", deadAddr(t)))
	// The first Send starts the writer, which fails to connect; messages
	// stay queued while it backs off and retries.
	require.NoError(t, a.Send(context.Background(), "b", []byte("first")))
	logs.waitFor(t, "connect failure", reasonContains("tcpnet: cannot connect to peer", "refused"))
	for i := range 10 {
		require.NoError(t, a.Send(context.Background(), "b", fmt.Appendf(nil, "m%d", i)))
	}
	st := a.Status().Peers["b"]
	require.Equal(t, 4, st.Queued)
	require.Equal(t, uint64(7), st.Dropped)
	require.GreaterOrEqual(t, st.ConnectFailures, uint64(1))

	// Pointing the address book at the live node delivers the newest four.
	require.NoError(t, a.SetPeer("b", b.Addr().String()))
	for i := 6; i < 10; i++ {
		require.Equal(t, fmt.Sprintf("m%d", i), string(recv(t, b).Payload))
	}
}

func TestQueueRejectPolicy(t *testing.T) {
	logs := newLogSink()
	a := newNode(t, "a", func(c *Config) {
		c.SendQueueSize = 3
		c.QueuePolicy = Reject
		c.Logger = logs.logger()
	})
	require.NoError(t, a.SetPeer("b", deadAddr(t)))
	require.NoError(t, a.Send(context.Background(), "b", []byte("first")))
	logs.waitFor(t, "connect failure", reasonContains("tcpnet: cannot connect to peer", "refused"))
	for range 2 {
		require.NoError(t, a.Send(context.Background(), "b", []byte("x")))
	}
	err := a.Send(context.Background(), "b", []byte("y"))
	require.ErrorIs(t, err, transport.ErrQueueFull)
	st := a.Status().Peers["b"]
	require.Equal(t, uint64(1), st.Rejected)
	require.Equal(t, uint64(0), st.Dropped)
}

func TestReconnectsAfterPeerRestart(t *testing.T) {
	logs := newLogSink()
	a := newNode(t, "a", func(c *Config) { c.Logger = logs.logger() })
	b1 := newNode(t, "b", nil)
	link(t, a, b1)
	require.NoError(t, a.Send(context.Background(), "b", []byte("one")))
	require.Equal(t, "one", string(recv(t, b1).Payload))

	// b restarts on another port; the watcher sees the old connection end.
	require.NoError(t, b1.Close())
	b2 := newNode(t, "b", nil)
	require.NoError(t, a.SetPeer("b", b2.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "b", []byte("two")))
	require.Equal(t, "two", string(recv(t, b2).Payload))
	require.Equal(t, uint64(2), a.Status().Peers["b"].Connects)
}

func TestIdleInboundConnectionIsClosedAndSenderReconnects(t *testing.T) {
	logs := newLogSink()
	a := newNode(t, "a", nil)
	b := newNode(t, "b", func(c *Config) {
		c.IdleTimeout = 50 * time.Millisecond
		c.Logger = logs.logger()
	})
	link(t, a, b)
	require.NoError(t, a.Send(context.Background(), "b", []byte("one")))
	recv(t, b)
	logs.waitFor(t, "idle close", reasonContains("tcpnet: inbound connection closed", "idle timeout"))
	// The sender's watcher notices the close; wait for it, then send again.
	waitUntil(t, "a sees the connection end", func() bool { return !a.Status().Peers["b"].Connected })
	require.NoError(t, a.Send(context.Background(), "b", []byte("two")))
	require.Equal(t, "two", string(recv(t, b).Payload))
	require.Equal(t, uint64(2), a.Status().Peers["b"].Connects)
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	func() {
		ca := newTestCA(t)
		logs := newLogSink()
		cfg := func(id transport.NodeID) Config {
			return Config{
				NodeID: id, ListenAddr: "127.0.0.1:0", TLS: MutualTLSConfig(ca.issue(t, id), ca.pool),
				ReadTimeout: time.Minute, HandshakeTimeout: time.Minute, Logger: logs.logger(),
			}
		}
		a, err := New(cfg("a"))
		require.NoError(t, err)
		b, err := New(cfg("b"))
		require.NoError(t, err)
		require.NoError(t, a.SetPeer("b", b.Addr().String()))
		require.NoError(t, a.SetPeer("gone", deadAddr(t))) // a writer stuck in backoff
		require.NoError(t, a.Send(context.Background(), "gone", []byte("x")))
		require.NoError(t, a.Send(context.Background(), "b", []byte("x")))
		require.NoError(t, a.Send(context.Background(), "a", []byte("x")))
		<-b.Recv()
		// A connection stuck in its TLS handshake, one removed peer.
		stuck, err := net.Dial("tcp", b.Addr().String())
		require.NoError(t, err)
		defer stuck.Close()
		waitUntil(t, "b admitted the stuck connection", func() bool { return b.Status().InboundConns == 2 })
		a.RemovePeer("gone")
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
		// Checked at once, without goleak's retries: Close must have
		// waited for its goroutines, not merely told them to stop.
		require.Empty(t, tcpnetGoroutines())
	}()
	goleak.VerifyNone(t, ignore)
}

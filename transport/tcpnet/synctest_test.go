package tcpnet

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/transport"
)

// The tests in this file run whole Transports on an in-memory network of
// net.Pipe connections inside a synctest bubble. Pipes block on channels and
// their deadlines use the bubble's virtual clock, so timeouts and backoff are
// checked to the nanosecond without waiting for real time.

// pipeNet maps addresses to in-memory listeners.
type pipeNet struct {
	mu        sync.Mutex
	listeners map[string]*pipeListener
	dials     []time.Time // when each dial was attempted
}

func newPipeNet() *pipeNet { return &pipeNet{listeners: map[string]*pipeListener{}} }

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

type pipeListener struct {
	addr   pipeAddr
	conns  chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

func (n *pipeNet) listen(addr string) *pipeListener {
	l := &pipeListener{addr: pipeAddr(addr), conns: make(chan net.Conn), done: make(chan struct{})}
	n.mu.Lock()
	n.listeners[addr] = l
	n.mu.Unlock()
	return l
}

func (n *pipeNet) dial(ctx context.Context, addr string) (net.Conn, error) {
	n.mu.Lock()
	n.dials = append(n.dials, time.Now())
	l := n.listeners[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, errors.New("connection refused")
	}
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errors.New("connection refused")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (n *pipeNet) dialTimes() []time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]time.Time(nil), n.dials...)
}

// node starts a Transport listening on addr in the pipe network.
func (n *pipeNet) node(t *testing.T, id transport.NodeID, addr string, edit func(*Config)) *Transport {
	cfg := Config{NodeID: id, ClusterName: "sim"}
	if edit != nil {
		edit(&cfg)
	}
	require.NoError(t, cfg.Validate())
	tr := start(cfg.withDefaults(), n.listen(addr), n.dial)
	t.Cleanup(func() { require.NoError(t, tr.Close()) })
	return tr
}

func TestSyncDeliveryOverPipes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		a := n.node(t, "a", "a:1", nil)
		b := n.node(t, "b", "b:1", nil)
		require.NoError(t, a.SetPeer("b", "b:1"))
		require.NoError(t, a.Send(context.Background(), "b", []byte("hi")))
		require.Equal(t, transport.Message{From: "a", To: "b", Payload: []byte("hi")}, <-b.Recv())
	})
}

func TestSyncHalfSentFrameClosedAtReadTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		logs := newLogSink()
		logs.limit = time.Hour
		v := n.node(t, "v", "v:1", func(c *Config) { c.Logger = logs.logger() })
		c, err := n.dial(context.Background(), "v:1")
		require.NoError(t, err)
		defer c.Close()
		go func() {
			_, _ = c.Write(appendHello(nil, hello{From: "m", To: "v", Cluster: "sim"}))
			_, _ = readAck(c)
			// Half a frame, then silence.
			_, _ = c.Write(append(binary.BigEndian.AppendUint32(nil, 10), 1, 2, 3))
		}()
		synctest.Wait()
		started := time.Now()
		rec := logs.waitFor(t, "timeout", reasonContains("tcpnet: inbound connection closed", "read timeout mid-frame payload"))
		require.Equal(t, "m", rec.attrs["peer"])
		require.Equal(t, DefaultReadTimeout, time.Since(started))
		require.Zero(t, v.Status().Received)
	})
}

func TestSyncSilentConnectionClosedAtHandshakeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		logs := newLogSink()
		logs.limit = time.Hour
		v := n.node(t, "v", "v:1", func(c *Config) { c.Logger = logs.logger() })
		started := time.Now()
		c, err := n.dial(context.Background(), "v:1")
		require.NoError(t, err)
		defer c.Close()
		logs.waitFor(t, "timeout", reasonContains("tcpnet: inbound handshake failed", "i/o timeout"))
		require.Equal(t, DefaultHandshakeTimeout, time.Since(started))
		synctest.Wait()
		require.Zero(t, v.Status().InboundConns)
	})
}

func TestSyncIdleConnectionClosedAtIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		logs := newLogSink()
		logs.limit = time.Hour
		a := n.node(t, "a", "a:1", nil)
		b := n.node(t, "b", "b:1", func(c *Config) { c.Logger = logs.logger() })
		require.NoError(t, a.SetPeer("b", "b:1"))
		require.NoError(t, a.Send(context.Background(), "b", []byte("one")))
		<-b.Recv()
		synctest.Wait()
		last := time.Now()
		logs.waitFor(t, "idle", reasonContains("tcpnet: inbound connection closed", "idle timeout"))
		require.Equal(t, DefaultIdleTimeout, time.Since(last))
		synctest.Wait()
		require.False(t, a.Status().Peers["b"].Connected, "the sender noticed the close")
		require.NoError(t, a.Send(context.Background(), "b", []byte("two")))
		require.Equal(t, "two", string((<-b.Recv()).Payload))
	})
}

func TestSyncReconnectBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		a := n.node(t, "a", "a:1", nil)
		require.NoError(t, a.SetPeer("b", "b:1")) // nobody listens there yet
		require.NoError(t, a.Send(context.Background(), "b", []byte("queued")))
		// Let the writer fail for a simulated minute.
		time.Sleep(time.Minute)
		dials := n.dialTimes()
		require.Greater(t, len(dials), 10)
		// Each wait is within the full-jitter bound of its attempt number.
		bo := newBackoff(DefaultBackoffBase, DefaultBackoffMax)
		for i := 1; i < len(dials); i++ {
			gap := dials[i].Sub(dials[i-1])
			require.LessOrEqual(t, gap, bo.ceiling(), "wait before attempt %d", i)
			bo.failures++
		}
		// Once the peer appears, the queued message goes through.
		b := n.node(t, "b", "b:1", nil)
		require.Equal(t, "queued", string((<-b.Recv()).Payload))
		st := a.Status().Peers["b"]
		require.Equal(t, uint64(1), st.Connects)
		require.Equal(t, uint64(len(dials)), st.ConnectFailures)
	})
}

func TestSyncCloseDuringBackoffAndBlockedDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		a := n.node(t, "a", "a:1", nil)
		b := n.node(t, "b", "b:1", func(c *Config) { c.RecvQueueSize = 1 })
		require.NoError(t, a.SetPeer("b", "b:1"))
		require.NoError(t, a.SetPeer("c", "c:1"))
		// b's Recv fills up and its reader blocks; c is unreachable.
		for range 5 {
			require.NoError(t, a.Send(context.Background(), "b", []byte("x")))
			require.NoError(t, a.Send(context.Background(), "c", []byte("x")))
		}
		synctest.Wait()
		require.NoError(t, b.Close())
		require.NoError(t, a.Close())
	})
}

func TestSyncReplacedConnectionIsClosedEvenWhileDelivering(t *testing.T) {
	// A node that reconnects replaces its old inbound connection. The old
	// one must end even if, at that moment, its reader is blocked handing
	// a message to a full Recv: it used to get a deadline in the past,
	// which its next read re-armed with a fresh idle timeout, so it held
	// an inbound slot for IdleTimeout more.
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		v := n.node(t, "v", "v:1", func(c *Config) { c.RecvQueueSize = 1 })
		frame := func(p string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...) }
		handshake := func(c net.Conn) { pipeHandshake(t, c) }
		old, err := n.dial(context.Background(), "v:1")
		require.NoError(t, err)
		defer old.Close()
		handshake(old)
		// Two frames: the first fills Recv, the second blocks the reader.
		go func() { _, _ = old.Write(append(frame("one"), frame("two")...)) }()
		synctest.Wait()

		fresh, err := n.dial(context.Background(), "v:1")
		require.NoError(t, err)
		defer fresh.Close()
		handshake(fresh)
		synctest.Wait()
		require.Equal(t, "one", string((<-v.Recv()).Payload))
		synctest.Wait()
		require.Equal(t, 1, v.Status().InboundConns, "the replaced connection is gone")
		require.Equal(t, "two", string((<-v.Recv()).Payload))
	})
}

func TestSyncRemovePeerDoesNotWaitOnTLSCloseNotify(t *testing.T) {
	// Closing an idle TLS connection sends a close_notify alert, and
	// crypto/tls gives that write up to 5 seconds. When the peer has
	// stopped reading (its Recv is full), RemovePeer and Close used to sit
	// out those seconds while holding the peer's lock, so Sends blocked too.
	synctest.Test(t, func(t *testing.T) {
		ca := newTestCA(t)
		n := newPipeNet()
		a := n.node(t, "a", "a:1", func(c *Config) { c.TLS = MutualTLSConfig(ca.issue(t, "a"), ca.pool) })
		b := n.node(t, "b", "b:1", func(c *Config) {
			c.TLS = MutualTLSConfig(ca.issue(t, "b"), ca.pool)
			c.RecvQueueSize = 1
		})
		require.NoError(t, a.SetPeer("b", "b:1"))
		// The first message fills b's Recv, the second blocks b's reader.
		require.NoError(t, a.Send(context.Background(), "b", []byte("one")))
		require.NoError(t, a.Send(context.Background(), "b", []byte("two")))
		synctest.Wait()
		require.True(t, a.Status().Peers["b"].Connected)
		require.Zero(t, a.Status().Peers["b"].Queued)

		start := time.Now()
		a.RemovePeer("b")
		require.Zero(t, time.Since(start), "RemovePeer waited on the network")
		start = time.Now()
		require.NoError(t, a.Close())
		require.Zero(t, time.Since(start), "Close waited on the network")
		require.Equal(t, "one", string((<-b.Recv()).Payload))
	})
}

func TestSyncRefusalLogIsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		logs := newLogSink()
		v := n.node(t, "v", "v:1", func(c *Config) {
			c.MaxInboundConns = 2
			c.MaxPendingPerIP = 100 // every pipe has the same address
			c.HandshakeTimeout = time.Hour
			c.Logger = logs.logger()
		})
		dial := func(k int) {
			for range k {
				c, err := n.dial(context.Background(), "v:1")
				require.NoError(t, err)
				t.Cleanup(func() { _ = c.Close() })
			}
		}
		capped := func() []logRecord {
			var out []logRecord
			for _, r := range logs.all() {
				if reasonContains("tcpnet: inbound connection refused", "too many inbound connections")(r) {
					out = append(out, r)
				}
			}
			return out
		}
		// Two silent connections take both slots; ten more are refused
		// within the same instant and make one log line.
		dial(12)
		synctest.Wait()
		require.Equal(t, uint64(10), v.Status().RefusedConns)
		got := capped()
		require.Len(t, got, 1)
		require.NotContains(t, got[0].attrs, "suppressed")

		time.Sleep(refusalLogInterval - time.Nanosecond)
		dial(1)
		synctest.Wait()
		require.Len(t, capped(), 1, "still within the interval")

		time.Sleep(time.Nanosecond)
		dial(1)
		synctest.Wait()
		got = capped()
		require.Len(t, got, 2)
		require.Equal(t, "10", got[1].attrs["suppressed"])
		require.Equal(t, uint64(12), v.Status().RefusedConns)
	})
}

// gatedConn lets its first Write through and then holds the writer until
// gate is closed, to pause the goroutine that writes on it at that point.
type gatedConn struct {
	net.Conn
	gate chan struct{}
}

func (c *gatedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	<-c.gate
	return n, err
}

func TestSyncDelayedOlderHandshakeDoesNotReplaceNewerConnection(t *testing.T) {
	// The goroutine serving a node's first connection is paused right after
	// it writes the handshake ack (as a loaded machine may deschedule it);
	// the node, having its ack, then opens a second connection. The second
	// is the newer: it must survive, and the first must be closed, however
	// late the first's goroutine resumes. The byID entry used to be written
	// after the ack, so the resumed first connection displaced, and
	// closed, the second.
	synctest.Test(t, func(t *testing.T) {
		n := newPipeNet()
		v := n.node(t, "v", "v:1", nil)
		handshake := func(c net.Conn) { pipeHandshake(t, c) }
		n.mu.Lock()
		l := n.listeners["v:1"]
		n.mu.Unlock()
		first, server := net.Pipe()
		defer first.Close()
		gate := make(chan struct{})
		l.conns <- &gatedConn{Conn: server, gate: gate}
		handshake(first)
		synctest.Wait() // the first connection's goroutine waits at the gate

		second, err := n.dial(context.Background(), "v:1")
		require.NoError(t, err)
		defer second.Close()
		handshake(second)
		synctest.Wait()
		close(gate)
		synctest.Wait()

		closed := make(chan error, 1)
		go func() {
			_, err := first.Read(make([]byte, 1))
			closed <- err
		}()
		synctest.Wait()
		select {
		case err := <-closed:
			require.Error(t, err)
		default:
			t.Fatal("the older connection was not closed")
		}
		_, err = second.Write(append(binary.BigEndian.AppendUint32(nil, 1), 'x'))
		require.NoError(t, err, "the newer connection was closed")
		require.Equal(t, "x", string((<-v.Recv()).Payload))
		require.Equal(t, 1, v.Status().InboundConns)
	})
}

// pipeHandshake says hello from "m" to "v" in the "sim" cluster on c and
// requires the accepting side's OK.
func pipeHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := c.Write(appendHello(nil, hello{From: "m", To: "v", Cluster: "sim"}))
	require.NoError(t, err)
	st, err := readAck(c)
	require.NoError(t, err)
	require.Equal(t, statusOK, st)
}

package tcpnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An idle plain-TCP connection takes a message straight from Send; a
// message too large for the socket's buffer is finished by the writer
// goroutine, and messages sent meanwhile queue behind it: the receiver
// gets everything, whole and in order.
func TestInlineSendKeepsOrderAcrossPartialWrites(t *testing.T) {
	const big = 4 << 20 // far above a loopback socket's send buffer
	a := newNode(t, "a", func(c *Config) { c.MaxFrameSize = 2 * big })
	b := newNode(t, "b", func(c *Config) { c.MaxFrameSize = 2 * big; c.RecvQueueSize = 1 })
	link(t, a, b)
	ctx := context.Background()
	p := a.peers["b"]

	// The first message connects, through the writer goroutine.
	require.NoError(t, a.Send(ctx, "b", []byte("hello")))
	require.Equal(t, []byte("hello"), recv(t, b).Payload)
	waitUntil(t, "the writer is idle on an open connection", func() bool {
		c := p.cur.Load()
		if c == nil || !c.wmu.TryLock() {
			return false
		}
		defer c.wmu.Unlock()
		return c.w.Buffered() == 0 && p.queued() == 0
	})

	// Small messages to an idle connection leave from Send itself.
	for i := range 10 {
		require.NoError(t, a.Send(ctx, "b", fmt.Appendf(nil, "small %d", i)))
		require.Equal(t, fmt.Appendf(nil, "small %d", i), recv(t, b).Payload)
	}
	require.GreaterOrEqual(t, p.inline.Load(), uint64(1))

	// b reads nothing meanwhile, so the big payloads fill the socket
	// buffers: the first is written in part by Send and finished by the
	// writer; the rest queue behind it.
	var want [][]byte
	for i := range 6 {
		var m []byte
		if i%2 == 0 {
			m = make([]byte, big)
			for j := range m {
				m[j] = byte(i + j*31)
			}
		} else {
			m = fmt.Appendf(nil, "between %d", i)
		}
		want = append(want, m)
		require.NoError(t, a.Send(ctx, "b", m))
		runtime.Gosched()
	}
	for i, m := range want {
		require.Equal(t, m, recv(t, b).Payload, "message %d", i)
	}
	st := a.Status().Peers["b"]
	require.Equal(t, uint64(17), st.Sent)
	require.Zero(t, st.Lost)
	require.Equal(t, uint64(1), st.Connects)
}

// tornConn is a TCP connection whose second large write puts all but the
// last 10 bytes into the socket and then fails, as a write can with ENOBUFS
// under memory pressure: the socket stays usable, and the peer holds part
// of a frame.
type tornConn struct {
	*net.TCPConn
	large atomic.Int32
}

var errTornWrite = errors.New("injected failure after a partial write")

func (c *tornConn) Write(p []byte) (int, error) {
	if len(p) >= writeBufferSize && c.large.Add(1) == 2 {
		n, err := c.TCPConn.Write(p[:len(p)-10])
		if err == nil {
			err = errTornWrite
		}
		return n, err
	}
	return c.TCPConn.Write(p)
}

// gateLog holds the goroutine that logs msg until release is closed, having
// said so on reached; other records pass.
type gateLog struct {
	msg              string
	reached, release chan struct{}
	once             sync.Once
}

func (h *gateLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *gateLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *gateLog) WithGroup(string) slog.Handler            { return h }
func (h *gateLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() {
			close(h.reached)
			<-h.release
		})
	}
	return nil
}

// A write of the writer goroutine that fails midway leaves part of a frame
// in the socket. Send must not write into that connection any more, even
// before the writer has closed it: the peer would read the new frame's bytes
// as the rest of the torn one and deliver it corrupted.
func TestInlineSendNeverFollowsATornFrame(t *testing.T) {
	b := newNode(t, "b", nil)
	gate := &gateLog{msg: "tcpnet: outbound connection failed", reached: make(chan struct{}), release: make(chan struct{})}
	cfg := Config{NodeID: "a", ClusterName: "test", ListenAddr: "127.0.0.1:0",
		BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond, Logger: slog.New(gate)}
	require.NoError(t, cfg.Validate())
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	require.NoError(t, err)
	var d net.Dialer
	a := start(cfg.withDefaults(), ln, func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &tornConn{TCPConn: c.(*net.TCPConn)}, nil
	})
	defer func() { require.NoError(t, a.Close()) }()
	require.NoError(t, a.SetPeer("b", b.Addr().String()))
	ctx := context.Background()

	// The big payload's tail goes out in a write of its own (bufio writes
	// directly what is left after its first full buffer), which fails.
	big := make([]byte, 3*writeBufferSize)
	for i := range big {
		big[i] = byte(i % 251)
	}
	require.NoError(t, a.Send(ctx, "b", big))
	select {
	case <-gate.reached: // the writer is about to drop the connection
	case <-time.After(waitLimit):
		t.Fatal("the write did not fail")
	}
	small := []byte("0123456789abcdefghij")
	require.NoError(t, a.Send(ctx, "b", small))
	close(gate.release)

	// The torn frame is lost; the small message arrives whole, on a new
	// connection, and nothing else arrives.
	m := recv(t, b)
	require.Equal(t, small, m.Payload, "received a %d-byte message", len(m.Payload))
	waitUntil(t, "the lost frame is counted", func() bool { return a.Status().Peers["b"].Lost == 1 })
	requireNothing(t, b)
}

// Several goroutines send, each its own numbered sequence of small and
// large messages, so that Send's inline writes, partial writes finished by
// the writer, and queued batches interleave. The receiver must get every
// message whole, and each sender's messages in the order it sent them.
func TestInlineSendKeepsEachSendersOrderUnderConcurrency(t *testing.T) {
	const (
		senders = 4
		each    = 100
	)
	a := newNode(t, "a", func(c *Config) { c.SendQueueSize = senders * each })
	b := newNode(t, "b", nil)
	link(t, a, b)
	ctx := context.Background()
	msg := func(g, i int) []byte {
		m := fmt.Appendf(nil, "%d %d ", g, i)
		if i%10 == 7 {
			// Larger than a loopback socket takes at once when the
			// receiver lags.
			m = append(m, make([]byte, 300<<10)...)
			for j := range m[16:] {
				m[16+j] = byte(g + i + j)
			}
		}
		return m
	}
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := a.Send(ctx, "b", msg(g, i)); err != nil {
					t.Errorf("send %d %d: %v", g, i, err)
					return
				}
				if i%16 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	next := make([]int, senders)
	for range senders * each {
		p := recv(t, b).Payload
		var g, i int
		_, err := fmt.Sscanf(string(p[:min(len(p), 16)]), "%d %d ", &g, &i)
		require.NoError(t, err, "a message starts with %q", p[:min(len(p), 16)])
		require.Equal(t, next[g], i, "sender %d's messages out of order", g)
		require.Equal(t, msg(g, i), p, "message %d of sender %d", i, g)
		next[g]++
	}
	wg.Wait()
	st := a.Status().Peers["b"]
	require.Zero(t, st.Lost)
	require.Zero(t, st.Dropped)
	t.Logf("inline sends: %d of %d", a.peers["b"].inline.Load(), senders*each)
}

package tcpnet

import (
	"context"
	"fmt"
	"runtime"
	"testing"

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

package tcpnet

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/transport"
)

// Each hostile-input test checks three things: the bad connection is closed
// with a logged reason, nothing is delivered from it, and an honest peer
// carries on through the same Transport afterwards.

// requireHonestPeerWorks sends from a fresh honest node to victim.
func requireHonestPeerWorks(t *testing.T, victim *Transport) {
	t.Helper()
	honest := newNode(t, "honest", nil)
	require.NoError(t, honest.SetPeer(victim.NodeID(), victim.Addr().String()))
	require.NoError(t, honest.Send(context.Background(), victim.NodeID(), []byte("still here")))
	m := recv(t, victim)
	require.Equal(t, transport.Message{From: "honest", To: victim.NodeID(), Payload: []byte("still here")}, m)
}

func TestHostileGarbageHandshake(t *testing.T) {
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) { c.Logger = logs.logger() })
	c := rawDial(t, v)
	_, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"))
	require.NoError(t, err)
	// "G" is not version 1: refused with an ack saying so, then closed.
	st, err := readAck(c)
	require.NoError(t, err)
	require.Equal(t, statusBadVersion, st)
	requireClosedByPeer(t, c)
	logs.waitFor(t, "refusal", reasonContains("tcpnet: inbound handshake failed", "unsupported protocol version"))
	requireNothing(t, v)
	requireHonestPeerWorks(t, v)
	require.GreaterOrEqual(t, v.Status().RefusedConns, uint64(1))
}

func TestHostileTruncatedHandshake(t *testing.T) {
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) { c.Logger = logs.logger() })
	c := rawDial(t, v)
	// Version 1, then a sender name announced as 200 bytes of which 3 come.
	_, err := c.Write([]byte{wireVersion, 200, 'a', 'b', 'c'})
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	requireClosedByPeer(t, c)
	logs.waitFor(t, "refusal", reasonContains("tcpnet: inbound handshake failed", "truncated hello sender"))
	requireHonestPeerWorks(t, v)
}

func TestHostileGarbageAfterHandshake(t *testing.T) {
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) { c.Logger = logs.logger() })
	c := rawDial(t, v)
	rawHandshake(t, c, "mallory", v)
	// Random-looking bytes decode as an absurd frame length.
	_, err := c.Write([]byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02})
	require.NoError(t, err)
	requireClosedByPeer(t, c)
	logs.waitFor(t, "close", reasonContains("tcpnet: inbound connection closed", "exceeds the maximum"))
	requireNothing(t, v)
	requireHonestPeerWorks(t, v)
}

func TestHostileOversizedFrame(t *testing.T) {
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) {
		c.MaxFrameSize = 1024
		c.Logger = logs.logger()
	})
	c := rawDial(t, v)
	rawHandshake(t, c, "mallory", v)
	// One good frame is delivered; the next announces 1025 bytes.
	frame := binary.BigEndian.AppendUint32(nil, 2)
	frame = append(frame, "ok"...)
	frame = binary.BigEndian.AppendUint32(frame, 1025)
	_, err := c.Write(frame)
	require.NoError(t, err)
	require.Equal(t, transport.Message{From: "mallory", To: "v", Payload: []byte("ok")}, recv(t, v))
	requireClosedByPeer(t, c)
	rec := logs.waitFor(t, "close", reasonContains("tcpnet: inbound connection closed", "frame of 1025 bytes exceeds the maximum of 1024"))
	require.Equal(t, "mallory", rec.attrs["peer"])
	requireNothing(t, v)
	requireHonestPeerWorks(t, v)
}

func TestHostileHalfSentFrame(t *testing.T) {
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) {
		c.ReadTimeout = 100 * time.Millisecond
		c.Logger = logs.logger()
	})
	c := rawDial(t, v)
	rawHandshake(t, c, "mallory", v)
	// 100 bytes announced, 10 sent, then silence: the read deadline ends it.
	frame := binary.BigEndian.AppendUint32(nil, 100)
	frame = append(frame, make([]byte, 10)...)
	_, err := c.Write(frame)
	require.NoError(t, err)
	requireClosedByPeer(t, c)
	logs.waitFor(t, "close", reasonContains("tcpnet: inbound connection closed", "read timeout mid-frame payload"))
	requireNothing(t, v)
	requireHonestPeerWorks(t, v)
}

func TestHostileHalfSentHeader(t *testing.T) {
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) {
		c.ReadTimeout = 100 * time.Millisecond
		c.Logger = logs.logger()
	})
	c := rawDial(t, v)
	rawHandshake(t, c, "mallory", v)
	_, err := c.Write([]byte{0, 0})
	require.NoError(t, err)
	requireClosedByPeer(t, c)
	logs.waitFor(t, "close", reasonContains("tcpnet: inbound connection closed", "read timeout mid-frame header"))
	requireHonestPeerWorks(t, v)
}

func TestHostileSilentConnection(t *testing.T) {
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) {
		c.HandshakeTimeout = 100 * time.Millisecond
		c.Logger = logs.logger()
	})
	c := rawDial(t, v)
	requireClosedByPeer(t, c)
	logs.waitFor(t, "close", reasonContains("tcpnet: inbound handshake failed", "i/o timeout"))
	requireHonestPeerWorks(t, v)
}

func TestHostileConnectionFlood(t *testing.T) {
	const limit = 4
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) {
		c.MaxInboundConns = limit
		c.HandshakeTimeout = 300 * time.Millisecond
		c.Logger = logs.logger()
	})
	// Twenty connections that never say hello: the first four take every
	// slot, the rest are closed at once, and the handshake timeout frees
	// the four.
	conns := make([]net.Conn, 20)
	for i := range conns {
		conns[i] = rawDial(t, v)
	}
	for _, c := range conns {
		requireClosedByPeer(t, c)
	}
	logs.waitFor(t, "cap", reasonContains("tcpnet: inbound connection refused", "too many inbound connections"))
	st := v.Status()
	require.Equal(t, uint64(len(conns)), st.RefusedConns, "every flood connection is refused, at once or at its handshake timeout")
	waitUntil(t, "slots are released", func() bool { return v.Status().InboundConns == 0 })
	requireHonestPeerWorks(t, v)
}

func TestHostileClusterMismatch(t *testing.T) {
	logs := newLogSink()
	alogs := newLogSink()
	v := newNode(t, "v", func(c *Config) { c.Logger = logs.logger() })
	a := newNode(t, "a", func(c *Config) {
		c.ClusterName = "other"
		c.Logger = alogs.logger()
	})
	require.NoError(t, a.SetPeer("v", v.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "v", []byte("hi")))
	logs.waitFor(t, "refusal", reasonContains("tcpnet: inbound handshake failed", "cluster name mismatch"))
	alogs.waitFor(t, "refusal seen by dialler", reasonContains("tcpnet: cannot connect to peer", "cluster name mismatch"))
	requireNothing(t, v)
	requireHonestPeerWorks(t, v)
}

func TestWrongAddressIsRefused(t *testing.T) {
	// a's address book says "b" lives where c listens: c refuses a
	// connection meant for another node instead of accepting b's traffic.
	alogs := newLogSink()
	a := newNode(t, "a", func(c *Config) { c.Logger = alogs.logger() })
	c := newNode(t, "c", nil)
	require.NoError(t, a.SetPeer("b", c.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "b", []byte("for b")))
	alogs.waitFor(t, "refusal", reasonContains("tcpnet: cannot connect to peer", "meant for another node"))
	requireNothing(t, c)
}

func TestNewConnectionFromSamePeerReplacesOld(t *testing.T) {
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) { c.Logger = logs.logger() })
	c1 := rawDial(t, v)
	rawHandshake(t, c1, "a", v)
	c2 := rawDial(t, v)
	rawHandshake(t, c2, "a", v)
	requireClosedByPeer(t, c1)
	_, err := c2.Write(append(binary.BigEndian.AppendUint32(nil, 1), 'x'))
	require.NoError(t, err)
	require.Equal(t, "x", string(recv(t, v).Payload))
	waitUntil(t, "old connection released", func() bool { return v.Status().InboundConns == 1 })
}

func TestHostileFloodFromOneAddressLeavesRoomForOthers(t *testing.T) {
	// One source opens as many silent connections as the global cap allows.
	// Only MaxPendingPerIP of them may hold slots, so an honest peer from
	// another address still gets in while they sit in their (long)
	// handshake timeout.
	const global, perIP, flood = 10, 4, 10
	logs := newLogSink()
	v := newNode(t, "v", func(c *Config) {
		c.MaxInboundConns = global
		c.MaxPendingPerIP = perIP
		c.HandshakeTimeout = time.Hour
		c.Logger = logs.logger()
	})
	closed := make(chan struct{}, flood)
	floods := make([]net.Conn, flood)
	for i := range floods {
		c := rawDial(t, v) // from 127.0.0.1
		floods[i] = c
		go func() {
			var b [1]byte
			_, _ = c.Read(b[:]) // returns when either side closes c
			closed <- struct{}{}
		}()
	}
	// Every refusal needs perIP admitted connections before it, so once
	// flood-perIP have been closed the accounting is settled.
	for range flood - perIP {
		select {
		case <-closed:
		case <-time.After(waitLimit):
			t.Fatal("flood connections beyond MaxPendingPerIP were not refused")
		}
	}
	select {
	case <-closed:
		t.Fatal("a connection within MaxPendingPerIP was refused")
	default:
	}
	require.Equal(t, uint64(flood-perIP), v.Status().RefusedConns)
	logs.waitFor(t, "per-address cap", reasonContains("tcpnet: inbound connection refused", "too many handshaking connections from this address"))

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c, err := d.Dial("tcp", v.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	rawHandshake(t, c, "honest", v)
	var hdr [frameHeaderLen]byte
	putFrameHeader(hdr[:], 2)
	_, err = c.Write(append(hdr[:], "hi"...))
	require.NoError(t, err)
	require.Equal(t, transport.Message{From: "honest", To: "v", Payload: []byte("hi")}, recv(t, v))

	// The established connection no longer counts as pending; the flood's
	// admitted connections do, until they end.
	v.mu.RLock()
	require.Equal(t, map[string]int{"127.0.0.1": perIP}, v.pendingBySource)
	v.mu.RUnlock()
	for _, f := range floods {
		_ = f.Close()
	}
	waitUntil(t, "the flood's pending slots are released", func() bool {
		v.mu.RLock()
		defer v.mu.RUnlock()
		return len(v.pendingBySource) == 0 && len(v.inbound) == 1
	})
	requireHonestPeerWorks(t, v) // and 127.0.0.1 may connect again
}

func TestSourceOfCountsByIP(t *testing.T) {
	v4 := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 2}
	v6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 3}
	require.Equal(t, "127.0.0.1", sourceOf(v4))
	require.Equal(t, "127.0.0.1", sourceOf(mapped), "a mapped address is the same host")
	require.Equal(t, "::1", sourceOf(v6))
	require.Equal(t, "10.0.0.1", sourceOf(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9}), "non-TCP address with a port")
	require.Equal(t, "pipe", sourceOf(pipeAddr("pipe")), "non-TCP address without a port")
}

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

package tcpnet

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/distkit/distkit/transport"
)

// inConn is an inbound connection: admitted, then handshaking, then reading
// frames until it ends.
type inConn struct {
	conn net.Conn // the raw connection; closing it ends every stage
	// source is the remote IP address, the unit of MaxPendingPerIP.
	source string
	// pending is true from admission until the handshake succeeds, while
	// the connection counts toward its source's MaxPendingPerIP. Guarded
	// by Transport.mu.
	pending bool
	from    transport.NodeID
	// replaced is set when a newer connection from the same node took
	// this one's place, so its end is not reported as a failure.
	replaced atomic.Bool
}

// readBufferSize is the size of an inbound connection's read buffer. Frames
// that fit in it cost no extra read calls or deadline updates.
const readBufferSize = 64 << 10

// acceptLoop admits inbound connections until the listener closes.
func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Resource exhaustion (EMFILE) is transient: wait a little,
			// growing up to a second, rather than spin or give up.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("tcpnet: accept failed", "reason", err.Error(), "retry_in", delay)
			timer := time.NewTimer(delay)
			select {
			case <-timer.C:
			case <-t.ctx.Done():
				timer.Stop()
				return
			}
			continue
		}
		delay = 0
		ic := &inConn{conn: conn, source: sourceOf(conn.RemoteAddr())}
		if !t.admit(ic) {
			_ = conn.Close()
			continue
		}
		t.wg.Add(1)
		go t.serve(ic)
	}
}

// sourceOf returns the IP address of a remote address, as the key that
// MaxPendingPerIP counts by. An IPv4-mapped IPv6 address counts as the IPv4
// address, so one host cannot double its share by switching notation.
// Addresses that are not TCP (in-memory connections in tests) count by
// their host part, or by the whole string when it has none.
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().String()
	}
	s := a.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// admit registers ic unless the Transport is closing, already holds
// MaxInboundConns connections, or already has MaxPendingPerIP connections
// from ic's source still in their handshake.
func (t *Transport) admit(ic *inConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	// The per-source cap comes first: a source over it is the one to
	// blame, whether or not the global cap is also reached.
	if t.pendingBySource[ic.source] >= t.cfg.MaxPendingPerIP {
		t.refusedConns.Add(1)
		t.logRefusal("per-address cap", "tcpnet: inbound connection refused", "remote", ic.conn.RemoteAddr().String(),
			"reason", "too many handshaking connections from this address", "limit", t.cfg.MaxPendingPerIP)
		return false
	}
	if len(t.inbound) >= t.cfg.MaxInboundConns {
		t.refusedConns.Add(1)
		t.logRefusal("global cap", "tcpnet: inbound connection refused", "remote", ic.conn.RemoteAddr().String(),
			"reason", "too many inbound connections", "limit", t.cfg.MaxInboundConns)
		return false
	}
	t.inbound[ic] = struct{}{}
	ic.pending = true
	t.pendingBySource[ic.source]++
	return true
}

// donePendingLocked stops counting ic toward its source's MaxPendingPerIP,
// once: when its handshake succeeds or, failing that, when it is released.
// The caller holds t.mu.
func (t *Transport) donePendingLocked(ic *inConn) {
	if !ic.pending {
		return
	}
	ic.pending = false
	if n := t.pendingBySource[ic.source]; n > 1 {
		t.pendingBySource[ic.source] = n - 1
	} else {
		delete(t.pendingBySource, ic.source)
	}
}

// logRefusal logs a refused inbound connection at Warn level, but at most
// once per refusalLogInterval for each kind of refusal, so a flood of bad
// connections cannot flood the log too. A logged line carries "suppressed",
// the number of refusals of its kind left out since the previous line, when
// there were any; Status.RefusedConns counts them all.
func (t *Transport) logRefusal(kind, msg string, args ...any) {
	ok, suppressed := t.refusalLog.allow(kind, time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	t.log.Warn(msg, args...)
}

// release forgets ic and closes it.
func (t *Transport) release(ic *inConn) {
	t.mu.Lock()
	delete(t.inbound, ic)
	t.donePendingLocked(ic)
	if ic.from != "" && t.byID[ic.from] == ic {
		delete(t.byID, ic.from)
	}
	t.mu.Unlock()
	_ = ic.conn.Close()
}

// serve runs the handshake and then the read loop of one inbound connection.
// Whatever goes wrong closes this connection only.
func (t *Transport) serve(ic *inConn) {
	defer t.wg.Done()
	defer t.release(ic)
	remote := ic.conn.RemoteAddr().String()
	conn, br, err := t.handshake(ic)
	if err != nil {
		if t.ctx.Err() == nil {
			t.refusedConns.Add(1)
			kind := "handshake failed"
			var re *refusedError
			if errors.As(err, &re) {
				kind = "handshake refused: " + re.status.String()
			}
			t.logRefusal(kind, "tcpnet: inbound handshake failed", "remote", remote, "reason", err.Error())
		}
		return
	}
	t.log.Debug("tcpnet: inbound connection established", "peer", string(ic.from), "remote", remote)
	err = t.readFrames(conn, br, ic.from)
	var te *timeoutError
	switch {
	case t.ctx.Err() != nil, ic.replaced.Load(), errors.Is(err, errClosing):
		// Closing, or replaced by a newer connection from the same peer.
	case errors.Is(err, io.EOF):
		t.log.Debug("tcpnet: inbound connection closed by peer", "peer", string(ic.from), "remote", remote)
	case errors.As(err, &te) && te.idle:
		t.log.Info("tcpnet: inbound connection closed", "peer", string(ic.from), "remote", remote, "reason", err.Error())
	case errors.Is(err, transport.ErrCorrupt):
		t.refusedConns.Add(1)
		t.log.Warn("tcpnet: inbound connection closed", "peer", string(ic.from), "remote", remote, "reason", err.Error())
	default:
		t.log.Warn("tcpnet: inbound connection closed", "peer", string(ic.from), "remote", remote, "reason", err.Error())
	}
}

// errClosing marks a connection that this node closed on purpose.
var errClosing = errors.New("closed by this node")

// handshake runs the TLS handshake, reads the hello, judges it and answers
// with an ack, all within HandshakeTimeout. On success it records the sender
// in ic.from and returns the connection to read frames from.
func (t *Transport) handshake(ic *inConn) (net.Conn, *bufio.Reader, error) {
	_ = ic.conn.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	conn := ic.conn
	var (
		state      tls.ConnectionState
		clientAuth = tls.NoClientCert
	)
	if t.cfg.TLS != nil {
		clientAuth = t.cfg.TLS.ClientAuth
		tc := tls.Server(ic.conn, t.cfg.TLS)
		ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return nil, nil, err
		}
		state = tc.ConnectionState()
		conn = tc
	}
	br := bufio.NewReaderSize(conn, readBufferSize)
	h, err := readHello(br)
	status := statusOK
	switch {
	case errors.Is(err, errBadVersion):
		status = statusBadVersion
	case err != nil:
		return nil, nil, err
	case h.Cluster != t.cfg.ClusterName:
		status = statusWrongCluster
	case h.To != t.cfg.NodeID:
		status = statusWrongNode
	default:
		if err = peerCertNodeCheck(state, h.From, clientAuth); err != nil {
			status = statusIdentity
		}
	}
	if status == statusOK {
		t.register(ic, h.From)
	}
	var ack [2]byte
	if _, werr := conn.Write(appendAck(ack[:0], status)); werr != nil && err == nil && status == statusOK {
		return nil, nil, werr
	}
	if status != statusOK {
		if err == nil {
			err = errors.New(status.String())
		}
		return nil, nil, &refusedError{claimed: h.From, status: status, err: err}
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	return conn, br, nil
}

// register makes ic the connection from node from, replacing its old one:
// the sender keeps one connection per peer, so the old one is dead from its
// side. It runs before the ack is written: the sender opens its next
// connection only after this one's ack, so registering first keeps the
// newest connection registered however late this goroutine runs. (Done
// after the ack, a connection whose goroutine was descheduled there could
// register after a newer one and close it.)
func (t *Transport) register(ic *inConn, from transport.NodeID) {
	t.mu.Lock()
	old := t.byID[from]
	ic.from = from
	t.byID[from] = ic
	t.donePendingLocked(ic)
	t.mu.Unlock()
	if old != nil {
		// Close rather than set a past read deadline: the old reader may
		// be blocked delivering to a full Recv, and its next read would
		// re-arm the deadline and keep the connection for IdleTimeout.
		// Frames it has already buffered are still delivered.
		old.replaced.Store(true)
		_ = old.conn.Close()
	}
}

// refusedError explains a refused handshake in the log.
type refusedError struct {
	claimed transport.NodeID
	status  ackStatus
	err     error
}

func (e *refusedError) Error() string {
	return "refused node " + string(e.claimed) + ": " + e.err.Error()
}

func (e *refusedError) Unwrap() error { return e.err }

// readFrames delivers frames from br until the connection ends. A frame must
// start within IdleTimeout and, once started, finish within ReadTimeout.
// Deadlines are set only before reads that will reach the socket, so frames
// already in the buffer cost none.
func (t *Transport) readFrames(conn net.Conn, br *bufio.Reader, from transport.NodeID) error {
	idle, stall, maxSize := t.cfg.IdleTimeout, t.cfg.ReadTimeout, t.cfg.MaxFrameSize
	for {
		if br.Buffered() == 0 {
			_ = conn.SetReadDeadline(time.Now().Add(idle))
			if _, err := br.Peek(1); err != nil {
				return t.readErr(err, "waiting for a frame")
			}
		}
		if br.Buffered() < frameHeaderLen {
			_ = conn.SetReadDeadline(time.Now().Add(stall))
		}
		hdr, err := br.Peek(frameHeaderLen)
		if err != nil {
			return t.readErr(err, "mid-frame header")
		}
		n, err := frameLen(hdr, maxSize)
		if err != nil {
			return err
		}
		_, _ = br.Discard(frameHeaderLen)
		if br.Buffered() < n {
			_ = conn.SetReadDeadline(time.Now().Add(stall))
		}
		payload, err := readPayload(br, n)
		if err != nil {
			return t.readErr(err, "mid-frame payload")
		}
		if !t.deliver(transport.Message{From: from, To: t.cfg.NodeID, Payload: payload}) {
			return errClosing
		}
	}
}

// readErr turns a read failure into the reason logged for it.
func (t *Transport) readErr(err error, where string) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		if t.ctx.Err() != nil {
			return errClosing
		}
		if where == "waiting for a frame" {
			return &timeoutError{what: "idle timeout " + where, idle: true, err: err}
		}
		return &timeoutError{what: "read timeout " + where, err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &truncatedError{where: where}
	case errors.Is(err, io.EOF) && where != "waiting for a frame":
		return &truncatedError{where: where}
	}
	return err
}

type timeoutError struct {
	what string
	idle bool // no frame had started
	err  error
}

func (e *timeoutError) Error() string { return e.what }
func (e *timeoutError) Unwrap() error { return e.err }

type truncatedError struct{ where string }

func (e *truncatedError) Error() string { return "connection ended " + e.where }
func (e *truncatedError) Unwrap() error { return transport.ErrCorrupt }

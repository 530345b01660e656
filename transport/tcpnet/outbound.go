package tcpnet

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distkit/distkit/transport"
)

// peer is the outbound side toward one node: a bounded queue and, once
// something has been queued, one writer goroutine that owns the connection.
// The local peer (this node itself) has the same queue but its writer hands
// messages straight to Recv.
type peer struct {
	t     *Transport
	id    transport.NodeID
	local bool
	// ctx is cancelled when the peer is removed or the Transport closes.
	ctx    context.Context
	cancel context.CancelFunc
	// wake has room for one token; a token means "the queue may be
	// non-empty". moved likewise means "the address changed".
	wake, moved chan struct{}

	mu      sync.Mutex
	addr    string
	q       ring
	stopped bool
	started bool
	// conn is the open connection's raw socket, so shutdown can interrupt
	// a blocked write.
	conn net.Conn
	// cur is the writer's open connection when Send may write into it
	// itself (plain TCP), or nil. See trySendNow.
	cur atomic.Pointer[outConn]

	connected               atomic.Bool
	sent, dropped, rejected atomic.Uint64
	lost                    atomic.Uint64
	// inline counts the messages trySendNow took, for tests.
	inline                    atomic.Uint64
	connects, connectFailures atomic.Uint64
}

func newPeer(t *Transport, id transport.NodeID, addr string) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	return &peer{
		t: t, id: id, addr: addr,
		ctx: ctx, cancel: cancel,
		wake:  make(chan struct{}, 1),
		moved: make(chan struct{}, 1),
		q:     newRing(t.cfg.SendQueueSize),
	}
}

// enqueue sends payload at once when the connection is idle, or else adds
// it to the queue under the QueuePolicy and starts the writer goroutine on
// first use. The caller holds t.mu for reading.
func (p *peer) enqueue(payload []byte) error {
	if p.trySendNow(payload) {
		return nil
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return fmt.Errorf("%w: %q was removed", transport.ErrUnknownPeer, p.id)
	}
	if p.q.full() {
		if p.t.cfg.QueuePolicy == Reject {
			p.mu.Unlock()
			p.rejected.Add(1)
			// No detail: a sender that is ahead of the network may hit
			// this in a tight loop, and it must stay allocation-free.
			return transport.ErrQueueFull
		}
		p.q.dropOldest()
		p.dropped.Add(1)
	}
	p.q.push(payload)
	if !p.started {
		p.started = true
		p.t.wg.Add(1)
		if p.local {
			go p.runLocal()
		} else {
			go p.run()
		}
	}
	p.mu.Unlock()
	signal(p.wake)
	return nil
}

// trySendNow writes payload's frame straight into the socket, on the
// caller's goroutine, when the connection is up and idle: nothing queued,
// nothing buffered, the writer goroutine not writing. It saves the hand-off
// to the writer goroutine (a wake-up, and the latency of one on a busy
// machine) on the path of every request and answer of a lightly loaded
// node; under load the writer is busy and messages queue and coalesce as
// before. The write never waits: the socket is non-blocking and whatever it
// does not take at once is left to the writer goroutine, so a slow peer
// cannot block the caller. It reports whether payload was taken (sent or
// left to the writer); false means nothing was written and the caller
// queues payload.
func (p *peer) trySendNow(payload []byte) bool {
	c := p.cur.Load()
	if c == nil || !c.wmu.TryLock() {
		return false
	}
	defer c.wmu.Unlock()
	p.mu.Lock()
	idle := !p.stopped && p.q.n == 0 && p.addr == c.addr && p.cur.Load() == c &&
		c.w.Buffered() == 0 && len(c.rest) == 0 && !c.failed && !c.isDead()
	p.mu.Unlock()
	if !idle {
		return false
	}
	putFrameHeader(c.hdr[:], len(payload))
	n, err := c.writeNow(c.hdr[:], payload)
	total := frameHeaderLen + len(payload)
	switch {
	case n == total:
		p.sent.Add(1)
		p.inline.Add(1)
		return true
	case n == 0 && err != nil:
		// Nothing left: the writer reconnects and sends it from the queue.
		signal(p.wake)
		return false
	}
	// Part of the frame is in the socket: the rest must follow on this
	// connection, before anything else. The writer goroutine writes it
	// (and learns of a failed connection the same way).
	rest := make([]byte, 0, total-n)
	if n < frameHeaderLen {
		rest = append(rest, c.hdr[n:]...)
		rest = append(rest, payload...)
	} else {
		rest = append(rest, payload[n-frameHeaderLen:]...)
	}
	c.rest = rest
	p.inline.Add(1)
	signal(p.wake)
	return true
}

// signal leaves a token in ch unless one is already there.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// take moves every queued payload to dst and returns it with true, if the
// peer's address is still addr. Otherwise it takes nothing and returns false.
// Checking the address and taking in one critical section means a message
// sent after SetPeer never leaves on a connection to the old address.
func (p *peer) take(dst [][]byte, addr string) ([][]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr != addr {
		return dst, false
	}
	return p.q.drain(dst), true
}

func (p *peer) address() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

func (p *peer) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.q.n
}

func (p *peer) setAddr(addr string) {
	p.mu.Lock()
	changed := p.addr != addr
	p.addr = addr
	p.mu.Unlock()
	if changed {
		signal(p.moved)
	}
}

// shutdown stops the writer: it cancels dials, interrupts a blocked write and
// discards the queue. It is safe to call more than once.
func (p *peer) shutdown() {
	p.cancel()
	p.mu.Lock()
	p.stopped = true
	p.q.clear()
	conn := p.conn
	p.mu.Unlock()
	// Closed outside p.mu, which Send takes. It is the raw socket, so
	// closing cannot block on the network (see outConn.close).
	if conn != nil {
		_ = conn.Close()
	}
}

func (p *peer) status() PeerStatus {
	p.mu.Lock()
	addr, queued := p.addr, p.q.n
	p.mu.Unlock()
	return PeerStatus{
		Addr: addr, Connected: p.connected.Load(), Queued: queued,
		Sent: p.sent.Load(), Dropped: p.dropped.Load(), Rejected: p.rejected.Load(),
		Lost: p.lost.Load(), Connects: p.connects.Load(), ConnectFailures: p.connectFailures.Load(),
	}
}

// runLocal delivers messages sent to this node itself.
func (p *peer) runLocal() {
	defer p.t.wg.Done()
	var batch [][]byte
	for {
		select {
		case <-p.wake:
		case <-p.ctx.Done():
			return
		}
		for {
			batch, _ = p.take(batch[:0], "")
			if len(batch) == 0 {
				break
			}
			for i, payload := range batch {
				if !p.t.deliver(transport.Message{From: p.id, To: p.id, Payload: payload}) {
					return
				}
				batch[i] = nil
				p.sent.Add(1)
			}
		}
	}
}

// run is the writer goroutine of a remote peer. It connects when there is
// something to send, writes every queued message into a buffered writer and
// flushes when the queue is empty, so a burst of small messages leaves in few
// large writes.
func (p *peer) run() {
	defer p.t.wg.Done()
	var (
		c     *outConn
		bo    = newBackoff(p.t.cfg.BackoffBase, p.t.cfg.BackoffMax)
		batch [][]byte
	)
	defer func() {
		if c != nil {
			p.disconnect(c)
		}
	}()
	for {
		select {
		case <-p.wake:
		case <-p.moved:
			// Drop a connection to the old address now rather than at
			// the next send; take below catches the case where a send
			// wins the race with this token.
			if c != nil && c.addr != p.address() {
				p.t.log.Info("tcpnet: peer address changed, reconnecting", "peer", string(p.id))
				p.disconnect(c)
				c = nil
			}
			bo.reset()
			continue
		case <-p.ctx.Done():
			return
		}
		for {
			if c != nil && c.isDead() {
				p.disconnect(c)
				c = nil
			}
			if c == nil {
				if p.queued() == 0 {
					break // woken by the watcher; reconnect when there is work
				}
				if c = p.connect(&bo); c == nil {
					return // removed or closing
				}
			}
			// wmu is held from taking the batch until it is written
			// and, when nothing is left, flushed: trySendNow may then
			// write only when everything sent before has left.
			c.wmu.Lock()
			if len(c.rest) > 0 {
				// The tail of a frame trySendNow could not write.
				err := c.writeRest(p.t.cfg.WriteTimeout)
				if err != nil {
					c.failed = true
					c.wmu.Unlock()
					p.writeFailed(c, err, 1)
					c = nil
					continue
				}
				p.sent.Add(1)
			}
			var current bool
			batch, current = p.take(batch[:0], c.addr)
			if !current {
				// SetPeer moved the peer: what was buffered was meant
				// for the old address; what is queued goes to the new.
				_ = c.flush(p.t.cfg.WriteTimeout)
				c.wmu.Unlock()
				p.disconnect(c)
				c = nil
				bo.reset()
				continue
			}
			if len(batch) == 0 {
				err := c.flush(p.t.cfg.WriteTimeout)
				c.failed = c.failed || err != nil
				c.wmu.Unlock()
				if err != nil {
					p.writeFailed(c, err, 0)
					c = nil
				}
				break
			}
			n, err := c.writeBatch(batch, p.t.cfg.WriteTimeout)
			c.failed = c.failed || err != nil
			c.wmu.Unlock()
			clear(batch) // let the payloads be collected
			p.sent.Add(uint64(n))
			if err != nil {
				p.writeFailed(c, err, len(batch)-n)
				c = nil
			}
		}
	}
}

func (p *peer) writeFailed(c *outConn, err error, lost int) {
	p.lost.Add(uint64(lost))
	if p.ctx.Err() == nil {
		p.t.log.Warn("tcpnet: outbound connection failed", "peer", string(p.id), "reason", err.Error())
	}
	p.disconnect(c)
}

// connect dials and handshakes until it succeeds, waiting out the backoff
// between attempts. It returns nil when the peer is removed or the Transport
// closes.
func (p *peer) connect(bo *backoff) *outConn {
	for {
		if p.ctx.Err() != nil {
			return nil
		}
		addr := p.address()
		c, err := p.dialHandshake(addr)
		if err == nil {
			p.mu.Lock()
			if p.stopped {
				p.mu.Unlock()
				c.close()
				return nil
			}
			p.conn = c.raw
			if c.sc != nil {
				p.cur.Store(c)
			}
			p.mu.Unlock()
			bo.reset()
			p.connects.Add(1)
			p.connected.Store(true)
			p.startWatcher(c)
			p.t.log.Debug("tcpnet: connected", "peer", string(p.id), "addr", addr)
			return c
		}
		if p.ctx.Err() != nil {
			return nil
		}
		p.connectFailures.Add(1)
		wait := bo.next()
		p.t.log.Warn("tcpnet: cannot connect to peer", "peer", string(p.id), "addr", addr,
			"reason", err.Error(), "retry_in", wait)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-p.moved:
			timer.Stop()
			bo.reset()
		case <-p.ctx.Done():
			timer.Stop()
			return nil
		}
	}
}

// dialHandshake opens a connection to addr and runs the TLS and tcpnet
// handshakes, all within DialTimeout plus HandshakeTimeout.
func (p *peer) dialHandshake(addr string) (*outConn, error) {
	cfg := &p.t.cfg
	dctx, cancel := context.WithTimeout(p.ctx, cfg.DialTimeout)
	raw, err := p.t.dial(dctx, addr)
	cancel()
	if err != nil {
		return nil, err
	}
	conn := raw
	hctx, cancel := context.WithTimeout(p.ctx, cfg.HandshakeTimeout)
	defer cancel()
	// The deadline bounds the tcpnet handshake; the context also aborts it
	// (through the AfterFunc) when the peer is removed mid-handshake.
	_ = raw.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	stop := context.AfterFunc(hctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if cfg.TLS != nil {
		tc := tls.Client(raw, clientTLS(cfg.TLS, p.id))
		if err := tc.HandshakeContext(hctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		conn = tc
	}
	hb := appendHello(make([]byte, 0, 4+len(cfg.NodeID)+len(p.id)+len(cfg.ClusterName)),
		hello{From: cfg.NodeID, To: p.id, Cluster: cfg.ClusterName})
	if _, err := conn.Write(hb); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("sending hello: %w", err)
	}
	status, err := readAck(conn)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("reading ack: %w", err)
	}
	if status != statusOK {
		_ = raw.Close()
		return nil, fmt.Errorf("%w: %v", ErrRefused, status)
	}
	if !stop() || conn.SetDeadline(time.Time{}) != nil {
		_ = raw.Close()
		return nil, context.Canceled
	}
	oc := &outConn{conn: conn, raw: raw, addr: addr, w: bufio.NewWriterSize(conn, writeBufferSize), dead: make(chan struct{})}
	if conn == raw {
		// Plain TCP: Send may write into the socket itself (TLS needs
		// its record layer, which only the writer goroutine drives).
		oc.sc = inlineConn(raw)
	}
	return oc, nil
}

// writeBufferSize is the size of the buffer that coalesces frames into
// large writes.
const writeBufferSize = 64 << 10

// startWatcher starts a goroutine that reads from the connection. The
// listener never writes after its ack, so the read returns only when the
// connection ends: the listener closed it (idle timeout, restart) or we did.
// The writer then learns the connection is dead before writing into it,
// instead of losing a batch to a socket nobody reads.
func (p *peer) startWatcher(c *outConn) {
	p.t.wg.Add(1)
	go func() {
		defer p.t.wg.Done()
		var b [1]byte
		_, _ = c.conn.Read(b[:])
		close(c.dead)
		signal(p.wake)
	}()
}

func (p *peer) disconnect(c *outConn) {
	p.mu.Lock()
	if p.conn == c.raw {
		p.conn = nil
	}
	p.cur.CompareAndSwap(c, nil)
	p.mu.Unlock()
	c.wmu.Lock()
	if len(c.rest) > 0 {
		// The tail of a frame that will never be completed.
		c.rest = nil
		p.lost.Add(1)
	}
	c.wmu.Unlock()
	p.connected.Store(false)
	c.close()
}

// outConn is an established outbound connection.
type outConn struct {
	conn net.Conn // what frames are written to: raw, or TLS over raw
	raw  net.Conn // the socket
	addr string   // the address dialled
	// sc is raw's syscall.RawConn for trySendNow's non-blocking writes, or
	// nil under TLS.
	sc   syscall.RawConn
	dead chan struct{} // closed by the watcher when the connection ends

	// wmu guards what follows: the writer goroutine holds it while it
	// writes, trySendNow only when it gets it at once.
	wmu sync.Mutex
	w   *bufio.Writer
	hdr [frameHeaderLen]byte
	// rest is the unwritten tail of a frame trySendNow began: it goes out
	// before anything else.
	rest []byte
	// failed is set when one of the writer's writes failed. Part of a
	// frame may then be in the socket, and the socket may still take
	// more (a write can fail with ENOBUFS after a partial write), so
	// trySendNow must not write into it in the moment before the writer
	// closes it: the peer would take the new frame's bytes for the rest
	// of the torn one.
	failed bool
	inl    inlineWrite
}

// writeRest writes the tail trySendNow left, with the writer's timeout.
func (c *outConn) writeRest(timeout time.Duration) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := c.w.Write(c.rest)
	c.rest = nil
	return err
}

func (c *outConn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// writeBatch writes the frames of batch into the buffer (which flushes to the
// socket as it fills) and returns how many were completely handed over.
func (c *outConn) writeBatch(batch [][]byte, timeout time.Duration) (int, error) {
	if err := c.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	for i, payload := range batch {
		putFrameHeader(c.hdr[:], len(payload))
		if _, err := c.w.Write(c.hdr[:]); err != nil {
			return i, err
		}
		if _, err := c.w.Write(payload); err != nil {
			return i, err
		}
	}
	return len(batch), nil
}

func (c *outConn) flush(timeout time.Duration) error {
	if c.w.Buffered() == 0 {
		return nil
	}
	if err := c.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	return c.w.Flush()
}

// close closes the socket. Closing the TLS connection instead would first
// send a close_notify alert, a write that crypto/tls lets block for up to 5
// seconds when the peer has stopped reading; tcpnet frames are
// self-delimiting, so the alert tells the listener nothing it needs.
func (c *outConn) close() { _ = c.raw.Close() }

// ring is a fixed-capacity FIFO of payloads. Its storage is allocated on
// the first push, so peers that are never sent to cost nothing.
type ring struct {
	buf     [][]byte
	size    int
	head, n int
}

func newRing(size int) ring { return ring{size: size} }

func (r *ring) full() bool { return r.n == r.size }

func (r *ring) push(p []byte) {
	if r.buf == nil {
		r.buf = make([][]byte, r.size)
	}
	r.buf[(r.head+r.n)%len(r.buf)] = p
	r.n++
}

func (r *ring) dropOldest() {
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// drain appends every element to dst in FIFO order and empties the ring.
func (r *ring) drain(dst [][]byte) [][]byte {
	for r.n > 0 {
		dst = append(dst, r.buf[r.head])
		r.dropOldest()
	}
	r.head = 0
	return dst
}

func (r *ring) clear() {
	clear(r.buf)
	r.head, r.n = 0, 0
}

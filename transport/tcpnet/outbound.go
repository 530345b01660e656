package tcpnet

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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

	connected                 atomic.Bool
	sent, dropped, rejected   atomic.Uint64
	lost                      atomic.Uint64
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

// enqueue adds payload to the queue under the QueuePolicy and starts the
// writer goroutine on first use. The caller holds t.mu for reading.
func (p *peer) enqueue(payload []byte) error {
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
			var current bool
			batch, current = p.take(batch[:0], c.addr)
			if !current {
				// SetPeer moved the peer: what was buffered was meant
				// for the old address; what is queued goes to the new.
				_ = c.flush(p.t.cfg.WriteTimeout)
				p.disconnect(c)
				c = nil
				bo.reset()
				continue
			}
			if len(batch) == 0 {
				if err := c.flush(p.t.cfg.WriteTimeout); err != nil {
					p.writeFailed(c, err, 0)
					c = nil
				}
				break
			}
			n, err := c.writeBatch(batch, p.t.cfg.WriteTimeout)
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
	return &outConn{conn: conn, raw: raw, addr: addr, w: bufio.NewWriterSize(conn, writeBufferSize), dead: make(chan struct{})}, nil
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
	p.mu.Unlock()
	p.connected.Store(false)
	c.close()
}

// outConn is an established outbound connection.
type outConn struct {
	conn net.Conn // what frames are written to: raw, or TLS over raw
	raw  net.Conn // the socket
	addr string   // the address dialled
	w    *bufio.Writer
	hdr  [frameHeaderLen]byte
	dead chan struct{} // closed by the watcher when the connection ends
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

package tcpnet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/distkit/distkit/transport"
)

// Transport is a transport.Transport over TCP, optionally with TLS. Create it
// with New; it is listening when New returns. It is safe for concurrent use.
type Transport struct {
	cfg  Config // defaults applied
	log  *slog.Logger
	ln   net.Listener
	dial dialFunc

	recv chan transport.Message
	// ctx is cancelled by Close; it aborts dials and TLS handshakes.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Transport starts

	// mu guards the fields below it. Send takes it for reading only.
	mu      sync.RWMutex
	closed  bool
	self    *peer                        // local delivery for messages to cfg.NodeID
	peers   map[transport.NodeID]*peer   // the address book and outbound state
	inbound map[*inConn]struct{}         // every admitted inbound connection
	byID    map[transport.NodeID]*inConn // established inbound connections by sender
	// pendingBySource counts admitted connections still in their
	// handshake, by remote IP; absent means zero.
	pendingBySource map[string]int

	received     atomic.Uint64
	refusedConns atomic.Uint64
	refusalLog   *logLimiter // rate-limits the Warn line of each refusal

	closeOnce sync.Once
}

// dialFunc opens a raw connection to addr. Tests replace net.Dialer with an
// in-memory network.
type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

var _ transport.Transport = (*Transport)(nil)

// New validates cfg, listens on cfg.ListenAddr and starts accepting
// connections. Unlike most distkit constructors it starts a goroutine: a
// transport exists to be reachable, a Transport that was not yet listening
// would be a state every caller had to handle, and binding in New is what
// lets Addr report the real port and New report a port already in use. Close
// stops the goroutine. Outbound connections are opened lazily, on the first
// Send to each peer.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	full := cfg.withDefaults()
	ln, err := net.Listen("tcp", full.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("tcpnet: listen on %s: %w", full.ListenAddr, err)
	}
	d := &net.Dialer{Timeout: full.DialTimeout}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}
	return start(full, ln, dial), nil
}

// start builds a Transport around an open listener and starts its accept
// loop. cfg must be validated and have its defaults applied.
func start(cfg Config, ln net.Listener, dial dialFunc) *Transport {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:     cfg,
		log:     cfg.Logger.With("node", string(cfg.NodeID)),
		ln:      ln,
		dial:    dial,
		recv:    make(chan transport.Message, cfg.RecvQueueSize),
		ctx:     ctx,
		cancel:  cancel,
		peers:   make(map[transport.NodeID]*peer, len(cfg.Peers)),
		inbound: make(map[*inConn]struct{}),
		byID:    make(map[transport.NodeID]*inConn),

		pendingBySource: make(map[string]int),
		refusalLog:      newLogLimiter(refusalLogInterval),
	}
	t.self = newPeer(t, cfg.NodeID, "")
	t.self.local = true
	for id, addr := range cfg.Peers {
		if id != cfg.NodeID {
			t.peers[id] = newPeer(t, id, addr)
		}
	}
	t.cfg.Peers = nil // the live address book is t.peers
	t.wg.Add(1)
	go t.acceptLoop()
	return t
}

// Addr returns the address the Transport listens on, with the real port when
// ListenAddr asked for port 0. Give it to the other nodes' address books.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

// NodeID returns this node's identity.
func (t *Transport) NodeID() transport.NodeID { return t.cfg.NodeID }

// Send queues payload for delivery to node to and returns without waiting
// for the network. It returns an error wrapping transport.ErrTooLarge for a
// payload above MaxFrameSize, transport.ErrUnknownPeer for a node neither in
// the address book nor this node itself, transport.ErrClosed after Close,
// transport.ErrQueueFull when the peer's queue is full under the Reject
// policy, and ctx.Err() if ctx is already done. A nil error means only that
// the message was queued. The caller must not modify payload afterwards.
func (t *Transport) Send(ctx context.Context, to transport.NodeID, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(payload) > t.cfg.MaxFrameSize {
		return fmt.Errorf("%w: %d bytes to %q, maximum %d", transport.ErrTooLarge, len(payload), to, t.cfg.MaxFrameSize)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return transport.ErrClosed
	}
	p := t.self
	if to != t.cfg.NodeID {
		p = t.peers[to]
		if p == nil {
			return fmt.Errorf("%w: %q is not in the address book", transport.ErrUnknownPeer, to)
		}
	}
	// Holding the read lock across enqueue keeps Close (which takes the
	// write lock before waiting) from missing a writer goroutine that
	// enqueue starts.
	return p.enqueue(payload)
}

// Recv returns the channel of received messages. It is the same channel on
// every call and is closed when Close returns.
func (t *Transport) Recv() <-chan transport.Message { return t.recv }

// SetPeer adds node id to the address book or changes its address. If the
// address changes while a connection to the old one is open, that connection
// is closed and the next message goes to the new address; queued messages
// are kept. Setting this node's own NodeID is an error: messages to self never
// touch the network.
func (t *Transport) SetPeer(id transport.NodeID, addr string) error {
	if err := validatePeer(id, addr); err != nil {
		return err
	}
	if id == t.cfg.NodeID {
		return fmt.Errorf("%w: %q is this node's own NodeID", ErrInvalidConfig, id)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return transport.ErrClosed
	}
	if p := t.peers[id]; p != nil {
		p.setAddr(addr)
		return nil
	}
	t.peers[id] = newPeer(t, id, addr)
	return nil
}

// RemovePeer removes node id from the address book, closes the connection to
// it and discards its queued messages. Later Sends to id fail with
// transport.ErrUnknownPeer. An inbound connection from id is not affected:
// the address book governs only where this node sends.
func (t *Transport) RemovePeer(id transport.NodeID) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if p != nil {
		p.shutdown()
	}
}

// Close stops listening, closes every connection, waits for every goroutine
// the Transport started, and then closes the Recv channel. Queued messages
// that were not yet written are dropped. Close is idempotent; it always
// returns nil.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		peers := make([]*peer, 0, len(t.peers)+1)
		peers = append(peers, t.self)
		for _, p := range t.peers {
			peers = append(peers, p)
		}
		inbound := make([]*inConn, 0, len(t.inbound))
		for ic := range t.inbound {
			inbound = append(inbound, ic)
		}
		t.mu.Unlock()

		t.cancel()
		_ = t.ln.Close()
		for _, p := range peers {
			p.shutdown()
		}
		for _, ic := range inbound {
			_ = ic.conn.Close()
		}
		t.wg.Wait()
		close(t.recv)
	})
	return nil
}

// deliver hands m to Recv, waiting while the channel is full so that a slow
// receiver pushes back on its connections. It returns false if the Transport
// is closing.
func (t *Transport) deliver(m transport.Message) bool {
	// A plain send first: when Recv has room, which is the common case,
	// it skips the cost of a two-way select.
	select {
	case t.recv <- m:
		t.received.Add(1)
		return true
	default:
	}
	select {
	case t.recv <- m:
		t.received.Add(1)
		return true
	case <-t.ctx.Done():
		return false
	}
}

// Status is a snapshot of a Transport's state and counters.
type Status struct {
	NodeID transport.NodeID
	Addr   string
	// Peers has one entry per node in the address book, plus this node
	// itself (local delivery, Addr empty).
	Peers map[transport.NodeID]PeerStatus
	// InboundConns counts inbound connections, handshaking or established.
	InboundConns int
	// Received counts messages handed to Recv.
	Received uint64
	// RefusedConns counts inbound connections closed for a failed or
	// refused handshake, hostile input, or the MaxInboundConns or
	// MaxPendingPerIP cap.
	RefusedConns uint64
}

// PeerStatus describes the outbound side toward one peer.
type PeerStatus struct {
	Addr      string
	Connected bool // an established connection is open
	Queued    int  // messages waiting to be written
	// Sent counts messages handed to the connection's write buffer. A
	// connection failure can still lose them; TCP acknowledges bytes, not
	// messages, so the sender cannot know.
	Sent uint64
	// Dropped counts messages discarded from a full queue under DropOldest.
	Dropped uint64
	// Rejected counts Sends refused with ErrQueueFull under Reject.
	Rejected uint64
	// Lost counts messages that were taken from the queue but could not be
	// written because the connection failed.
	Lost uint64
	// Connects and ConnectFailures count connection attempts (dial plus
	// handshake) that succeeded and failed.
	Connects, ConnectFailures uint64
}

// Status returns a snapshot of the Transport's counters.
func (t *Transport) Status() Status {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := Status{
		NodeID:       t.cfg.NodeID,
		Addr:         t.ln.Addr().String(),
		Peers:        make(map[transport.NodeID]PeerStatus, len(t.peers)+1),
		InboundConns: len(t.inbound),
		Received:     t.received.Load(),
		RefusedConns: t.refusedConns.Load(),
	}
	s.Peers[t.cfg.NodeID] = t.self.status()
	for id, p := range t.peers {
		s.Peers[id] = p.status()
	}
	return s
}

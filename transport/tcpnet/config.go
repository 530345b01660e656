package tcpnet

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/distkit/distkit/transport"
)

// QueuePolicy says what Send does when the send queue toward a peer is full.
type QueuePolicy uint8

const (
	// DropOldest, the default, discards the oldest queued message to make
	// room for the new one, counts the drop in PeerStatus.Dropped, and
	// returns nil. Consensus and gossip protocols prefer it: when a link is
	// congested the freshest heartbeat or log append is worth more than a
	// stale one, and the protocols already tolerate loss.
	DropOldest QueuePolicy = iota
	// Reject leaves the queue alone, counts the rejection in
	// PeerStatus.Rejected, and returns an error wrapping
	// transport.ErrQueueFull, so the caller sees back-pressure.
	Reject
)

// String returns the policy's name.
func (p QueuePolicy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case Reject:
		return "reject"
	default:
		return fmt.Sprintf("QueuePolicy(%d)", uint8(p))
	}
}

// Defaults used for zero Config fields.
const (
	DefaultListenAddr       = "127.0.0.1:0"
	DefaultSendQueueSize    = 1024
	DefaultRecvQueueSize    = 1024
	DefaultBackoffBase      = 50 * time.Millisecond
	DefaultBackoffMax       = 5 * time.Second
	DefaultDialTimeout      = 5 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultMaxInboundConns  = 256
	DefaultMaxPendingPerIP  = 8
)

// MaxIDLen is the longest NodeID or ClusterName, in bytes, that fits in the
// handshake (each is sent behind a one-byte length).
const MaxIDLen = 255

// Config configures a Transport. Zero fields take the documented defaults;
// only NodeID is required.
type Config struct {
	// NodeID is this node's identity. It is sent in the handshake of every
	// outbound connection and becomes Message.From at the receiver. With
	// mutual TLS it must match this node's certificate (see CertNodeID).
	// Required, at most MaxIDLen bytes.
	NodeID transport.NodeID

	// ClusterName is sent in every handshake; a peer with a different name
	// is refused. It keeps two clusters that share hosts (staging and
	// production) from talking to each other by mistake. It is not a
	// secret. Zero means the empty name, which matches only other
	// transports with an empty name. At most MaxIDLen bytes.
	ClusterName string

	// ListenAddr is the host:port New listens on. Port 0 picks a free port;
	// Transport.Addr reports the bound address. Default DefaultListenAddr
	// (loopback only, so a zero Config never exposes a port to the network).
	ListenAddr string

	// Peers is the initial address book: NodeID to host:port. New copies
	// it; change it later with Transport.SetPeer and RemovePeer. A peer that
	// is not in the book cannot be sent to (ErrUnknownPeer). This node's own
	// NodeID needs no entry: messages to self are delivered locally.
	Peers map[transport.NodeID]string

	// MaxFrameSize is the largest payload, in bytes, that Send accepts and
	// that an inbound connection may announce; a larger announced frame
	// closes that connection. Default transport.DefaultMaxPayload (16 MiB).
	// All nodes of a cluster should use the same value. It multiplies
	// into the receive side's worst-case memory, MaxFrameSize ×
	// (MaxInboundConns + RecvQueueSize), 20 GiB with the defaults: see
	// "Memory" in the package documentation to size it.
	MaxFrameSize int

	// SendQueueSize is the number of messages queued per peer while the
	// connection is being established or the socket is busy. Default
	// DefaultSendQueueSize. QueuePolicy says what happens when it is full.
	SendQueueSize int

	// QueuePolicy is what Send does when a peer's queue is full. Default
	// DropOldest.
	QueuePolicy QueuePolicy

	// RecvQueueSize is the capacity of the channel returned by Recv. When
	// it is full, connections stop reading, so TCP flow control pushes back
	// on the senders, whose queues then apply their QueuePolicy. Default
	// DefaultRecvQueueSize. The queue may hold RecvQueueSize ×
	// MaxFrameSize bytes of payloads (16 GiB with the defaults).
	RecvQueueSize int

	// BackoffBase and BackoffMax shape reconnection: after the n-th
	// consecutive failed attempt to connect to a peer, the next attempt
	// waits a random time in [0, min(BackoffMax, BackoffBase*2^n)] (capped
	// exponential backoff with full jitter, so restarting nodes do not
	// reconnect in lock step). A successful handshake resets n. Defaults
	// DefaultBackoffBase and DefaultBackoffMax; BackoffMax must not be
	// below BackoffBase.
	BackoffBase time.Duration
	BackoffMax  time.Duration

	// DialTimeout bounds establishing the TCP connection to a peer.
	// Default DefaultDialTimeout.
	DialTimeout time.Duration

	// HandshakeTimeout bounds the TLS handshake plus the tcpnet handshake,
	// on both sides. An inbound connection that has not completed its
	// handshake in time is closed, which is what stops a flood of idle
	// connections from holding slots. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// ReadTimeout bounds receiving the rest of a frame once its first byte
	// has arrived. A peer that sends half a frame and stalls is cut off
	// after it. Default DefaultReadTimeout; keep it well above the time a
	// MaxFrameSize frame takes on the slowest link.
	ReadTimeout time.Duration

	// WriteTimeout bounds writing one batch of frames to a peer's socket.
	// A peer that stops reading is disconnected after it and the batch is
	// lost. Default DefaultWriteTimeout.
	WriteTimeout time.Duration

	// IdleTimeout closes an inbound connection on which no frame has
	// started for this long. The sending side notices and reconnects on its
	// next Send. Default DefaultIdleTimeout.
	IdleTimeout time.Duration

	// MaxInboundConns caps concurrent inbound connections, handshaking or
	// established. Connections beyond it are closed at once and logged.
	// A cluster of n nodes needs n-1 plus some slack for reconnects.
	// Each established connection may be reading one frame of up to
	// MaxFrameSize, so frames being read can take MaxInboundConns ×
	// MaxFrameSize bytes (4 GiB with the defaults).
	// Default DefaultMaxInboundConns.
	MaxInboundConns int

	// MaxPendingPerIP caps the inbound connections from one remote IP
	// address that are still in their handshake (TLS and hello). More are
	// closed at once and logged. Without it one source could open
	// MaxInboundConns idle connections, and open them again each
	// HandshakeTimeout, keeping every slot and locking honest peers out;
	// with it a source holds at most MaxPendingPerIP slots until its
	// connections prove themselves. Established connections do not count,
	// so it never limits how many nodes share an address, only how many
	// handshake at the same moment; a refused honest dialler retries with
	// backoff. It does not stop a flood from many addresses: MaxInboundConns
	// and HandshakeTimeout bound that. IPv4-mapped IPv6 addresses count as
	// their IPv4 address. Default DefaultMaxPendingPerIP; set it to
	// MaxInboundConns or more to turn it off.
	MaxPendingPerIP int

	// TLS, when non-nil, wraps every connection in TLS. It must hold this
	// node's certificate (Certificates) and the roots that sign its peers'
	// certificates (RootCAs, and ClientCAs for mutual TLS). For mutual TLS
	// set ClientAuth to tls.RequireAndVerifyClientCert; MutualTLSConfig
	// builds such a config. tcpnet checks identities by node, not by host
	// name:
	//
	//   - as a client, it verifies the server's chain against RootCAs and
	//     requires the certificate to carry the node URI of the NodeID it
	//     dialled (see NodeURI); ServerName and InsecureSkipVerify are
	//     ignored;
	//   - as a server, when the client presented a certificate that
	//     verified against ClientCAs, the NodeID claimed in the handshake
	//     must be the one in that certificate, or the connection is
	//     refused. When ClientAuth verifies client certificates
	//     (VerifyClientCertIfGiven or RequireAndVerifyClientCert), a client
	//     without a verified certificate is refused too. Only when client
	//     certificates are not verified at all (plain TCP, TLS without client
	//     authentication, RequestClientCert or RequireAnyClientCert) is the
	//     claimed NodeID taken on trust.
	//
	// Any VerifyConnection the config already has runs after these checks.
	// On the client side a VerifyPeerCertificate callback still runs, but
	// before them and with nil verifiedChains, since tcpnet verifies the
	// chain itself.
	TLS *tls.Config

	// Logger receives connection events (refused handshakes, hostile
	// input, reconnects) with a "reason" attribute. Refused connections
	// are logged at most once a second per kind of refusal, with a
	// "suppressed" count of those left out. Nil means silent.
	Logger *slog.Logger
}

// Validate reports whether c is usable. It does not modify c.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return fmt.Errorf("%w: NodeID is required", ErrInvalidConfig)
	case len(c.NodeID) > MaxIDLen:
		return fmt.Errorf("%w: NodeID is %d bytes, more than %d", ErrInvalidConfig, len(c.NodeID), MaxIDLen)
	case len(c.ClusterName) > MaxIDLen:
		return fmt.Errorf("%w: ClusterName is %d bytes, more than %d", ErrInvalidConfig, len(c.ClusterName), MaxIDLen)
	case c.MaxFrameSize < 0, c.SendQueueSize < 0, c.RecvQueueSize < 0, c.MaxInboundConns < 0,
		c.MaxPendingPerIP < 0:
		return fmt.Errorf("%w: sizes must not be negative", ErrInvalidConfig)
	case c.MaxFrameSize > maxFrameLimit:
		return fmt.Errorf("%w: MaxFrameSize %d is above %d", ErrInvalidConfig, c.MaxFrameSize, maxFrameLimit)
	case c.QueuePolicy > Reject:
		return fmt.Errorf("%w: unknown %v", ErrInvalidConfig, c.QueuePolicy)
	case c.BackoffBase < 0, c.BackoffMax < 0, c.DialTimeout < 0, c.HandshakeTimeout < 0,
		c.ReadTimeout < 0, c.WriteTimeout < 0, c.IdleTimeout < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
	}
	base, maxd := orDefault(c.BackoffBase, DefaultBackoffBase), orDefault(c.BackoffMax, DefaultBackoffMax)
	if maxd < base {
		return fmt.Errorf("%w: BackoffMax %v is below BackoffBase %v", ErrInvalidConfig, maxd, base)
	}
	for id, addr := range c.Peers {
		if err := validatePeer(id, addr); err != nil {
			return err
		}
	}
	return nil
}

func validatePeer(id transport.NodeID, addr string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty peer NodeID", ErrInvalidConfig)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: peer NodeID is %d bytes, more than %d", ErrInvalidConfig, len(id), MaxIDLen)
	case addr == "":
		return fmt.Errorf("%w: peer %q has no address", ErrInvalidConfig, id)
	}
	return nil
}

// maxFrameLimit keeps the 4-byte length prefix meaningful on every platform.
const maxFrameLimit = 1<<31 - 1

// withDefaults returns a copy of c with every zero field replaced by its
// default.
func (c Config) withDefaults() Config {
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	c.MaxFrameSize = orDefault(c.MaxFrameSize, transport.DefaultMaxPayload)
	c.SendQueueSize = orDefault(c.SendQueueSize, DefaultSendQueueSize)
	c.RecvQueueSize = orDefault(c.RecvQueueSize, DefaultRecvQueueSize)
	c.BackoffBase = orDefault(c.BackoffBase, DefaultBackoffBase)
	c.BackoffMax = orDefault(c.BackoffMax, DefaultBackoffMax)
	c.DialTimeout = orDefault(c.DialTimeout, DefaultDialTimeout)
	c.HandshakeTimeout = orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.ReadTimeout = orDefault(c.ReadTimeout, DefaultReadTimeout)
	c.WriteTimeout = orDefault(c.WriteTimeout, DefaultWriteTimeout)
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	c.MaxInboundConns = orDefault(c.MaxInboundConns, DefaultMaxInboundConns)
	c.MaxPendingPerIP = orDefault(c.MaxPendingPerIP, DefaultMaxPendingPerIP)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

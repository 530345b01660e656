package tcpnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/distkit/distkit/transport"
)

// The wire format, all integers big-endian:
//
//	hello  (dialler -> listener, once)  version:1 fromLen:1 from toLen:1 to clusterLen:1 cluster
//	ack    (listener -> dialler, once)  version:1 status:1
//	frame  (dialler -> listener, many)  length:4 payload
//
// Connections are one-way after the handshake: the dialler only writes
// frames and the listener only reads them. A node that wants to answer dials
// its own connection back.

// wireVersion is the first byte of the hello and the ack. Bump it on any
// incompatible change.
const wireVersion byte = 1

// ackStatus is the listener's verdict on a hello. Values go on the wire:
// append only, do not reorder.
type ackStatus byte

const (
	statusOK           ackStatus = 0 // accepted; frames may follow
	statusBadVersion   ackStatus = 1 // the hello's version is not spoken here
	statusWrongCluster ackStatus = 2 // the hello names another cluster
	statusWrongNode    ackStatus = 3 // the hello is addressed to another node
	statusIdentity     ackStatus = 4 // the claimed NodeID is not the one in the client certificate
)

func (s ackStatus) String() string {
	switch s {
	case statusOK:
		return "accepted"
	case statusBadVersion:
		return "unsupported protocol version"
	case statusWrongCluster:
		return "cluster name mismatch"
	case statusWrongNode:
		return "connection meant for another node"
	case statusIdentity:
		return "claimed node id does not match the client certificate"
	default:
		return fmt.Sprintf("unknown status %d", byte(s))
	}
}

// hello is the first message on every connection.
type hello struct {
	From, To transport.NodeID
	Cluster  string
}

// appendHello appends h's encoding to b. Each string must be at most
// MaxIDLen bytes; Config.Validate and SetPeer guarantee it.
func appendHello(b []byte, h hello) []byte {
	b = append(b, wireVersion)
	b = appendShortString(b, string(h.From))
	b = appendShortString(b, string(h.To))
	return appendShortString(b, h.Cluster)
}

func appendShortString(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// errBadVersion is wrapped by readHello when only the version is wrong, so
// the listener can tell the dialler why it is refused.
var errBadVersion = errors.New("unsupported protocol version")

// readHello decodes a hello from r. It reads at most 1+3*(1+MaxIDLen) bytes
// and allocates at most that much. Errors wrap transport.ErrCorrupt.
func readHello(r io.Reader) (hello, error) {
	var h hello
	var buf [1 + MaxIDLen]byte
	if _, err := io.ReadFull(r, buf[:1]); err != nil {
		return h, corrupt("hello version", err)
	}
	if buf[0] != wireVersion {
		return h, fmt.Errorf("%w: %w %d", transport.ErrCorrupt, errBadVersion, buf[0])
	}
	var fields [3]string
	for i, name := range [3]string{"hello sender", "hello receiver", "hello cluster"} {
		if _, err := io.ReadFull(r, buf[:1]); err != nil {
			return h, corrupt(name, err)
		}
		n := int(buf[0])
		if _, err := io.ReadFull(r, buf[1:1+n]); err != nil {
			return h, corrupt(name, err)
		}
		fields[i] = string(buf[1 : 1+n])
	}
	h.From, h.To, h.Cluster = transport.NodeID(fields[0]), transport.NodeID(fields[1]), fields[2]
	if h.From == "" {
		return h, fmt.Errorf("%w: hello with an empty sender", transport.ErrCorrupt)
	}
	return h, nil
}

// appendAck appends an ack carrying s to b.
func appendAck(b []byte, s ackStatus) []byte {
	return append(b, wireVersion, byte(s))
}

// readAck decodes an ack from r.
func readAck(r io.Reader) (ackStatus, error) {
	var buf [2]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return 0, corrupt("ack", err)
	}
	if buf[0] != wireVersion {
		return 0, fmt.Errorf("%w: ack version %d", transport.ErrCorrupt, buf[0])
	}
	return ackStatus(buf[1]), nil
}

// frameHeaderLen is the size of a frame's length prefix.
const frameHeaderLen = 4

// putFrameHeader writes the length prefix of an n-byte payload into hdr.
func putFrameHeader(hdr []byte, n int) {
	binary.BigEndian.PutUint32(hdr, uint32(n))
}

// frameLen decodes a length prefix and checks it against maxSize.
func frameLen(hdr []byte, maxSize int) (int, error) {
	n := binary.BigEndian.Uint32(hdr)
	if uint64(n) > uint64(maxSize) {
		return 0, &FrameTooLargeError{Size: uint64(n), Max: maxSize}
	}
	return int(n), nil
}

// FrameTooLargeError reports an inbound frame whose announced length is above
// MaxFrameSize. It unwraps to transport.ErrCorrupt.
type FrameTooLargeError struct {
	Size uint64 // the announced length
	Max  int    // the receiver's MaxFrameSize
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("tcpnet: frame of %d bytes exceeds the maximum of %d", e.Size, e.Max)
}

// Unwrap returns transport.ErrCorrupt.
func (e *FrameTooLargeError) Unwrap() error { return transport.ErrCorrupt }

// readChunk is how much of a large frame readPayload allocates before the
// bytes have actually arrived.
const readChunk = 64 << 10

// readPayload reads an n-byte payload from r. A large payload is read in
// chunks into a growing buffer, so a peer that announces 16 MiB and sends
// nothing costs us at most readChunk bytes, not 16 MiB per connection.
func readPayload(r io.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, err
		}
		return p, nil
	}
	p := make([]byte, 0, readChunk)
	for len(p) < n {
		if len(p) == cap(p) {
			grown := make([]byte, len(p), growCap(cap(p), n))
			copy(grown, p)
			p = grown
		}
		m, err := io.ReadFull(r, p[len(p):cap(p)])
		p = p[:len(p)+m]
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// growCap returns the next capacity of a payload buffer of capacity cur on
// its way to n bytes: double, but never past n. cur and n are positive and
// cur < n. It compares cur with n-cur rather than computing 2*cur, which
// overflows int when cur is above math.MaxInt/2 (reachable on 32-bit
// platforms, where MaxFrameSize may be up to math.MaxInt32) and would turn
// into a negative capacity.
func growCap(cur, n int) int {
	if cur >= n-cur {
		return n
	}
	return 2 * cur
}

// corrupt describes a failed handshake read. Input that ends early is
// corrupt; other errors (a deadline, a reset) are not the peer's bytes being
// wrong and are returned as they are.
func corrupt(what string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: truncated %s", transport.ErrCorrupt, what)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

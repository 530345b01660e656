//go:build !linux

package tcpnet

import (
	"errors"
	"net"
	"syscall"
)

// inlineConn returns nil: Send writes into the socket itself only on
// Linux; elsewhere every message goes through the writer goroutine.
func inlineConn(net.Conn) syscall.RawConn { return nil }

// writeNow is never called where inlineConn returns nil.
func (c *outConn) writeNow(hdr, payload []byte) (int, error) {
	return 0, errors.New("tcpnet: inline writes are not supported on this platform")
}

// inlineWrite is empty where writes never happen inline.
type inlineWrite struct{}

package tcpnet

import (
	"net"
	"syscall"
	"unsafe"
)

// inlineConn returns the raw socket of a TCP connection, for trySendNow's
// non-blocking writes, or nil when conn has none.
func inlineConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNow writes the header and payload with one non-blocking writev and
// returns how many bytes the socket took. It never waits for the socket to
// drain. The caller holds c.wmu.
func (c *outConn) writeNow(hdr, payload []byte) (int, error) {
	st := &c.inl
	if st.fn == nil {
		// Bound once, so that a write allocates nothing.
		st.fn = st.write
	}
	st.iov[0].Base = &hdr[0]
	st.iov[0].SetLen(len(hdr))
	st.cnt = 1
	if len(payload) > 0 {
		st.iov[1].Base = &payload[0]
		st.iov[1].SetLen(len(payload))
		st.cnt = 2
	}
	st.n, st.err = 0, nil
	err := c.sc.Write(st.fn)
	n, werr := st.n, st.err
	// Do not keep the payload reachable from the connection.
	st.iov = [2]syscall.Iovec{}
	if werr == nil {
		werr = err
	}
	return n, werr
}

// inlineWrite is writeNow's state, kept in the outConn so that the
// callback handed to RawConn.Write is allocated once.
type inlineWrite struct {
	fn  func(fd uintptr) bool
	iov [2]syscall.Iovec
	cnt int
	n   int
	err error
}

// write is the RawConn.Write callback: one writev, never waiting for the
// socket (it returns true whatever happened).
func (st *inlineWrite) write(fd uintptr) bool {
	for {
		r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&st.iov[0])), uintptr(st.cnt))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
		case e != 0:
			st.err = e
		default:
			st.n = int(r)
		}
		return true
	}
}

package tcpnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/distkit/distkit/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds how long a test waits for an event on the real network.
// Tests wait on channels and events, never on sleeps; the limit only turns a
// hang into a failure on a badly overloaded machine.
const waitLimit = 20 * time.Second

// logRecord is a captured log line: its message and attributes as strings.
type logRecord struct {
	msg   string
	attrs map[string]string
}

func (r logRecord) String() string { return fmt.Sprintf("%s %v", r.msg, r.attrs) }

// logSink is a slog.Handler that keeps every record so tests can wait for
// the one that proves something happened (a refused connection and its
// reason).
type logSink struct {
	mu      sync.Mutex
	records []logRecord
	changed chan struct{} // closed and replaced on every new record
	attrs   []slog.Attr
	root    *logSink
	// limit bounds waitFor; synctest tests raise it, since virtual time
	// passes for free.
	limit time.Duration
}

func newLogSink() *logSink {
	s := &logSink{changed: make(chan struct{}), limit: waitLimit}
	s.root = s
	return s
}

func (s *logSink) logger() *slog.Logger { return slog.New(s) }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: map[string]string{}}
	for _, a := range s.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	root := s.root
	root.mu.Lock()
	root.records = append(root.records, rec)
	close(root.changed)
	root.changed = make(chan struct{})
	root.mu.Unlock()
	return nil
}

func (s *logSink) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSink{root: s.root, attrs: append(append([]slog.Attr(nil), s.attrs...), as...)}
}

func (s *logSink) WithGroup(string) slog.Handler { return s }

// waitFor waits until a record satisfies match and returns it.
func (s *logSink) waitFor(t *testing.T, what string, match func(logRecord) bool) logRecord {
	t.Helper()
	deadline := time.NewTimer(s.limit)
	defer deadline.Stop()
	for i := 0; ; {
		s.mu.Lock()
		for ; i < len(s.records); i++ {
			if match(s.records[i]) {
				r := s.records[i]
				s.mu.Unlock()
				return r
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no log record %s; have %v", what, s.all())
		}
	}
}

func (s *logSink) all() []logRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]logRecord(nil), s.records...)
}

// reasonContains matches a record with message msg whose reason contains sub.
func reasonContains(msg, sub string) func(logRecord) bool {
	return func(r logRecord) bool {
		return r.msg == msg && strings.Contains(r.attrs["reason"], sub)
	}
}

// newNode starts a transport on loopback with short test timeouts, applying
// edit to its Config first, and closes it when the test ends.
func newNode(t *testing.T, id transport.NodeID, edit func(*Config)) *Transport {
	t.Helper()
	cfg := Config{
		NodeID:      id,
		ClusterName: "test",
		ListenAddr:  "127.0.0.1:0",
		BackoffBase: time.Millisecond,
		BackoffMax:  20 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	tr, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tr.Close()) })
	return tr
}

// link puts every transport in every other's address book.
func link(t *testing.T, trs ...*Transport) {
	t.Helper()
	for _, a := range trs {
		for _, b := range trs {
			if a != b {
				require.NoError(t, a.SetPeer(b.NodeID(), b.Addr().String()))
			}
		}
	}
}

// recv waits for the next message on tr.
func recv(t *testing.T, tr *Transport) transport.Message {
	t.Helper()
	select {
	case m, ok := <-tr.Recv():
		require.True(t, ok, "Recv closed")
		return m
	case <-time.After(waitLimit):
		t.Fatalf("%s received nothing", tr.NodeID())
		return transport.Message{}
	}
}

// requireNothing checks that nothing is waiting on tr's Recv channel right
// now. It does not wait: callers first wait for the event (a logged refusal)
// that shows the sender's attempt is over.
func requireNothing(t *testing.T, tr *Transport) {
	t.Helper()
	select {
	case m := <-tr.Recv():
		t.Fatalf("%s unexpectedly received %q from %s", tr.NodeID(), m.Payload, m.From)
	default:
	}
}

// testCA is a certificate authority made in memory for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial struct {
	sync.Mutex
	n int64
}

// issue makes a certificate for node id, signed by ca, usable on both ends
// of a connection.
func (ca *testCA) issue(t *testing.T, id transport.NodeID) tls.Certificate {
	t.Helper()
	return ca.issueFor(t, id, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
}

// issueFor makes a certificate for node id, signed by ca, with the given
// extended key usages.
func (ca *testCA) issueFor(t *testing.T, id transport.NodeID, usages ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial.Lock()
	serial.n++
	sn := serial.n + 1
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn),
		Subject:      pkix.Name{CommonName: string(id)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
		URIs:         []*url.URL{NodeURI(id)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// rawDial opens a plain connection to tr for hostile-input tests.
func rawDial(t *testing.T, tr *Transport) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", tr.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawHandshake sends a valid hello from id to tr and checks the ack.
func rawHandshake(t *testing.T, c net.Conn, from transport.NodeID, tr *Transport) {
	t.Helper()
	_, err := c.Write(appendHello(nil, hello{From: from, To: tr.NodeID(), Cluster: tr.cfg.ClusterName}))
	require.NoError(t, err)
	st, err := readAck(c)
	require.NoError(t, err)
	require.Equal(t, statusOK, st)
}

// requireClosedByPeer waits until the other end closes c.
func requireClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitLimit)))
	buf := make([]byte, 64)
	for {
		_, err := c.Read(buf)
		if err != nil {
			require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "connection was not closed")
			return
		}
	}
}

// waitUntil polls cond, yielding between checks, until it holds. It is for
// state that has no event to wait on; the poll uses runtime.Gosched, not a
// sleep, and gives up after waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

// bytesAllocated reports the bytes allocated so far by the process.
func bytesAllocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// tcpnetGoroutines returns the stacks of goroutines blocked in a method of
// this package's types, other than the caller's.
//
// A goroutine that has called its WaitGroup's Done is still on its way out
// when Wait returns, and a stack dump taken at that moment shows it runnable
// (at the closing brace of its function, or inside Done handing off to the
// waiter). That is not a leak, so runnable and running goroutines are
// skipped: one that Close failed to wait for is parked in I/O, a select or a
// channel operation, which is what this reports. goleak, with its retries,
// catches the rest.
func tcpnetGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || !(strings.Contains(g, "tcpnet.(*Transport)") || strings.Contains(g, "tcpnet.(*peer)")) {
			continue
		}
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "[runnable") || strings.Contains(header, "[running") {
			continue
		}
		found = append(found, g)
	}
	return found
}

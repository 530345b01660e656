package tcpnet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distkit/distkit/transport"
)

// tlsNode starts node id with mutual TLS, presenting cert and trusting ca.
func tlsNode(t *testing.T, id transport.NodeID, cert tls.Certificate, ca *testCA, logs *logSink) *Transport {
	t.Helper()
	return newNode(t, id, func(c *Config) {
		c.TLS = MutualTLSConfig(cert, ca.pool)
		if logs != nil {
			c.Logger = logs.logger()
		}
	})
}

func TestMutualTLSDelivers(t *testing.T) {
	ca := newTestCA(t)
	a := tlsNode(t, "a", ca.issue(t, "a"), ca, nil)
	b := tlsNode(t, "b", ca.issue(t, "b"), ca, nil)
	link(t, a, b)
	require.NoError(t, a.Send(context.Background(), "b", []byte("sealed")))
	require.NoError(t, b.Send(context.Background(), "a", []byte("reply")))
	require.Equal(t, transport.Message{From: "a", To: "b", Payload: []byte("sealed")}, recv(t, b))
	require.Equal(t, transport.Message{From: "b", To: "a", Payload: []byte("reply")}, recv(t, a))
}

func TestMutualTLSRefusesImpersonation(t *testing.T) {
	ca := newTestCA(t)
	vlogs, mlogs := newLogSink(), newLogSink()
	v := tlsNode(t, "v", ca.issue(t, "v"), ca, vlogs)
	// Mallory holds a valid certificate, but for node "b", and claims to
	// be node "a".
	m := tlsNode(t, "a", ca.issue(t, "b"), ca, mlogs)
	require.NoError(t, m.SetPeer("v", v.Addr().String()))
	require.NoError(t, m.Send(context.Background(), "v", []byte("I am a")))
	rec := vlogs.waitFor(t, "refusal", reasonContains("tcpnet: inbound handshake failed", `certificate is for node "b", not "a"`))
	require.Contains(t, rec.attrs["reason"], "refused node a")
	mlogs.waitFor(t, "refusal seen by mallory", reasonContains("tcpnet: cannot connect to peer", "does not match the client certificate"))
	requireNothing(t, v)
	require.Zero(t, v.Status().Received)

	// The real "a" gets through.
	a := tlsNode(t, "a", ca.issue(t, "a"), ca, nil)
	require.NoError(t, a.SetPeer("v", v.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "v", []byte("really a")))
	require.Equal(t, transport.Message{From: "a", To: "v", Payload: []byte("really a")}, recv(t, v))
}

func TestMutualTLSClientChecksServerIdentity(t *testing.T) {
	// a's address book sends "b" traffic to c, which has a valid
	// certificate for c: a refuses to talk before any frame leaves.
	ca := newTestCA(t)
	alogs := newLogSink()
	a := tlsNode(t, "a", ca.issue(t, "a"), ca, alogs)
	c := tlsNode(t, "c", ca.issue(t, "c"), ca, nil)
	require.NoError(t, a.SetPeer("b", c.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "b", []byte("for b only")))
	alogs.waitFor(t, "refusal", reasonContains("tcpnet: cannot connect to peer", `certificate is for node "c", not "b"`))
	requireNothing(t, c)
}

func TestMutualTLSRefusesUnknownCA(t *testing.T) {
	ca, rogue := newTestCA(t), newTestCA(t)
	vlogs := newLogSink()
	v := tlsNode(t, "v", ca.issue(t, "v"), ca, vlogs)
	// Signed by a CA v does not trust, and trusting v's CA itself.
	m := newNode(t, "a", func(c *Config) {
		c.TLS = MutualTLSConfig(rogue.issue(t, "a"), ca.pool)
	})
	require.NoError(t, m.SetPeer("v", v.Addr().String()))
	require.NoError(t, m.Send(context.Background(), "v", []byte("x")))
	vlogs.waitFor(t, "refusal", reasonContains("tcpnet: inbound handshake failed", "certificate"))
	requireNothing(t, v)
}

func TestPlainClientRefusedByTLSNode(t *testing.T) {
	ca := newTestCA(t)
	vlogs := newLogSink()
	v := tlsNode(t, "v", ca.issue(t, "v"), ca, vlogs)
	a := newNode(t, "a", nil)
	require.NoError(t, a.SetPeer("v", v.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "v", []byte("x")))
	vlogs.waitFor(t, "refusal", func(r logRecord) bool { return r.msg == "tcpnet: inbound handshake failed" })
	requireNothing(t, v)
}

func TestServerOnlyTLS(t *testing.T) {
	// TLS without client certificates encrypts and authenticates the
	// server; the client's NodeID is taken on trust.
	ca := newTestCA(t)
	srv := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "v")}, MinVersion: tls.VersionTLS13}
	v := newNode(t, "v", func(c *Config) { c.TLS = srv })
	a := newNode(t, "a", func(c *Config) { c.TLS = &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13} })
	require.NoError(t, a.SetPeer("v", v.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "v", []byte("x")))
	require.Equal(t, transport.NodeID("a"), recv(t, v).From)
}

func TestNodeURIRoundTrip(t *testing.T) {
	for _, id := range []transport.NodeID{"a", "node-7", "with/slash", "sp ace", "ünï", "%41", "?#"} {
		u := NodeURI(id)
		parsed, err := url.Parse(u.String())
		require.NoError(t, err)
		got, err := CertNodeID(&x509.Certificate{URIs: []*url.URL{parsed}})
		require.NoError(t, err, u.String())
		require.Equal(t, id, got, u.String())
	}
}

func TestCertNodeIDRejectsAmbiguousCertificates(t *testing.T) {
	_, err := CertNodeID(&x509.Certificate{})
	require.ErrorIs(t, err, ErrIdentity)
	_, err = CertNodeID(&x509.Certificate{URIs: []*url.URL{NodeURI("a"), NodeURI("b")}})
	require.ErrorIs(t, err, ErrIdentity)
	other, _ := url.Parse("spiffe://example/a")
	id, err := CertNodeID(&x509.Certificate{URIs: []*url.URL{other, NodeURI("a")}})
	require.NoError(t, err)
	require.Equal(t, transport.NodeID("a"), id)
	require.ErrorIs(t, VerifyCertNodeID(&x509.Certificate{URIs: []*url.URL{NodeURI("a")}}, "b"), ErrIdentity)
}

func TestVerifyingListenerRefusesClientWithoutCertificate(t *testing.T) {
	// Under VerifyClientCertIfGiven the TLS stack lets a client without a
	// certificate through. It must not then be free to claim the NodeID of
	// a node that has one.
	ca := newTestCA(t)
	vlogs, mlogs := newLogSink(), newLogSink()
	v := newNode(t, "v", func(c *Config) {
		c.TLS = MutualTLSConfig(ca.issue(t, "v"), ca.pool)
		c.TLS.ClientAuth = tls.VerifyClientCertIfGiven
		c.Logger = vlogs.logger()
	})
	m := newNode(t, "a", func(c *Config) {
		c.TLS = &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
		c.Logger = mlogs.logger()
	})
	require.NoError(t, m.SetPeer("v", v.Addr().String()))
	require.NoError(t, m.Send(context.Background(), "v", []byte("I am a")))
	vlogs.waitFor(t, "refusal", reasonContains("tcpnet: inbound handshake failed", "no verified client certificate"))
	mlogs.waitFor(t, "refusal seen by the client", reasonContains("tcpnet: cannot connect to peer", "does not match the client certificate"))
	requireNothing(t, v)

	// A client with a certificate for the NodeID it claims still gets in.
	a := tlsNode(t, "a", ca.issue(t, "a"), ca, nil)
	require.NoError(t, a.SetPeer("v", v.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "v", []byte("really a")))
	require.Equal(t, transport.Message{From: "a", To: "v", Payload: []byte("really a")}, recv(t, v))
}

// hitCountingCache is a TLS client session cache that counts the lookups
// that found a session, to show a handshake tried to resume.
type hitCountingCache struct {
	tls.ClientSessionCache
	mu   sync.Mutex
	hits int
}

func (c *hitCountingCache) Get(key string) (*tls.ClientSessionState, bool) {
	s, ok := c.ClientSessionCache.Get(key)
	if ok {
		c.mu.Lock()
		c.hits++
		c.mu.Unlock()
	}
	return s, ok
}

func (c *hitCountingCache) hitCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

func TestMutualTLSResumedSessionStillChecksServerIdentity(t *testing.T) {
	// Session caches are keyed by address. A session resumed with b, at an
	// address the book now gives for c, must still be refused: the check
	// runs on every handshake, resumed ones included.
	ca := newTestCA(t)
	alogs := newLogSink()
	cache := &hitCountingCache{ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	a := newNode(t, "a", func(c *Config) {
		c.TLS = MutualTLSConfig(ca.issue(t, "a"), ca.pool)
		c.TLS.ClientSessionCache = cache
		c.Logger = alogs.logger()
	})
	b := tlsNode(t, "b", ca.issue(t, "b"), ca, nil)
	require.NoError(t, a.SetPeer("b", b.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "b", []byte("to b")))
	require.Equal(t, "to b", string(recv(t, b).Payload))

	require.NoError(t, a.SetPeer("c", b.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "c", []byte("for c only")))
	alogs.waitFor(t, "refusal", reasonContains("tcpnet: cannot connect to peer", `certificate is for node "b", not "c"`))
	require.Positive(t, cache.hitCount(), "the dial to c tried to resume b's session")
	requireNothing(t, b)
}

func TestClientWithoutRootCAsDoesNotTrustPrivateCA(t *testing.T) {
	// With RootCAs nil the dialler verifies against the system roots, as
	// crypto/tls does: a cluster CA is not trusted by accident, and turning
	// off host name checks does not turn off chain verification.
	ca := newTestCA(t)
	alogs := newLogSink()
	v := tlsNode(t, "v", ca.issue(t, "v"), ca, nil)
	a := newNode(t, "a", func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "a")}, MinVersion: tls.VersionTLS13}
		c.Logger = alogs.logger()
	})
	require.NoError(t, a.SetPeer("v", v.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "v", []byte("x")))
	alogs.waitFor(t, "refusal", reasonContains("tcpnet: cannot connect to peer", "server certificate"))
	requireNothing(t, v)
}

func TestClientRefusesServerCertificateWithoutServerAuth(t *testing.T) {
	// The dialler's own chain check must demand the server-auth key usage,
	// as crypto/tls would: a certificate issued for clients only cannot
	// serve as a node's listener.
	ca := newTestCA(t)
	alogs := newLogSink()
	v := tlsNode(t, "v", ca.issueFor(t, "v", x509.ExtKeyUsageClientAuth), ca, nil)
	a := tlsNode(t, "a", ca.issue(t, "a"), ca, alogs)
	require.NoError(t, a.SetPeer("v", v.Addr().String()))
	require.NoError(t, a.Send(context.Background(), "v", []byte("x")))
	alogs.waitFor(t, "refusal", reasonContains("tcpnet: cannot connect to peer", "key usage"))
	requireNothing(t, v)
}

package tcpnet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/distkit/distkit/transport"
)

// Node identities in certificates.
//
// A node's certificate names its NodeID in a URI subject alternative name of
// the form
//
//	distkit://node/<NodeID, path-escaped>
//
// A URI SAN is used rather than the CommonName (deprecated for identity by
// the Web PKI and ignored by Go's host name checks) or a DNS SAN (a NodeID is
// not a host name, and nodes move between hosts). A certificate must carry
// exactly one such URI; it may carry DNS and IP SANs besides, which tcpnet
// ignores.

// uriScheme and uriHost make up the prefix of a node URI.
const (
	uriScheme = "distkit"
	uriHost   = "node"
)

// NodeURI returns the URI that a certificate for node id carries as a SAN.
// Put it in x509.Certificate.URIs when issuing the node's certificate.
func NodeURI(id transport.NodeID) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: uriHost, Path: "/" + string(id), RawPath: "/" + url.PathEscape(string(id))}
}

// CertNodeID returns the NodeID named by cert's node URI. It returns an error
// wrapping ErrIdentity when cert has no node URI or more than one.
func CertNodeID(cert *x509.Certificate) (transport.NodeID, error) {
	var (
		id    transport.NodeID
		found int
	)
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme || u.Host != uriHost {
			continue
		}
		found++
		raw, ok := strings.CutPrefix(u.EscapedPath(), "/")
		if !ok {
			return "", fmt.Errorf("%w: malformed node URI %q", ErrIdentity, u)
		}
		s, err := url.PathUnescape(raw)
		if err != nil || s == "" {
			return "", fmt.Errorf("%w: malformed node URI %q", ErrIdentity, u)
		}
		id = transport.NodeID(s)
	}
	switch found {
	case 0:
		return "", fmt.Errorf("%w: certificate %q has no %s://%s/ URI", ErrIdentity, cert.Subject, uriScheme, uriHost)
	case 1:
		return id, nil
	default:
		return "", fmt.Errorf("%w: certificate %q has %d node URIs", ErrIdentity, cert.Subject, found)
	}
}

// VerifyCertNodeID returns nil if cert names exactly node id, and otherwise
// an error wrapping ErrIdentity. It checks only the name: chain verification
// is the TLS stack's job (or clientTLS's, below).
func VerifyCertNodeID(cert *x509.Certificate, id transport.NodeID) error {
	got, err := CertNodeID(cert)
	if err != nil {
		return err
	}
	if got != id {
		return fmt.Errorf("%w: certificate is for node %q, not %q", ErrIdentity, got, id)
	}
	return nil
}

// MutualTLSConfig returns a TLS configuration for mutual TLS among the nodes
// of a cluster: cert is this node's certificate chain and key (its leaf
// carrying NodeURI of this node's NodeID), and roots holds the certificate
// authorities that sign every node's certificate. Both sides verify each
// other against roots, and TLS 1.3 is required.
func MutualTLSConfig(cert tls.Certificate, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ClientCAs:    roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// clientTLS derives, from the user's config, the config used to dial node
// want. The stock client check compares the server certificate with the host
// name being dialled; tcpnet addresses nodes by NodeID, so it turns that check
// off and does the equivalent itself in VerifyConnection: the full chain
// against RootCAs, for server authentication, then the node URI against want.
// VerifyConnection runs on every handshake, including resumed ones, and
// aborts the handshake when it returns an error.
func clientTLS(base *tls.Config, want transport.NodeID) *tls.Config {
	c := base.Clone()
	userVerify := base.VerifyConnection
	c.InsecureSkipVerify = true
	c.ServerName = ""
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: server presented no certificate", ErrIdentity)
		}
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		opts := x509.VerifyOptions{
			Roots:         base.RootCAs,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if base.Time != nil {
			opts.CurrentTime = base.Time()
		}
		if _, err := leaf.Verify(opts); err != nil {
			return fmt.Errorf("%w: server certificate: %w", ErrIdentity, err)
		}
		if err := VerifyCertNodeID(leaf, want); err != nil {
			return err
		}
		if userVerify != nil {
			return userVerify(cs)
		}
		return nil
	}
	return c
}

// peerCertNodeCheck is the listener's identity check: when the client's
// certificate was verified, the NodeID it claims must be the one in it.
//
// A listener whose ClientAuth verifies client certificates
// (VerifyClientCertIfGiven or RequireAndVerifyClientCert) refuses a claim
// that comes without a verified certificate. The TLS stack lets a client
// without one through under VerifyClientCertIfGiven; were the claim then
// taken on trust, anyone could connect without a certificate and send as a
// node that has one. Only a listener that does not verify client
// certificates at all (plain TCP, TLS without client authentication, or
// certificates requested but not verified) takes the claim on trust.
func peerCertNodeCheck(cs tls.ConnectionState, claimed transport.NodeID, clientAuth tls.ClientAuthType) error {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		if clientAuth >= tls.VerifyClientCertIfGiven {
			return fmt.Errorf("%w: node %q presented no verified client certificate", ErrIdentity, claimed)
		}
		return nil
	}
	return VerifyCertNodeID(cs.PeerCertificates[0], claimed)
}

// Errors specific to tcpnet. Errors from the network itself wrap the
// transport package's sentinels (transport.ErrCorrupt for malformed input).
var (
	// ErrInvalidConfig is wrapped by Config.Validate, New and SetPeer.
	ErrInvalidConfig = errors.New("tcpnet: invalid config")
	// ErrIdentity is wrapped when a certificate does not name the node it
	// should.
	ErrIdentity = errors.New("tcpnet: node identity mismatch")
	// ErrRefused is wrapped when a peer refuses our handshake; the error
	// says why.
	ErrRefused = errors.New("tcpnet: handshake refused")
)

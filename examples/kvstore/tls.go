package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/tcpnet"
)

// The files in a -tls-dir. A directory may hold every node's certificate
// (one machine) or only its own node's (one machine per node): a node reads
// only ca.pem and its own pair.
const caFile = "ca.pem" // the cluster CA's certificate, which every node trusts

func certFile(id raft.NodeID) string { return string(id) + ".pem" }     // the node's certificate
func keyFile(id raft.NodeID) string  { return string(id) + "-key.pem" } // the node's private key

// loadTLS builds node id's mutual TLS config from dir. tcpnet then accepts
// only peers whose certificate the CA signed, and checks that each peer's
// certificate names the NodeID it claims (the URI SAN distkit://node/<id>).
func loadTLS(dir string, id raft.NodeID) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile(id)), filepath.Join(dir, keyFile(id)))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate in " + filepath.Join(dir, caFile))
	}
	return tcpnet.MutualTLSConfig(cert, pool), nil
}

// writeCerts makes a new CA and a certificate for each node, and writes
// them to dir (-make-certs). It is for trying mutual TLS out: the CA's key
// is not kept, so adding a node later means making every certificate again.
// In production the certificates come from your own CA; all tcpnet needs is
// the URI SAN distkit://node/<id> in each (tcpnet.NodeURI).
func writeCerts(dir string, ids []raft.NodeID) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: clusterName + " CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, caFile), "CERTIFICATE", caDER); err != nil {
		return err
	}
	for i, id := range ids {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i) + 2),
			Subject:      pkix.Name{CommonName: string(id)},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().AddDate(1, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			// A node's certificate serves both ends of its connections.
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			URIs:        []*url.URL{tcpnet.NodeURI(id)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, certFile(id)), "CERTIFICATE", der); err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, keyFile(id)), "PRIVATE KEY", keyDER); err != nil {
			return err
		}
	}
	return nil
}

func writePEM(path, typ string, der []byte) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

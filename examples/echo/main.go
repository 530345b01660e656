// Command echo runs a three-node distkit cluster on this machine, secured
// with mutual TLS, and has every node ping every other node and echo back
// what it receives. It prints each message as it arrives and exits.
//
// It is the template for setting up a secure cluster with tcpnet: a
// certificate authority, one certificate per node naming its NodeID, a
// Transport per node configured for mutual TLS, and an address book. Here
// everything lives in one process and the certificates are made in memory;
// in a real deployment each node is its own process, and its certificate
// and the CA come from files or a secrets store (see loadTLS at the end).
//
//	go run ./examples/echo
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/tcpnet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, options{Nodes: 3, Rounds: 2, Timeout: 30 * time.Second}); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// options bound a run; main_test.go uses small ones.
type options struct {
	Nodes   int           // cluster size
	Rounds  int           // pings each node sends to each other node
	Timeout time.Duration // give up if the echoes have not all arrived by then
}

// clusterName keeps this demo's nodes from talking to any other cluster that
// happens to share the machine.
const clusterName = "echo-demo"

// run starts the cluster, exchanges the messages, prints them to out and
// shuts everything down.
func run(ctx context.Context, out io.Writer, opts options) error {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	// 1. A certificate authority that every node trusts. Whoever holds its
	//    key decides which NodeIDs exist.
	ca, err := newClusterCA()
	if err != nil {
		return err
	}

	// 2. One Transport per node, each with its own certificate. Port 0
	//    lets the OS pick free ports; Addr reports them.
	ids := make([]transport.NodeID, opts.Nodes)
	nodes := make([]*tcpnet.Transport, opts.Nodes)
	defer func() {
		for _, tr := range nodes {
			if tr != nil {
				tr.Close()
			}
		}
	}()
	for i := range nodes {
		ids[i] = transport.NodeID(fmt.Sprintf("node-%d", i+1))
		cert, err := ca.issue(ids[i])
		if err != nil {
			return err
		}
		nodes[i], err = tcpnet.New(tcpnet.Config{
			NodeID:      ids[i],
			ClusterName: clusterName,
			ListenAddr:  "127.0.0.1:0",
			// Mutual TLS: present our certificate, require the peer's,
			// and trust only our CA. tcpnet then refuses any peer whose
			// claimed NodeID differs from the one in its certificate.
			TLS: tcpnet.MutualTLSConfig(cert, ca.pool),
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s listening on %s\n", ids[i], nodes[i].Addr())
	}

	// 3. The address book: every node learns where the others listen. In
	//    a real cluster this comes from configuration or service
	//    discovery, and SetPeer updates it while running.
	for _, tr := range nodes {
		for j, peer := range nodes {
			if peer != tr {
				if err := tr.SetPeer(ids[j], peer.Addr().String()); err != nil {
					return err
				}
			}
		}
	}

	// 4. Each node handles what it receives: it answers a ping with an
	//    echo to the sender, and reports echoes. m.From is the peer's
	//    authenticated NodeID, so replying to it is safe.
	var printMu sync.Mutex
	printf := func(format string, args ...any) {
		printMu.Lock()
		defer printMu.Unlock()
		fmt.Fprintf(out, format, args...)
	}
	echoes := make(chan struct{}, opts.Nodes*opts.Nodes*opts.Rounds)
	var handlers sync.WaitGroup
	for _, tr := range nodes {
		handlers.Go(func() {
			for m := range tr.Recv() { // ends when tr is closed
				printf("%s <- %s: %s\n", m.To, m.From, m.Payload)
				if reply, ok := bytes.CutPrefix(m.Payload, []byte("ping")); ok {
					// Send only queues; it never blocks on the network.
					_ = tr.Send(ctx, m.From, append([]byte("echo"), reply...))
				} else {
					echoes <- struct{}{}
				}
			}
		})
	}

	// 5. Every node pings every other node.
	for r := 1; r <= opts.Rounds; r++ {
		for i, tr := range nodes {
			for j := range nodes {
				if i != j {
					if err := tr.Send(ctx, ids[j], fmt.Appendf(nil, "ping %d from %s", r, ids[i])); err != nil {
						return err
					}
				}
			}
		}
	}

	// 6. Wait for every echo, then close the nodes, which ends the
	//    handlers.
	want := opts.Nodes * (opts.Nodes - 1) * opts.Rounds
	var waitErr error
	for got := 0; got < want && waitErr == nil; {
		select {
		case <-echoes:
			got++
		case <-ctx.Done():
			waitErr = fmt.Errorf("%d of %d echoes arrived: %w", got, want, ctx.Err())
		}
	}
	for i, tr := range nodes {
		tr.Close()
		nodes[i] = nil
	}
	handlers.Wait()
	if waitErr != nil {
		return waitErr
	}
	printf("all %d echoes received\n", want)
	return nil
}

// clusterCA is a certificate authority that lives only in this process.
type clusterCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool // the CA as a trust root, for tls.Config
}

func newClusterCA() (*clusterCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: clusterName + " CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &clusterCA{cert: cert, key: key, pool: pool}, nil
}

// issue makes the certificate for node id. What makes it a distkit node
// certificate is the URI SAN tcpnet.NodeURI(id), distkit://node/<id>: that
// is the identity tcpnet checks. The certificate serves both ends of a
// connection, so it allows server and client authentication.
func (ca *clusterCA) issue(id transport.NodeID) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(id)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{tcpnet.NodeURI(id)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// loadTLS is how a node in a real deployment builds its TLS config: its own
// certificate and key, and the cluster CA, from PEM files. It is not called
// by this demo.
func loadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate in " + caFile)
	}
	return tcpnet.MutualTLSConfig(cert, pool), nil
}

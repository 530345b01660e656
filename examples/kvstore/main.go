// Command kvstore is a replicated key-value store: a map kept identical on
// every node by distkit's Raft (raft.Node), with an HTTP API on each node.
//
//	go run ./examples/kvstore
//
// starts a three-node cluster in this process, on loopback TCP, with its
// data in a temporary directory, and prints the curl commands to try. Stop
// the leader (POST /admin/stop on it) and watch another node take over.
//
// One node per process, on one machine or many:
//
//	go run ./examples/kvstore -id n1 -peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 -http 127.0.0.1:8001
//
// and likewise for n2 and n3. Add -tls-dir DIR for mutual TLS between the
// nodes; -make-certs writes a CA and every node's certificate into it.
// README.md in this directory walks through both modes.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/tcpnet"
)

// options are the command line flags.
type options struct {
	ID        string        // this node's ID; empty runs the demo cluster
	Peers     string        // every node of the cluster, this one included: id=host:port,...
	HTTP      string        // the HTTP API's listen address
	Data      string        // data directory
	TLSDir    string        // certificates for mutual TLS between nodes
	MakeCerts bool          // write certificates into TLSDir and exit
	Timeout   time.Duration // bound on one HTTP request's wait for the cluster
	Verbose   bool          // log to stderr
}

func main() {
	var o options
	flag.StringVar(&o.ID, "id", "", "this node's ID (empty: run a 3-node demo cluster in this process)")
	flag.StringVar(&o.Peers, "peers", "", "every node's raft address, this one's included: id=host:port,...")
	flag.StringVar(&o.HTTP, "http", "127.0.0.1:0", "HTTP API listen address (with -id)")
	flag.StringVar(&o.Data, "data", "", "data directory (default: kvstore-<id> with -id, a temporary directory without)")
	flag.StringVar(&o.TLSDir, "tls-dir", "", "directory with ca.pem, <id>.pem and <id>-key.pem: mutual TLS between nodes")
	flag.BoolVar(&o.MakeCerts, "make-certs", false, "write a new CA and a certificate for every node of -peers into -tls-dir, then exit")
	flag.DurationVar(&o.Timeout, "timeout", 5*time.Second, "how long a request may wait for the cluster (a leader, a quorum)")
	flag.BoolVar(&o.Verbose, "v", false, "log raft and transport events to stderr")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "kvstore:", err)
		os.Exit(1)
	}
}

// run does what the options say until ctx ends, then shuts down cleanly.
func run(ctx context.Context, out io.Writer, o options) error {
	var logger *slog.Logger
	if o.Verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	switch {
	case o.MakeCerts:
		return makeCerts(out, o)
	case o.ID == "" && (o.Peers != "" || o.TLSDir != ""):
		return errors.New("-peers and -tls-dir need -id: without it the demo cluster runs in this process, on loopback")
	case o.ID == "":
		return runCluster(ctx, out, o, logger)
	default:
		return runNode(ctx, out, o, logger)
	}
}

// runCluster runs the demo: three nodes in this process.
func runCluster(ctx context.Context, out io.Writer, o options, logger *slog.Logger) error {
	dir := o.Data
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "kvstore-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	c, err := startCluster(clusterConfig{Nodes: 3, Dir: dir, Timeout: o.Timeout, Out: out, Logger: logger})
	if err != nil {
		return err
	}
	c.out.printf("kvstore: %d nodes in this process, data in %s\n", len(c.ids), dir)
	for _, id := range c.ids {
		c.out.printf("  %s  %s\n", id, c.urls[id])
	}
	a, b := c.urls[c.ids[0]], c.urls[c.ids[1]]
	c.out.printf(`Try:
  curl -X PUT -d world %[1]s/keys/hello
  curl %[2]s/keys/hello                 # a linearizable read, on another node
  curl '%[2]s/keys/hello?stale=true'    # this node's copy, maybe behind
  curl %[2]s/status
Stop the leader (it is announced below) with POST /admin/stop, keep writing
to the others, then bring it back with POST /admin/start. Ctrl-C to quit.
`, a, b)
	<-ctx.Done()
	c.out.printf("stopping\n")
	return c.close()
}

// runNode runs one node of a cluster whose other nodes run elsewhere.
func runNode(ctx context.Context, out io.Writer, o options, logger *slog.Logger) error {
	id := raft.NodeID(o.ID)
	addrs, ids, err := parsePeers(o.Peers)
	if err != nil {
		return err
	}
	self, ok := addrs[id]
	if !ok {
		return fmt.Errorf("-peers must include this node, %s", id)
	}
	delete(addrs, id)
	var tlsConfig *tls.Config
	if o.TLSDir != "" {
		if tlsConfig, err = loadTLS(o.TLSDir, id); err != nil {
			return err
		}
	}
	dir := o.Data
	if dir == "" {
		dir = "kvstore-" + o.ID
	}
	tr, err := tcpnet.New(tcpnet.Config{NodeID: id, ClusterName: clusterName, ListenAddr: self, Peers: addrs, TLS: tlsConfig, Logger: logger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.HTTP)
	if err != nil {
		return errors.Join(err, tr.Close())
	}
	w := &syncWriter{w: out}
	rep, err := startReplica(replicaConfig{ID: id, Voters: ids, Dir: dir, Transport: tr, Metrics: &announcer{id: id, out: w}, Logger: logger})
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	s := &server{id: id, timeout: o.Timeout, rep: rep}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	security := "plain TCP"
	if tlsConfig != nil {
		security = "mutual TLS"
	}
	w.printf("kvstore: node %s, HTTP http://%s, raft %s (%s), data in %s\n", id, ln.Addr(), tr.Addr(), security, dir)

	select {
	case <-ctx.Done():
	case err = <-done: // the HTTP server failed
	}
	// Stop the node first: requests still in flight then fail at once.
	s.mu.Lock()
	s.rep = nil
	s.mu.Unlock()
	cerr := rep.close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if err == nil {
		err = <-done
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, cerr, serr)
}

// makeCerts writes the certificates for -peers into -tls-dir.
func makeCerts(out io.Writer, o options) error {
	if o.TLSDir == "" {
		return errors.New("-make-certs needs -tls-dir")
	}
	_, ids, err := parsePeers(o.Peers)
	if err != nil {
		return err
	}
	if err := writeCerts(o.TLSDir, ids); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s and a certificate and key for each of %v to %s\n", caFile, ids, o.TLSDir)
	return nil
}

// validID keeps node IDs to names that are safe in file names.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// parsePeers parses "id=host:port,..." into an address book and the sorted
// IDs.
func parsePeers(s string) (map[raft.NodeID]string, []raft.NodeID, error) {
	addrs := map[raft.NodeID]string{}
	var ids []raft.NodeID
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		id, addr, ok := strings.Cut(p, "=")
		if !ok || !validID.MatchString(id) {
			return nil, nil, fmt.Errorf("bad -peers entry %q: want id=host:port, id of letters, digits, _ and -", p)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, nil, fmt.Errorf("bad -peers entry %q: %w", p, err)
		}
		if _, dup := addrs[raft.NodeID(id)]; dup {
			return nil, nil, fmt.Errorf("-peers names %s twice", id)
		}
		addrs[raft.NodeID(id)] = addr
		ids = append(ids, raft.NodeID(id))
	}
	if len(ids) == 0 {
		return nil, nil, errors.New("-peers is empty")
	}
	slices.Sort(ids)
	return addrs, ids, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/distkit/distkit/raft"
	"github.com/distkit/distkit/transport/tcpnet"
)

// clusterName is sent in every tcpnet handshake, so this store's nodes never
// talk to another cluster's that shares the machine.
const clusterName = "kvstore"

// cluster is the demo mode: every node of the store in this process, on
// loopback, each with its own HTTP server, data directory and TCP transport.
// A node can be stopped and started again through its HTTP server
// (POST /admin/stop, POST /admin/start), which stays up meanwhile.
type cluster struct {
	cfg clusterConfig
	ids []raft.NodeID
	out *syncWriter

	servers map[raft.NodeID]*server
	https   map[raft.NodeID]*http.Server
	urls    map[raft.NodeID]string
	httpWG  sync.WaitGroup

	mu    sync.Mutex             // serializes starting and stopping nodes
	addrs map[raft.NodeID]string // where each node's transport listens
}

// clusterConfig configures the demo cluster.
type clusterConfig struct {
	Nodes   int           // how many nodes, named n1, n2, ...
	Dir     string        // holds one data directory per node
	Timeout time.Duration // bound on one HTTP request's wait
	Out     io.Writer     // where leader changes are announced
	Logger  *slog.Logger  // nil is silent

	SnapshotEntries uint64 // see replicaConfig; zero for the defaults
}

// startCluster starts every node and its HTTP server on loopback, with
// ports chosen by the OS.
func startCluster(cfg clusterConfig) (*cluster, error) {
	c := &cluster{
		cfg: cfg, out: &syncWriter{w: cfg.Out},
		servers: map[raft.NodeID]*server{}, https: map[raft.NodeID]*http.Server{},
		urls: map[raft.NodeID]string{}, addrs: map[raft.NodeID]string{},
	}
	for i := range cfg.Nodes {
		c.ids = append(c.ids, raft.NodeID(fmt.Sprintf("n%d", i+1)))
	}
	for _, id := range c.ids {
		s := &server{id: id, timeout: cfg.Timeout}
		mux := s.handler()
		mux.HandleFunc("POST /admin/stop", func(w http.ResponseWriter, r *http.Request) {
			if err := c.stop(id); err != nil {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			fmt.Fprintf(w, "%s stopped\n", id)
		})
		mux.HandleFunc("POST /admin/start", func(w http.ResponseWriter, r *http.Request) {
			if err := c.start(id); err != nil {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			fmt.Fprintf(w, "%s started\n", id)
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Join(err, c.close())
		}
		c.servers[id] = s
		c.urls[id] = "http://" + ln.Addr().String()
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		c.https[id] = srv
		c.httpWG.Go(func() { _ = srv.Serve(ln) })
	}
	for _, id := range c.ids {
		if err := c.start(id); err != nil {
			return nil, errors.Join(err, c.close())
		}
	}
	return c, nil
}

// start starts node id from its data directory. Its transport listens on a
// new port, and the running nodes learn it; a real deployment would keep
// one address per node instead.
func (c *cluster) start(id raft.NodeID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.servers[id]
	if s.replica() != nil {
		return fmt.Errorf("%s is already running", id)
	}
	peers := map[raft.NodeID]string{}
	for p, addr := range c.addrs {
		if p != id {
			peers[p] = addr
		}
	}
	tr, err := tcpnet.New(tcpnet.Config{NodeID: id, ClusterName: clusterName, ListenAddr: "127.0.0.1:0", Peers: peers, Logger: c.cfg.Logger})
	if err != nil {
		return err
	}
	c.addrs[id] = tr.Addr().String()
	for p, ps := range c.servers {
		if rep := ps.replica(); rep != nil {
			if err := rep.tr.SetPeer(id, c.addrs[id]); err != nil {
				_ = tr.Close()
				return fmt.Errorf("tell %s where %s is: %w", p, id, err)
			}
		}
	}
	rep, err := startReplica(replicaConfig{
		ID:              id,
		Voters:          c.ids,
		Dir:             filepath.Join(c.cfg.Dir, string(id)),
		Transport:       tr,
		Metrics:         &announcer{id: id, url: c.urls[id], out: c.out},
		Logger:          c.cfg.Logger,
		SnapshotEntries: c.cfg.SnapshotEntries,
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.rep = rep
	s.mu.Unlock()
	return nil
}

// stop stops node id as a crash would, as far as the others can tell: its
// transport closes and it answers nothing. Its data directory stays, so
// start brings it back with everything it had persisted.
func (c *cluster) stop(id raft.NodeID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.servers[id]
	s.mu.Lock()
	rep := s.rep
	s.rep = nil
	s.mu.Unlock()
	if rep == nil {
		return fmt.Errorf("%s is not running", id)
	}
	return rep.close()
}

// close stops every node and HTTP server.
func (c *cluster) close() error {
	var errs []error
	for _, id := range c.ids {
		if c.servers[id] != nil && c.servers[id].replica() != nil {
			errs = append(errs, c.stop(id))
		}
	}
	// The nodes are stopped, so requests still in flight fail at once;
	// Shutdown waits for them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range c.https {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, errors.Join(err, srv.Close()))
		}
	}
	c.httpWG.Wait()
	return errors.Join(errs...)
}

// announcer prints when its node wins an election, so a newcomer sees
// failover happen, and in the demo cluster the command that stops it.
type announcer struct {
	id  raft.NodeID
	url string // the node's HTTP API in the demo cluster, else empty
	out *syncWriter
}

func (a *announcer) Election(term uint64, won bool) {
	switch {
	case !won:
	case a.url == "":
		a.out.printf("%s is the leader (term %d)\n", a.id, term)
	default:
		a.out.printf("%s is the leader (term %d); to stop it: curl -X POST %s/admin/stop\n", a.id, term, a.url)
	}
}

func (a *announcer) CommitLatency(time.Duration)     {}
func (a *announcer) FsyncLatency(time.Duration, int) {}
func (a *announcer) ApplyLag(uint64)                 {}

// SnapshotBytes reports the chunks of a snapshot that a node receives
// because it fell too far behind for the leader's log to catch it up.
func (a *announcer) SnapshotBytes(sent bool, n int) {
	if !sent {
		a.out.printf("%s received %d bytes of snapshot from the leader\n", a.id, n)
	}
}

// syncWriter serializes writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, format, args...)
}

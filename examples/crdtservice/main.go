// Command crdtservice is a replicated shopping cart: several HTTP instances
// each accept writes to the same cart and converge by shipping CRDT deltas
// to each other over TCP (transport/tcpnet), using crdt.DeltaBuffer to send
// each peer exactly what it has not acknowledged.
//
//	go run ./examples/crdtservice
//
// starts three instances in one process on loopback and prints curl
// commands to try. To run one instance per process:
//
//	go run ./examples/crdtservice -id a -listen 127.0.0.1:7001 -http 127.0.0.1:8001 -peers b=127.0.0.1:7002,c=127.0.0.1:7003
//
// and likewise for b and c.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distkit/distkit/transport"
	"github.com/distkit/distkit/transport/tcpnet"
)

type options struct {
	ID        string        // this instance's ID; empty runs Instances in one process
	Listen    string        // tcpnet listen address
	HTTP      string        // HTTP listen address
	Peers     string        // "id=host:port,..." of the other instances
	Instances int           // how many instances to start when ID is empty
	Interval  time.Duration // how often each instance re-sends what peers have not acknowledged
	Cluster   string        // tcpnet cluster name
}

func main() {
	var o options
	flag.StringVar(&o.ID, "id", "", "instance ID (empty: run -n instances in this process)")
	flag.StringVar(&o.Listen, "listen", "127.0.0.1:0", "replication listen address")
	flag.StringVar(&o.HTTP, "http", "127.0.0.1:0", "HTTP listen address")
	flag.StringVar(&o.Peers, "peers", "", "other instances, id=host:port,...")
	flag.IntVar(&o.Instances, "n", 3, "instances to start when -id is empty")
	flag.DurationVar(&o.Interval, "interval", 200*time.Millisecond, "retransmission interval")
	flag.StringVar(&o.Cluster, "cluster", "crdtservice", "cluster name")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// instance is one running service: its node, transport and HTTP server.
type instance struct {
	node *node
	tr   *tcpnet.Transport
	srv  *http.Server
	url  string
	stop func() error
}

// run starts the instances, prints how to use them, and serves until ctx
// ends.
func run(ctx context.Context, out io.Writer, o options) error {
	var insts []*instance
	var err error
	if o.ID == "" {
		insts, err = startCluster(ctx, o.Instances, o.Interval, o.Cluster)
	} else {
		var in *instance
		in, err = startOne(ctx, o)
		insts = []*instance{in}
	}
	if err != nil {
		return err
	}
	for _, in := range insts {
		fmt.Fprintf(out, "instance %s: %s\n", in.node.id, in.url)
	}
	a := insts[0].url
	b := insts[len(insts)-1].url
	fmt.Fprintf(out, "try:\n  curl -X POST %s/cart/items/apple?n=2\n  curl -X POST %s/cart/tags/gift\n  curl %s/cart\n", a, b, b)
	<-ctx.Done()
	return stopAll(insts)
}

// startCluster starts n instances on loopback that replicate to each
// other.
func startCluster(ctx context.Context, n int, interval time.Duration, cluster string) ([]*instance, error) {
	if n < 1 {
		return nil, fmt.Errorf("need at least one instance, got %d", n)
	}
	ids := make([]transport.NodeID, n)
	trs := make([]*tcpnet.Transport, n)
	for i := range ids {
		ids[i] = transport.NodeID(string(rune('a' + i)))
		tr, err := tcpnet.New(tcpnet.Config{NodeID: ids[i], ClusterName: cluster, ListenAddr: "127.0.0.1:0"})
		if err != nil {
			closeAll(trs)
			return nil, err
		}
		trs[i] = tr
	}
	var insts []*instance
	for i, tr := range trs {
		var peers []transport.NodeID
		for j := range trs {
			if i != j {
				if err := tr.SetPeer(ids[j], trs[j].Addr().String()); err != nil {
					closeAll(trs)
					return nil, err
				}
				peers = append(peers, ids[j])
			}
		}
		in, err := serve(ctx, ids[i], tr, peers, interval, "127.0.0.1:0")
		if err != nil {
			_ = stopAll(insts)
			closeAll(trs[i:])
			return nil, err
		}
		insts = append(insts, in)
	}
	return insts, nil
}

func startOne(ctx context.Context, o options) (*instance, error) {
	peers := map[transport.NodeID]string{}
	for _, p := range strings.Split(o.Peers, ",") {
		if p == "" {
			continue
		}
		id, addr, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("bad -peers entry %q, want id=host:port", p)
		}
		peers[transport.NodeID(id)] = addr
	}
	tr, err := tcpnet.New(tcpnet.Config{NodeID: transport.NodeID(o.ID), ClusterName: o.Cluster, ListenAddr: o.Listen, Peers: peers})
	if err != nil {
		return nil, err
	}
	ids := make([]transport.NodeID, 0, len(peers))
	for id := range peers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	in, err := serve(ctx, transport.NodeID(o.ID), tr, ids, o.Interval, o.HTTP)
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	return in, nil
}

// serve starts a node's replication and HTTP server. The instance stops
// when stopAll is called; ctx only bounds the replication loops.
func serve(ctx context.Context, id transport.NodeID, tr *tcpnet.Transport, peers []transport.NodeID, interval time.Duration, httpAddr string) (*instance, error) {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	n, err := newNode(id, tr, peers, interval, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return nil, err
	}
	in := &instance{node: n, tr: tr, srv: &http.Server{Handler: n.handler(), ReadHeaderTimeout: 5 * time.Second}, url: "http://" + ln.Addr().String()}
	loopCtx, cancel := context.WithCancel(ctx)
	n.start(loopCtx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = in.srv.Serve(ln) }()
	in.srv.RegisterOnShutdown(cancel)
	in.stop = func() error {
		err := in.srv.Shutdown(context.Background())
		cancel()
		wg.Wait()
		terr := tr.Close()
		n.wg.Wait()
		return errors.Join(err, terr)
	}
	return in, nil
}

func stopAll(insts []*instance) error {
	var errs []error
	for _, in := range insts {
		errs = append(errs, in.stop())
	}
	return errors.Join(errs...)
}

func closeAll(trs []*tcpnet.Transport) {
	for _, tr := range trs {
		if tr != nil {
			_ = tr.Close()
		}
	}
}

// Command shardedcache is a miniature groupcache: several cache nodes on
// the loopback interface own keys by a consistent-hash ring (package
// hashring) and forward each request to the key's owner, which loads a
// missing value once however many requests ask for it at the same time
// (golang.org/x/sync/singleflight).
//
// It starts a cluster, reads a set of keys, adds a node and removes
// another, and prints how many keys moved each time: about 1/(n+1) of them
// when a node joins and exactly the departed node's keys when one leaves.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distkit/distkit/hashring"
	"golang.org/x/sync/singleflight"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, 4, 2000); err != nil {
		fmt.Fprintln(os.Stderr, "shardedcache:", err)
		os.Exit(1)
	}
}

// run starts a cluster of nodes, reads keys through it, then adds one node
// and removes another, reporting the keys that moved.
func run(ctx context.Context, out io.Writer, nodes, keys int) error {
	c := newCluster(sourceOfTruth)
	defer c.Close()
	for range nodes {
		if _, err := c.AddNode(); err != nil {
			return err
		}
	}
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("user:%d", i)
	}
	owners := func() (map[string]string, error) {
		m := make(map[string]string, len(names))
		for i, k := range names {
			// Enter through a different node each time: non-owners forward.
			v, owner, err := c.Get(ctx, c.Nodes()[i%len(c.Nodes())], k)
			if err != nil {
				return nil, err
			}
			if want, _ := sourceOfTruth(ctx, k); v != want {
				return nil, fmt.Errorf("key %q: got %q, want %q", k, v, want)
			}
			m[k] = owner
		}
		return m, nil
	}
	before, err := owners()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d nodes, %d keys, %d loads from the source\n", nodes, keys, c.Loads())

	added, err := c.AddNode()
	if err != nil {
		return err
	}
	loads := c.Loads()
	after, err := owners()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "added %s: %d keys moved (ideal %d), %d new loads\n",
		added, moved(before, after), keys/(nodes+1), c.Loads()-loads)

	gone := c.Nodes()[0]
	if err := c.RemoveNode(gone); err != nil {
		return err
	}
	loads = c.Loads()
	final, err := owners()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "removed %s: %d keys moved, %d new loads\n", gone, moved(after, final), c.Loads()-loads)
	return nil
}

func moved(a, b map[string]string) int {
	n := 0
	for k, v := range a {
		if b[k] != v {
			n++
		}
	}
	return n
}

// sourceOfTruth stands in for the slow database behind the cache.
func sourceOfTruth(_ context.Context, key string) (string, error) {
	return "value-of-" + key, nil
}

// cache is one node's local store: the values it owns, loaded at most once
// at a time per key.
type cache struct {
	load  func(context.Context, string) (string, error)
	loads atomic.Int64 // calls to load, i.e. misses that reached the source
	group singleflight.Group
	mu    sync.Mutex
	data  map[string]string
}

func newCache(load func(context.Context, string) (string, error)) *cache {
	return &cache{load: load, data: make(map[string]string)}
}

// get returns key's value, loading it on a miss. Concurrent misses for one
// key share a single load: that is what protects the source when a hot key
// expires or its owner changes.
func (c *cache) get(ctx context.Context, key string) (string, error) {
	c.mu.Lock()
	v, ok := c.data[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	res, err, _ := c.group.Do(key, func() (any, error) {
		c.loads.Add(1)
		v, err := c.load(ctx, key)
		if err != nil {
			return "", err
		}
		c.mu.Lock()
		c.data[key] = v
		c.mu.Unlock()
		return v, nil
	})
	if err != nil {
		return "", err
	}
	return res.(string), nil
}

// node is a cache served over HTTP on 127.0.0.1.
type node struct {
	addr  string
	cache *cache
	srv   *http.Server
	done  chan struct{} // closed when Serve returns
}

// cluster is the set of nodes and the ring they share. In a real
// deployment each process would hold its own ring, fed by membership
// (package gossip); here one ring stands for that agreed view.
type cluster struct {
	load   func(context.Context, string) (string, error)
	ring   hashring.Ring
	client *http.Client
	mu     sync.Mutex
	nodes  map[string]*node
	order  []string
}

func newCluster(load func(context.Context, string) (string, error)) *cluster {
	return &cluster{
		load:   load,
		client: &http.Client{Transport: &http.Transport{}},
		nodes:  make(map[string]*node),
	}
}

// AddNode starts a node on a free loopback port, adds it to the ring, and
// returns its address.
func (c *cluster) AddNode() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	n := &node{addr: ln.Addr().String(), cache: newCache(c.load), done: make(chan struct{})}
	n.srv = &http.Server{Handler: c.handler(n), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(n.done)
		_ = n.srv.Serve(ln)
	}()
	c.mu.Lock()
	c.nodes[n.addr] = n
	c.order = append(c.order, n.addr)
	c.mu.Unlock()
	if err := c.ring.Add(n.addr, 1); err != nil {
		return "", err
	}
	return n.addr, nil
}

// RemoveNode takes a node out of the ring and stops it.
func (c *cluster) RemoveNode(addr string) error {
	c.ring.Remove(addr)
	c.mu.Lock()
	n := c.nodes[addr]
	delete(c.nodes, addr)
	for i, a := range c.order {
		if a == addr {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	if n == nil {
		return fmt.Errorf("no node %s", addr)
	}
	return n.stop()
}

func (n *node) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := n.srv.Shutdown(ctx)
	<-n.done
	return err
}

// Nodes returns the node addresses in the order they joined.
func (c *cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// Loads returns how many values all live nodes loaded from the source.
func (c *cluster) Loads() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var total int64
	for _, n := range c.nodes {
		total += n.cache.loads.Load()
	}
	return total
}

// Close stops every node and the client's idle connections.
func (c *cluster) Close() {
	for _, a := range c.Nodes() {
		_ = c.RemoveNode(a)
	}
	c.client.CloseIdleConnections()
}

const servedBy = "X-Served-By"

// handler serves GET /get?key=K. The owner answers from its cache; any
// other node forwards to the owner once. A forwarded request is always
// answered locally, so nodes whose ring views briefly differ cannot bounce
// a request between them.
func (c *cluster) handler(n *node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		owner, err := c.ring.Get(key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if owner != n.addr && r.URL.Query().Get("forwarded") == "" {
			v, servedBy, err := c.fetch(r.Context(), owner, key, true)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			reply(w, servedBy, v)
			return
		}
		v, err := n.cache.get(r.Context(), key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reply(w, n.addr, v)
	})
	return mux
}

func reply(w http.ResponseWriter, by, v string) {
	w.Header().Set(servedBy, by)
	_, _ = io.WriteString(w, v)
}

// Get asks the node at entry for key and returns the value and the node
// that served it.
func (c *cluster) Get(ctx context.Context, entry, key string) (value, owner string, err error) {
	return c.fetch(ctx, entry, key, false)
}

func (c *cluster) fetch(ctx context.Context, addr, key string, forwarded bool) (string, string, error) {
	q := url.Values{"key": {key}}
	if forwarded {
		q.Set("forwarded", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/get?"+q.Encode(), nil)
	if err != nil {
		return "", "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", errors.New(resp.Status + ": " + string(body))
	}
	return string(body), resp.Header.Get(servedBy), nil
}

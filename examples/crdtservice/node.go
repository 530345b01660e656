package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/distkit/distkit/crdt"
	"github.com/distkit/distkit/transport"
)

// node is one instance of the service: a cart replica, its delta buffer,
// a transport to the other instances, and an HTTP API.
type node struct {
	id       transport.NodeID
	tr       transport.Transport
	peers    []transport.NodeID
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	state   *cart
	buf     *crdt.DeltaBuffer[*cart]
	cut     map[transport.NodeID]bool // links cut by the test API
	changed chan struct{}             // closed and replaced on every change
	kick    chan struct{}

	wg sync.WaitGroup
}

func newNode(id transport.NodeID, tr transport.Transport, peers []transport.NodeID, interval time.Duration, log *slog.Logger) (*node, error) {
	// A restarted instance must not reuse sequence numbers its peers may
	// still acknowledge; the start time in nanoseconds is above any it
	// issued before.
	buf, err := crdt.NewDeltaBuffer[*cart](crdt.DeltaBufferConfig{Start: uint64(time.Now().UnixNano())})
	if err != nil {
		return nil, err
	}
	return &node{
		id: id, tr: tr, peers: peers, interval: interval, log: log,
		state: new(cart), buf: buf, cut: map[transport.NodeID]bool{},
		changed: make(chan struct{}), kick: make(chan struct{}, 1),
	}, nil
}

// start runs the replication loops until ctx ends; wait for them with
// n.wg.
func (n *node) start(ctx context.Context) {
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.receiveLoop(ctx) }()
	go func() { defer n.wg.Done(); n.sendLoop(ctx) }()
}

// mutate applies a local change and queues its delta.
func (n *node) mutate(f func(c *cart) *cart) {
	n.mu.Lock()
	d := f(n.state)
	n.buf.Add(d)
	n.notifyLocked()
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *node) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// snapshot returns the cart as shown to users, its canonical encoding, and
// a channel closed at the next change.
func (n *node) snapshot() (view, []byte, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	enc, _ := n.state.MarshalBinary()
	return n.state.view(), enc, n.changed
}

func (n *node) setCut(peer transport.NodeID, cut bool) {
	n.mu.Lock()
	n.cut[peer] = cut
	n.mu.Unlock()
}

// sendLoop sends every peer what it is missing, after each local change
// and every interval (which retransmits what was lost).
func (n *node) sendLoop(ctx context.Context) {
	t := time.NewTicker(n.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		}
		for _, p := range n.peers {
			n.mu.Lock()
			if n.cut[p] {
				n.mu.Unlock()
				continue
			}
			msg, seq, _, ok := n.buf.Prepare(crdt.ReplicaID(p), n.state)
			n.mu.Unlock()
			if !ok {
				continue
			}
			payload, err := msg.MarshalBinary()
			if err != nil {
				n.log.Error("encode", "err", err)
				continue
			}
			// Best effort: what is lost is sent again next tick.
			_ = n.tr.Send(ctx, p, encodeMsg(msgData, seq, payload))
		}
	}
}

func (n *node) receiveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-n.tr.Recv():
			if !ok {
				return
			}
			n.receive(ctx, m)
		}
	}
}

func (n *node) receive(ctx context.Context, m transport.Message) {
	kind, seq, payload, err := decodeMsg(m.Payload)
	if err != nil {
		n.log.Warn("bad message", "from", m.From, "err", err)
		return
	}
	n.mu.Lock()
	if n.cut[m.From] {
		n.mu.Unlock()
		return
	}
	if kind == msgAck {
		n.buf.Ack(crdt.ReplicaID(m.From), seq)
		n.mu.Unlock()
		return
	}
	var d cart
	if err := d.UnmarshalBinary(payload); err != nil {
		n.mu.Unlock()
		n.log.Warn("bad cart", "from", m.From, "err", err)
		return
	}
	before, _ := n.state.MarshalBinary()
	n.state.Merge(&d)
	after, _ := n.state.MarshalBinary()
	if string(before) != string(after) {
		// News: forward it to the other peers too, and tell waiters.
		n.buf.Add(&d)
		n.notifyLocked()
	}
	n.mu.Unlock()
	_ = n.tr.Send(ctx, m.From, encodeMsg(msgAck, seq, nil))
}

// handler serves the cart API:
//
//	GET    /cart                    the cart as JSON
//	POST   /cart/items/{item}?n=N   add N (default 1) of item; negative N removes some
//	DELETE /cart/items/{item}       remove the item (resets its count)
//	POST   /cart/tags/{tag}         add a tag
//	DELETE /cart/tags/{tag}         remove a tag
func (n *node) handler() http.Handler {
	mux := http.NewServeMux()
	rid := crdt.ReplicaID(n.id)
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		v, _, _ := n.snapshot()
		slices.Sort(v.Tags)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
	mux.HandleFunc("POST /cart/items/{item}", func(w http.ResponseWriter, r *http.Request) {
		q := 1
		if s := r.URL.Query().Get("n"); s != "" {
			var err error
			if q, err = strconv.Atoi(s); err != nil {
				http.Error(w, "n must be an integer", http.StatusBadRequest)
				return
			}
		}
		item := r.PathValue("item")
		n.mutate(func(c *cart) *cart {
			d := c.items.Update(item, func(p *crdt.PNCounter) *crdt.PNCounter {
				if q < 0 {
					return p.Dec(rid, uint64(-q))
				}
				return p.Inc(rid, uint64(q))
			})
			return &cart{items: *d}
		})
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /cart/items/{item}", func(w http.ResponseWriter, r *http.Request) {
		item := r.PathValue("item")
		n.mutate(func(c *cart) *cart { return &cart{items: *c.items.Remove(item)} })
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /cart/tags/{tag}", func(w http.ResponseWriter, r *http.Request) {
		tag := r.PathValue("tag")
		n.mutate(func(c *cart) *cart { return &cart{tags: *c.tags.Add(rid, tag)} })
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /cart/tags/{tag}", func(w http.ResponseWriter, r *http.Request) {
		tag := r.PathValue("tag")
		n.mutate(func(c *cart) *cart { return &cart{tags: *c.tags.Remove(tag)} })
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (n *node) String() string { return fmt.Sprintf("node %s", n.id) }

package memnet

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/distkit/distkit/transport"
)

// Endpoint is one node's transport.Transport on a Network. It starts no
// goroutines: Send decides the message's fate and either delivers it at once
// or hands it to the network's timer.
type Endpoint struct {
	net *Network
	id  transport.NodeID
	// ch is the node's bounded inbound queue and its Recv channel. It is
	// sent to and closed only under net.mu, so no send races the close.
	ch     chan transport.Message
	closed bool // guarded by net.mu
}

var _ transport.Transport = (*Endpoint)(nil)

// ID returns the node ID the Endpoint sends as.
func (e *Endpoint) ID() transport.NodeID { return e.id }

// Recv returns the node's inbound queue. It is the same channel for the
// Endpoint's whole life, across crashes and restarts, and is closed by Close.
func (e *Endpoint) Recv() <-chan transport.Message { return e.ch }

// Close closes the Endpoint: Send fails with transport.ErrClosed and the Recv
// channel is closed once the messages already in it are read. Messages
// still in flight toward it are dropped (DroppedClosed). It is idempotent
// and always returns nil. The ID may Join the network again afterwards.
func (e *Endpoint) Close() error {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	e.closeLocked()
	return nil
}

func (e *Endpoint) closeLocked() {
	if !e.closed {
		e.closed = true
		close(e.ch)
	}
}

// wipeLocked empties the queue of a crashing node. The receiver may be
// reading the channel at the same time; whatever it gets first was delivered
// before the crash.
func (e *Endpoint) wipeLocked() {
	for {
		select {
		case m := <-e.ch:
			s := &e.net.linkLocked(m.From, m.To).stats
			s.Delivered--
			s.DroppedCrash++
		default:
			return
		}
	}
}

// Send sends a copy of payload to the node to. It never blocks: the
// message's fate is decided now, from the link's fault model and the
// network's topology, and a message that is not dropped is either put in
// the receiver's queue before Send returns (zero delay) or scheduled on the
// network's timer. Send returns nil for a dropped message, as a real network
// would. It fails with ctx's error if ctx is done, transport.ErrClosed after
// Close, transport.ErrCrashed while the node is crashed,
// transport.ErrTooLarge above Config.MaxPayload, and
// transport.ErrUnknownPeer if to has never joined the network.
func (e *Endpoint) Send(ctx context.Context, to transport.NodeID, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := e.net
	if len(payload) > n.cfg.MaxPayload {
		return fmt.Errorf("memnet: %q send of %d bytes (limit %d): %w", e.id, len(payload), n.cfg.MaxPayload, transport.ErrTooLarge)
	}
	// Copy before taking the lock, so that concurrent senders do not wait
	// on each other's copies. The copy is never nil, so an empty payload
	// arrives the same way whether or not the sender passed nil.
	first := append(make([]byte, 0, len(payload)), payload...)

	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case e.closed:
		return fmt.Errorf("memnet: %q send: %w", e.id, transport.ErrClosed)
	case n.crashed[e.id]:
		return fmt.Errorf("memnet: %q send: %w", e.id, transport.ErrCrashed)
	}
	dst, ok := n.nodes[to]
	if !ok {
		return fmt.Errorf("memnet: %q send to %q: %w", e.id, to, transport.ErrUnknownPeer)
	}

	ls := n.linkLocked(e.id, to)
	ls.stats.Sent++
	l := n.defaultLink
	if ls.override != nil {
		l = *ls.override
	}
	// Draw every random value this send could need, whatever the link's
	// settings and topology, so that the k-th send on a link always
	// consumes the same stretch of the link's random stream. Changing the
	// loss rate then leaves the duplication and delay decisions alone.
	lossDraw := ls.rng.Float64()
	dupDraw := ls.rng.Float64()
	var delays [2]time.Duration
	for i := range delays {
		jitter := ls.rng.Float64()
		reorder := ls.rng.Float64()
		extra := ls.rng.Float64()
		d := addSat(l.Latency, time.Duration(jitter*float64(l.Jitter)))
		if reorder < l.Reorder {
			d = addSat(d, time.Duration(extra*float64(l.reorderDelay())))
		}
		delays[i] = d
	}

	switch {
	case n.blockedLocked(e.id, to):
		ls.stats.DroppedPartition++
		n.logDrop("partition", e.id, to)
		return nil
	case n.crashed[to]:
		ls.stats.DroppedCrash++
		n.logDrop("receiver crashed", e.id, to)
		return nil
	case dst.closed:
		ls.stats.DroppedClosed++
		n.logDrop("receiver closed", e.id, to)
		return nil
	case lossDraw < l.Loss:
		ls.stats.DroppedLoss++
		n.logDrop("loss", e.id, to)
		return nil
	}
	copies := 1
	if dupDraw < l.Duplicate {
		copies = 2
		ls.stats.Duplicated++
	}
	now := time.Now()
	for i := range copies {
		p := first
		if i > 0 {
			// The duplicate gets its own copy: a receiver may modify
			// the payload it is given.
			p = append(make([]byte, 0, len(payload)), payload...)
		}
		msg := transport.Message{From: e.id, To: to, Payload: p}
		if delays[i] == 0 {
			n.deliverLocked(msg, dst, ls)
			continue
		}
		n.scheduleLocked(&envelope{msg: msg, dst: dst, link: ls, at: now.Add(delays[i])})
	}
	return nil
}

// addSat returns a+b for non-negative durations, saturating at the largest
// Duration instead of wrapping negative. A wrapped delay would deliver a
// copy at once; the largest Duration means "not in this run's lifetime",
// which is what a tester asking for a delay near math.MaxInt64 means.
// (Each scaled term is below 2^63: a Float64 draw is below 1, and
// multiplying by float64(d) ≤ 2^63 stays below 2^63.)
func addSat(a, b time.Duration) time.Duration {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

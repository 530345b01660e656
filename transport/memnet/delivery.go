package memnet

import (
	"container/heap"
	"context"
	"log/slog"
	"time"

	"github.com/distkit/distkit/transport"
)

// envelope is one copy of a message on its way to a receiver.
type envelope struct {
	msg  transport.Message
	dst  *Endpoint // the receiver's Endpoint when the copy was sent
	link *linkState
	at   time.Time // when the copy arrives
	seq  uint64    // schedule order, to break ties in at deterministically
}

// envelopeHeap orders copies by arrival time, then by the order they were
// scheduled, so that copies due at the same instant arrive in Send order.
type envelopeHeap []*envelope

func (h envelopeHeap) Len() int { return len(h) }
func (h envelopeHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h envelopeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *envelopeHeap) Push(x any)   { *h = append(*h, x.(*envelope)) }
func (h *envelopeHeap) Pop() any {
	old := *h
	env := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return env
}

// deliverLocked puts a copy in its receiver's queue, unless the topology, a
// crash, a close or a full queue stops it at the last moment.
func (n *Network) deliverLocked(msg transport.Message, dst *Endpoint, link *linkState) {
	s := &link.stats
	from, to := msg.From, msg.To
	switch {
	case n.blockedLocked(from, to):
		s.DroppedPartition++
		n.logDrop("partition", from, to)
	case n.crashed[to]:
		s.DroppedCrash++
		n.logDrop("receiver crashed", from, to)
	case dst.closed || n.nodes[to] != dst:
		s.DroppedClosed++
		n.logDrop("receiver closed", from, to)
	default:
		select {
		case dst.ch <- msg:
			s.Delivered++
		default:
			s.DroppedOverflow++
			n.logDrop("queue full", from, to)
		}
	}
}

// scheduleLocked queues a delayed copy and makes sure the timer fires for the
// earliest one.
func (n *Network) scheduleLocked(env *envelope) {
	n.seq++
	env.seq = n.seq
	env.link.stats.InFlight++
	heap.Push(&n.pending, env)
	if n.pending[0] == env {
		n.armLocked()
	}
}

// armLocked sets the timer for the earliest pending copy. Every scheduled run
// of the callback is counted in timerWG, so Close can wait for it: Reset on a
// timer whose callback has already started schedules a new run, and says so
// by returning false.
func (n *Network) armLocked() {
	if len(n.pending) == 0 {
		return
	}
	d := time.Until(n.pending[0].at)
	if n.timer == nil {
		n.timerWG.Add(1)
		n.timer = time.AfterFunc(d, n.fire)
		return
	}
	if !n.timer.Reset(d) {
		n.timerWG.Add(1)
	}
}

// fire runs on the timer: it delivers every copy that is due, in (at, seq)
// order, and re-arms the timer for the rest.
func (n *Network) fire() {
	defer n.timerWG.Done()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	now := time.Now()
	for len(n.pending) > 0 && !n.pending[0].at.After(now) {
		env := heap.Pop(&n.pending).(*envelope)
		env.link.stats.InFlight--
		n.deliverLocked(env.msg, env.dst, env.link)
	}
	n.armLocked()
}

// dropPendingLocked removes the in-flight copies that match and counts each
// with count.
func (n *Network) dropPendingLocked(match func(*envelope) bool, count func(*LinkStats)) {
	kept := n.pending[:0]
	for _, env := range n.pending {
		if match(env) {
			env.link.stats.InFlight--
			count(&env.link.stats)
			continue
		}
		kept = append(kept, env)
	}
	clear(n.pending[len(kept):])
	n.pending = kept
	heap.Init(&n.pending)
}

// logDrop logs one dropped copy at Debug. It checks the level first because
// building the attributes allocates, and drops are the hot path of a lossy
// test.
func (n *Network) logDrop(cause string, from, to transport.NodeID) {
	if n.log.Enabled(context.Background(), slog.LevelDebug) {
		n.log.Debug("memnet: drop", "cause", cause, "from", from, "to", to)
	}
}

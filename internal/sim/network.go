package sim

import (
	"fmt"
	"time"
)

// Link is the fault model of one directed link. Its zero value is a perfect
// link: no delay, no loss, no duplication.
//
// A message's delay is Delay, plus a uniform random amount in [0, Jitter],
// plus, with probability TailProb, an exponentially distributed amount with
// mean TailMean (the long tail of a real network: retransmits, GC pauses).
// Messages overtake each other whenever their random delays say so; that is
// how the network reorders.
type Link struct {
	// Delay is the fixed part of the one-way delay.
	Delay time.Duration
	// Jitter is the width of the uniform random part of the delay.
	Jitter time.Duration
	// TailProb is the probability, in [0, 1], that a message also gets a
	// long-tail delay.
	TailProb float64
	// TailMean is the mean of the exponential long-tail delay.
	TailMean time.Duration
	// Loss is the probability, in [0, 1], that a message is lost.
	Loss float64
	// Duplicate is the probability, in [0, 1], that a message that was
	// not lost is delivered twice. The copy has its own random delay.
	Duplicate float64
}

// Validate reports whether l is a usable link model.
func (l Link) Validate() error {
	if l.Delay < 0 || l.Jitter < 0 || l.TailMean < 0 {
		return fmt.Errorf("%w: negative delay in link %+v", ErrInvalidConfig, l)
	}
	if l.Delay > MaxDelay || l.Jitter > MaxDelay || l.TailMean > MaxDelay {
		return fmt.Errorf("%w: delay above MaxDelay in link %+v", ErrInvalidConfig, l)
	}
	for _, p := range []float64{l.TailProb, l.Loss, l.Duplicate} {
		if !(p >= 0 && p <= 1) { // Also rejects NaN.
			return fmt.Errorf("%w: probability %v outside [0, 1]", ErrInvalidConfig, p)
		}
	}
	return nil
}

// MaxDelay bounds each duration in a Link (about 36 years of virtual time),
// so that no sum of delays can overflow the clock.
const MaxDelay = time.Duration(1 << 60)

// link is a directed pair of node indices.
type link struct{ from, to int32 }

// SetNetwork replaces the default link model, which applies to every pair
// that SetLink has not overridden. Messages already in flight keep their
// delays.
func (s *Sim[M]) SetNetwork(l Link) error {
	if err := l.Validate(); err != nil {
		return err
	}
	s.net = l
	return nil
}

// SetLink overrides the link model of the directed link from -> to.
func (s *Sim[M]) SetLink(from, to NodeID, l Link) error {
	if err := l.Validate(); err != nil {
		return err
	}
	f, err := s.lookup(from)
	if err != nil {
		return err
	}
	t, err := s.lookup(to)
	if err != nil {
		return err
	}
	if s.links == nil {
		s.links = make(map[link]Link)
	}
	s.links[link{f, t}] = l
	return nil
}

// ResetLinks removes every SetLink override.
func (s *Sim[M]) ResetLinks() { s.links = nil }

// Partition splits the nodes into groups that cannot talk to each other.
// Nodes in the same group talk as before; nodes not named in any group form
// one more group together. It replaces any earlier partition but keeps the
// one-way cuts made by Cut. A node named twice is an error.
func (s *Sim[M]) Partition(groups ...[]NodeID) error {
	assign := make([]int32, len(s.nodes))
	for g, ids := range groups {
		for _, id := range ids {
			i, err := s.lookup(id)
			if err != nil {
				return err
			}
			if assign[i] != 0 {
				return fmt.Errorf("sim: node %q named in two partition groups", id)
			}
			assign[i] = int32(g + 1)
		}
	}
	for i := range s.nodes {
		s.group[i] = assign[i]
	}
	s.nextGroup = int32(len(groups) + 1)
	if s.tr.on() {
		b := s.tr.begin(s.now, "partition")
		for _, ids := range groups {
			b = append(b, " {"...)
			for k, id := range ids {
				if k > 0 {
					b = append(b, ' ')
				}
				b = append(b, id...)
			}
			b = append(b, '}')
		}
		s.tr.end(b)
	}
	return nil
}

// Isolate cuts the node off from every other node, in both directions, on
// top of the current partition. Heal undoes it.
func (s *Sim[M]) Isolate(id NodeID) error {
	i, err := s.lookup(id)
	if err != nil {
		return err
	}
	if s.nextGroup < int32(len(s.nodes)) {
		s.nextGroup = int32(len(s.nodes))
	}
	s.nextGroup++
	s.group[i] = s.nextGroup
	if s.tr.on() {
		s.tr.end(append(append(s.tr.begin(s.now, "isolate"), ' '), id...))
	}
	return nil
}

// Cut breaks the one-way link from -> to: messages from from to to are
// dropped, while to can still reach from. Heal or Uncut undoes it.
func (s *Sim[M]) Cut(from, to NodeID) error {
	f, t, err := s.pair(from, to)
	if err != nil {
		return err
	}
	if s.cuts == nil {
		s.cuts = make(map[link]struct{})
	}
	s.cuts[link{f, t}] = struct{}{}
	s.tracePair("cut", from, to)
	return nil
}

// Uncut restores the one-way link from -> to broken by Cut. It does not
// undo a partition.
func (s *Sim[M]) Uncut(from, to NodeID) error {
	f, t, err := s.pair(from, to)
	if err != nil {
		return err
	}
	delete(s.cuts, link{f, t})
	s.tracePair("uncut", from, to)
	return nil
}

// Heal removes every partition, isolation and cut: all nodes can reach all
// nodes again. Messages already dropped stay dropped.
func (s *Sim[M]) Heal() {
	for i := range s.nodes {
		s.group[i] = 0
	}
	s.cuts = nil
	if s.tr.on() {
		s.tr.end(s.tr.begin(s.now, "heal"))
	}
}

// Connected reports whether a message sent now from from to to would pass
// the partitions and cuts (it may still be lost at random).
func (s *Sim[M]) Connected(from, to NodeID) bool {
	f, t, err := s.pair(from, to)
	return err == nil && s.connected(f, t)
}

func (s *Sim[M]) pair(from, to NodeID) (int32, int32, error) {
	f, err := s.lookup(from)
	if err != nil {
		return 0, 0, err
	}
	t, err := s.lookup(to)
	if err != nil {
		return 0, 0, err
	}
	return f, t, nil
}

func (s *Sim[M]) tracePair(what string, from, to NodeID) {
	if s.tr.on() {
		b := append(s.tr.begin(s.now, what), ' ')
		s.tr.end(appendLink(b, from, to))
	}
}

func (s *Sim[M]) connected(f, t int32) bool {
	if s.group[f] != s.group[t] {
		return false
	}
	if len(s.cuts) != 0 {
		if _, cut := s.cuts[link{f, t}]; cut {
			return false
		}
	}
	return true
}

func (s *Sim[M]) linkModel(f, t int32) *Link {
	if len(s.links) != 0 {
		if l, ok := s.links[link{f, t}]; ok {
			return &l
		}
	}
	return &s.net
}

// delay draws one message delay from l.
func (s *Sim[M]) delay(l *Link) int64 {
	d := int64(l.Delay)
	if l.Jitter > 0 {
		d += s.rng.Int64N(int64(l.Jitter) + 1)
	}
	if l.TailProb > 0 && s.rng.Float64() < l.TailProb {
		tail := s.rng.ExpFloat64() * float64(l.TailMean)
		d += int64(min(tail, float64(MaxDelay)))
	}
	return d
}

// Drop reasons, as written in the trace.
const (
	reasonLost      = "lost"
	reasonPartition = "partition"
	reasonDown      = "down"
	reasonCrash     = "crash"
	reasonUnknown   = "unknown"
	reasonManual    = "manual"
	reasonFilter    = "filter"
)

// SetFilter installs f to decide, for every message sent from now on,
// whether the network carries it: f returning false drops the message
// (counted in Stats.DroppedFilter). It runs before the partition, liveness
// and loss checks, and sees each duplicate's original only. Use it for
// targeted faults, such as dropping one kind of message between two nodes.
// A nil f removes the filter. f must be deterministic and must not call the
// simulator.
func (s *Sim[M]) SetFilter(f func(from, to NodeID, msg M) bool) { s.filter = f }

// send routes one message from the node with index f through the network
// model: it is dropped now, or queued for delivery (possibly twice).
func (s *Sim[M]) send(f int32, to NodeID, msg M) {
	s.stats.Sent++
	s.nodes[f].stats.Sent++
	t, ok := s.index[to]
	if !ok {
		s.stats.DroppedUnknown++
		s.traceDrop(f, to, 0, msg, reasonUnknown)
		return
	}
	if s.filter != nil && !s.filter(s.nodes[f].id, to, msg) {
		s.stats.DroppedFilter++
		s.traceDrop(f, to, 0, msg, reasonFilter)
		return
	}
	if !s.connected(f, t) {
		s.stats.DroppedPartition++
		s.traceDrop(f, to, 0, msg, reasonPartition)
		return
	}
	if !s.up[t] {
		s.stats.DroppedDown++
		s.traceDrop(f, to, 0, msg, reasonDown)
		return
	}
	l := s.linkModel(f, t)
	if l.Loss > 0 && s.rng.Float64() < l.Loss {
		s.stats.Lost++
		s.traceDrop(f, to, 0, msg, reasonLost)
		return
	}
	dup := l.Duplicate > 0 && s.rng.Float64() < l.Duplicate
	s.enqueueMsg(f, t, s.now+s.delay(l), msg, "send")
	if dup {
		if s.cfg.Clone != nil {
			msg = s.cfg.Clone(msg)
		}
		s.stats.Duplicated++
		s.enqueueMsg(f, t, s.now+s.delay(l), msg, "dup")
	}
}

func (s *Sim[M]) enqueueMsg(f, t int32, at int64, msg M, what string) uint64 {
	seq := s.push(at, slot[M]{kind: slotMsg, from: f, to: t, msg: msg})
	s.stats.InFlight++
	if s.tr.on() {
		b := append(s.tr.begin(s.now, what), ' ')
		b = appendLink(b, s.nodes[f].id, s.nodes[t].id)
		b = append(b, " #"...)
		b = appendUint(b, seq)
		b = append(b, " at="...)
		b = appendTime(b, at)
		s.tr.end(s.tr.appendMsg(b, msg))
	}
	return seq
}

// traceDrop records a message dropped before or on arrival; seq is 0 for a
// message that was never queued.
func (s *Sim[M]) traceDrop(f int32, to NodeID, seq uint64, msg M, reason string) {
	if !s.tr.on() {
		return
	}
	b := append(s.tr.begin(s.now, "drop"), ' ')
	b = appendLink(b, s.nodes[f].id, to)
	if seq != 0 {
		b = append(b, " #"...)
		b = appendUint(b, seq)
	}
	b = append(b, ' ')
	b = append(b, reason...)
	s.tr.end(s.tr.appendMsg(b, msg))
}

package sim

import (
	"cmp"
	"slices"
	"time"
)

// Kind says what an executed event was.
type Kind uint8

// Event kinds.
const (
	// KindDeliver: a message reached its destination and was delivered.
	KindDeliver Kind = iota + 1
	// KindDrop: a message arrived on a link that a partition or cut had
	// broken after it was sent, and was discarded.
	KindDrop
	// KindTick: a node was ticked.
	KindTick
	// KindFunc: a function scheduled with At or After ran.
	KindFunc
)

// String returns the kind's name as written in the trace.
func (k Kind) String() string {
	switch k {
	case KindDeliver:
		return "deliver"
	case KindDrop:
		return "drop"
	case KindTick:
		return "tick"
	case KindFunc:
		return "func"
	}
	return "Kind(" + string(appendUint(nil, uint64(k))) + ")"
}

// Event describes one executed event, as returned by Step and
// DeliverPending.
type Event[M any] struct {
	// ID is the event's sequence number, unique within the simulation.
	// For a message it is the ID listed by Pending and shown in the trace.
	ID uint64
	// Time is the virtual time at which the event ran.
	Time time.Duration
	Kind Kind
	// From is the sender of a message (KindDeliver, KindDrop).
	From NodeID
	// To is the receiver of a message, or the ticked node (KindTick).
	To NodeID
	// Msg is the message (KindDeliver, KindDrop).
	Msg M
}

// Pending describes a message in flight, as listed by Pending.
type Pending[M any] struct {
	ID       uint64
	At       time.Duration // when it is scheduled to arrive
	From, To NodeID
	Msg      M
}

// push queues an event and returns its sequence number.
func (s *Sim[M]) push(at int64, sl slot[M]) uint64 {
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
		s.slots[i] = sl
	} else {
		i = int32(len(s.slots))
		s.slots = append(s.slots, sl)
	}
	s.seq++
	s.q.push(item{at: at, seq: s.seq, slot: i})
	return s.seq
}

// take returns an event's payload and recycles its slot, zeroing it so the
// simulator holds no reference to a delivered message.
func (s *Sim[M]) take(i int32) slot[M] {
	sl := s.slots[i]
	s.slots[i] = slot[M]{}
	s.free = append(s.free, i)
	return sl
}

func (s *Sim[M]) scheduleFirstTick(i int32) {
	if s.cfg.NoAutoTick {
		return
	}
	at := s.now + 1 + s.rng.Int64N(s.tick)
	s.push(at, slot[M]{kind: slotTick, to: i})
}

// Step runs the next event in virtual time, advancing the clock to it. It
// returns false when nothing is queued.
func (s *Sim[M]) Step() (Event[M], bool) {
	if s.q.len() == 0 {
		return Event[M]{}, false
	}
	it := s.q.pop()
	if it.at > s.now {
		s.now = it.at
	}
	ev := s.exec(it)
	s.tr.flush()
	return ev, true
}

// Run runs every event scheduled at or before the virtual time until, then
// sets the clock to until (if that is later). It returns the number of
// events run. Events that the run schedules before until run too, so with
// automatic ticks (which never stop) until must be finite.
func (s *Sim[M]) Run(until time.Duration) int {
	n := s.run(int64(until), nil)
	s.tr.flush()
	return n
}

// RunFor runs the simulation for d of virtual time: Run(Now() + d).
func (s *Sim[M]) RunFor(d time.Duration) int {
	return s.Run(s.Now() + d)
}

// RunUntil runs events until stop returns true or the clock would pass
// deadline. It calls stop before the first event and after each one, and
// reports whether stop returned true; the clock then stays at the time of
// the last event run. Otherwise the clock ends at deadline.
func (s *Sim[M]) RunUntil(stop func() bool, deadline time.Duration) bool {
	ok := stop() || s.run(int64(deadline), stop) < 0
	s.tr.flush()
	return ok
}

// run executes events up to until. With a stop function it returns -1 as
// soon as stop returns true.
func (s *Sim[M]) run(until int64, stop func() bool) int {
	n := 0
	for s.q.len() > 0 && s.q.items[0].at <= until {
		it := s.q.pop()
		if it.at > s.now {
			s.now = it.at
		}
		s.exec(it)
		n++
		if stop != nil && stop() {
			return -1
		}
	}
	if until > s.now {
		s.now = until
	}
	return n
}

// exec runs one event taken from the queue.
func (s *Sim[M]) exec(it item) Event[M] {
	s.stats.Events++
	sl := s.take(it.slot)
	ev := Event[M]{ID: it.seq, Time: time.Duration(s.now)}
	switch sl.kind {
	case slotMsg:
		s.stats.InFlight--
		ev.Kind = s.deliver(it.seq, sl.from, sl.to, sl.msg)
		ev.From, ev.To, ev.Msg = s.nodes[sl.from].id, s.nodes[sl.to].id, sl.msg
	case slotTick:
		ev.Kind, ev.To = KindTick, s.nodes[sl.to].id
		// A crash removes the node's tick from the queue, so a tick
		// here always belongs to a running node.
		s.tickNode(sl.to)
		if s.up[sl.to] {
			s.push(it.at+s.tick, slot[M]{kind: slotTick, to: sl.to})
		}
	case slotFunc:
		ev.Kind = KindFunc
		if s.tr.on() {
			s.tr.end(appendUint(append(s.tr.begin(s.now, "func"), " #"...), it.seq))
		}
		sl.fn()
	}
	return ev
}

// deliver hands a message that arrived to its destination, unless the link
// was cut while it was in flight.
func (s *Sim[M]) deliver(seq uint64, f, t int32, msg M) Kind {
	dst := &s.nodes[t]
	if !s.connected(f, t) {
		s.stats.DroppedPartition++
		s.traceDrop(f, dst.id, seq, msg, reasonPartition)
		return KindDrop
	}
	if !s.up[t] {
		// Unreachable while Crash empties the queue of messages to the
		// node it crashes; kept so that a future change cannot deliver
		// to a crashed node silently.
		s.stats.DroppedDown++
		s.traceDrop(f, dst.id, seq, msg, reasonDown)
		return KindDrop
	}
	s.stats.Delivered++
	dst.stats.Delivered++
	if s.tr.on() {
		b := append(s.tr.begin(s.now, "deliver"), ' ')
		b = appendLink(b, s.nodes[f].id, dst.id)
		b = appendUint(append(b, " #"...), seq)
		s.tr.end(s.tr.appendMsg(b, msg))
	}
	dst.node.Deliver(s.nodes[f].id, msg)
	s.drain(t)
	return KindDeliver
}

func (s *Sim[M]) tickNode(i int32) {
	s.stats.Ticks++
	n := &s.nodes[i]
	n.stats.Ticks++
	if s.tr.on() {
		s.tr.end(append(append(s.tr.begin(s.now, "tick"), ' '), n.id...))
	}
	n.node.Tick()
	s.drain(i)
}

// drain reads the node's outbox and sends everything in it.
func (s *Sim[M]) drain(i int32) {
	for _, e := range s.nodes[i].node.Outbox() {
		s.send(i, e.To, e.Msg)
	}
}

// At schedules fn to run at virtual time t (at Now if t is in the past),
// after any event already scheduled for the same time. Use it to script
// faults: s.At(2*time.Second, func() { s.Crash("n1") }). fn may call any
// method except Step and the Run methods.
func (s *Sim[M]) At(t time.Duration, fn func()) {
	at := max(int64(t), s.now)
	s.push(at, slot[M]{kind: slotFunc, fn: fn})
}

// After schedules fn to run d of virtual time from now: At(Now()+d, fn).
func (s *Sim[M]) After(d time.Duration, fn func()) { s.At(s.Now()+d, fn) }

// Send sends msg from the node from to the node to through the network
// model, as if from's outbox had held it. Use it to inject client requests
// or forged traffic. from must have been added and be up.
func (s *Sim[M]) Send(from, to NodeID, msg M) error {
	f, err := s.lookup(from)
	if err != nil {
		return err
	}
	if !s.up[f] {
		return ErrNodeDown
	}
	s.send(f, to, msg)
	s.tr.flush()
	return nil
}

// Collect reads the node's outbox now and sends what is in it. Call it after
// giving a node input directly (a proposal, a configuration change) rather
// than through Deliver or Tick.
func (s *Sim[M]) Collect(id NodeID) error {
	i, err := s.lookup(id)
	if err != nil {
		return err
	}
	if !s.up[i] {
		return ErrNodeDown
	}
	s.drain(i)
	s.tr.flush()
	return nil
}

// Tick ticks the node now, outside its schedule, and sends what it outputs.
func (s *Sim[M]) Tick(id NodeID) error {
	i, err := s.lookup(id)
	if err != nil {
		return err
	}
	if !s.up[i] {
		return ErrNodeDown
	}
	s.tickNode(i)
	s.tr.flush()
	return nil
}

// Crash crashes the node now. Every message in flight to it is dropped, its
// unread outbox is discarded, its ticks stop, and if it implements Crasher
// its Crash method is called. Messages it sent before crashing stay in
// flight. Messages sent to it while it is down are dropped. Crashing a node
// that is down does nothing.
func (s *Sim[M]) Crash(id NodeID) error {
	i, err := s.lookup(id)
	if err != nil {
		return err
	}
	n := &s.nodes[i]
	if !s.up[i] {
		return nil
	}
	s.stats.Crashes++
	n.stats.Crashes++
	if s.tr.on() {
		s.tr.end(append(append(s.tr.begin(s.now, "crash"), ' '), id...))
	}
	// Remove the node's queued events in one pass and rebuild the heap,
	// which is linear however many there are.
	kept := s.q.items[:0]
	for _, it := range s.q.items {
		sl := &s.slots[it.slot]
		if sl.to != i || sl.kind == slotFunc {
			kept = append(kept, it)
			continue
		}
		if sl.kind == slotMsg {
			s.stats.InFlight--
			s.stats.DroppedCrash++
			s.traceDrop(sl.from, id, it.seq, sl.msg, reasonCrash)
		}
		s.take(it.slot)
	}
	clear(s.q.items[len(kept):])
	s.q.items = kept
	s.q.heapify()
	for _, e := range n.node.Outbox() {
		s.stats.Sent++
		n.stats.Sent++
		s.stats.DroppedCrash++
		s.traceDrop(i, e.To, 0, e.Msg, reasonCrash)
	}
	s.up[i] = false
	if n.crasher != nil {
		n.crasher.Crash()
	}
	s.tr.flush()
	return nil
}

// Restart brings a crashed node back: it calls the node's Restart method if
// it implements Crasher, sends what the node outputs, and resumes its ticks
// (the first within one TickInterval). Restarting a running node does
// nothing.
func (s *Sim[M]) Restart(id NodeID) error {
	i, err := s.lookup(id)
	if err != nil {
		return err
	}
	n := &s.nodes[i]
	if s.up[i] {
		return nil
	}
	s.up[i] = true
	s.stats.Restarts++
	if s.tr.on() {
		s.tr.end(append(append(s.tr.begin(s.now, "restart"), ' '), id...))
	}
	if n.crasher != nil {
		n.crasher.Restart()
	}
	s.drain(i)
	s.scheduleFirstTick(i)
	s.tr.flush()
	return nil
}

// Pending lists the messages in flight, in the order they would arrive.
// Together with DeliverPending, DropPending and DuplicatePending it lets a
// test (a rapid state machine, say) choose the network's every move instead
// of leaving it to the clock.
func (s *Sim[M]) Pending() []Pending[M] {
	var out []Pending[M]
	var order []item
	for _, it := range s.q.items {
		if s.slots[it.slot].kind == slotMsg {
			order = append(order, it)
		}
	}
	slices.SortFunc(order, func(a, b item) int {
		if a.at != b.at {
			return cmp.Compare(a.at, b.at)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out = make([]Pending[M], len(order))
	for k, it := range order {
		sl := &s.slots[it.slot]
		out[k] = Pending[M]{
			ID: it.seq, At: time.Duration(it.at),
			From: s.nodes[sl.from].id, To: s.nodes[sl.to].id, Msg: sl.msg,
		}
	}
	return out
}

// findMsg returns the heap position of the in-flight message id.
func (s *Sim[M]) findMsg(id uint64) (int, error) {
	for k, it := range s.q.items {
		if it.seq == id && s.slots[it.slot].kind == slotMsg {
			return k, nil
		}
	}
	return 0, ErrNoSuchMessage
}

// DeliverPending delivers the in-flight message id now, ahead of its
// scheduled time and without moving the clock. Partitions still apply: if
// the link is cut now the message is dropped and the event's Kind is
// KindDrop.
func (s *Sim[M]) DeliverPending(id uint64) (Event[M], error) {
	k, err := s.findMsg(id)
	if err != nil {
		return Event[M]{}, err
	}
	ev := s.exec(s.q.removeAt(k))
	s.tr.flush()
	return ev, nil
}

// DropPending drops the in-flight message id.
func (s *Sim[M]) DropPending(id uint64) error {
	k, err := s.findMsg(id)
	if err != nil {
		return err
	}
	it := s.q.removeAt(k)
	sl := s.take(it.slot)
	s.stats.InFlight--
	s.stats.DroppedManual++
	s.traceDrop(sl.from, s.nodes[sl.to].id, it.seq, sl.msg, reasonManual)
	s.tr.flush()
	return nil
}

// DuplicatePending puts a copy of the in-flight message id in flight,
// scheduled to arrive right after the original, and returns the copy's ID.
func (s *Sim[M]) DuplicatePending(id uint64) (uint64, error) {
	k, err := s.findMsg(id)
	if err != nil {
		return 0, err
	}
	it := s.q.items[k]
	sl := s.slots[it.slot]
	msg := sl.msg
	if s.cfg.Clone != nil {
		msg = s.cfg.Clone(msg)
	}
	s.stats.Duplicated++
	seq := s.enqueueMsg(sl.from, sl.to, it.at, msg, "dup")
	s.tr.flush()
	return seq, nil
}

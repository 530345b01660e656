package raft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// applyItem is one unit of work for the apply goroutine, in log order:
// committed entries (with the calls waiting for them), a snapshot to
// restore, a read to release once applied, or a call whose entry was
// applied before the loop learnt where it landed.
type applyItem struct {
	ents  []Entry
	waits []*request // calls for some of ents, in index order
	// snapshot asks for a state machine snapshot after ents, with cs the
	// membership at their last index.
	snapshot bool
	cs       ConfState
	snap     *Snapshot
	read     *readBatch
	late     *request
}

// resultRingSize is how many recent results the apply goroutine remembers
// for calls whose placement arrives after their entry was applied.
const resultRingSize = 4096

type ringEntry struct {
	index, term uint64
	result      any
}

// applier runs the state machine on its own goroutine, so a slow state
// machine delays reads and results but not consensus.
type applier struct {
	n *Node

	mu    sync.Mutex
	queue []applyItem
	spare []applyItem
	wake  chan struct{}

	// Owned by the apply goroutine (and by NewNode and Close when it does
	// not run).
	reads    []*readBatch
	cmds     []Command
	cmdWaits []int // for each command, its position in the item's ents
	ring     []ringEntry
	sessions sessionTable
	results  []any // per entry of the item being applied
	dups     []int // positions of duplicate session requests in the item

	snapshotting atomic.Bool
	// appliedBytes counts the entry bytes applied, against the loop's
	// handedBytes.
	appliedBytes atomic.Uint64
}

func (a *applier) init(n *Node) {
	a.n = n
	a.wake = make(chan struct{}, 1)
	a.ring = make([]ringEntry, resultRingSize)
	a.sessions.init(n.cfg.MaxSessions)
}

func (a *applier) start() {
	a.n.wg.Add(1)
	go a.run()
}

func (a *applier) enqueue(it applyItem) {
	a.mu.Lock()
	a.queue = append(a.queue, it)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *applier) run() {
	n := a.n
	defer n.wg.Done()
	for {
		select {
		case <-a.wake:
		case <-n.ctx.Done():
			return
		}
		a.mu.Lock()
		items := a.queue
		a.queue = a.spare[:0]
		a.mu.Unlock()
		for i := range items {
			if n.ctx.Err() != nil {
				// Stopping: Close answers what is left.
				a.requeue(items[i:])
				return
			}
			if err := a.process(&items[i]); err != nil {
				// The failed item's calls are answered by Close too.
				a.requeue(items[i:])
				n.setFatal(err)
				return
			}
			items[i] = applyItem{}
		}
		a.mu.Lock()
		a.spare = items[:0]
		a.mu.Unlock()
	}
}

// requeue puts unprocessed items back, for failAll.
func (a *applier) requeue(items []applyItem) {
	a.mu.Lock()
	a.queue = append(append([]applyItem(nil), items...), a.queue...)
	a.mu.Unlock()
}

func (a *applier) process(it *applyItem) error {
	switch {
	case it.snap != nil:
		if err := a.restore(it.snap); err != nil {
			return err
		}
		a.n.applied.Store(max(a.n.applied.Load(), it.snap.Meta.Index))
		clear(a.ring)
		a.releaseReads()
	case it.read != nil:
		if a.n.applied.Load() >= it.read.index {
			finishAll(it.read.reqs, nil)
		} else {
			a.mu.Lock()
			a.reads = append(a.reads, it.read)
			a.mu.Unlock()
		}
	case it.late != nil:
		r := it.late
		e := &a.ring[r.index%resultRingSize]
		switch {
		case e.index == r.index && e.term == r.term:
			r.finish(e.result, nil)
		case e.index == r.index:
			// Another entry was applied at its index: it was lost.
			r.finish(nil, ErrProposalDropped)
		default:
			r.finish(nil, ErrOutcomeUnknown)
		}
	case len(it.ents) > 0:
		if err := a.applyEntries(it); err != nil {
			return err
		}
		if it.snapshot {
			a.snapshot(it.ents[len(it.ents)-1].Index, it.cs)
		}
	}
	return nil
}

// applyEntries applies one batch of committed entries and answers the
// calls waiting for them.
func (a *applier) applyEntries(it *applyItem) error {
	n := a.n
	sessions := n.cfg.Sessions
	a.cmds = a.cmds[:0]
	a.cmdWaits = a.cmdWaits[:0]
	if cap(a.results) < len(it.ents) {
		a.results = make([]any, len(it.ents))
	}
	results := a.results[:len(it.ents)]
	clear(results)
	a.dups = a.dups[:0]
	for i := range it.ents {
		e := &it.ents[i]
		if e.Type != EntryNormal || len(e.Data) == 0 {
			continue
		}
		data := e.Data
		if sessions {
			sess, client, seq, cmd, ok := parseSessionHeader(data)
			if !ok {
				return fmt.Errorf("raft: entry %d has no valid session header (was NodeConfig.Sessions changed?)", e.Index)
			}
			// begin marks the request applied at once, so a copy later in
			// this same batch is a duplicate too.
			if sess && a.sessions.begin(client, seq) {
				a.dups = append(a.dups, i)
				continue
			}
			data = cmd
			if !sess && len(data) == 0 {
				continue
			}
		}
		a.cmds = append(a.cmds, Command{Index: e.Index, Term: e.Term, Data: data})
		a.cmdWaits = append(a.cmdWaits, i)
	}
	if len(a.cmds) > 0 {
		if err := n.sm.Apply(a.cmds); err != nil {
			return fmt.Errorf("raft: state machine Apply: %w", err)
		}
	}
	for k := range a.cmds {
		c := &a.cmds[k]
		i := a.cmdWaits[k]
		results[i] = c.Result
		a.ring[c.Index%resultRingSize] = ringEntry{index: c.Index, term: c.Term, result: c.Result}
		if sessions {
			if sess, client, seq, _, _ := parseSessionHeader(it.ents[i].Data); sess {
				a.sessions.setResult(client, seq, c.Result)
			}
		}
		c.Result, c.Data = nil, nil
	}
	for _, i := range a.dups {
		_, client, seq, _, _ := parseSessionHeader(it.ents[i].Data)
		res, err := a.sessions.answer(client, seq)
		results[i] = sessionAnswer{res, err}
	}
	last := it.ents[len(it.ents)-1].Index
	n.applied.Store(last)
	size := uint64(0)
	for i := range it.ents {
		size += uint64(len(it.ents[i].Data))
	}
	a.appliedBytes.Add(size)
	// Answer the waiting calls; it.waits and it.ents are both in index
	// order.
	first := it.ents[0].Index
	var now time.Time
	if n.metrics != nil && len(it.waits) > 0 {
		now = time.Now()
	}
	for _, r := range it.waits {
		res := results[r.index-first]
		// r may be reused as soon as it is answered: read it first.
		if !r.start.IsZero() && n.metrics != nil {
			n.metrics.CommitLatency(now.Sub(r.start))
		}
		if sa, ok := res.(sessionAnswer); ok {
			r.finish(sa.result, sa.err)
		} else {
			r.finish(res, nil)
		}
	}
	clear(results)
	a.releaseReads()
	if n.metrics != nil {
		if c := n.commit.Load(); c > last {
			n.metrics.ApplyLag(c - last)
		} else {
			n.metrics.ApplyLag(0)
		}
	}
	return nil
}

// sessionAnswer is the remembered answer to a duplicate session request.
type sessionAnswer struct {
	result any
	err    error
}

func (a *applier) releaseReads() {
	applied := a.n.applied.Load()
	a.mu.Lock()
	defer a.mu.Unlock()
	k := 0
	for _, rb := range a.reads {
		if rb.index <= applied {
			finishAll(rb.reqs, nil)
			continue
		}
		a.reads[k] = rb
		k++
	}
	clear(a.reads[k:])
	a.reads = a.reads[:k]
}

// failReads fails the reads waiting to be applied: after a quorum loss
// their index may never be reached.
func (a *applier) failReads(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, rb := range a.reads {
		finishAll(rb.reqs, err)
	}
	clear(a.reads)
	a.reads = a.reads[:0]
}

// failAll answers everything the apply goroutine left; Close calls it once
// the goroutine has exited.
func (a *applier) failAll(err error) {
	a.failReads(err)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, it := range a.queue {
		finishAll(it.waits, err)
		if it.read != nil {
			finishAll(it.read.reqs, err)
		}
		if it.late != nil {
			it.late.finish(nil, err)
		}
	}
	a.queue = nil
}

// Snapshot data, as stored and sent: a version byte (1), the length of the
// session table as a uvarint, the session table, then the state machine's
// snapshot.
const snapshotVersion = 1

// maxSessionTableBytes bounds the session table a snapshot may claim, so a
// corrupt length cannot make restore allocate without bound.
const maxSessionTableBytes = 1 << 30

// restore replaces the state machine and the session table with a
// snapshot's.
func (a *applier) restore(s *Snapshot) error {
	b := s.Data
	if len(b) == 0 || b[0] != snapshotVersion {
		return fmt.Errorf("%w: snapshot %d: unknown format", ErrCorrupt, s.Meta.Index)
	}
	tl, k := binary.Uvarint(b[1:])
	if k <= 0 || tl > uint64(len(b)-1-k) || tl > maxSessionTableBytes {
		return fmt.Errorf("%w: snapshot %d: bad session table length", ErrCorrupt, s.Meta.Index)
	}
	table := b[1+k : 1+k+int(tl)]
	if err := a.sessions.decode(table); err != nil {
		return fmt.Errorf("%w: snapshot %d: %w", ErrCorrupt, s.Meta.Index, err)
	}
	if err := a.n.sm.Restore(bytes.NewReader(b[1+k+int(tl):])); err != nil {
		return fmt.Errorf("raft: state machine Restore of snapshot %d: %w", s.Meta.Index, err)
	}
	if a.n.log != nil {
		a.n.log.Info("raft: restored snapshot", "id", string(a.n.id), "index", s.Meta.Index, "bytes", len(b))
	}
	return nil
}

// snapshot takes a state machine snapshot at index and writes it to the
// storage on another goroutine, then compacts the log. One runs at a time;
// a request while one runs is skipped (the next threshold asks again).
func (a *applier) snapshot(index uint64, cs ConfState) {
	n := a.n
	if !a.snapshotting.CompareAndSwap(false, true) {
		return
	}
	table := a.sessions.encode(nil)
	w, err := n.sm.Snapshot()
	if err != nil {
		a.snapshotting.Store(false)
		if n.log != nil {
			n.log.Error("raft: state machine Snapshot failed", "id", string(n.id), "index", index, "err", err)
		}
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer a.snapshotting.Store(false)
		err := a.writeSnapshot(index, cs, table, w)
		if err != nil && n.log != nil {
			n.log.Error("raft: snapshot failed", "id", string(n.id), "index", index, "err", err)
		}
	}()
}

func (a *applier) writeSnapshot(index uint64, cs ConfState, table []byte, w SnapshotWriter) error {
	n := a.n
	var buf bytes.Buffer
	buf.WriteByte(snapshotVersion)
	var hdr [binary.MaxVarintLen64]byte
	buf.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(table)))])
	buf.Write(table)
	err := w.WriteSnapshot(&buf)
	w.Release()
	if err != nil {
		return fmt.Errorf("writing the state machine: %w", err)
	}
	if err := n.st.CreateSnapshot(index, cs, buf.Bytes()); err != nil {
		if errors.Is(err, ErrCompacted) {
			// A newer snapshot arrived from the leader meanwhile.
			return nil
		}
		return err
	}
	if n.log != nil {
		n.log.Info("raft: took snapshot", "id", string(n.id), "index", index, "bytes", buf.Len())
	}
	keep := n.cfg.SnapshotKeepEntries
	if index <= keep {
		return nil
	}
	first, err := n.st.FirstIndex()
	if err != nil {
		return err
	}
	if c := index - keep; c >= first {
		if err := n.st.Compact(c); err != nil && !errors.Is(err, ErrCompacted) && !errors.Is(err, ErrUnavailable) {
			return err
		}
	}
	return nil
}

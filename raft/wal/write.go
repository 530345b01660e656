package wal

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// batch collects the records of every Save queued while a flush is under way,
// so that they share one write and one fsync.
type batch struct {
	buf   []byte
	ops   []op
	sync  bool          // fsync even if no records (Sync, Close)
	done  chan struct{} // closed once written (and synced, per mode)
	err   error         // set before done is closed
	marks []markOp      // compactions to finish once durable

	// Where buf landed, set by flush.
	baseSeg uint64
	baseOff int64
}

// op is an index change a batch makes once written.
type op struct {
	kind  recordType // recordEntry, recordTruncate or recordMark
	index uint64
	term  uint64
	reset bool
	off   int // entry: offset of the data within buf
	size  uint32
	vote  string // hard state
}

type markOp struct{ index uint64 }

func newBatch() *batch { return &batch{done: make(chan struct{})} }

func (b *batch) empty() bool { return len(b.buf) == 0 && !b.sync }

// Save appends entries and records hs (when non-nil) in one batch, and returns
// once they are written and, in SyncEveryBatch mode, fsynced. Entries must be
// consecutive; the first may be at or below LastIndex, in which case the log
// from that index on is replaced (a follower's conflicting suffix). Entries at
// or below the compaction mark are rejected.
//
// If ctx is done first Save returns ctx.Err(), but the batch may still be
// written: cancellation does not undo a write.
func (w *WAL) Save(ctx context.Context, hs *HardState, ents []Entry) error {
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	if err := w.checkEntriesLocked(ents); err != nil {
		w.mu.Unlock()
		return err
	}
	b := w.pending
	if len(ents) > 0 {
		first := ents[0].Index
		if first < w.nextIdx {
			b.buf = appendTruncateRecord(b.buf, first)
			b.ops = append(b.ops, op{kind: recordTruncate, index: first})
		}
		for _, e := range ents {
			var dataOff int
			b.buf, dataOff = appendEntryRecord(b.buf, e)
			b.ops = append(b.ops, op{kind: recordEntry, index: e.Index, term: e.Term, off: dataOff, size: uint32(len(e.Data))})
		}
		w.nextIdx = ents[len(ents)-1].Index + 1
	}
	if hs != nil {
		b.buf = appendHardStateRecord(b.buf, *hs)
		b.ops = append(b.ops, op{kind: recordHardState, term: hs.Term, index: hs.Commit, vote: hs.Vote})
		w.nextHS = *hs
	}
	return w.commit(ctx, b)
}

// Append assigns the next indexes to data, in order, appends them with the
// given term, and returns the first index once they are durable (per the sync
// mode). It is the call for many goroutines sharing one log: each gets its own
// indexes, and Appends queued while a flush is under way share its fsync.
func (w *WAL) Append(ctx context.Context, term uint64, data ...[]byte) (first uint64, err error) {
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return 0, err
	}
	first = w.nextIdx
	b := w.pending
	for i, d := range data {
		if len(d)+recordHeaderSize+2*10 > w.cfg.MaxRecordSize {
			w.mu.Unlock()
			return 0, fmt.Errorf("wal: entry of %d bytes exceeds MaxRecordSize %d", len(d), w.cfg.MaxRecordSize)
		}
		e := Entry{Index: first + uint64(i), Term: term, Data: d}
		var dataOff int
		b.buf, dataOff = appendEntryRecord(b.buf, e)
		b.ops = append(b.ops, op{kind: recordEntry, index: e.Index, term: term, off: dataOff, size: uint32(len(d))})
	}
	w.nextIdx += uint64(len(data))
	return first, w.commit(ctx, b)
}

func (w *WAL) checkEntriesLocked(ents []Entry) error {
	if len(ents) == 0 {
		return nil
	}
	first := ents[0].Index
	if first <= w.nextMark {
		return fmt.Errorf("%w: entry %d is at or below the compaction mark %d", ErrCompacted, first, w.nextMark)
	}
	if first > w.nextIdx {
		return fmt.Errorf("%w: first entry %d, next expected %d", ErrGap, first, w.nextIdx)
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].Index != ents[i-1].Index+1 {
			return fmt.Errorf("%w: entry %d follows entry %d", ErrGap, ents[i].Index, ents[i-1].Index)
		}
	}
	for _, e := range ents {
		if len(e.Data)+recordHeaderSize+2*10 > w.cfg.MaxRecordSize {
			return fmt.Errorf("wal: entry %d of %d bytes exceeds MaxRecordSize %d", e.Index, len(e.Data), w.cfg.MaxRecordSize)
		}
	}
	return nil
}

func (w *WAL) usableLocked() error {
	if w.closed {
		return ErrClosed
	}
	if w.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, w.failed)
	}
	return nil
}

// Compact discards the entries at or below index, which a snapshot now
// covers, and deletes the segment files that hold nothing else. index must not
// be above LastIndex.
func (w *WAL) Compact(ctx context.Context, index uint64) error {
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	last := w.markIdx + uint64(len(w.pos))
	if index > last || index >= w.nextIdx {
		w.mu.Unlock()
		return fmt.Errorf("%w: compact to %d beyond last index %d", ErrOutOfRange, index, last)
	}
	if index <= w.nextMark {
		w.mu.Unlock()
		return nil // already compacted that far
	}
	term, err := w.termLocked(index)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	w.queueMarkLocked(index, term, false)
	return w.commit(ctx, w.pending)
}

// ApplySnapshot discards the whole log and restarts it after a snapshot
// taken at (index, term): the next entry saved must be index+1. It is what a
// follower does when it installs a snapshot from its leader.
func (w *WAL) ApplySnapshot(ctx context.Context, index, term uint64) error {
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	if index < w.nextMark {
		w.mu.Unlock()
		return fmt.Errorf("%w: snapshot at %d below the compaction mark %d", ErrCompacted, index, w.nextMark)
	}
	w.queueMarkLocked(index, term, true)
	w.nextIdx = index + 1
	return w.commit(ctx, w.pending)
}

func (w *WAL) termLocked(i uint64) (uint64, error) {
	if i == w.markIdx {
		return w.markTerm, nil
	}
	// The entry may still sit in a queued batch.
	for k := len(w.pending.ops) - 1; k >= 0; k-- {
		if o := w.pending.ops[k]; o.kind == recordEntry && o.index == i {
			return o.term, nil
		}
	}
	p, err := w.positionLocked(i)
	if err != nil {
		return 0, err
	}
	return p.term, nil
}

func (w *WAL) queueMarkLocked(index, term uint64, reset bool) {
	b := w.pending
	b.buf = appendMarkRecord(b.buf, index, term, reset)
	b.ops = append(b.ops, op{kind: recordMark, index: index, term: term, reset: reset})
	// The hard state goes with the mark: once the mark is durable, the
	// segments before it are deleted, and with them any older copy of the
	// hard state, so the segment holding the mark must hold it too.
	hs := w.nextHS
	b.buf = appendHardStateRecord(b.buf, hs)
	b.ops = append(b.ops, op{kind: recordHardState, term: hs.Term, index: hs.Commit, vote: hs.Vote})
	b.marks = append(b.marks, markOp{index: index})
	b.sync = true // segments are removed only after the mark is durable
	w.nextMark = index
}

// Sync fsyncs everything written so far. In SyncEveryBatch mode Save already
// does; Sync is for the other modes.
func (w *WAL) Sync(ctx context.Context) error {
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	w.pending.sync = true
	return w.commit(ctx, w.pending)
}

// commit waits for batch b to be written. The first caller to find no flush
// under way becomes the flusher and writes every batch queued meanwhile; the
// others wait. Called with w.mu held; returns with it released.
func (w *WAL) commit(ctx context.Context, b *batch) error {
	if w.flushing {
		w.mu.Unlock()
		select {
		case <-b.done:
			return b.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.flushing = true
	for !w.pending.empty() {
		cur := w.pending
		w.pending = newBatch()
		w.mu.Unlock()
		err := w.flush(cur)
		w.mu.Lock()
		cur.err = err
		if err != nil && w.failed == nil {
			w.failed = err
			w.cfg.Logger.Error("wal: write failed; reopen to recover", "err", err)
		}
		if err == nil {
			w.applyLocked(cur)
		}
		close(cur.done)
		if w.failed != nil {
			// Fail everything queued behind the failure too.
			rest := w.pending
			w.pending = newBatch()
			rest.err = fmt.Errorf("%w: %w", ErrFailed, w.failed)
			close(rest.done)
		}
	}
	w.flushing = false
	w.mu.Unlock()
	if b.err != nil && !errors.Is(b.err, ErrFailed) {
		return fmt.Errorf("%w: %w", ErrFailed, b.err)
	}
	return b.err
}

// flush writes one batch to the active segment (starting a new one when it
// is full), fsyncs per the sync mode, and removes segments a compaction made
// obsolete. Only the flusher calls it, so it may touch the active segment
// without holding w.mu.
func (w *WAL) flush(b *batch) error {
	w.mu.Lock()
	act := w.segs[len(w.segs)-1]
	needRoll := len(b.buf) > 0 && act.size > segmentHeaderSize && act.size+int64(len(b.buf)) > w.cfg.SegmentSize
	w.mu.Unlock()
	if needRoll {
		var err error
		if act, err = w.roll(act); err != nil {
			return err
		}
	}
	base := act.size
	if len(b.buf) > 0 {
		if _, err := act.file.Write(b.buf); err != nil {
			return fmt.Errorf("wal: write %s: %w", act.name, err)
		}
		w.mu.Lock()
		act.size += int64(len(b.buf))
		w.unsynced = true
		w.mu.Unlock()
	}
	b.baseSeg, b.baseOff = act.seq, base
	if w.cfg.Sync == SyncEveryBatch || b.sync {
		if err := act.file.Sync(); err != nil {
			return fmt.Errorf("wal: sync %s: %w", act.name, err)
		}
		w.mu.Lock()
		w.unsynced = false
		w.mu.Unlock()
	}
	return nil
}

// roll seals the active segment and starts the next one, whose first
// records repeat the hard state and the compaction mark so that older
// segments can later be deleted without losing either.
func (w *WAL) roll(old *segment) (*segment, error) {
	if err := old.file.Sync(); err != nil {
		return nil, fmt.Errorf("wal: sync %s: %w", old.name, err)
	}
	seq := old.seq + 1
	name := segmentName(w.cfg.Dir, seq)
	f, err := w.cfg.FS.Create(name)
	if err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", name, err)
	}
	w.mu.Lock()
	hs, markIdx, markTerm := w.hs, w.markIdx, w.markTerm
	w.mu.Unlock()
	buf := appendSegmentHeader(nil, seq)
	buf = appendHardStateRecord(buf, hs)
	buf = appendMarkRecord(buf, markIdx, markTerm, false)
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: sync %s: %w", name, err)
	}
	if err := w.cfg.FS.SyncDir(w.cfg.Dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: sync %s: %w", w.cfg.Dir, err)
	}
	seg := &segment{seq: seq, name: name, file: f, size: int64(len(buf))}
	w.mu.Lock()
	w.segs = append(w.segs, seg)
	w.mu.Unlock()
	return seg, nil
}

// applyLocked makes a written batch visible: index updates, hard state, and
// deletion of segments that only held compacted entries.
func (w *WAL) applyLocked(b *batch) {
	for _, o := range b.ops {
		switch o.kind {
		case recordEntry:
			w.pos = append(w.pos, position{term: o.term, seg: b.baseSeg, off: b.baseOff + int64(o.off), size: o.size})
		case recordTruncate:
			if k := o.index - w.markIdx - 1; k < uint64(len(w.pos)) {
				w.pos = w.pos[:k]
			}
		case recordHardState:
			w.hs = HardState{Term: o.term, Commit: o.index, Vote: o.vote}
		case recordMark:
			last := w.markIdx + uint64(len(w.pos))
			if o.reset || o.index >= last {
				w.pos = w.pos[:0]
			} else {
				w.pos = append(w.pos[:0], w.pos[o.index-w.markIdx:]...)
			}
			w.markIdx, w.markTerm = o.index, o.term
		}
	}
	if len(b.marks) > 0 {
		w.removeObsoleteLocked()
	}
}

// removeObsoleteLocked deletes the oldest segments that hold no live entry.
// The active segment always stays. Failure to delete only leaves garbage that
// recovery skips, so it is logged, not fatal.
func (w *WAL) removeObsoleteLocked() {
	keepFrom := w.segs[len(w.segs)-1].seq
	if len(w.pos) > 0 {
		keepFrom = w.pos[0].seg
	}
	// Oldest first, with the directory synced after each removal: a power
	// cut then leaves a contiguous run of segments, never a hole.
	for len(w.segs) > 1 && w.segs[0].seq < keepFrom {
		s := w.segs[0]
		if err := w.cfg.FS.Remove(s.name); err != nil {
			w.cfg.Logger.Warn("wal: remove obsolete segment", "file", s.name, "err", err)
			return
		}
		s.file.Close()
		w.segs = w.segs[1:]
		if err := w.cfg.FS.SyncDir(w.cfg.Dir); err != nil {
			w.cfg.Logger.Warn("wal: sync directory after removing a segment", "dir", w.cfg.Dir, "err", err)
			return
		}
	}
}

func (w *WAL) syncPeriodically() {
	defer w.syncerWG.Done()
	t := time.NewTicker(w.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stopSync:
			return
		case <-t.C:
			w.mu.Lock()
			dirty := w.unsynced && w.failed == nil && !w.closed
			w.mu.Unlock()
			if dirty {
				_ = w.Sync(context.Background())
			}
		}
	}
}

// Close fsyncs what was written, stops the periodic syncer, and closes the
// segment files. It is idempotent.
func (w *WAL) Close() error {
	w.closeOnce.Do(func() {
		if w.stopSync != nil {
			close(w.stopSync)
			w.syncerWG.Wait()
		}
		w.mu.Lock()
		ok := w.failed == nil
		w.mu.Unlock()
		if ok {
			w.closeErr = w.Sync(context.Background())
		}
		w.mu.Lock()
		w.closed = true
		for _, s := range w.segs {
			if err := s.file.Close(); err != nil && w.closeErr == nil {
				w.closeErr = err
			}
		}
		w.mu.Unlock()
	})
	return w.closeErr
}

package raft

import (
	"errors"
	"fmt"
)

// raftLog is the core's view of the log: the durable part in Storage and,
// after it, the entries not yet known to be durable (unstable). An entry's
// Data is shared, never copied, and never modified.
type raftLog struct {
	storage Storage
	// unstable holds entries offset, offset+1, ... that have not been
	// acknowledged as durable by Advance. Entries below offset come from
	// storage. The backing array is never written below len(unstable): slices
	// of it handed out in messages and batches stay valid.
	unstable []Entry
	offset   uint64
	// snap is a snapshot received from the leader and not yet durable: it
	// replaces everything before offset, so storage's older entries are
	// hidden until it is persisted.
	snap *Snapshot
	// committed is the highest index known to be committed; applied the
	// highest index the caller has applied; applying the highest index
	// handed out to apply in the outstanding batch.
	committed uint64
	applied   uint64
	applying  uint64
}

func newRaftLog(s Storage, committed, applied uint64) (*raftLog, error) {
	snap, err := s.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	first, err := s.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	last, err := s.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	// A snapshot holds only committed entries, so its index is committed
	// even if the persisted commit index lags (a runtime may skip saving
	// a HardState whose only change is the commit index).
	committed = max(committed, snap.Meta.Index)
	if committed > last {
		return nil, fmt.Errorf("%w: persisted commit %d beyond last index %d", ErrStorage, committed, last)
	}
	if applied == 0 || applied < first-1 {
		// The state machine starts from the snapshot (or from nothing).
		applied = max(first-1, snap.Meta.Index)
	}
	if applied > committed {
		return nil, fmt.Errorf("%w: Config.Applied %d beyond persisted commit %d", ErrInvalidConfig, applied, committed)
	}
	return &raftLog{storage: s, offset: last + 1, committed: committed, applied: applied, applying: applied}, nil
}

func (l *raftLog) lastIndex() uint64 {
	if n := len(l.unstable); n > 0 {
		return l.offset + uint64(n) - 1
	}
	return l.offset - 1
}

// stableLast is the last index known durable and part of this log.
func (l *raftLog) stableLast() uint64 { return l.offset - 1 }

// term returns the term of the entry at i, and false if the log does not
// hold it (compacted, beyond the end, or a storage error).
func (l *raftLog) term(i uint64) (uint64, bool) {
	if i >= l.offset {
		if j := i - l.offset; j < uint64(len(l.unstable)) {
			return l.unstable[j].Term, true
		}
		return 0, false
	}
	if l.snap != nil {
		if i == l.snap.Meta.Index {
			return l.snap.Meta.Term, true
		}
		return 0, false
	}
	t, err := l.storage.Term(i)
	if err != nil {
		return 0, false
	}
	return t, true
}

func (l *raftLog) lastTerm() uint64 {
	t, _ := l.term(l.lastIndex())
	return t
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	lt, ok := l.term(i)
	return ok && lt == t
}

// isUpToDate reports whether a log ending at (index, term) is at least as
// up to date as this one (Raft §5.4.1).
func (l *raftLog) isUpToDate(index, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && index >= l.lastIndex())
}

// entries returns the entries in [lo, hi), capped at maxBytes (at least one).
// The result may alias the log and must not be modified or appended to.
func (l *raftLog) entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo >= hi {
		return nil, nil
	}
	if lo < l.offset && l.snap != nil {
		return nil, ErrCompacted
	}
	if lo >= l.offset {
		a, b := lo-l.offset, hi-l.offset
		if b > uint64(len(l.unstable)) {
			return nil, ErrUnavailable
		}
		return limitSize(l.unstable[a:b:b], maxBytes), nil
	}
	shi := min(hi, l.offset)
	ents, err := l.storage.Entries(lo, shi, maxBytes)
	if err != nil {
		return nil, err
	}
	if hi <= l.offset || uint64(len(ents)) < shi-lo {
		return ents, nil
	}
	// The range spans storage and unstable: join them in a new slice.
	size := uint64(0)
	for i := range ents {
		size += uint64(len(ents[i].Data))
	}
	b := hi - l.offset
	if b > uint64(len(l.unstable)) {
		return nil, ErrUnavailable
	}
	out := make([]Entry, len(ents), len(ents)+int(b))
	copy(out, ents)
	for _, e := range l.unstable[:b] {
		size += uint64(len(e.Data))
		if size > maxBytes {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

// append adds entries whose first index is at most lastIndex()+1, replacing
// everything from that index on.
func (l *raftLog) append(ents []Entry) {
	if len(ents) == 0 {
		return
	}
	first := ents[0].Index
	switch end := l.offset + uint64(len(l.unstable)); {
	case first == end:
		if len(l.unstable) == 0 {
			// Share the sender's array; the capacity cap makes the next
			// append copy instead of writing into it.
			l.unstable = ents[:len(ents):len(ents)]
			return
		}
		l.unstable = append(l.unstable, ents...)
	case first <= l.offset:
		// Everything unstable is replaced, and storage holds a suffix that
		// the next Persist step overwrites. (first is never at or below a
		// pending snapshot's index: those entries are committed.)
		l.offset = first
		l.unstable = ents[:len(ents):len(ents)]
	default:
		n := first - l.offset
		l.unstable = append(l.unstable[:n:n], ents...)
	}
}

// findConflict returns the index of the first entry of ents that this log
// does not hold with the same term, or 0 if it holds them all.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for i := range ents {
		if !l.matchTerm(ents[i].Index, ents[i].Term) {
			return ents[i].Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index j <= index whose term is at
// most term, stopping at the first index whose term is unknown. It lets a
// leader and follower skip a whole term of divergent entries per round trip.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	if li := l.lastIndex(); index > li {
		index = li
	}
	for ; index > 0; index-- {
		t, ok := l.term(index)
		if !ok {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// maybeAppend appends ents after (prevIndex, prevTerm) if the log holds that
// entry. It returns the last index known to match the leader, whether it
// matched, and the entries it actually appended (from the first conflict
// on). The caller advances the commit index.
func (l *raftLog) maybeAppend(prevIndex, prevTerm uint64, ents []Entry) (uint64, bool, []Entry, error) {
	if !l.matchTerm(prevIndex, prevTerm) {
		return 0, false, nil, nil
	}
	lastNew := prevIndex + uint64(len(ents))
	var appended []Entry
	if ci := l.findConflict(ents); ci != 0 {
		if ci <= l.committed {
			return 0, false, nil, fmt.Errorf("%w: entry %d conflicts with committed index %d", ErrCorrupt, ci, l.committed)
		}
		appended = ents[ci-prevIndex-1:]
		l.append(appended)
	}
	return lastNew, true, appended, nil
}

func (l *raftLog) commitTo(i uint64) bool {
	if i > l.committed {
		if li := l.lastIndex(); i > li {
			i = li
		}
		if i > l.committed {
			l.committed = i
			return true
		}
	}
	return false
}

// stableTo records that the entries up to (index, term) are durable, unless
// the entry was since replaced.
func (l *raftLog) stableTo(index, term uint64) {
	if index < l.offset {
		return
	}
	j := index - l.offset
	if j >= uint64(len(l.unstable)) || l.unstable[j].Term != term {
		return
	}
	l.unstable = l.unstable[j+1:]
	l.offset = index + 1
	if len(l.unstable) == 0 {
		l.unstable = nil
	}
}

// restore replaces the log with a snapshot received from the leader.
func (l *raftLog) restore(s *Snapshot) {
	l.snap = s
	l.unstable = nil
	l.offset = s.Meta.Index + 1
	l.committed = s.Meta.Index
	l.applying = max(l.applying, s.Meta.Index)
}

// firstIndex is the first index the log can serve entries for.
func (l *raftLog) firstIndex() uint64 {
	if l.snap != nil {
		return l.snap.Meta.Index + 1
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		return l.offset
	}
	return i
}

// errUnavailableOrCompacted reports whether err means the log cannot serve
// a range without a snapshot or a retry.
func errUnavailableOrCompacted(err error) bool {
	return errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable)
}

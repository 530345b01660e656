package raft

import (
	"fmt"
	"sync"
)

// Storage is the core's read access to the node's durable log. The core calls
// it only from its own methods (Step, Tick, Propose, Ready, Advance), never
// concurrently with itself, but the caller may write to the Storage from
// another goroutine while the core reads it: implementations must be safe for
// that. Entries handed to the core must not be modified afterwards.
//
// The log holds entries FirstIndex()..LastIndex(); entries before FirstIndex
// were compacted and the entry at FirstIndex()-1 is known only by its term.
type Storage interface {
	// InitialState returns the persisted HardState and the ConfState in
	// force at the latest snapshot's index (or the bootstrap one, if there
	// is no snapshot). Membership changes after it are entries in the log.
	InitialState() (HardState, ConfState, error)
	// Entries returns entries in [lo, hi), at least one if lo < hi, and
	// stops before the total Data size exceeds maxBytes.
	Entries(lo, hi, maxBytes uint64) ([]Entry, error)
	// Term returns the term of the entry at i, for i in
	// [FirstIndex()-1, LastIndex()]. It returns ErrCompacted below that range
	// and ErrUnavailable above it.
	Term(i uint64) (uint64, error)
	// FirstIndex returns the index of the first entry that may be read.
	FirstIndex() (uint64, error)
	// LastIndex returns the index of the last entry.
	LastIndex() (uint64, error)
	// Snapshot returns the latest snapshot, or an empty one. The core
	// sends it, in chunks, to followers that need compacted entries.
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage held in memory: for tests, benchmarks and
// embedders whose durability lies elsewhere. It is safe for concurrent use.
// Its zero value is an empty log; use NewMemoryStorage for clarity.
type MemoryStorage struct {
	mu sync.Mutex
	hs HardState
	cs ConfState
	// snapIndex and snapTerm identify the last compacted entry.
	snapIndex, snapTerm uint64
	// ents holds entries snapIndex+1 onward.
	ents []Entry
	// snap is the latest snapshot; entries up to its index may be
	// compacted.
	snap Snapshot
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage { return &MemoryStorage{} }

// InitialState implements Storage.
func (s *MemoryStorage) InitialState() (HardState, ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hs, s.cs.clone(), nil
}

// Entries implements Storage. The returned slice shares memory with the
// storage and has no spare capacity, so appending to it copies.
func (s *MemoryStorage) Entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lo <= s.snapIndex {
		return nil, ErrCompacted
	}
	last := s.snapIndex + uint64(len(s.ents))
	if hi > last+1 || lo > hi {
		return nil, fmt.Errorf("%w: entries [%d, %d) beyond last index %d", ErrUnavailable, lo, hi, last)
	}
	ents := s.ents[lo-s.snapIndex-1 : hi-s.snapIndex-1 : hi-s.snapIndex-1]
	return limitSize(ents, maxBytes), nil
}

// Term implements Storage.
func (s *MemoryStorage) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < s.snapIndex {
		return 0, ErrCompacted
	}
	if i == s.snapIndex {
		return s.snapTerm, nil
	}
	if i-s.snapIndex > uint64(len(s.ents)) {
		return 0, ErrUnavailable
	}
	return s.ents[i-s.snapIndex-1].Term, nil
}

// FirstIndex implements Storage.
func (s *MemoryStorage) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapIndex + 1, nil
}

// LastIndex implements Storage.
func (s *MemoryStorage) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapIndex + uint64(len(s.ents)), nil
}

// Snapshot implements Storage.
func (s *MemoryStorage) Snapshot() (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, nil
}

// Save durably records one batch's Persist step: the snapshot (replacing the
// whole log), the entries (replacing any conflicting suffix), then the
// ConfState and HardState if set. It is what a caller of the core does in
// the Persist step.
func (s *MemoryStorage) Save(p Persist) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Snapshot != nil {
		sn := *p.Snapshot
		sn.Meta.ConfState = sn.Meta.ConfState.clone()
		s.snap = sn
		s.snapIndex, s.snapTerm = sn.Meta.Index, sn.Meta.Term
		s.ents = nil
		s.cs = sn.Meta.ConfState.clone()
	}
	if err := s.appendLocked(p.Entries); err != nil {
		return err
	}
	if p.ConfState != nil {
		s.cs = p.ConfState.clone()
	}
	if !p.HardState.IsEmpty() {
		s.hs = p.HardState
	}
	return nil
}

// Append adds entries to the log, first removing any entries at or after
// the first new index. Entries must be contiguous.
func (s *MemoryStorage) Append(ents []Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendLocked(ents)
}

func (s *MemoryStorage) appendLocked(ents []Entry) error {
	if len(ents) == 0 {
		return nil
	}
	first := ents[0].Index
	last := s.snapIndex + uint64(len(s.ents))
	if first > last+1 {
		return fmt.Errorf("%w: append at %d leaves a gap after %d", ErrUnavailable, first, last)
	}
	if first <= s.snapIndex {
		// The head of the batch is already compacted: keep only the rest.
		skip := s.snapIndex + 1 - first
		if skip >= uint64(len(ents)) {
			return nil
		}
		ents = ents[skip:]
		first = ents[0].Index
	}
	if first <= last {
		// Truncate to first-1, never reusing the memory behind the cut: a
		// slice handed out earlier may still alias it.
		n := first - s.snapIndex - 1
		s.ents = append(s.ents[:n:n], ents...)
		return nil
	}
	s.ents = append(s.ents, ents...)
	return nil
}

// SetHardState records the HardState.
func (s *MemoryStorage) SetHardState(h HardState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hs = h
}

// CreateSnapshot records data as the snapshot of the state machine at
// index i (an applied, hence committed, index), with cs, the membership at
// i (Core.ConfStateAt). It does not compact; call Compact for that.
func (s *MemoryStorage) CreateSnapshot(i uint64, cs ConfState, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i <= s.snap.Meta.Index || i < s.snapIndex {
		return ErrCompacted
	}
	last := s.snapIndex + uint64(len(s.ents))
	if i > last {
		return fmt.Errorf("%w: snapshot at %d beyond last index %d", ErrUnavailable, i, last)
	}
	t := s.snapTerm
	if i > s.snapIndex {
		t = s.ents[i-s.snapIndex-1].Term
	}
	s.snap = Snapshot{Meta: SnapshotMeta{Index: i, Term: t, ConfState: cs.clone()}, Data: data}
	s.cs = cs.clone()
	return nil
}

// Compact discards entries up to and including i. The term of i is kept.
// i must not exceed the snapshot's index, so a follower that needs a
// discarded entry can always be sent the snapshot instead.
func (s *MemoryStorage) Compact(i uint64) error {
	// The new array is allocated (and zeroed) before taking the lock: for
	// a long log that takes far longer than the copy, and the node's loop
	// waits on the lock to save its next batch.
	s.mu.Lock()
	want := cap(s.ents)
	if i <= s.snapIndex {
		s.mu.Unlock()
		return ErrCompacted
	}
	s.mu.Unlock()
	fresh := make([]Entry, 0, want)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i <= s.snapIndex {
		return ErrCompacted
	}
	if i > s.snap.Meta.Index {
		return fmt.Errorf("%w: compact %d beyond snapshot index %d", ErrUnavailable, i, s.snap.Meta.Index)
	}
	off := i - s.snapIndex
	if off > uint64(len(s.ents)) {
		// The log was cut below the snapshot index (Append replaced its
		// suffix): the entry to compact to is not held.
		return fmt.Errorf("%w: compact %d beyond last index %d", ErrUnavailable, i, s.snapIndex+uint64(len(s.ents)))
	}
	s.snapTerm = s.ents[off-1].Term
	s.snapIndex = i
	// Copy the rest into a fresh array of the old capacity: slices handed
	// out earlier may alias the old one, and the log will likely grow back
	// to the size it had.
	keep := len(s.ents) - int(off)
	if cap(fresh) < keep || cap(fresh) < cap(s.ents)/2 {
		// The log grew or was replaced meanwhile.
		fresh = make([]Entry, 0, cap(s.ents))
	}
	s.ents = append(fresh, s.ents[off:]...)
	return nil
}

// limitSize returns the longest prefix of ents whose Data totals at most
// maxBytes, and at least one entry.
func limitSize(ents []Entry, maxBytes uint64) []Entry {
	if len(ents) <= 1 {
		return ents
	}
	size := uint64(len(ents[0].Data))
	for i := 1; i < len(ents); i++ {
		size += uint64(len(ents[i].Data))
		if size > maxBytes {
			return ents[:i:i]
		}
	}
	return ents
}

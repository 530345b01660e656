package wal

import (
	"fmt"
	"sync"
)

// Entry is one log entry. The WAL treats Data as opaque bytes.
type Entry struct {
	Index uint64
	Term  uint64
	Data  []byte
}

// HardState is the state a Raft node must not forget: its current term, the
// vote it cast in that term, and the highest index it knows is committed.
type HardState struct {
	Term   uint64
	Vote   string
	Commit uint64
}

// RecoveryReport says what Open found on disk.
type RecoveryReport struct {
	// Segments is the number of segment files read.
	Segments int
	// Entries is the number of live entries recovered.
	Entries int
	// TornTail is true when the last segment ended in a partial or
	// unsynced record that was cut off. Only writes that were never
	// acknowledged as synced can be lost this way.
	TornTail bool
	// TornFile and TornOffset say where the cut was made, and
	// TruncatedBytes how much was cut.
	TornFile       string
	TornOffset     int64
	TruncatedBytes int64
}

// position says where an entry's data lives on disk.
type position struct {
	term uint64
	seg  uint64 // segment sequence number
	off  int64  // offset of the data within the segment file
	size uint32 // length of the data
}

// segment is one open segment file.
type segment struct {
	seq  uint64
	name string // path
	file File
	size int64
}

// WAL is a segmented, crash-safe write-ahead log of entries plus the latest
// hard state. See the package documentation for the format and guarantees.
//
// A WAL is safe for concurrent use. Concurrent Saves are group-committed.
type WAL struct {
	cfg    Config
	report RecoveryReport

	// mu guards every field below it.
	mu       sync.Mutex
	segs     []*segment // oldest first; the last is the active one
	markIdx  uint64     // entries at or below it are compacted away
	markTerm uint64     // term of the entry at markIdx
	pos      []position // pos[i] is entry markIdx+1+i
	hs       HardState  // durable-on-write hard state as last written

	// Enqueue-side state: what the log looks like once every queued batch
	// is written. Save validates against it.
	nextIdx   uint64
	nextMark  uint64
	nextHS    HardState // the hard state once every queued batch is written
	pending   *batch
	flushing  bool
	failed    error
	closed    bool
	unsynced  bool // data written since the last fsync
	stopSync  chan struct{}
	syncerWG  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Report returns what Open found and repaired on disk.
func (w *WAL) Report() RecoveryReport { return w.report }

// FirstIndex returns the index of the first entry still in the log: one more
// than the last compaction or snapshot mark.
func (w *WAL) FirstIndex() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.markIdx + 1
}

// LastIndex returns the index of the last durable entry, or the compaction
// mark when the log is empty.
func (w *WAL) LastIndex() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.markIdx + uint64(len(w.pos))
}

// HardState returns the last hard state saved.
func (w *WAL) HardState() HardState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hs
}

// Mark returns the index and term of the last compaction or snapshot mark.
// Both are zero for a log that was never compacted.
func (w *WAL) Mark() (index, term uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.markIdx, w.markTerm
}

// Term returns the term of entry i. The term of the compaction mark itself is
// known too, as Raft's log-matching check needs it.
func (w *WAL) Term(i uint64) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i == w.markIdx {
		return w.markTerm, nil
	}
	p, err := w.positionLocked(i)
	if err != nil {
		return 0, err
	}
	return p.term, nil
}

func (w *WAL) positionLocked(i uint64) (position, error) {
	if i <= w.markIdx {
		return position{}, fmt.Errorf("%w: %d <= %d", ErrCompacted, i, w.markIdx)
	}
	if i > w.markIdx+uint64(len(w.pos)) {
		return position{}, fmt.Errorf("%w: %d > %d", ErrOutOfRange, i, w.markIdx+uint64(len(w.pos)))
	}
	return w.pos[i-w.markIdx-1], nil
}

// Entry returns entry i, read from disk.
func (w *WAL) Entry(i uint64) (Entry, error) {
	ents, err := w.Entries(i, i+1, 0)
	if err != nil {
		return Entry{}, err
	}
	return ents[0], nil
}

// Entries returns the entries in [lo, hi). When maxBytes is positive it
// stops before the total data size would exceed it, but always returns at
// least one entry.
func (w *WAL) Entries(lo, hi uint64, maxBytes int) ([]Entry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	if lo >= hi {
		return nil, fmt.Errorf("%w: empty range [%d, %d)", ErrOutOfRange, lo, hi)
	}
	if _, err := w.positionLocked(lo); err != nil {
		return nil, err
	}
	if _, err := w.positionLocked(hi - 1); err != nil {
		return nil, err
	}
	n := hi - lo
	ents := make([]Entry, 0, min(n, 1024))
	total := 0
	for i := lo; i < hi; i++ {
		p := w.pos[i-w.markIdx-1]
		if maxBytes > 0 && len(ents) > 0 && total+int(p.size) > maxBytes {
			break
		}
		seg := w.segmentLocked(p.seg)
		if seg == nil {
			return nil, fmt.Errorf("wal: entry %d points at missing segment %d", i, p.seg)
		}
		data := make([]byte, p.size)
		if p.size == 0 {
			ents = append(ents, Entry{Index: i, Term: p.term, Data: data})
			continue
		}
		if _, err := seg.file.ReadAt(data, p.off); err != nil {
			return nil, fmt.Errorf("wal: read entry %d from %s: %w", i, seg.name, err)
		}
		ents = append(ents, Entry{Index: i, Term: p.term, Data: data})
		total += int(p.size)
	}
	return ents, nil
}

func (w *WAL) segmentLocked(seq uint64) *segment {
	// Segments are few and sorted; the newest are read most.
	for i := len(w.segs) - 1; i >= 0; i-- {
		if w.segs[i].seq == seq {
			return w.segs[i]
		}
	}
	return nil
}

package raft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sync"

	"github.com/distkit/distkit/raft/wal"
)

// WALStorage is a Storage kept durably in a wal.WAL: the log and the
// HardState live in the WAL's segment files, snapshots in a
// wal.SnapshotStore and the ConfState in a small file, all in the WAL's
// directory. It has the write methods of MemoryStorage (Save, Append,
// SetHardState, CreateSnapshot, Compact), and each returns only once its
// change is durable (in the WAL's default SyncEveryBatch mode).
//
// The Storage methods take no context, so WALStorage calls the WAL with
// context.Background(): a write waits for its fsync however long the disk
// takes. A write that fails leaves the WAL refusing writes (wal.ErrFailed),
// and the core stops with ErrStorage: reopen the directory to recover.
//
// The latest snapshot's data is held in memory (the core reads it for every
// chunk it sends); older ones stay on disk up to the store's retention.
//
// # Encoding
//
// A raft Entry is stored as a wal.Entry with the same Index and Term whose
// Data is one byte holding the EntryType followed by the entry's Data, so
// every stored entry is at least one byte long. The HardState maps field by
// field onto wal.HardState (Vote as its string). A snapshot is a
// wal.SnapshotStore file whose metadata is one byte saying how it came (0
// made here by CreateSnapshot, 1 installed by Save) followed by the
// snapshot's ConfState in the ConfState file's encoding.
//
// The ConfState file, named "confstate", holds a version byte (1), then the
// voters, the learners, the learners to promote and the outgoing voters,
// each list as a count followed by each name's length and bytes (counts and
// lengths as uvarints), then a CRC32C (Castagnoli) of everything before it,
// little-endian. CreateSnapshot and an installed snapshot replace it with
// the snapshot's membership, so InitialState returns the membership at the
// latest snapshot, as the Storage contract asks. It is replaced whole: written as
// "confstate.tmp", fsynced, renamed over "confstate", and the directory
// fsynced, so a crash leaves either the old or the new one.
//
// # Ordering
//
// Save keeps the order Persist asks for. A snapshot goes first: its file is
// committed, then the ConfState file takes its membership, the HardState's
// commit index is raised to the snapshot's index if below, and the WAL
// discards its log behind a mark at the snapshot's index. Then, without a
// ConfState, the entries and the HardState go to the WAL in one write,
// entries first; a torn write keeps a prefix of the records, so the
// HardState is never durable without the entries before it. With a
// ConfState, Save writes the entries, then the ConfState file, then the
// HardState, each durable before the next starts.
//
// A crash in the middle of installing a snapshot leaves an installed
// snapshot file newer than the WAL's mark; OpenWALStorage finishes such an
// install.
//
// WALStorage is safe for concurrent use.
type WALStorage struct {
	w     *wal.WAL
	snaps *wal.SnapshotStore
	fs    wal.FS
	dir   string

	// wmu serializes ConfState and snapshot writes and is held across
	// their file I/O; mu guards cs and snap and is held only to read or
	// swap them, so readers (the core asking for the snapshot to send)
	// never wait for a snapshot being written. Lock order: wmu, then mu.
	wmu  sync.Mutex
	mu   sync.Mutex
	cs   ConfState
	snap Snapshot
}

const (
	confStateFile    = "confstate"
	confStateTmp     = "confstate.tmp"
	confStateVersion = 1
	// maxConfStateFile bounds what reading a corrupt ConfState file may
	// allocate: far above any real membership.
	maxConfStateFile = 16 << 20
)

// OpenWALStorage opens (or creates) the WAL in cfg.Dir, recovering it as
// wal.Open does, opens the snapshot store in the same directory (keeping
// wal.DefaultRetain snapshots), reads the ConfState and the latest snapshot,
// and finishes a snapshot install a crash interrupted. Zero fields of cfg
// take the wal package's defaults.
func OpenWALStorage(cfg wal.Config) (*WALStorage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.FS == nil {
		cfg.FS = wal.OSFS{}
	}
	w, err := wal.Open(cfg)
	if err != nil {
		return nil, err
	}
	s := &WALStorage{w: w, fs: cfg.FS, dir: cfg.Dir}
	if err := s.load(); err != nil {
		w.Close()
		return nil, err
	}
	return s, nil
}

// load reads the ConfState and the latest snapshot, and finishes an
// interrupted snapshot install.
func (s *WALStorage) load() error {
	var err error
	if s.snaps, err = wal.OpenSnapshots(wal.SnapshotConfig{Dir: s.dir, FS: s.fs}); err != nil {
		return err
	}
	if s.cs, err = readConfState(s.fs, s.dir); err != nil {
		return err
	}
	meta, r, err := s.snaps.Latest()
	if errors.Is(err, wal.ErrNoSnapshot) {
		return nil
	}
	if err != nil {
		return err
	}
	data, err := io.ReadAll(r) // the reader checks the checksum at the end
	r.Close()
	if err != nil {
		return fmt.Errorf("raft: read snapshot %d/%d: %w", meta.Index, meta.Term, err)
	}
	if len(meta.Metadata) == 0 || meta.Metadata[0] > snapInstalled {
		return fmt.Errorf("%w: snapshot %d/%d metadata kind", wal.ErrCorrupt, meta.Index, meta.Term)
	}
	cs, err := decodeConfState(meta.Metadata[1:])
	if err != nil {
		return fmt.Errorf("raft: snapshot %d/%d metadata: %w", meta.Index, meta.Term, err)
	}
	s.snap = Snapshot{Meta: SnapshotMeta{Index: meta.Index, Term: meta.Term, ConfState: cs}, Data: data}
	if mark, _ := s.w.Mark(); meta.Metadata[0] == snapInstalled && meta.Index > mark {
		// An install was cut short after the snapshot file was
		// committed: the log must still be replaced.
		return s.installLocked(s.snap)
	}
	return nil
}

// How a snapshot came, the first byte of its metadata.
const (
	snapLocal     = 0 // CreateSnapshot: the log still holds what it covers
	snapInstalled = 1 // Save: the log is replaced by it
)

// WAL returns the underlying log, for its recovery report and statistics.
// Writing to it directly bypasses the entry encoding and must be avoided.
func (s *WALStorage) WAL() *wal.WAL { return s.w }

// Close closes the WAL. It is idempotent.
func (s *WALStorage) Close() error { return s.w.Close() }

// InitialState implements Storage.
func (s *WALStorage) InitialState() (HardState, ConfState, error) {
	h := s.w.HardState()
	s.mu.Lock()
	defer s.mu.Unlock()
	return HardState{Term: h.Term, Vote: NodeID(h.Vote), Commit: h.Commit}, s.cs.clone(), nil
}

// Entries implements Storage. Entries are read from the segment files; the
// returned slice has no spare capacity.
func (s *WALStorage) Entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo < s.w.FirstIndex() {
		return nil, ErrCompacted
	}
	last := s.w.LastIndex()
	if hi > last+1 || lo > hi {
		return nil, fmt.Errorf("%w: entries [%d, %d) beyond last index %d", ErrUnavailable, lo, hi, last)
	}
	if lo == hi {
		return nil, nil
	}
	// Each stored entry is one byte longer than its raft Data, so a WAL
	// limit of maxBytes plus one byte per entry returns at least the prefix
	// the raft limit allows; limitSize then cuts it exactly as
	// MemoryStorage does.
	walMax := 0 // the WAL's "no limit"
	if maxBytes < math.MaxInt-(hi-lo) {
		walMax = int(maxBytes + (hi - lo))
	}
	wents, err := s.w.Entries(lo, hi, walMax)
	if err != nil {
		return nil, mapWALError(err)
	}
	ents := make([]Entry, len(wents))
	for i, we := range wents {
		if len(we.Data) == 0 {
			return nil, fmt.Errorf("%w: entry %d has no type byte", wal.ErrCorrupt, we.Index)
		}
		ents[i] = Entry{Index: we.Index, Term: we.Term, Type: EntryType(we.Data[0]), Data: we.Data[1:]}
	}
	return limitSize(ents, maxBytes), nil
}

// Term implements Storage.
func (s *WALStorage) Term(i uint64) (uint64, error) {
	t, err := s.w.Term(i)
	if err != nil {
		return 0, mapWALError(err)
	}
	return t, nil
}

// FirstIndex implements Storage.
func (s *WALStorage) FirstIndex() (uint64, error) { return s.w.FirstIndex(), nil }

// LastIndex implements Storage.
func (s *WALStorage) LastIndex() (uint64, error) { return s.w.LastIndex(), nil }

// Snapshot implements Storage. The Data is shared and must not be modified.
func (s *WALStorage) Snapshot() (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, nil
}

// Save durably records one batch's Persist step, in its order: the
// snapshot if not nil (replacing the whole log and the ConfState), the
// entries (replacing any stored entries from the first one's index on;
// entries at or below the compaction mark are skipped), then the ConfState
// if not nil, then the HardState if not empty. A snapshot older than the
// latest one is refused with ErrCompacted.
func (s *WALStorage) Save(p Persist) error {
	ctx := context.Background()
	if p.Snapshot != nil {
		if err := s.installSnapshot(*p.Snapshot); err != nil {
			return err
		}
	}
	ents := s.skipCompacted(p.Entries)
	var hs *wal.HardState
	if !p.HardState.IsEmpty() {
		hs = &wal.HardState{Term: p.HardState.Term, Vote: string(p.HardState.Vote), Commit: p.HardState.Commit}
	}
	if p.ConfState == nil {
		if len(ents) == 0 && hs == nil {
			return nil
		}
		return mapWALError(s.w.Save(ctx, hs, encodeEntries(ents)))
	}
	if len(ents) > 0 {
		if err := s.w.Save(ctx, nil, encodeEntries(ents)); err != nil {
			return mapWALError(err)
		}
	}
	s.wmu.Lock()
	err := s.setConfStateLocked(*p.ConfState)
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	if hs != nil {
		return mapWALError(s.w.Save(ctx, hs, nil))
	}
	return nil
}

// Append durably adds entries to the log, first removing any entries at or
// after the first new index. Entries must be contiguous.
func (s *WALStorage) Append(ents []Entry) error { return s.Save(Persist{Entries: ents}) }

// SetHardState durably records the HardState.
func (s *WALStorage) SetHardState(h HardState) error { return s.Save(Persist{HardState: h}) }

// CreateSnapshot durably records data as the snapshot of the state machine
// at index i (an applied, hence committed, index), with cs, the membership
// at i (Core.ConfStateAt), which InitialState then returns. It does not
// compact; call Compact for that. Like
// MemoryStorage.CreateSnapshot, it returns ErrCompacted for an index not
// newer than the latest snapshot or below the log, and ErrUnavailable
// beyond the last index.
func (s *WALStorage) CreateSnapshot(i uint64, cs ConfState, data []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	cur := s.snap.Meta.Index
	s.mu.Unlock()
	if mark, _ := s.w.Mark(); i <= cur || i < mark {
		return ErrCompacted
	}
	if last := s.w.LastIndex(); i > last {
		return fmt.Errorf("%w: snapshot at %d beyond last index %d", ErrUnavailable, i, last)
	}
	t, err := s.w.Term(i)
	if err != nil {
		return mapWALError(err)
	}
	// The ConfState goes first. A crash before the snapshot file is
	// committed leaves the membership at i beside an older snapshot, which
	// is harmless: the conf change entries after that snapshot, which the
	// core replays on restart, each carry the whole membership they lead
	// to.
	if err := s.setConfStateLocked(cs); err != nil {
		return err
	}
	sn := Snapshot{Meta: SnapshotMeta{Index: i, Term: t, ConfState: cs.clone()}, Data: data}
	if err := s.writeSnapshotLocked(sn, snapLocal); err != nil {
		return err
	}
	s.mu.Lock()
	s.snap = sn
	s.mu.Unlock()
	return nil
}

// Compact discards entries up to and including i, and deletes the segment
// files that held only those. The term of i is kept. Like
// MemoryStorage.Compact, it returns ErrCompacted if i is already compacted
// and ErrUnavailable beyond the latest snapshot's index, so a follower that
// needs a discarded entry can always be sent the snapshot instead.
func (s *WALStorage) Compact(i uint64) error {
	if i < s.w.FirstIndex() {
		return ErrCompacted
	}
	s.mu.Lock()
	snapIndex := s.snap.Meta.Index
	s.mu.Unlock()
	if i > snapIndex {
		return fmt.Errorf("%w: compact %d beyond snapshot index %d", ErrUnavailable, i, snapIndex)
	}
	return mapWALError(s.w.Compact(context.Background(), i))
}

// installSnapshot makes sn the latest snapshot and discards the whole log
// behind it: snapshot file, then ConfState, commit index and the WAL's mark.
func (s *WALStorage) installSnapshot(sn Snapshot) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	cur := s.snap.Meta.Index
	s.mu.Unlock()
	if sn.Meta.Index < cur {
		return fmt.Errorf("%w: snapshot at %d older than the latest at %d", ErrCompacted, sn.Meta.Index, cur)
	}
	sn.Meta.ConfState = sn.Meta.ConfState.clone()
	if err := s.writeSnapshotLocked(sn, snapInstalled); err != nil {
		return err
	}
	s.mu.Lock()
	s.snap = sn
	s.mu.Unlock()
	return s.installLocked(sn)
}

// installLocked sets the ConfState to the snapshot's, raises the
// HardState's commit index to the snapshot's index if below (a snapshot
// covers only committed entries, and a Core refuses to start with its
// snapshot beyond the persisted commit), and restarts the log after it.
// The commit goes first: the install is finished at open until the log's
// mark reaches the snapshot, so the mark never stands without it. s.wmu is
// held (or the storage is being opened).
func (s *WALStorage) installLocked(sn Snapshot) error {
	if err := s.setConfStateLocked(sn.Meta.ConfState); err != nil {
		return err
	}
	ctx := context.Background()
	if hs := s.w.HardState(); hs.Commit < sn.Meta.Index {
		hs.Commit = sn.Meta.Index
		if err := s.w.Save(ctx, &hs, nil); err != nil {
			return mapWALError(err)
		}
	}
	return mapWALError(s.w.ApplySnapshot(ctx, sn.Meta.Index, sn.Meta.Term))
}

// writeSnapshotLocked commits sn to the snapshot store. s.wmu is held.
func (s *WALStorage) writeSnapshotLocked(sn Snapshot, kind byte) error {
	md := appendConfState([]byte{kind}, sn.Meta.ConfState)
	sw, err := s.snaps.Create(wal.SnapshotMeta{Index: sn.Meta.Index, Term: sn.Meta.Term, Metadata: md})
	if err != nil {
		return err
	}
	if _, err := sw.Write(sn.Data); err != nil {
		sw.Abort()
		return err
	}
	return sw.Commit()
}

// skipCompacted drops the head of ents at or below the compaction mark, as
// MemoryStorage does: those entries are covered by a snapshot.
func (s *WALStorage) skipCompacted(ents []Entry) []Entry {
	if len(ents) == 0 {
		return nil
	}
	mark, _ := s.w.Mark()
	if ents[0].Index > mark {
		return ents
	}
	skip := mark + 1 - ents[0].Index
	if skip >= uint64(len(ents)) {
		return nil
	}
	return ents[skip:]
}

func encodeEntries(ents []Entry) []wal.Entry {
	if len(ents) == 0 {
		return nil
	}
	out := make([]wal.Entry, len(ents))
	for i, e := range ents {
		data := make([]byte, 1+len(e.Data))
		data[0] = byte(e.Type)
		copy(data[1:], e.Data)
		out[i] = wal.Entry{Index: e.Index, Term: e.Term, Data: data}
	}
	return out
}

// mapWALError translates the WAL's range errors into the ones the Storage
// contract names, keeping the WAL's message.
func mapWALError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wal.ErrCompacted):
		return fmt.Errorf("%w: %w", ErrCompacted, err)
	case errors.Is(err, wal.ErrOutOfRange), errors.Is(err, wal.ErrGap):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// setConfStateLocked replaces the ConfState file atomically and durably,
// then the in-memory copy. s.wmu is held (or the storage is being opened).
func (s *WALStorage) setConfStateLocked(cs ConfState) error {
	tmp, name := filepath.Join(s.dir, confStateTmp), filepath.Join(s.dir, confStateFile)
	f, err := s.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("raft: create %s: %w", tmp, err)
	}
	_, werr := f.Write(appendConfState(nil, cs))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("raft: write %s: %w", tmp, werr)
	}
	if err := s.fs.Rename(tmp, name); err != nil {
		return fmt.Errorf("raft: rename %s: %w", tmp, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("raft: sync %s: %w", s.dir, err)
	}
	s.mu.Lock()
	s.cs = cs.clone()
	s.mu.Unlock()
	return nil
}

// readConfState reads the ConfState file in dir, removing a leftover
// temporary file. A missing file is an empty ConfState: a node that never
// persisted one.
func readConfState(fs wal.FS, dir string) (ConfState, error) {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return ConfState{}, fmt.Errorf("raft: list %s: %w", dir, err)
	}
	if slices.Contains(names, confStateTmp) {
		// An interrupted replacement: the rename never happened, so the
		// old file (if any) is the current one.
		if err := fs.Remove(filepath.Join(dir, confStateTmp)); err != nil {
			return ConfState{}, fmt.Errorf("raft: remove %s: %w", confStateTmp, err)
		}
	}
	if !slices.Contains(names, confStateFile) {
		return ConfState{}, nil
	}
	name := filepath.Join(dir, confStateFile)
	f, err := fs.OpenRead(name)
	if err != nil {
		return ConfState{}, fmt.Errorf("raft: open %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return ConfState{}, fmt.Errorf("raft: stat %s: %w", name, err)
	}
	if size > maxConfStateFile {
		return ConfState{}, fmt.Errorf("%w: %s is %d bytes", wal.ErrCorrupt, name, size)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return ConfState{}, fmt.Errorf("raft: read %s: %w", name, err)
	}
	cs, err := decodeConfState(buf)
	if err != nil {
		return ConfState{}, fmt.Errorf("%s: %w", name, err)
	}
	return cs, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendConfState appends the ConfState file's encoding of cs to b.
func appendConfState(b []byte, cs ConfState) []byte {
	start := len(b)
	b = append(b, confStateVersion)
	for _, ids := range [...][]NodeID{cs.Voters, cs.Learners, cs.Promote, cs.VotersOutgoing} {
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, uint64(len(id)))
			b = append(b, id...)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// decodeConfState decodes a ConfState file. Errors wrap wal.ErrCorrupt; it
// never panics and allocates at most in proportion to len(b).
func decodeConfState(b []byte) (ConfState, error) {
	if len(b) < 1+4 {
		return ConfState{}, fmt.Errorf("%w: confstate of %d bytes", wal.ErrCorrupt, len(b))
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return ConfState{}, fmt.Errorf("%w: confstate checksum %08x, want %08x", wal.ErrCorrupt, got, want)
	}
	if body[0] != confStateVersion {
		return ConfState{}, fmt.Errorf("%w: confstate version %d", wal.ErrCorrupt, body[0])
	}
	p := body[1:]
	var lists [4][]NodeID
	for k := range lists {
		n, w := binary.Uvarint(p)
		// Each name takes at least its one-byte length, which bounds n.
		if w <= 0 || n > uint64(len(p)-w) {
			return ConfState{}, fmt.Errorf("%w: confstate member count", wal.ErrCorrupt)
		}
		p = p[w:]
		if n > 0 {
			lists[k] = make([]NodeID, 0, n)
		}
		for range n {
			l, w := binary.Uvarint(p)
			if w <= 0 || l > uint64(len(p)-w) {
				return ConfState{}, fmt.Errorf("%w: confstate member name", wal.ErrCorrupt)
			}
			lists[k] = append(lists[k], NodeID(p[w:w+int(l)]))
			p = p[w+int(l):]
		}
	}
	if len(p) != 0 {
		return ConfState{}, fmt.Errorf("%w: %d trailing bytes in confstate", wal.ErrCorrupt, len(p))
	}
	return ConfState{Voters: lists[0], Learners: lists[1], Promote: lists[2], VotersOutgoing: lists[3]}, nil
}

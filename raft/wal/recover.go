package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"strings"
)

const segmentSuffix = ".wal"

func segmentName(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x%s", seq, segmentSuffix))
}

// parseSegmentName returns the sequence number in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(base) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(base, 16, 64)
	return seq, err == nil
}

// Open opens the WAL in cfg.Dir, creating it if empty, and recovers its state:
// the hard state, the compaction mark and the index of every live entry.
//
// A last segment that ends in a partial record, or in zeros a power cut left
// behind, is cut back to its last whole record and reported in Report. Any
// other damage (a bad checksum before the tail, a missing or out-of-order
// segment, an entry that does not follow the log) is an error wrapping
// ErrCorrupt that names the file and offset: the WAL never skips data.
func Open(cfg Config) (*WAL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w := &WAL{cfg: cfg}
	if err := cfg.FS.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", cfg.Dir, err)
	}
	if err := w.recover(); err != nil {
		for _, s := range w.segs {
			s.file.Close()
		}
		return nil, err
	}
	w.nextIdx = w.markIdx + uint64(len(w.pos)) + 1
	w.nextMark = w.markIdx
	w.nextHS = w.hs
	w.pending = newBatch()
	if cfg.Sync == SyncPeriodic {
		w.stopSync = make(chan struct{})
		w.syncerWG.Add(1)
		go w.syncPeriodically()
	}
	return w, nil
}

// replay accumulates the log's state while segments are read in order.
type replay struct {
	w        *WAL
	start    uint64 // index of pos[0]
	gapFile  string // where entries first jumped past the expected index
	gapOff   int64
	gapFloor uint64 // entries below this index were never seen
	buf      []byte // read buffer reused across segments
	segments int    // how many segments there are in all
	reserved bool
}

// reserve sizes the index for the whole log after the first segment, from
// that segment's entries per byte, so a large log is not indexed by
// repeated doubling and copying.
func (r *replay) reserve(segSize int64) {
	if r.reserved || segSize == 0 {
		return
	}
	r.reserved = true
	perSeg := len(r.w.pos)
	want := perSeg*r.segments + perSeg/8
	if want > cap(r.w.pos) {
		grown := make([]position, len(r.w.pos), want)
		copy(grown, r.w.pos)
		r.w.pos = grown
	}
}

func (w *WAL) recover() error {
	fs, dir := w.cfg.FS, w.cfg.Dir
	names, err := fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wal: list %s: %w", dir, err)
	}
	var seqs []uint64
	for _, n := range names {
		if seq, ok := parseSegmentName(n); ok {
			seqs = append(seqs, seq)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			return corrupt(filepath.Base(segmentName(dir, seqs[i])), 0,
				"segment %d follows segment %d: a segment is missing", seqs[i], seqs[i-1])
		}
	}
	r := &replay{w: w, start: 1, segments: len(seqs)}
	for i, seq := range seqs {
		last := i == len(seqs)-1
		keep, err := r.readSegment(seq, last)
		if err != nil {
			return err
		}
		if !keep {
			// A last segment whose header never reached the disk holds
			// nothing acknowledged: drop it.
			name := segmentName(dir, seq)
			if err := fs.Remove(name); err != nil {
				return fmt.Errorf("wal: remove torn segment %s: %w", name, err)
			}
			if err := fs.SyncDir(dir); err != nil {
				return fmt.Errorf("wal: sync %s: %w", dir, err)
			}
		}
	}
	if err := r.finish(); err != nil {
		return err
	}
	w.report.Segments = len(w.segs)
	w.report.Entries = len(w.pos)
	if len(w.segs) == 0 {
		return w.createFirstSegment()
	}
	// Reopen the active segment for appending.
	act := w.segs[len(w.segs)-1]
	act.file.Close()
	f, err := fs.OpenAppend(act.name)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", act.name, err)
	}
	act.file = f
	if w.report.TornTail {
		if err := f.Truncate(act.size); err != nil {
			return fmt.Errorf("wal: truncate torn tail of %s: %w", act.name, err)
		}
		w.cfg.Logger.Warn("wal: cut torn tail", "file", w.report.TornFile,
			"offset", w.report.TornOffset, "bytes", w.report.TruncatedBytes)
	}
	// What was just read may have come from the page cache after a process
	// crash, not from the disk: a write whose fsync failed, or a segment
	// whose directory entry was never synced. Make it durable before
	// anything is appended after it, or a later power cut could lose
	// acknowledged writes along with it. Older segments were synced before
	// the next one was created, so only the last needs it.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", act.name, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: sync %s: %w", dir, err)
	}
	return nil
}

func (w *WAL) createFirstSegment() error {
	name := segmentName(w.cfg.Dir, 1)
	f, err := w.cfg.FS.Create(name)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", name, err)
	}
	hdr := appendSegmentHeader(nil, 1)
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return fmt.Errorf("wal: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("wal: sync %s: %w", name, err)
	}
	if err := w.cfg.FS.SyncDir(w.cfg.Dir); err != nil {
		f.Close()
		return fmt.Errorf("wal: sync %s: %w", w.cfg.Dir, err)
	}
	w.segs = append(w.segs, &segment{seq: 1, name: name, file: f, size: int64(len(hdr))})
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// readSegment replays one segment. It returns keep=false for a last segment
// whose header is torn.
func (r *replay) readSegment(seq uint64, last bool) (keep bool, err error) {
	w := r.w
	name := segmentName(w.cfg.Dir, seq)
	base := filepath.Base(name)
	f, err := w.cfg.FS.OpenRead(name)
	if err != nil {
		return false, fmt.Errorf("wal: open %s: %w", name, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return false, fmt.Errorf("wal: stat %s: %w", name, err)
	}
	// One buffer serves every segment: they are all about SegmentSize.
	if int64(cap(r.buf)) < size {
		r.buf = make([]byte, size)
	}
	buf := r.buf[:size]
	if _, err := f.ReadAt(buf, 0); err != nil && size > 0 {
		f.Close()
		return false, fmt.Errorf("wal: read %s: %w", name, err)
	}
	hseq, why := parseSegmentHeader(buf)
	if why != "" {
		if last && (size < segmentHeaderSize || allZero(buf)) {
			f.Close()
			w.report.TornTail = true
			w.report.TornFile, w.report.TornOffset, w.report.TruncatedBytes = base, 0, size
			return false, nil
		}
		f.Close()
		return false, corrupt(base, 0, "%s", why)
	}
	if hseq != seq {
		f.Close()
		return false, corrupt(base, 0, "header says segment %d", hseq)
	}
	seg := &segment{seq: seq, name: name, file: f, size: size}
	w.segs = append(w.segs, seg)
	off := int64(segmentHeaderSize)
	for off < size {
		rec, n, why := r.nextRecord(buf, off)
		if why != "" {
			if last && r.isTornTail(buf, off) {
				w.report.TornTail = true
				w.report.TornFile, w.report.TornOffset, w.report.TruncatedBytes = base, off, size-off
				seg.size = off
				return true, nil
			}
			return false, corrupt(base, off, "%s", why)
		}
		if err := r.apply(rec, seg, off, base); err != nil {
			return false, err
		}
		off += n
	}
	r.reserve(size)
	return true, nil
}

// nextRecord parses the record at off. A non-empty reason means it is not a
// valid record.
func (r *replay) nextRecord(buf []byte, off int64) (record, int64, string) {
	rest := buf[off:]
	if len(rest) < recordHeaderSize {
		return record{}, 0, "partial record header"
	}
	length := binary.LittleEndian.Uint32(rest)
	if int64(length) > int64(r.w.cfg.MaxRecordSize) {
		return record{}, 0, fmt.Sprintf("record length %d above the maximum %d", length, r.w.cfg.MaxRecordSize)
	}
	end := int64(recordHeaderSize) + int64(length)
	if end > int64(len(rest)) {
		return record{}, 0, "partial record"
	}
	t := recordType(rest[8])
	if t == recordInvalid || t >= recordTypeCount {
		return record{}, 0, fmt.Sprintf("unknown record type %d", t)
	}
	if crc32.Checksum(rest[8:end], castagnoli) != binary.LittleEndian.Uint32(rest[4:]) {
		return record{}, 0, "record checksum mismatch"
	}
	rec, why := decodeRecord(t, rest[recordHeaderSize:end])
	if why != "" {
		return record{}, 0, why
	}
	return rec, end, ""
}

// isTornTail decides whether an invalid record at off in the last segment is
// the remains of an interrupted write rather than corruption. A write cut by
// a crash or a power cut leaves a tail of partial records and zeros with no
// whole record after the damage; a whole, checksummed record after it means
// the damage sits in data that was once written intact, which is corruption.
func (r *replay) isTornTail(buf []byte, off int64) bool {
	for p := off + 1; p+recordHeaderSize <= int64(len(buf)); p++ {
		if r.plausibleRecordAt(buf, p) {
			return false
		}
	}
	return true
}

// plausibleRecordAt reports whether a whole valid record starts at p. The
// cheap checks come first so that scanning garbage rarely computes a CRC.
func (r *replay) plausibleRecordAt(buf []byte, p int64) bool {
	rest := buf[p:]
	t := recordType(rest[8])
	if t == recordInvalid || t >= recordTypeCount {
		return false
	}
	length := int64(binary.LittleEndian.Uint32(rest))
	end := int64(recordHeaderSize) + length
	if length > int64(r.w.cfg.MaxRecordSize) || end > int64(len(rest)) {
		return false
	}
	rec, why := decodeRecord(t, rest[recordHeaderSize:end])
	if why != "" {
		return false
	}
	if rec.typ == recordEntry {
		next := r.start + uint64(len(r.w.pos))
		if rec.index < next || rec.index > next+1<<20 {
			return false
		}
	}
	return crc32.Checksum(rest[8:end], castagnoli) == binary.LittleEndian.Uint32(rest[4:])
}

// apply folds one record into the replayed state.
func (r *replay) apply(rec record, seg *segment, off int64, file string) error {
	w := r.w
	switch rec.typ {
	case recordHardState:
		w.hs = rec.hs
	case recordMark:
		if rec.index < w.markIdx {
			return corrupt(file, off, "mark %d below earlier mark %d", rec.index, w.markIdx)
		}
		w.markIdx, w.markTerm = rec.index, rec.term
		r.dropThrough(rec.index, rec.reset)
	case recordTruncate:
		if rec.index <= r.start {
			w.pos = w.pos[:0]
			r.start = max(rec.index, w.markIdx+1)
		} else if k := rec.index - r.start; k < uint64(len(w.pos)) {
			w.pos = w.pos[:k]
		}
	case recordEntry:
		next := r.start + uint64(len(w.pos))
		switch {
		case rec.index == next:
		case rec.index <= w.markIdx:
			return nil // compacted away by a mark seen earlier
		case rec.index > next:
			// Entries below rec.index may have lived in a segment that a
			// later compaction removed; finish checks a mark covers them.
			if r.gapFile == "" || rec.index > r.gapFloor {
				r.gapFile, r.gapOff, r.gapFloor = file, off, rec.index
			}
			w.pos = w.pos[:0]
			r.start = rec.index
		default:
			return corrupt(file, off, "entry %d rewrites the log without a truncation (next is %d)", rec.index, next)
		}
		w.pos = append(w.pos, position{
			term: rec.term, seg: seg.seq, off: off + int64(rec.dataOff), size: uint32(len(rec.data)),
		})
	}
	return nil
}

// dropThrough forgets entries at or below index, or all of them on a reset.
func (r *replay) dropThrough(index uint64, reset bool) {
	w := r.w
	if reset || index+1 >= r.start+uint64(len(w.pos)) {
		w.pos = w.pos[:0]
		r.start = index + 1
		return
	}
	if index >= r.start {
		w.pos = w.pos[index-r.start+1:]
		r.start = index + 1
	}
}

// finish checks that the recovered entries continue from the mark.
func (r *replay) finish() error {
	w := r.w
	if r.gapFile != "" && r.gapFloor > w.markIdx+1 && r.start > w.markIdx+1 {
		return corrupt(r.gapFile, r.gapOff, "entry %d follows mark %d: entries are missing", r.gapFloor, w.markIdx)
	}
	if r.start <= w.markIdx {
		r.dropThrough(w.markIdx, false)
	}
	if len(w.pos) > 0 && r.start != w.markIdx+1 {
		return errors.Join(ErrCorrupt, fmt.Errorf("wal: entries start at %d after mark %d", r.start, w.markIdx))
	}
	// If a compaction mark dropped most of the index, copy the rest so the
	// dropped prefix is not kept alive.
	if cap(w.pos) > 2*len(w.pos)+1024 {
		w.pos = append([]position(nil), w.pos...)
	}
	return nil
}

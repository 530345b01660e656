package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Snapshot file layout, little-endian:
//
//	magic "DKSN" | version (1) | index (8) | term (8) | metadata length (4) | metadata | data ... |
//	trailer: data length (8) | CRC32C of everything before the trailer (4)
const (
	snapshotMagic     = "DKSN"
	snapshotSuffix    = ".snap"
	snapshotTmpSuffix = ".snap.tmp"
	snapHeaderSize    = 4 + 1 + 8 + 8 + 4
	snapTrailerSize   = 8 + 4
	// DefaultRetain is how many snapshots a store keeps by default.
	DefaultRetain = 2
	// maxSnapshotMeta bounds the metadata a snapshot header may claim.
	maxSnapshotMeta = 64 << 20
)

// SnapshotMeta describes a snapshot: the last log index and term it covers,
// plus opaque metadata (Raft keeps its configuration there).
type SnapshotMeta struct {
	Index, Term uint64
	Metadata    []byte
}

// SnapshotConfig configures a SnapshotStore. Zero fields take defaults.
type SnapshotConfig struct {
	// Dir holds the snapshot files. It may be the WAL's directory. Required.
	Dir string
	// Retain is how many complete snapshots to keep; older ones are
	// deleted after a new one is committed. Default DefaultRetain (2).
	Retain int
	// FS is the file system. Default OSFS.
	FS FS
}

// SnapshotStore keeps snapshots as one file each, written under a temporary
// name, fsynced, renamed into place and the directory fsynced, so a snapshot
// either exists whole or not at all. Reads verify a checksum.
//
// A SnapshotStore is safe for concurrent use, but two snapshots for the same
// index must not be written at once.
type SnapshotStore struct {
	cfg SnapshotConfig
}

// OpenSnapshots opens the store, creating its directory, and deletes
// temporary files left by a crash in the middle of a write.
func OpenSnapshots(cfg SnapshotConfig) (*SnapshotStore, error) {
	if cfg.Dir == "" {
		return nil, errors.New("wal: SnapshotConfig.Dir is required")
	}
	if cfg.Retain < 0 {
		return nil, fmt.Errorf("wal: SnapshotConfig.Retain %d is negative", cfg.Retain)
	}
	if cfg.Retain == 0 {
		cfg.Retain = DefaultRetain
	}
	if cfg.FS == nil {
		cfg.FS = OSFS{}
	}
	if err := cfg.FS.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", cfg.Dir, err)
	}
	names, err := cfg.FS.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", cfg.Dir, err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, snapshotTmpSuffix) {
			if err := cfg.FS.Remove(filepath.Join(cfg.Dir, n)); err != nil {
				return nil, fmt.Errorf("wal: remove leftover %s: %w", n, err)
			}
		}
	}
	return &SnapshotStore{cfg: cfg}, nil
}

func snapshotFileName(index, term uint64) string {
	return fmt.Sprintf("%016x-%016x%s", index, term, snapshotSuffix)
}

func parseSnapshotName(n string) (index, term uint64, ok bool) {
	base, ok := strings.CutSuffix(n, snapshotSuffix)
	if !ok || len(base) != 33 || base[16] != '-' {
		return 0, 0, false
	}
	i, err1 := strconv.ParseUint(base[:16], 16, 64)
	t, err2 := strconv.ParseUint(base[17:], 16, 64)
	return i, t, err1 == nil && err2 == nil
}

// SnapshotWriter receives one snapshot's data. Commit makes it durable and
// visible; Abort discards it. Exactly one of them must be called.
type SnapshotWriter struct {
	s     *SnapshotStore
	meta  SnapshotMeta
	tmp   string
	f     File
	bw    *bufio.Writer
	crc   hash.Hash32
	n     uint64
	err   error
	ended bool
}

// Create starts a snapshot covering the log through meta.Index.
func (s *SnapshotStore) Create(meta SnapshotMeta) (*SnapshotWriter, error) {
	tmp := filepath.Join(s.cfg.Dir, strings.TrimSuffix(snapshotFileName(meta.Index, meta.Term), snapshotSuffix)+snapshotTmpSuffix)
	f, err := s.cfg.FS.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	w := &SnapshotWriter{s: s, meta: meta, tmp: tmp, f: f, bw: bufio.NewWriterSize(f, 256<<10), crc: crc32.New(castagnoli)}
	hdr := make([]byte, 0, snapHeaderSize+len(meta.Metadata))
	hdr = append(hdr, snapshotMagic...)
	hdr = append(hdr, formatVersion)
	hdr = binary.LittleEndian.AppendUint64(hdr, meta.Index)
	hdr = binary.LittleEndian.AppendUint64(hdr, meta.Term)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(meta.Metadata)))
	hdr = append(hdr, meta.Metadata...)
	if err := w.write(hdr); err != nil {
		w.Abort()
		return nil, err
	}
	w.n = 0
	return w, nil
}

func (w *SnapshotWriter) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	if _, err := w.bw.Write(p); err != nil {
		w.err = fmt.Errorf("wal: write %s: %w", w.tmp, err)
		return w.err
	}
	w.crc.Write(p)
	w.n += uint64(len(p))
	return nil
}

// Write appends snapshot data.
func (w *SnapshotWriter) Write(p []byte) (int, error) {
	if w.ended {
		return 0, errors.New("wal: write to a finished snapshot")
	}
	if err := w.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Commit writes the trailer, fsyncs the file, renames it into place, fsyncs
// the directory and deletes snapshots beyond the retention count.
func (w *SnapshotWriter) Commit() error {
	if w.ended {
		return errors.New("wal: snapshot already finished")
	}
	trailer := binary.LittleEndian.AppendUint64(nil, w.n)
	w.crc.Write(trailer)
	trailer = binary.LittleEndian.AppendUint32(trailer, w.crc.Sum32())
	if w.err == nil {
		if _, err := w.bw.Write(trailer); err != nil {
			w.err = fmt.Errorf("wal: write %s: %w", w.tmp, err)
		}
	}
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("wal: write %s: %w", w.tmp, err)
		}
	}
	if w.err == nil {
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("wal: sync %s: %w", w.tmp, err)
		}
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		return err
	}
	w.ended = true
	fs, dir := w.s.cfg.FS, w.s.cfg.Dir
	if err := w.f.Close(); err != nil {
		fs.Remove(w.tmp)
		return fmt.Errorf("wal: close %s: %w", w.tmp, err)
	}
	final := filepath.Join(dir, snapshotFileName(w.meta.Index, w.meta.Term))
	if err := fs.Rename(w.tmp, final); err != nil {
		fs.Remove(w.tmp)
		return fmt.Errorf("wal: rename %s: %w", w.tmp, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: sync %s: %w", dir, err)
	}
	return w.s.prune()
}

// Abort discards an unfinished snapshot. It is safe to call after Commit
// failed and does nothing after Commit succeeded.
func (w *SnapshotWriter) Abort() {
	if w.ended {
		return
	}
	w.ended = true
	w.f.Close()
	w.s.cfg.FS.Remove(w.tmp)
}

// prune deletes the oldest snapshots beyond the retention count.
func (s *SnapshotStore) prune() error {
	list, err := s.List()
	if err != nil {
		return err
	}
	if len(list) <= s.cfg.Retain {
		return nil
	}
	for _, m := range list[s.cfg.Retain:] {
		if err := s.cfg.FS.Remove(filepath.Join(s.cfg.Dir, snapshotFileName(m.Index, m.Term))); err != nil {
			return fmt.Errorf("wal: remove old snapshot: %w", err)
		}
	}
	return s.cfg.FS.SyncDir(s.cfg.Dir)
}

// List returns the index and term of every committed snapshot, newest
// (highest index) first. Metadata is not read.
func (s *SnapshotStore) List() ([]SnapshotMeta, error) {
	names, err := s.cfg.FS.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", s.cfg.Dir, err)
	}
	var out []SnapshotMeta
	for _, n := range names {
		if i, t, ok := parseSnapshotName(n); ok {
			out = append(out, SnapshotMeta{Index: i, Term: t})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Index != out[b].Index {
			return out[a].Index > out[b].Index
		}
		return out[a].Term > out[b].Term
	})
	return out, nil
}

// Latest opens the newest snapshot. The reader verifies the checksum as it
// reads: its final Read returns an error wrapping ErrCorrupt instead of
// io.EOF when the data is damaged, so a restore that reads to the end never
// accepts corrupt data. ErrNoSnapshot means the store is empty.
func (s *SnapshotStore) Latest() (SnapshotMeta, *SnapshotReader, error) {
	list, err := s.List()
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	if len(list) == 0 {
		return SnapshotMeta{}, nil, ErrNoSnapshot
	}
	return s.Open(list[0].Index, list[0].Term)
}

// Open opens the snapshot with the given index and term.
func (s *SnapshotStore) Open(index, term uint64) (SnapshotMeta, *SnapshotReader, error) {
	name := snapshotFileName(index, term)
	path := filepath.Join(s.cfg.Dir, name)
	f, err := s.cfg.FS.OpenRead(path)
	if err != nil {
		return SnapshotMeta{}, nil, fmt.Errorf("wal: open %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return SnapshotMeta{}, nil, fmt.Errorf("wal: stat %s: %w", path, err)
	}
	meta, r, err := newSnapshotReader(name, f, size)
	if err != nil {
		f.Close()
		return SnapshotMeta{}, nil, err
	}
	if meta.Index != index || meta.Term != term {
		f.Close()
		return SnapshotMeta{}, nil, corrupt(name, 0, "header says index %d term %d", meta.Index, meta.Term)
	}
	return meta, r, nil
}

// SnapshotReader reads one snapshot's data and verifies its checksum.
type SnapshotReader struct {
	name     string
	f        File
	sr       *io.SectionReader
	crc      hash.Hash32
	dataLen  int64
	trailer  [snapTrailerSize]byte
	verified bool
}

func newSnapshotReader(name string, f File, size int64) (SnapshotMeta, *SnapshotReader, error) {
	var hdr [snapHeaderSize]byte
	if size < snapHeaderSize+snapTrailerSize {
		return SnapshotMeta{}, nil, corrupt(name, 0, "file of %d bytes is too short", size)
	}
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return SnapshotMeta{}, nil, fmt.Errorf("wal: read %s: %w", name, err)
	}
	if string(hdr[:4]) != snapshotMagic || hdr[4] != formatVersion {
		return SnapshotMeta{}, nil, corrupt(name, 0, "bad snapshot magic or version")
	}
	meta := SnapshotMeta{
		Index: binary.LittleEndian.Uint64(hdr[5:]),
		Term:  binary.LittleEndian.Uint64(hdr[13:]),
	}
	metaLen := int64(binary.LittleEndian.Uint32(hdr[21:]))
	dataStart := snapHeaderSize + metaLen
	if metaLen > maxSnapshotMeta || dataStart+snapTrailerSize > size {
		return SnapshotMeta{}, nil, corrupt(name, 21, "metadata length %d does not fit", metaLen)
	}
	r := &SnapshotReader{name: name, f: f, crc: crc32.New(castagnoli), dataLen: size - snapTrailerSize - dataStart}
	r.crc.Write(hdr[:])
	meta.Metadata = make([]byte, metaLen)
	if _, err := f.ReadAt(meta.Metadata, snapHeaderSize); err != nil {
		return SnapshotMeta{}, nil, fmt.Errorf("wal: read %s: %w", name, err)
	}
	r.crc.Write(meta.Metadata)
	if _, err := f.ReadAt(r.trailer[:], size-snapTrailerSize); err != nil {
		return SnapshotMeta{}, nil, fmt.Errorf("wal: read %s: %w", name, err)
	}
	if got := binary.LittleEndian.Uint64(r.trailer[:]); int64(got) != r.dataLen {
		return SnapshotMeta{}, nil, corrupt(name, size-snapTrailerSize, "trailer says %d data bytes, file holds %d", got, r.dataLen)
	}
	r.sr = io.NewSectionReader(f, dataStart, r.dataLen)
	return meta, r, nil
}

// Read reads snapshot data. At the end it checks the checksum and returns
// io.EOF only if it matches.
func (r *SnapshotReader) Read(p []byte) (int, error) {
	n, err := r.sr.Read(p)
	r.crc.Write(p[:n])
	if errors.Is(err, io.EOF) && !r.verified {
		r.crc.Write(r.trailer[:8])
		if r.crc.Sum32() != binary.LittleEndian.Uint32(r.trailer[8:]) {
			return n, corrupt(r.name, r.dataLen, "snapshot checksum mismatch")
		}
		r.verified = true
	}
	return n, err
}

// Close closes the underlying file.
func (r *SnapshotReader) Close() error { return r.f.Close() }

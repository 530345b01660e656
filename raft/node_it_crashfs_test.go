package raft_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distkit/distkit/raft/wal"
)

// itCrashFS is an in-memory wal.FS that can lose power. It keeps, for every
// file, the bytes written and the bytes made durable by its last Sync, and
// for every directory the names it holds now and the names made durable by
// its last SyncDir. crash keeps only what was durable, plus a torn prefix of
// each file's unsynced tail in whole 512-byte sectors (the disk model the
// WAL documents), and makes every handle opened before it fail, so that a
// node still running on the old handles can no longer change anything.
//
// It lets the integration tests cut the power under a Node: a write the
// node acknowledged but did not make durable first is lost for real.
type itCrashFS struct {
	mu   sync.Mutex
	rng  *rand.Rand
	gen  int // handles of older generations fail
	dirs map[string]*itDir
	// syncTime is how long a WAL segment's Sync takes, in virtual time:
	// the window in which written bytes are not durable yet, and a power
	// cut loses them. Zero makes syncing instant.
	syncTime time.Duration
	// otherSyncTime is how long the Sync of any other file (snapshots, the
	// ConfState file) takes; directories sync at once. Under synctest a
	// goroutine waiting for a mutex held across such a Sync freezes
	// virtual time for good, as the node's loop did in Storage.Snapshot
	// before RAFTIT-5 was fixed.
	otherSyncTime time.Duration
}

type itDir struct{ cur, dur map[string]*itInode }

type itInode struct{ data, synced []byte }

type itFile struct {
	fs   *itCrashFS
	gen  int
	ino  *itInode
	slow bool // a WAL segment: its Sync takes syncTime
}

var errITPowerCut = errors.New("itCrashFS: handle from before a power cut")

var _ wal.FS = (*itCrashFS)(nil)

func newITCrashFS(seed uint64, syncTime time.Duration) *itCrashFS {
	return &itCrashFS{rng: rand.New(rand.NewPCG(seed, 0xc7a5)), dirs: map[string]*itDir{}, syncTime: syncTime}
}

func (f *itCrashFS) dirLocked(name string) (*itDir, string, error) {
	d, ok := f.dirs[filepath.Clean(filepath.Dir(name))]
	if !ok {
		return nil, "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return d, filepath.Base(name), nil
}

// Create implements wal.FS: it truncates an existing file.
func (f *itCrashFS) Create(name string) (wal.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, base, err := f.dirLocked(name)
	if err != nil {
		return nil, err
	}
	ino, ok := d.cur[base]
	if ok {
		ino.data = ino.data[:0:0]
	} else {
		ino = &itInode{}
		d.cur[base] = ino
	}
	return &itFile{fs: f, gen: f.gen, ino: ino, slow: strings.HasSuffix(name, ".wal")}, nil
}

func (f *itCrashFS) open(name string) (wal.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, base, err := f.dirLocked(name)
	if err != nil {
		return nil, err
	}
	ino, ok := d.cur[base]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &itFile{fs: f, gen: f.gen, ino: ino, slow: strings.HasSuffix(name, ".wal")}, nil
}

// OpenRead implements wal.FS.
func (f *itCrashFS) OpenRead(name string) (wal.File, error) { return f.open(name) }

// OpenAppend implements wal.FS.
func (f *itCrashFS) OpenAppend(name string) (wal.File, error) { return f.open(name) }

// ReadDir implements wal.FS.
func (f *itCrashFS) ReadDir(dir string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.dirs[filepath.Clean(dir)]
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	return slices.Sorted(maps.Keys(d.cur)), nil
}

// MkdirAll implements wal.FS. Directories themselves never vanish.
func (f *itCrashFS) MkdirAll(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir = filepath.Clean(dir)
	if _, ok := f.dirs[dir]; !ok {
		f.dirs[dir] = &itDir{cur: map[string]*itInode{}, dur: map[string]*itInode{}}
	}
	return nil
}

// Remove implements wal.FS.
func (f *itCrashFS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, base, err := f.dirLocked(name)
	if err != nil {
		return err
	}
	if _, ok := d.cur[base]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(d.cur, base)
	return nil
}

// Rename implements wal.FS.
func (f *itCrashFS) Rename(oldName, newName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	od, obase, err := f.dirLocked(oldName)
	if err != nil {
		return err
	}
	nd, nbase, err := f.dirLocked(newName)
	if err != nil {
		return err
	}
	ino, ok := od.cur[obase]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldName, Err: fs.ErrNotExist}
	}
	delete(od.cur, obase)
	nd.cur[nbase] = ino
	return nil
}

// SyncDir implements wal.FS: the directory's names become durable.
func (f *itCrashFS) SyncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.dirs[filepath.Clean(dir)]
	if !ok {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: fs.ErrNotExist}
	}
	d.dur = maps.Clone(d.cur)
	return nil
}

// crash cuts the power: every directory goes back to its durable names,
// every file to its durable bytes plus a torn, sector-aligned prefix of
// what was written after, and every open handle dies. It returns how many
// unsynced bytes it threw away.
func (f *itCrashFS) crash() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	lost := 0
	seen := map[*itInode]bool{}
	for _, d := range f.dirs {
		d.cur = maps.Clone(d.dur)
		for _, ino := range d.dur {
			if seen[ino] {
				continue
			}
			seen[ino] = true
			keep := len(ino.synced)
			if len(ino.data) > keep && bytes.HasPrefix(ino.data, ino.synced) {
				// A torn write: the disk kept some of the sectors after
				// the synced ones, in order, and none after a lost one.
				n := keep + f.rng.IntN(len(ino.data)-keep+1)
				if cut := n / 512 * 512; cut > keep {
					keep = cut
				}
			}
			if bytes.HasPrefix(ino.data, ino.synced) {
				lost += len(ino.data) - keep
				ino.data = slices.Clone(ino.data[:keep])
			} else {
				// Cut back (Truncate) since its last Sync: the cut was not
				// durable either.
				ino.data = slices.Clone(ino.synced)
			}
			// What the disk holds after the cut is what it holds.
			ino.synced = slices.Clone(ino.data)
		}
	}
	return lost
}

func (h *itFile) check() error {
	if h.gen != h.fs.gen {
		return errITPowerCut
	}
	return nil
}

// Write implements wal.File: files are append-only.
func (h *itFile) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	h.ino.data = append(h.ino.data, p...)
	return len(p), nil
}

// ReadAt implements wal.File.
func (h *itFile) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("itCrashFS: negative offset %d", off)
	}
	if off >= int64(len(h.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Close implements wal.File.
func (h *itFile) Close() error { return nil }

// Sync implements wal.File: the bytes written before it become durable
// once it returns, after syncTime of virtual time. A power cut meanwhile
// fails it.
func (h *itFile) Sync() error {
	h.fs.mu.Lock()
	if err := h.check(); err != nil {
		h.fs.mu.Unlock()
		return err
	}
	data := slices.Clone(h.ino.data)
	var wait time.Duration
	if h.slow {
		wait = h.fs.syncWaitLocked()
	} else {
		wait = h.fs.otherSyncTime
	}
	h.fs.mu.Unlock()
	if wait > 0 {
		<-time.After(wait)
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	if bytes.HasPrefix(h.ino.data, data) {
		h.ino.synced = data
	} else {
		// Cut back meanwhile: what is left was written before.
		h.ino.synced = slices.Clone(h.ino.data)
	}
	return nil
}

// syncWaitLocked draws how long one sync takes: up to syncTime.
func (f *itCrashFS) syncWaitLocked() time.Duration {
	if f.syncTime <= 0 {
		return 0
	}
	return time.Duration(f.rng.Int64N(int64(f.syncTime)) + 1)
}

// Truncate implements wal.File.
func (h *itFile) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("itCrashFS: negative size %d", size)
	}
	if int(size) <= len(h.ino.data) {
		h.ino.data = h.ino.data[:size]
	} else {
		h.ino.data = append(h.ino.data, make([]byte, int(size)-len(h.ino.data))...)
	}
	return nil
}

// Size implements wal.File.
func (h *itFile) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	return int64(len(h.ino.data)), nil
}

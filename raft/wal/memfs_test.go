package wal

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync"
)

// memFS is an in-memory FS that injects faults and simulates crashes the way
// a Linux file system on a disk with a volatile write cache can leave things.
//
// Each file has two images: data, the page cache that reads see, and disk,
// what stable storage holds (its length is the durable size). Writes dirty
// the sectors they touch; a successful Sync writes the dirty sectors and the
// size to disk. A failed fsync (faultLostSync) drops the dirty state without
// writing, as Linux does: the new bytes stay readable from the page cache
// but are not on disk, and a later fsync does not write them. The directory
// has the names visible now and the names a SyncDir made durable.
//
// PowerCut keeps the durable names and, for each file, its disk image with
// each dirty sector independently written or lost and the size anywhere
// between the durable and the cached one: a disk may persist sectors in any
// order, so a lost sector can sit before a written one. Restart (a process
// crash) keeps the page cache but may evict clean sectors, after which reads
// see the disk again.
type memFS struct {
	mu      sync.Mutex
	rng     *rand.Rand
	files   map[string]*memFile // visible now
	durable map[string]*memFile // as of the last SyncDir

	// Fault injection: the next failAfter-th mutating call (write, sync,
	// create, rename, remove, sync dir) fails in the way fault says.
	failAfter int // 0: no fault armed
	fault     faultKind
	injected  int // faults fired so far
	// cut is the state a faultPowerCut captured: from then on every
	// mutating call fails, and the next PowerCut or Restart installs it.
	cut map[string]*memFile
}

type faultKind int

const (
	faultError    faultKind = iota // the call fails and changes nothing
	faultPartial                   // a write stores some of its bytes, then fails
	faultLostSync                  // an fsync fails and drops the dirty sectors unwritten
	faultPowerCut                  // the power goes off before the call: it and all later ones fail
)

// memSector is the unit a disk writes atomically.
const memSector = 512

type memFile struct {
	data  []byte // page cache
	disk  []byte // stable storage
	dirty []bool // dirty[i]: sector i of data is not yet written back
}

func (f *memFile) markDirty(from, to int) {
	if to <= from {
		return
	}
	for len(f.dirty)*memSector < len(f.data) {
		f.dirty = append(f.dirty, false)
	}
	for i := from / memSector; i <= (to-1)/memSector; i++ {
		f.dirty[i] = true
	}
}

// diskSector returns sector i as the disk holds it, zeros past its end.
func (f *memFile) diskSector(i int) []byte {
	out := make([]byte, memSector)
	if lo := i * memSector; lo < len(f.disk) {
		copy(out, f.disk[lo:])
	}
	return out
}

// writeBack writes the dirty sectors and the size to disk.
func (f *memFile) writeBack() {
	disk := make([]byte, len(f.data))
	copy(disk, f.disk)
	for i, d := range f.dirty {
		if d {
			lo := i * memSector
			copy(disk[lo:min(lo+memSector, len(disk))], f.data[lo:])
		}
	}
	f.disk = disk
	f.dirty = nil
}

var errInjected = errors.New("memfs: injected fault")

func newMemFS(seed uint64) *memFS {
	return &memFS{
		rng:     rand.New(rand.NewPCG(seed, 0x5eed)),
		files:   map[string]*memFile{},
		durable: map[string]*memFile{},
	}
}

// arm makes the n-th mutating call from now fail with kind k.
func (fs *memFS) arm(n int, k faultKind) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.failAfter, fs.fault = n, k
}

// trip reports whether this mutating call must fail, and how.
func (fs *memFS) trip() (bool, faultKind) {
	if fs.cut != nil {
		return true, faultPowerCut
	}
	if fs.failAfter == 0 {
		return false, 0
	}
	fs.failAfter--
	if fs.failAfter == 0 {
		fs.injected++
		if fs.fault == faultPowerCut {
			fs.cut = fs.cutStateLocked()
		}
		return true, fs.fault
	}
	return false, 0
}

// PowerCut simulates losing power: names not yet made durable by SyncDir
// vanish (or come back, if removed), and every file keeps its disk image plus
// a random subset of its dirty sectors, with a size anywhere between the
// durable and the cached one. Open handles from before the cut stop mattering.
func (fs *memFS) PowerCut() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	next := fs.cut
	if next == nil {
		next = fs.cutStateLocked()
	}
	fs.installLocked(next)
}

// installLocked makes next the state after a power cut.
func (fs *memFS) installLocked(next map[string]*memFile) {
	fs.failAfter, fs.cut = 0, nil
	fs.files = next
	fs.durable = map[string]*memFile{}
	for k, v := range next {
		fs.durable[k] = v
	}
}

// cutStateLocked computes what a power cut now leaves on disk.
func (fs *memFS) cutStateLocked() map[string]*memFile {
	next := map[string]*memFile{}
	for name, f := range fs.durable {
		lo, hi := min(len(f.disk), len(f.data)), max(len(f.disk), len(f.data))
		size := lo
		switch fs.rng.IntN(3) {
		case 0:
			size = len(f.disk)
		case 1:
			size = len(f.data)
		case 2:
			size = lo + fs.rng.IntN(hi-lo+1)
		}
		keep := make([]byte, size)
		copy(keep, f.disk)
		allOrNone := fs.rng.IntN(3) // 0: sectors at random, 1: all written, 2: none
		for i, d := range f.dirty {
			lo := i * memSector
			if !d || lo >= size || allOrNone == 2 || (allOrNone == 0 && fs.rng.IntN(2) == 0) {
				continue
			}
			copy(keep[lo:min(lo+memSector, size)], f.data[lo:min(lo+memSector, len(f.data))])
		}
		next[name] = &memFile{data: keep, disk: append([]byte(nil), keep...)}
	}
	return next
}

// Restart simulates a process crash without a power cut: the page cache
// survives, except that clean sectors may have been evicted, so that reads
// see what the disk holds. Handles are dropped. If an armed faultPowerCut
// fired, the machine lost power instead: Restart installs that state and
// reports true.
func (fs *memFS) Restart() (powerCut bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.cut != nil {
		fs.installLocked(fs.cut)
		return true
	}
	fs.failAfter = 0
	for _, f := range fs.files {
		if fs.rng.IntN(2) == 0 {
			continue
		}
		for i := 0; i*memSector < len(f.data); i++ {
			if (i < len(f.dirty) && f.dirty[i]) || fs.rng.IntN(2) == 0 {
				continue
			}
			lo := i * memSector
			copy(f.data[lo:min(lo+memSector, len(f.data))], f.diskSector(i))
		}
	}
	return false
}

// put installs a file with the given durable contents (for fuzzing).
func (fs *memFS) put(name string, data []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := &memFile{data: append([]byte(nil), data...), disk: append([]byte(nil), data...)}
	fs.files[name] = f
	fs.durable[name] = f
}

func (fs *memFS) get(name string) ([]byte, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.files[name]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), f.data...), true
}

type memHandle struct {
	fs     *memFS
	name   string
	f      *memFile
	closed bool
}

func (fs *memFS) Create(name string) (File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fail, _ := fs.trip(); fail {
		return nil, fmt.Errorf("create %s: %w", name, errInjected)
	}
	f := &memFile{}
	fs.files[name] = f
	return &memHandle{fs: fs, name: name, f: f}, nil
}

func (fs *memFS) open(name string) (File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.files[name]
	if !ok {
		return nil, fmt.Errorf("open %s: file does not exist", name)
	}
	return &memHandle{fs: fs, name: name, f: f}, nil
}

func (fs *memFS) OpenRead(name string) (File, error)   { return fs.open(name) }
func (fs *memFS) OpenAppend(name string) (File, error) { return fs.open(name) }

func (fs *memFS) ReadDir(dir string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var names []string
	for n := range fs.files {
		if filepath.Dir(n) == filepath.Clean(dir) {
			names = append(names, filepath.Base(n))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (fs *memFS) MkdirAll(string) error { return nil }

func (fs *memFS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fail, _ := fs.trip(); fail {
		return fmt.Errorf("remove %s: %w", name, errInjected)
	}
	if _, ok := fs.files[name]; !ok {
		return fmt.Errorf("remove %s: file does not exist", name)
	}
	delete(fs.files, name)
	return nil
}

func (fs *memFS) Rename(oldName, newName string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fail, _ := fs.trip(); fail {
		return fmt.Errorf("rename %s: %w", oldName, errInjected)
	}
	f, ok := fs.files[oldName]
	if !ok {
		return fmt.Errorf("rename %s: file does not exist", oldName)
	}
	delete(fs.files, oldName)
	fs.files[newName] = f
	return nil
}

func (fs *memFS) SyncDir(string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fail, _ := fs.trip(); fail {
		return fmt.Errorf("sync dir: %w", errInjected)
	}
	fs.durable = map[string]*memFile{}
	for k, v := range fs.files {
		fs.durable[k] = v
	}
	return nil
}

func (h *memHandle) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return 0, errors.New("memfs: write on closed file")
	}
	n := len(p)
	var err error
	if fail, kind := h.fs.trip(); fail {
		n, err = 0, fmt.Errorf("write %s: %w", h.name, errInjected)
		if kind == faultPartial && len(p) > 0 {
			n = h.fs.rng.IntN(len(p))
		}
	}
	old := len(h.f.data)
	h.f.data = append(h.f.data, p[:n]...)
	h.f.markDirty(old, len(h.f.data))
	return n, err
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return errors.New("memfs: sync of closed file")
	}
	if fail, kind := h.fs.trip(); fail {
		if kind == faultLostSync {
			// Linux marks the pages clean after a writeback error:
			// the bytes stay in the page cache, never reach the disk,
			// and the next fsync does not retry them.
			h.f.dirty = nil
		}
		return fmt.Errorf("sync %s: %w", h.name, errInjected)
	}
	h.f.writeBack()
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return errors.New("memfs: truncate of closed file")
	}
	if fail, _ := h.fs.trip(); fail {
		return fmt.Errorf("truncate %s: %w", h.name, errInjected)
	}
	if size < int64(len(h.f.data)) {
		h.f.data = h.f.data[:size]
		h.f.dirty = h.f.dirty[:min(len(h.f.dirty), (len(h.f.data)+memSector-1)/memSector)]
		// The kernel zeroes the rest of the last page and dirties it.
		if size%memSector != 0 {
			h.f.markDirty(int(size)-1, int(size))
		}
	}
	return nil
}

func (h *memHandle) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return int64(len(h.f.data)), nil
}

func (h *memHandle) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	h.closed = true
	return nil
}

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

// memFS is an in-memory FS that injects faults and simulates power cuts. Each
// file has the bytes written so far and the prefix that an fsync made
// durable; the directory has the names visible now and the names a SyncDir
// made durable. PowerCut keeps the durable names and, for each file, its
// durable bytes plus a random part of what was written after them.
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
}

type faultKind int

const (
	faultError    faultKind = iota // the call fails and changes nothing
	faultPartial                   // a write stores some of its bytes, then fails
	faultLostSync                  // an fsync reports failure; nothing becomes durable
)

type memFile struct {
	data    []byte
	durable []byte // contents as of the last Sync
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
	if fs.failAfter == 0 {
		return false, 0
	}
	fs.failAfter--
	if fs.failAfter == 0 {
		fs.injected++
		return true, fs.fault
	}
	return false, 0
}

// PowerCut simulates losing power: names not yet made durable by SyncDir
// vanish (or come back, if removed), and every file keeps its durable bytes
// plus, at random, nothing, a prefix, or a prefix padded with zeros of what
// was written since. Open handles from before the cut stop mattering.
func (fs *memFS) PowerCut() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.failAfter = 0
	next := map[string]*memFile{}
	for name, f := range fs.durable {
		keep := append([]byte(nil), f.durable...)
		if len(f.data) > len(f.durable) && string(f.data[:len(f.durable)]) == string(f.durable) {
			extra := f.data[len(f.durable):]
			switch fs.rng.IntN(4) {
			case 0: // nothing
			case 1:
				keep = append(keep, extra...)
			case 2:
				keep = append(keep, extra[:fs.rng.IntN(len(extra)+1)]...)
			case 3:
				n := fs.rng.IntN(len(extra) + 1)
				keep = append(keep, extra[:n]...)
				keep = append(keep, make([]byte, len(extra)-n)...)
			}
		}
		nf := &memFile{data: keep, durable: append([]byte(nil), keep...)}
		next[name] = nf
	}
	fs.files = next
	fs.durable = map[string]*memFile{}
	for k, v := range next {
		fs.durable[k] = v
	}
}

// Restart simulates a process crash without a power cut: everything written
// stays, handles are dropped.
func (fs *memFS) Restart() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.failAfter = 0
}

// put installs a file with the given durable contents (for fuzzing).
func (fs *memFS) put(name string, data []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := &memFile{data: append([]byte(nil), data...), durable: append([]byte(nil), data...)}
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
	if fail, kind := h.fs.trip(); fail {
		if kind == faultPartial && len(p) > 0 {
			n := h.fs.rng.IntN(len(p))
			h.f.data = append(h.f.data, p[:n]...)
			return n, fmt.Errorf("write %s: %w", h.name, errInjected)
		}
		return 0, fmt.Errorf("write %s: %w", h.name, errInjected)
	}
	h.f.data = append(h.f.data, p...)
	return len(p), nil
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
	if fail, _ := h.fs.trip(); fail {
		return fmt.Errorf("sync %s: %w", h.name, errInjected)
	}
	h.f.durable = append(h.f.durable[:0], h.f.data...)
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if fail, _ := h.fs.trip(); fail {
		return fmt.Errorf("truncate %s: %w", h.name, errInjected)
	}
	if size < int64(len(h.f.data)) {
		h.f.data = h.f.data[:size]
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

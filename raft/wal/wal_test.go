package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

const testDir = "/data/wal"

func openMem(t *testing.T, fs *memFS, cfg Config) *WAL {
	t.Helper()
	cfg.Dir = testDir
	cfg.FS = fs
	w, err := Open(cfg)
	require.NoError(t, err)
	return w
}

func ents(first, n, term uint64) []Entry {
	out := make([]Entry, n)
	for i := range out {
		idx := first + uint64(i)
		out[i] = Entry{Index: idx, Term: term, Data: []byte(fmt.Sprintf("entry-%d-term-%d", idx, term))}
	}
	return out
}

func requireLog(t *testing.T, w *WAL, want []Entry) {
	t.Helper()
	if len(want) == 0 {
		require.Equal(t, w.FirstIndex()-1, w.LastIndex())
		return
	}
	require.Equal(t, want[0].Index, w.FirstIndex())
	require.Equal(t, want[len(want)-1].Index, w.LastIndex())
	got, err := w.Entries(want[0].Index, want[len(want)-1].Index+1, 0)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestSaveReadReopen(t *testing.T) {
	ctx := context.Background()
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	hs := HardState{Term: 3, Vote: "n2", Commit: 4}
	require.NoError(t, w.Save(ctx, &hs, ents(1, 10, 3)))
	requireLog(t, w, ents(1, 10, 3))
	term, err := w.Term(7)
	require.NoError(t, err)
	require.Equal(t, uint64(3), term)
	_, err = w.Entry(11)
	require.ErrorIs(t, err, ErrOutOfRange)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close is idempotent")
	require.ErrorIs(t, w.Save(ctx, nil, ents(11, 1, 3)), ErrClosed)

	w = openMem(t, fs, Config{})
	defer w.Close()
	requireLog(t, w, ents(1, 10, 3))
	require.Equal(t, hs, w.HardState())
	require.False(t, w.Report().TornTail)
	require.Equal(t, 10, w.Report().Entries)
}

func TestSaveRejectsGapsAndCompactedEntries(t *testing.T) {
	ctx := context.Background()
	w := openMem(t, newMemFS(1), Config{})
	defer w.Close()
	require.ErrorIs(t, w.Save(ctx, nil, ents(2, 1, 1)), ErrGap)
	require.NoError(t, w.Save(ctx, nil, ents(1, 5, 1)))
	require.ErrorIs(t, w.Save(ctx, nil, []Entry{{Index: 6, Term: 1}, {Index: 8, Term: 1}}), ErrGap)
	require.NoError(t, w.Compact(ctx, 3))
	require.ErrorIs(t, w.Save(ctx, nil, ents(3, 1, 2)), ErrCompacted)
	require.ErrorIs(t, w.Compact(ctx, 9), ErrOutOfRange)
	_, err := w.Entry(2)
	require.ErrorIs(t, err, ErrCompacted)
}

func TestConflictingSuffixIsReplaced(t *testing.T) {
	ctx := context.Background()
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	require.NoError(t, w.Save(ctx, nil, ents(1, 10, 1)))
	// A new leader in term 2 overwrites from index 6.
	require.NoError(t, w.Save(ctx, nil, ents(6, 2, 2)))
	want := append(ents(1, 5, 1), ents(6, 2, 2)...)
	requireLog(t, w, want)
	require.NoError(t, w.Close())
	w = openMem(t, fs, Config{})
	defer w.Close()
	requireLog(t, w, want)
}

func TestSegmentsRollAndCompactionRemovesThem(t *testing.T) {
	ctx := context.Background()
	fs := newMemFS(1)
	w := openMem(t, fs, Config{SegmentSize: 256})
	for i := uint64(0); i < 40; i++ {
		hs := HardState{Term: 1, Commit: i}
		require.NoError(t, w.Save(ctx, &hs, ents(i+1, 1, 1)))
	}
	names, _ := fs.ReadDir(testDir)
	require.Greater(t, len(names), 5, "small segments roll often")
	require.NoError(t, w.Compact(ctx, 30))
	after, _ := fs.ReadDir(testDir)
	require.Less(t, len(after), len(names), "compaction deletes whole obsolete segments")
	requireLog(t, w, ents(31, 10, 1))
	idx, term := w.Mark()
	require.Equal(t, [2]uint64{30, 1}, [2]uint64{idx, term})
	require.NoError(t, w.Close())

	w = openMem(t, fs, Config{SegmentSize: 256})
	defer w.Close()
	requireLog(t, w, ents(31, 10, 1))
	require.Equal(t, HardState{Term: 1, Commit: 39}, w.HardState(), "hard state survives removal of the segment that first held it")
	tm, err := w.Term(30)
	require.NoError(t, err)
	require.Equal(t, uint64(1), tm, "the mark's term is kept for log matching")
}

func TestApplySnapshotResetsTheLog(t *testing.T) {
	ctx := context.Background()
	fs := newMemFS(1)
	w := openMem(t, fs, Config{SegmentSize: 200})
	require.NoError(t, w.Save(ctx, nil, ents(1, 20, 1)))
	require.NoError(t, w.ApplySnapshot(ctx, 100, 5))
	requireLog(t, w, nil)
	require.Equal(t, uint64(101), w.FirstIndex())
	require.ErrorIs(t, w.Save(ctx, nil, ents(50, 1, 5)), ErrCompacted)
	require.NoError(t, w.Save(ctx, nil, ents(101, 3, 6)))
	require.NoError(t, w.Close())
	w = openMem(t, fs, Config{SegmentSize: 200})
	defer w.Close()
	requireLog(t, w, ents(101, 3, 6))
	tm, err := w.Term(100)
	require.NoError(t, err)
	require.Equal(t, uint64(5), tm)
}

func segmentFiles(fs *memFS) []string {
	names, _ := fs.ReadDir(testDir)
	var out []string
	for _, n := range names {
		if _, ok := parseSegmentName(n); ok {
			out = append(out, filepath.Join(testDir, n))
		}
	}
	return out
}

func TestTornTailIsCutAndReported(t *testing.T) {
	ctx := context.Background()
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	require.NoError(t, w.Save(ctx, nil, ents(1, 3, 1)))
	require.NoError(t, w.Close())
	seg := segmentFiles(fs)[0]
	data, _ := fs.get(seg)
	whole := len(data)
	// Append half of a further record, as a write cut by a crash leaves it.
	more, _ := appendEntryRecord(nil, Entry{Index: 4, Term: 1, Data: []byte("never acknowledged")})
	fs.put(seg, append(data, more[:len(more)/2]...))

	w = openMem(t, fs, Config{})
	rep := w.Report()
	require.True(t, rep.TornTail)
	require.Equal(t, int64(whole), rep.TornOffset)
	require.Equal(t, int64(len(more)/2), rep.TruncatedBytes)
	requireLog(t, w, ents(1, 3, 1))
	// The log continues cleanly where the torn record was.
	require.NoError(t, w.Save(ctx, nil, ents(4, 1, 1)))
	require.NoError(t, w.Close())
	w = openMem(t, fs, Config{})
	defer w.Close()
	require.False(t, w.Report().TornTail)
	requireLog(t, w, ents(1, 4, 1))
}

func TestZeroFilledTailIsTorn(t *testing.T) {
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	require.NoError(t, w.Save(context.Background(), nil, ents(1, 3, 1)))
	require.NoError(t, w.Close())
	seg := segmentFiles(fs)[0]
	data, _ := fs.get(seg)
	fs.put(seg, append(data, make([]byte, 100)...))
	w = openMem(t, fs, Config{})
	defer w.Close()
	require.True(t, w.Report().TornTail)
	requireLog(t, w, ents(1, 3, 1))
}

func TestCorruptionBeforeTheTailIsAnError(t *testing.T) {
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	require.NoError(t, w.Save(context.Background(), nil, ents(1, 5, 1)))
	require.NoError(t, w.Close())
	seg := segmentFiles(fs)[0]
	data, _ := fs.get(seg)
	// Flip a bit inside the second record's payload.
	first := segmentHeaderSize + recordHeaderSize + int(binary.LittleEndian.Uint32(data[segmentHeaderSize:]))
	data[first+recordHeaderSize+2] ^= 0x10
	fs.put(seg, data)

	_, err := Open(Config{Dir: testDir, FS: fs})
	require.ErrorIs(t, err, ErrCorrupt)
	var ce *CorruptError
	require.True(t, errors.As(err, &ce))
	require.Equal(t, filepath.Base(seg), ce.File)
	require.Equal(t, int64(first), ce.Offset)
	require.Contains(t, err.Error(), "checksum")
}

func TestCorruptionInAnOlderSegmentIsAnError(t *testing.T) {
	fs := newMemFS(1)
	w := openMem(t, fs, Config{SegmentSize: 200})
	for i := uint64(1); i <= 20; i++ {
		require.NoError(t, w.Save(context.Background(), nil, ents(i, 1, 1)))
	}
	require.NoError(t, w.Close())
	segs := segmentFiles(fs)
	require.Greater(t, len(segs), 2)
	data, _ := fs.get(segs[0])
	data = data[:len(data)-3] // a torn record is fine only at the very end
	fs.put(segs[0], data)
	_, err := Open(Config{Dir: testDir, FS: fs, SegmentSize: 200})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), filepath.Base(segs[0]))
}

func TestMissingSegmentIsAnError(t *testing.T) {
	fs := newMemFS(1)
	w := openMem(t, fs, Config{SegmentSize: 200})
	for i := uint64(1); i <= 20; i++ {
		require.NoError(t, w.Save(context.Background(), nil, ents(i, 1, 1)))
	}
	require.NoError(t, w.Close())
	segs := segmentFiles(fs)
	require.Greater(t, len(segs), 2)
	require.NoError(t, fs.Remove(segs[1]))
	_, err := Open(Config{Dir: testDir, FS: fs, SegmentSize: 200})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "missing")
}

func TestWriteFailureFailsTheWALUntilReopen(t *testing.T) {
	ctx := context.Background()
	fs := newMemFS(1)
	w := openMem(t, fs, Config{})
	require.NoError(t, w.Save(ctx, nil, ents(1, 2, 1)))
	fs.arm(2, faultLostSync) // the write succeeds, its fsync fails
	err := w.Save(ctx, nil, ents(3, 1, 1))
	require.ErrorIs(t, err, ErrFailed)
	require.ErrorIs(t, err, errInjected)
	require.ErrorIs(t, w.Save(ctx, nil, ents(3, 1, 1)), ErrFailed, "no write after a failed fsync")
	require.NoError(t, w.Close())
	fs.PowerCut()
	w = openMem(t, fs, Config{})
	defer w.Close()
	require.Contains(t, []uint64{2, 3}, w.LastIndex())
	got, err := w.Entries(1, 3, 0)
	require.NoError(t, err)
	require.Equal(t, ents(1, 2, 1), got)
}

func TestGroupCommitSharesFsyncs(t *testing.T) {
	fs := &countingFS{memFS: newMemFS(1)}
	w, err := Open(Config{Dir: testDir, FS: fs})
	require.NoError(t, err)
	defer w.Close()
	fs.reset()
	fs.gate = make(chan struct{})
	// The first Append's fsync blocks at the gate; the other 15 queue
	// behind it and must then share a single fsync.
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.Append(context.Background(), 1, bytes.Repeat([]byte{byte(g)}, 32))
			require.NoError(t, err)
		}()
	}
	for {
		w.mu.Lock()
		queued := len(w.pending.ops)
		w.mu.Unlock()
		if queued == 15 {
			break
		}
		runtime.Gosched()
	}
	close(fs.gate)
	wg.Wait()
	require.Equal(t, uint64(16), w.LastIndex())
	require.Equal(t, 2, fs.syncs(), "16 concurrent appends take two fsyncs: the first, then everyone queued behind it")
}

// countingFS counts fsyncs of files.
type countingFS struct {
	*memFS
	gate chan struct{} // when set, every fsync waits for it to close
	mu   sync.Mutex
	n    int
}

func (c *countingFS) syncs() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }
func (c *countingFS) reset()     { c.mu.Lock(); defer c.mu.Unlock(); c.n = 0 }

type countingFile struct {
	File
	c *countingFS
}

func (f countingFile) Sync() error {
	if f.c.gate != nil {
		<-f.c.gate
	}
	f.c.mu.Lock()
	f.c.n++
	f.c.mu.Unlock()
	return f.File.Sync()
}

func (c *countingFS) Create(name string) (File, error) {
	f, err := c.memFS.Create(name)
	if err != nil {
		return nil, err
	}
	return countingFile{f, c}, nil
}

func (c *countingFS) OpenAppend(name string) (File, error) {
	f, err := c.memFS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return countingFile{f, c}, nil
}

func TestConfigValidate(t *testing.T) {
	require.Error(t, Config{}.Validate())
	require.Error(t, Config{Dir: "x", SegmentSize: -1}.Validate())
	require.Error(t, Config{Dir: "x", Sync: SyncMode(7)}.Validate())
	require.NoError(t, Config{Dir: "x"}.Validate())
	_, err := Open(Config{})
	require.Error(t, err)
}

func TestOSFS(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	w, err := Open(Config{Dir: dir, SegmentSize: 1 << 10})
	require.NoError(t, err)
	for i := uint64(1); i <= 50; i++ {
		hs := HardState{Term: 2, Vote: "a", Commit: i}
		require.NoError(t, w.Save(ctx, &hs, ents(i, 1, 2)))
	}
	require.NoError(t, w.Compact(ctx, 25))
	require.NoError(t, w.Close())
	w, err = Open(Config{Dir: dir, SegmentSize: 1 << 10})
	require.NoError(t, err)
	defer w.Close()
	requireLog(t, w, ents(26, 25, 2))
	require.Equal(t, HardState{Term: 2, Vote: "a", Commit: 50}, w.HardState())
}

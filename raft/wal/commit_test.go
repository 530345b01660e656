package wal

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// tokenFS makes every file fsync wait for a token, so a test can hold a
// flush in the middle of its fsync.
type tokenFS struct {
	*memFS
	tokens chan struct{}
}

type tokenFile struct {
	File
	fs *tokenFS
}

func (f tokenFile) Sync() error {
	if f.fs.tokens != nil {
		<-f.fs.tokens
	}
	return f.File.Sync()
}

func (fs *tokenFS) Create(name string) (File, error) {
	f, err := fs.memFS.Create(name)
	if err != nil {
		return nil, err
	}
	return tokenFile{f, fs}, nil
}

func (fs *tokenFS) OpenAppend(name string) (File, error) {
	f, err := fs.memFS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return tokenFile{f, fs}, nil
}

// TestFlusherReturnsOnceItsBatchIsDone: the caller that runs a flush must not
// be kept flushing other callers' batches after its own is durable. Under a
// steady load that would hold it forever.
func TestFlusherReturnsOnceItsBatchIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &tokenFS{memFS: newMemFS(1)}
		w, err := Open(Config{Dir: testDir, FS: fs})
		require.NoError(t, err)
		fs.tokens = make(chan struct{})
		ctx := context.Background()

		a := make(chan error, 1)
		go func() { a <- w.Save(ctx, nil, ents(1, 1, 1)) }()
		synctest.Wait() // a flushes, blocked in its fsync
		b := make(chan error, 1)
		go func() { b <- w.Save(ctx, nil, ents(2, 1, 1)) }()
		synctest.Wait() // b is queued behind it

		fs.tokens <- struct{}{} // a's fsync completes
		synctest.Wait()
		select {
		case err := <-a:
			require.NoError(t, err)
		default:
			t.Fatal("the first Save is still flushing the second one's batch")
		}
		fs.tokens <- struct{}{} // b's fsync
		require.NoError(t, <-b)
		fs.tokens = nil
		require.NoError(t, w.Close())
	})
}

// TestCancelledWaiterLeavesTheBatchToOthers: a queued caller whose context
// ends returns at once, and the batch it joined is still written for the
// others in it.
func TestCancelledWaiterLeavesTheBatchToOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &tokenFS{memFS: newMemFS(1)}
		w, err := Open(Config{Dir: testDir, FS: fs})
		require.NoError(t, err)
		fs.tokens = make(chan struct{})
		ctx := context.Background()

		a := make(chan error, 1)
		go func() { a <- w.Save(ctx, nil, ents(1, 1, 1)) }()
		synctest.Wait()
		cctx, cancel := context.WithCancel(ctx)
		b := make(chan error, 1)
		go func() { b <- w.Save(cctx, nil, ents(2, 1, 1)) }()
		synctest.Wait()
		c := make(chan uint64, 1)
		go func() {
			first, err := w.Append(ctx, 1, []byte("c"))
			require.NoError(t, err)
			c <- first
		}()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-b, context.Canceled)
		fs.tokens <- struct{}{}
		require.NoError(t, <-a)
		fs.tokens <- struct{}{}
		require.Equal(t, uint64(3), <-c)
		fs.tokens = nil
		requireLog(t, w, append(ents(1, 2, 1), Entry{Index: 3, Term: 1, Data: []byte("c")}))
		require.NoError(t, w.Close())
	})
}

// TestCloseRacingSaves: Saves running into Close either succeed, and are
// then durable, or fail with ErrClosed; none fails the WAL or writes to a
// closed file.
func TestCloseRacingSaves(t *testing.T) {
	for round := range 200 {
		fs := newMemFS(uint64(round))
		w := openMem(t, fs, Config{})
		var mu sync.Mutex
		acked := map[uint64]bool{}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					first, err := w.Append(context.Background(), 1, []byte{byte(g), byte(i)})
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("append racing Close: %v", err)
						}
						return
					}
					mu.Lock()
					acked[first] = true
					mu.Unlock()
				}
			})
		}
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= round%8 {
				break
			}
		}
		require.NoError(t, w.Close())
		wg.Wait()
		fs.PowerCut()
		w = openMem(t, fs, Config{})
		for i := range acked {
			_, err := w.Entry(i)
			require.NoError(t, err, "acknowledged entry %d lost", i)
		}
		require.NoError(t, w.Close())
		if t.Failed() {
			return
		}
	}
}

// TestCompactBehindAnInFlightRewrite: a compaction queued while a Save that
// rewrites the log's suffix is being written must record the term of the
// rewritten entry, not of the one it replaces.
func TestCompactBehindAnInFlightRewrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &tokenFS{memFS: newMemFS(1)}
		w, err := Open(Config{Dir: testDir, FS: fs})
		require.NoError(t, err)
		ctx := context.Background()
		require.NoError(t, w.Save(ctx, nil, ents(1, 10, 1)))
		fs.tokens = make(chan struct{})

		rewrite := make(chan error, 1)
		go func() { rewrite <- w.Save(ctx, nil, ents(6, 3, 2)) }()
		synctest.Wait() // the rewrite is in its fsync
		compact := make(chan error, 1)
		go func() { compact <- w.Compact(ctx, 7) }()
		synctest.Wait()
		fs.tokens <- struct{}{}
		fs.tokens <- struct{}{}
		require.NoError(t, <-rewrite)
		require.NoError(t, <-compact)
		fs.tokens = nil

		idx, term := w.Mark()
		require.Equal(t, [2]uint64{7, 2}, [2]uint64{idx, term})
		require.NoError(t, w.Close())
		w, err = Open(Config{Dir: testDir, FS: fs})
		require.NoError(t, err)
		defer w.Close()
		tm, err := w.Term(7)
		require.NoError(t, err)
		require.Equal(t, uint64(2), tm)
	})
}

// dirGateFS makes directory fsyncs wait for a token.
type dirGateFS struct {
	*memFS
	tokens chan struct{}
}

func (fs *dirGateFS) SyncDir(dir string) error {
	if fs.tokens != nil {
		<-fs.tokens
	}
	return fs.memFS.SyncDir(dir)
}

// TestReadsDuringSegmentRemoval: a compaction's directory fsyncs must not
// hold the lock that reads and new calls need.
func TestReadsDuringSegmentRemoval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &dirGateFS{memFS: newMemFS(1)}
		w, err := Open(Config{Dir: testDir, FS: fs, SegmentSize: 256})
		require.NoError(t, err)
		ctx := context.Background()
		for i := uint64(1); i <= 20; i++ {
			fs.tokens = nil
			require.NoError(t, w.Save(ctx, nil, ents(i, 1, 1)))
		}
		fs.tokens = make(chan struct{})
		compact := make(chan error, 1)
		go func() { compact <- w.Compact(ctx, 15) }()
		synctest.Wait() // blocked in the directory fsync after a removal

		require.True(t, w.mu.TryLock(), "the lock is held across a directory fsync")
		w.mu.Unlock()
		_, err = w.Entries(16, 21, 0)
		require.NoError(t, err)
		close(fs.tokens)
		require.NoError(t, <-compact)
		requireLog(t, w, ents(16, 5, 1))
		fs.tokens = nil
		require.NoError(t, w.Close())
	})
}

// TestPeriodicSyncMakesWritesDurableWithinAnInterval runs the periodic
// syncer on virtual time: a Save acknowledged in SyncPeriodic mode survives
// a power cut once an interval has passed.
func TestPeriodicSyncMakesWritesDurableWithinAnInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newMemFS(1)
		cfg := Config{Dir: testDir, FS: fs, Sync: SyncPeriodic, SyncInterval: 50 * time.Millisecond}
		w, err := Open(cfg)
		require.NoError(t, err)
		require.NoError(t, w.Save(context.Background(), nil, ents(1, 3, 1)))
		time.Sleep(60 * time.Millisecond) // virtual: one tick of the syncer
		synctest.Wait()
		fs.PowerCut() // the WAL's handles are dead from here on
		w2, err := Open(cfg)
		require.NoError(t, err)
		requireLog(t, w2, ents(1, 3, 1))
		require.NoError(t, w2.Close())
		w.Close() // stops the first syncer; its final fsync hits a stale file
	})
}
